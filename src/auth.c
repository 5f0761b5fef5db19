/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  vapi_webhook(json): authenticate a delivery from its request headers,
 *	  then ingest it exactly as vapi_ingest() does, and answer a request-type
 *	  message with its reply (src/reply.c) instead of the result object.
 *
 * The credentials are the rows of vapi.credentials (managed in SQL by the
 * extension's owner; see the "HTTP endpoint" section of the install
 * script).  A delivery passes when any one credential accepts it, so
 * several can be live during a rotation.  A Bearer credential compares a
 * header, less an optional prefix, with its secret; an HMAC credential
 * signs its payload format, with {timestamp}, {svix-id} and {body} replaced
 * by the timestamp header, the message id header and the exact bytes of the
 * json argument ({method} by POST), under its secret (base64-decoded first
 * when secret_is_base64 says so), and compares that with the signature
 * header, after checking that the timestamp is within its tolerance.  These
 * are the options of Vapi's HmacAuthenticationPlan; {url} cannot be filled
 * and is refused when the credential is added.  Secrets and signatures
 * are compared in constant time; HMAC is PostgreSQL's own (common/hmac.h),
 * so no library is added.
 *
 * A refusal raises SQLSTATE PT401 (PostgREST answers HTTP 401) naming the
 * check that failed, never a secret, before anything is written.  When
 * several credentials refuse, the message is that of the one that got
 * furthest (a missing header < a bad timestamp < a wrong value).
 *
 * The body was valid JSON to reach us (json_in checked it), but not every
 * JSON text can be jsonb (a \u0000 escape, a number beyond numeric's
 * range).  Such a delivery is not lost: it is kept as a jsonb string of
 * its exact text, with outcome 'rejected' and the reason.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/base64.h"
#include "common/hmac.h"
#include "common/sha1.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_webhook);

#define ERRCODE_VAPI_UNAUTHORIZED	MAKE_SQLSTATE('P','T','4','0','1')

/* The longest signature header value we try to decode. */
#define MAX_SIGNATURE_LEN		1024

/* How far a refused check got: the furthest one names the refusal. */
typedef enum AuthStage
{
	STAGE_PASSED = 0,
	STAGE_MISSING,				/* a header is missing */
	STAGE_TIMESTAMP,			/* the timestamp is unreadable or stale */
	STAGE_MISMATCH				/* a value or signature is wrong */
} AuthStage;

/* Why a credential refused a delivery (strings in the caller's context). */
typedef struct AuthFailure
{
	AuthStage	stage;
	char	   *message;
	char	   *detail;
} AuthFailure;

/* One row of vapi.credentials, as the kept plan returns it. */
enum
{
	COL_KIND = 1, COL_SECRET, COL_HEADER, COL_PREFIX, COL_ALGORITHM,
	COL_ENCODING, COL_TIMESTAMP_HEADER, COL_PAYLOAD_FORMAT, COL_TOLERANCE,
	COL_MESSAGE_ID_HEADER, COL_SECRET_IS_BASE64
};

/* The values an HMAC payload format's placeholders stand for. */
typedef struct SignedParts
{
	const char *timestamp;		/* {timestamp}, or NULL */
	const char *message_id;		/* {svix-id}, or NULL */
	const char *body;			/* {body}: body[0..bodylen) */
	size_t		bodylen;
} SignedParts;

static SPIPlanPtr credentials_plan = NULL;

/* Compare a with the secret b in time that depends only on b's length. */
static bool
equal_in_constant_time(const char *a, size_t alen, const char *b, size_t blen)
{
	volatile unsigned char diff = (alen != blen);

	for (size_t i = 0; i < blen; i++)
		diff |= (unsigned char) ((i < alen ? a[i] : 0) ^ b[i]);
	return diff == 0;
}

/* Does s (of length len) start with prefix, ignoring ASCII case? */
static bool
has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t		plen = strlen(prefix);

	return len >= plen && pg_strncasecmp(s, prefix, plen) == 0;
}

/* Trim the optional white space around an HTTP field value. */
static void
trim_ows(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t'))
		(*s)++, (*len)--;
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/*
 * Text of column col of a credential; "" for a NULL the table's
 * constraints rule out, so that a damaged row refuses rather than crashes.
 */
static char *
column_text(HeapTuple row, TupleDesc desc, int col)
{
	char	   *s = SPI_getvalue(row, desc, col);

	return s ? s : "";
}

/* Record a refusal if it got further than the best one so far. */
static void
refuse(AuthFailure *best, AuthStage stage, MemoryContext cxt,
	   const char *message, const char *detail)
{
	if (stage <= best->stage)
		return;
	best->stage = stage;
	best->message = MemoryContextStrdup(cxt, message);
	best->detail = detail ? MemoryContextStrdup(cxt, detail) : NULL;
}

/* The secret of a credential, or NULL. */
static text *
column_secret(HeapTuple row, TupleDesc desc)
{
	bool		isnull;
	Datum		d = SPI_getbinval(row, desc, COL_SECRET, &isnull);

	return isnull ? NULL : DatumGetTextPP(d);
}

/*
 * Decode a hex string of len characters into dst (room for dstlen bytes).
 * Returns the number of bytes, or -1 if s is not hex; never raises.
 */
int
vapi_decode_hex(const char *s, size_t len, uint8 *dst, size_t dstlen)
{
	if (len % 2 != 0 || len / 2 > dstlen)
		return -1;
	for (size_t i = 0; i < len; i++)
	{
		char		c = s[i];
		int			v = (c >= '0' && c <= '9') ? c - '0' :
			(c >= 'a' && c <= 'f') ? c - 'a' + 10 :
			(c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;

		if (v < 0)
			return -1;
		if (i % 2 == 0)
			dst[i / 2] = (uint8) (v << 4);
		else
			dst[i / 2] |= (uint8) v;
	}
	return (int) (len / 2);
}

/* A Bearer credential: header = prefix || secret. */
static bool
check_bearer(HeapTuple row, TupleDesc desc, const VapiRequestObject *headers,
			 AuthFailure *best, MemoryContext cxt)
{
	char	   *header = column_text(row, desc, COL_HEADER);
	char	   *prefix = column_text(row, desc, COL_PREFIX);
	text	   *secret = column_secret(row, desc);
	const char *value = vapi_request_member(headers, header);
	size_t		len;
	size_t		plen = strlen(prefix);

	if (value == NULL)
	{
		refuse(best, STAGE_MISSING, cxt, psprintf("header \"%s\" is missing", header), NULL);
		return false;
	}
	len = strlen(value);
	trim_ows(&value, &len);
	if (!has_prefix(value, len, prefix))
	{
		refuse(best, STAGE_MISMATCH, cxt,
			   psprintf("header \"%s\" does not start with the credential's prefix", header),
			   NULL);
		return false;
	}
	if (secret == NULL ||
		!equal_in_constant_time(value + plen, len - plen,
								VARDATA_ANY(secret), VARSIZE_ANY_EXHDR(secret)))
	{
		refuse(best, STAGE_MISMATCH, cxt,
			   psprintf("header \"%s\" does not carry a valid secret", header), NULL);
		return false;
	}
	return true;
}

/*
 * Read a timestamp header: seconds or milliseconds since 1970, with an
 * optional fraction.  Values from 10^11 up are milliseconds (10^11 seconds
 * is in the year 5138, 10^11 milliseconds in 1973).
 */
static bool
parse_epoch(const char *s, double *seconds)
{
	const char *p = s;
	double		v;

	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s || p - s > 16)
		return false;
	if (*p == '.')
	{
		const char *f = ++p;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p == f || p - f > 9)
			return false;
	}
	if (*p != '\0')
		return false;
	v = strtod(s, NULL);
	*seconds = v >= 1e11 ? v / 1000.0 : v;
	return true;
}

/*
 * HMAC under key[0..keylen) of format with its placeholders replaced by
 * parts; returns the digest's length.
 */
static int
sign(pg_cryptohash_type type, const uint8 *key, size_t keylen, const char *format,
	 const SignedParts *parts, uint8 *digest)
{
	int			len = type == PG_SHA512 ? PG_SHA512_DIGEST_LENGTH :
		type == PG_SHA1 ? SHA1_DIGEST_LENGTH : PG_SHA256_DIGEST_LENGTH;
	pg_hmac_ctx *ctx = pg_hmac_create(type);
	const char *run = format;
	const char *p = format;
	bool		ok;

	if (ctx == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ok = pg_hmac_init(ctx, key, keylen) == 0;
	while (ok && *p)
	{
		const char *piece = NULL;
		size_t		piecelen = 0;
		size_t		skip = 0;

		if (strncmp(p, "{timestamp}", 11) == 0)
			piece = parts->timestamp ? parts->timestamp : "", piecelen = strlen(piece), skip = 11;
		else if (strncmp(p, "{svix-id}", 9) == 0)
			piece = parts->message_id ? parts->message_id : "", piecelen = strlen(piece), skip = 9;
		else if (strncmp(p, "{method}", 8) == 0)
			piece = "POST", piecelen = 4, skip = 8;
		else if (strncmp(p, "{body}", 6) == 0)
			piece = parts->body, piecelen = parts->bodylen, skip = 6;
		if (skip == 0)
		{
			p++;
			continue;
		}
		ok = pg_hmac_update(ctx, (const uint8 *) run, p - run) == 0 &&
			pg_hmac_update(ctx, (const uint8 *) piece, piecelen) == 0;
		p += skip;
		run = p;
	}
	ok = ok && pg_hmac_update(ctx, (const uint8 *) run, p - run) == 0 &&
		pg_hmac_final(ctx, digest, len) == 0;
	pg_hmac_free(ctx);
	if (!ok)
		elog(ERROR, "vapi_calls: could not compute an HMAC");
	return len;
}

/* An HMAC credential: a fresh timestamp and a matching signature. */
static bool
check_hmac(HeapTuple row, TupleDesc desc, const VapiRequestObject *headers,
		   const char *body, size_t bodylen, AuthFailure *best, MemoryContext cxt)
{
	char	   *sig_header = column_text(row, desc, COL_HEADER);
	char	   *prefix = column_text(row, desc, COL_PREFIX);
	char	   *algorithm = column_text(row, desc, COL_ALGORITHM);
	char	   *encoding = column_text(row, desc, COL_ENCODING);
	char	   *ts_header = SPI_getvalue(row, desc, COL_TIMESTAMP_HEADER);
	char	   *id_header = SPI_getvalue(row, desc, COL_MESSAGE_ID_HEADER);
	char	   *format = column_text(row, desc, COL_PAYLOAD_FORMAT);
	text	   *secret = column_secret(row, desc);
	const char *sig = vapi_request_member(headers, sig_header);
	SignedParts parts = {NULL, NULL, body, bodylen};
	pg_cryptohash_type type = strcmp(algorithm, "sha512") == 0 ? PG_SHA512 :
		strcmp(algorithm, "sha1") == 0 ? PG_SHA1 : PG_SHA256;
	uint8		expected[PG_SHA512_DIGEST_LENGTH];
	uint8		given[MAX_SIGNATURE_LEN];
	int			expected_len;
	int			given_len = -1;
	size_t		siglen;

	if (sig == NULL)
	{
		refuse(best, STAGE_MISSING, cxt,
			   psprintf("signature header \"%s\" is missing", sig_header), NULL);
		return false;
	}
	if (ts_header != NULL)
	{
		double		seconds;
		double		tolerance;
		double		now;
		bool		isnull;

		if ((parts.timestamp = vapi_request_member(headers, ts_header)) == NULL)
		{
			refuse(best, STAGE_MISSING, cxt,
				   psprintf("timestamp header \"%s\" is missing", ts_header), NULL);
			return false;
		}
		if (!parse_epoch(parts.timestamp, &seconds))
		{
			refuse(best, STAGE_TIMESTAMP, cxt,
				   psprintf("timestamp header \"%s\" is not a Unix time", ts_header),
				   "It must be a number of seconds or milliseconds since 1970-01-01 00:00 UTC.");
			return false;
		}
		tolerance = DatumGetFloat8(SPI_getbinval(row, desc, COL_TOLERANCE, &isnull));
		now = (double) GetCurrentTimestamp() / USECS_PER_SEC +
			(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY;
		if (isnull || fabs(now - seconds) > tolerance)
		{
			refuse(best, STAGE_TIMESTAMP, cxt,
				   psprintf("timestamp header \"%s\" is outside the tolerance window", ts_header),
				   psprintf("It is %.0f seconds %s the server's clock; the tolerance is %.0f seconds.",
							fabs(now - seconds), seconds < now ? "behind" : "ahead of",
							isnull ? 0.0 : tolerance));
			return false;
		}
	}

	if (id_header != NULL &&
		(parts.message_id = vapi_request_member(headers, id_header)) == NULL)
	{
		refuse(best, STAGE_MISSING, cxt,
			   psprintf("message id header \"%s\" is missing", id_header), NULL);
		return false;
	}

	siglen = strlen(sig);
	trim_ows(&sig, &siglen);
	if (!has_prefix(sig, siglen, prefix))
	{
		refuse(best, STAGE_MISMATCH, cxt,
			   psprintf("signature header \"%s\" does not start with the credential's prefix",
						sig_header), NULL);
		return false;
	}
	sig += strlen(prefix);
	siglen -= strlen(prefix);
	if (siglen <= MAX_SIGNATURE_LEN && strcmp(encoding, "base64") == 0)
		given_len = pg_b64_dec_len(siglen) <= MAX_SIGNATURE_LEN ?
			pg_b64_decode(sig, siglen, (char *) given, MAX_SIGNATURE_LEN) : -1;
	else if (siglen <= MAX_SIGNATURE_LEN)
		given_len = vapi_decode_hex(sig, siglen, given, MAX_SIGNATURE_LEN);

	expected_len = -1;
	if (secret != NULL)
	{
		const char *key = VARDATA_ANY(secret);
		int			keylen = VARSIZE_ANY_EXHDR(secret);
		bool		isnull;

		/* add_hmac_credential() checked that such a secret decodes */
		if (DatumGetBool(SPI_getbinval(row, desc, COL_SECRET_IS_BASE64, &isnull)) && !isnull)
		{
			char	   *decoded = palloc(pg_b64_dec_len(keylen) + 1);

			keylen = pg_b64_decode(key, keylen, decoded, pg_b64_dec_len(keylen) + 1);
			key = decoded;
		}
		if (keylen > 0)
			expected_len = sign(type, (const uint8 *) key, keylen, format, &parts, expected);
	}
	if (given_len < 0 || given_len != expected_len)
	{
		refuse(best, STAGE_MISMATCH, cxt,
			   psprintf("signature header \"%s\" does not hold a %s %s signature",
						sig_header, encoding, algorithm), NULL);
		return false;
	}
	if (!equal_in_constant_time((const char *) given, given_len,
								(const char *) expected, expected_len))
	{
		refuse(best, STAGE_MISMATCH, cxt,
			   psprintf("signature in header \"%s\" does not match the body", sig_header), NULL);
		return false;
	}
	return true;
}

/*
 * Authenticate a delivery whose body is the bytes body[0..bodylen) against
 * every credential; raise PT401 unless one accepts it.
 */
static void
authenticate(const char *body, size_t bodylen)
{
	MemoryContext callcxt = CurrentMemoryContext;
	AuthFailure best = {STAGE_PASSED, NULL, NULL};
	VapiRequestObject headers = {0};
	bool		headers_ok;
	bool		accepted = false;
	uint64		ncredentials;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	vapi_prepare(&credentials_plan,
				 "SELECT kind, secret, header, prefix, algorithm, encoding,"
				 " timestamp_header, payload_format,"
				 " pg_catalog.date_part('epoch', tolerance),"
				 " message_id_header, secret_is_base64"
				 " FROM vapi.credentials ORDER BY id",
				 0, NULL);
	vapi_execute(credentials_plan, NULL, NULL, SPI_OK_SELECT);
	ncredentials = SPI_processed;
	headers_ok = ncredentials > 0 && vapi_request_object("request.headers", true, &headers);

	for (uint64 i = 0; headers_ok && !accepted && i < ncredentials; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		if (strcmp(column_text(row, desc, COL_KIND), "hmac") == 0)
			accepted = check_hmac(row, desc, &headers, body, bodylen, &best, callcxt);
		else
			accepted = check_bearer(row, desc, &headers, &best, callcxt);
	}

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
	if (accepted)
		return;

	if (ncredentials == 0)
		ereport(ERROR,
				(errcode(ERRCODE_VAPI_UNAUTHORIZED),
				 errmsg("webhook refused: no webhook credential is configured"),
				 errhint("Add one with vapi.add_bearer_credential() or vapi.add_hmac_credential().")));
	if (!headers_ok)
		ereport(ERROR,
				(errcode(ERRCODE_VAPI_UNAUTHORIZED),
				 errmsg("webhook refused: request.headers is not a JSON object")));
	ereport(ERROR,
			(errcode(ERRCODE_VAPI_UNAUTHORIZED),
			 errmsg("webhook refused: %s", best.message),
			 best.detail ? errdetail_internal("%s", best.detail) : 0,
			 headers.absent ?
			 errhint("request.headers is not set: set it to a JSON object of the request's headers, as PostgREST does.") : 0));
}

/* What body_to_jsonb() converts, in a subtransaction. */
typedef struct BodyConversion
{
	text	   *body;
	Jsonb	   *result;
} BodyConversion;

static void
convert_body(void *arg)
{
	BodyConversion *conv = (BodyConversion *) arg;

	conv->result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													  CStringGetDatum(text_to_cstring(conv->body))));
}

/*
 * The body as jsonb, or NULL with *why set when its text cannot be jsonb.
 * jsonb_in can raise on a valid JSON text, so it runs in a subtransaction.
 */
static Jsonb *
body_to_jsonb(text *body, char **why)
{
	BodyConversion conv = {body, NULL};
	ErrorData  *edata = vapi_try(convert_body, &conv);

	if (edata == NULL)
		return conv.result;
	*why = psprintf("body is valid JSON but cannot be stored as jsonb: %s%s%s",
					edata->message,
					edata->detail ? ": " : "", edata->detail ? edata->detail : "");
	return NULL;
}

/* The exact text of the body as a jsonb string, to keep it. */
static Jsonb *
text_as_jsonb_string(text *body)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = VARDATA_ANY(body);
	v.val.string.len = VARSIZE_ANY_EXHDR(body);
	return JsonbValueToJsonb(&v);
}

/*
 * SQL: vapi_webhook(json) returns jsonb.  Never strict: a SQL NULL body is
 * authenticated as an empty one and then rejected, as vapi_ingest(NULL) is.
 */
Datum
vapi_webhook(PG_FUNCTION_ARGS)
{
	text	   *body = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	Jsonb	   *payload = NULL;
	char	   *why = NULL;
	VapiReply	reply;
	Jsonb	   *result;

	authenticate(body ? VARDATA_ANY(body) : "", body ? VARSIZE_ANY_EXHDR(body) : 0);

	if (body != NULL && (payload = body_to_jsonb(body, &why)) == NULL)
		PG_RETURN_JSONB_P(vapi_ingest_rejected(text_as_jsonb_string(body), why));
	result = vapi_webhook_payload(payload, &reply);
	/* a request-type message is answered with its reply (src/reply.c) */
	PG_RETURN_JSONB_P(reply.body != NULL ? reply.body : result);
}
