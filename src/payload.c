/*-------------------------------------------------------------------------
 *
 * payload.c
 *	  The payload reader: one Vapi delivery, as jsonb, into a VapiEvent.
 *
 * Owns every jsonb path the extension reads (vapi/PROTOCOL.md, "Where each
 * field lives"), tried in their order of preference so that the 2024 and
 * the 2026 shapes of the same message both work.  It never raises for bad
 * input: a field of the wrong type, an empty string, an unparseable or
 * absurd timestamp is simply absent, and the rest of the event still
 * applies.  It does not touch the database; lookups are resolve.c's.
 *
 * jsonb strings are not NUL-terminated: every string is used with its length.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "common/int.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "vapi_calls.h"

/* Longest call id we accept; Vapi's are uuids. */
#define VAPI_MAX_CALL_ID_LEN	255

#define P(...) ((const char *const[]) {__VA_ARGS__, NULL})

/*
 * Types that say the call is under way; each implies at least in-progress.
 */
static const char *const in_call_types[] = {
	"conversation-update", "speech-update", "transcript", "tool-calls",
	"function-call", "hang", "transfer-destination-request",
	"handoff-destination-request", "user-interrupted", "assistant.started",
	"model-output", "voice-input", "transfer-update", "phone-call-control",
	"language-change-detected", "assistant.speechStarted",
	"knowledge-base-request", "voice-request", "call.endpointing.request",
	NULL
};

/* Does the jsonb string v equal the C string s? */
static bool
str_eq(const JsonbValue *v, const char *s)
{
	size_t		n = strlen(s);

	return v->type == jbvString && v->val.string.len == n &&
		memcmp(v->val.string.val, s, n) == 0;
}

/* Does the jsonb string v start with prefix? */
static bool
str_prefix(const JsonbValue *v, const char *prefix)
{
	size_t		n = strlen(prefix);

	return v->type == jbvString && v->val.string.len >= n &&
		memcmp(v->val.string.val, prefix, n) == 0;
}

/*
 * Follow a NULL-terminated path of object keys from container c.  Returns the
 * value (in *buf) or NULL when any step is missing or not an object.
 */
static JsonbValue *
get_path(JsonbContainer *c, const char *const *path, JsonbValue *buf)
{
	JsonbValue *v = NULL;

	for (; *path != NULL; path++)
	{
		if (c == NULL || !JsonContainerIsObject(c))
			return NULL;
		v = getKeyJsonValueFromContainer(c, *path, strlen(*path), buf);
		if (v == NULL)
			return NULL;
		c = (v->type == jbvBinary) ? v->val.binary.data : NULL;
	}
	return v;
}

/* A non-empty string at path, or NULL. */
static JsonbValue *
get_string(JsonbContainer *c, const char *const *path, JsonbValue *buf)
{
	JsonbValue *v = get_path(c, path, buf);

	return (v != NULL && v->type == jbvString && v->val.string.len > 0) ? v : NULL;
}

static text *
string_text(const JsonbValue *v)
{
	return cstring_to_text_with_len(v->val.string.val, v->val.string.len);
}

/* A non-empty string at path, as text, or NULL. */
static text *
get_text(JsonbContainer *c, const char *const *path)
{
	JsonbValue	buf;
	JsonbValue *v = get_string(c, path, &buf);

	return v ? string_text(v) : NULL;
}

/* A non-empty object at path (in *buf), or NULL. */
static JsonbValue *
get_object(JsonbContainer *c, const char *const *path, JsonbValue *buf)
{
	JsonbValue *v = get_path(c, path, buf);

	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsObject(v->val.binary.data) ||
		JsonContainerSize(v->val.binary.data) == 0)
		return NULL;
	return v;
}

/* A nested object (jbvBinary) as a jsonb datum of its own. */
static Datum
object_jsonb(JsonbValue *v)
{
	return JsonbPGetDatum(JsonbValueToJsonb(v));
}

/* A number at path, or NULL. */
static Numeric
get_numeric(JsonbContainer *c, const char *const *path)
{
	JsonbValue	buf;
	JsonbValue *v = get_path(c, path, &buf);

	return (v != NULL && v->type == jbvNumeric) ? v->val.numeric : NULL;
}

/* Parse exactly ndigits decimal digits at *p; -1 if they are not there. */
static int
take_digits(const char **p, const char *end, int ndigits)
{
	int			n = 0;

	for (int i = 0; i < ndigits; i++)
	{
		if (*p >= end || **p < '0' || **p > '9')
			return -1;
		n = n * 10 + (*(*p)++ - '0');
	}
	return n;
}

/*
 * Parse an ISO-8601 timestamp, YYYY-MM-DD[(T| )HH:MM[:SS[.frac]]][Z|+-HH[:MM]].
 * A missing zone means UTC.  Returns false for anything else, and for dates
 * outside timestamptz's range.  Hand-written rather than timestamptz_in()
 * because that raises on bad input, and a bad field must never raise.
 */
static bool
parse_iso_timestamp(const char *s, int len, TimestampTz *result)
{
	const char *p = s;
	const char *end = s + len;
	struct pg_tm tm;
	fsec_t		fsec = 0;
	int			tz = 0;

	memset(&tm, 0, sizeof(tm));
	if ((tm.tm_year = take_digits(&p, end, 4)) < 0 || p >= end || *p++ != '-' ||
		(tm.tm_mon = take_digits(&p, end, 2)) < 0 || p >= end || *p++ != '-' ||
		(tm.tm_mday = take_digits(&p, end, 2)) < 0)
		return false;

	if (p < end && (*p == 'T' || *p == 't' || *p == ' '))
	{
		p++;
		if ((tm.tm_hour = take_digits(&p, end, 2)) < 0 || p >= end || *p++ != ':' ||
			(tm.tm_min = take_digits(&p, end, 2)) < 0)
			return false;
		if (p < end && *p == ':')
		{
			p++;
			if ((tm.tm_sec = take_digits(&p, end, 2)) < 0)
				return false;
			if (p < end && (*p == '.' || *p == ','))
			{
				int			scale = 100000;

				p++;
				if (p >= end || *p < '0' || *p > '9')
					return false;
				for (; p < end && *p >= '0' && *p <= '9'; p++)
				{
					fsec += (*p - '0') * scale;
					scale /= 10;
				}
			}
		}
		if (p < end && (*p == 'Z' || *p == 'z'))
			p++;
		else if (p < end && (*p == '+' || *p == '-'))
		{
			int			sign = (*p++ == '+') ? 1 : -1;
			int			hh,
						mm = 0;

			if ((hh = take_digits(&p, end, 2)) < 0)
				return false;
			if (p < end && *p == ':')
				p++;
			if (p < end && (mm = take_digits(&p, end, 2)) < 0)
				return false;
			if (hh > 15 || mm > 59)
				return false;
			/* PostgreSQL counts zone offsets in seconds west of UTC */
			tz = -sign * (hh * SECS_PER_HOUR + mm * SECS_PER_MINUTE);
		}
	}
	if (p != end)
		return false;

	if (tm.tm_mon < 1 || tm.tm_mon > MONTHS_PER_YEAR || tm.tm_mday < 1 ||
		tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1] ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return false;
	if (tm.tm_sec == 60)
		tm.tm_sec = 59;			/* a leap second: keep it inside its minute */

	return tm2timestamp(&tm, fsec, &tz, result) == 0 && IS_VALID_TIMESTAMP(*result);
}

/* Milliseconds since 1970 as a timestamptz; false when out of range. */
static bool
epoch_ms_timestamp(double ms, TimestampTz *result)
{
	double		usecs;

	if (!isfinite(ms))
		return false;
	usecs = ms * 1000.0 -
		(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * USECS_PER_SEC;
	if (usecs < (double) MIN_TIMESTAMP || usecs >= (double) END_TIMESTAMP)
		return false;
	*result = (TimestampTz) usecs;
	return true;
}

static double
numeric_double(Numeric n)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(n)));
}

/*
 * A timestamp at path: an ISO-8601 string, or a number of milliseconds
 * since 1970 (Vapi's message.timestamp from late 2024 on).
 */
static bool
get_timestamp(JsonbContainer *c, const char *const *path, TimestampTz *result)
{
	JsonbValue	buf;
	JsonbValue *v = get_path(c, path, &buf);

	if (v == NULL)
		return false;
	if (v->type == jbvString)
		return parse_iso_timestamp(v->val.string.val, v->val.string.len, result);
	if (v->type == jbvNumeric)
		return epoch_ms_timestamp(numeric_double(v->val.numeric), result);
	return false;
}

/* The hexadecimal value of c, or -1. */
static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A uuid in its canonical 8-4-4-4-12 form (or 32 bare hex digits), without
 * raising on anything else as uuid_in() would.
 */
static bool
parse_uuid(const char *s, int len, pg_uuid_t *uuid)
{
	int			j = 0;

	if (len != 36 && len != 32)
		return false;
	for (int i = 0; i < len; i++)
	{
		int			hi,
					lo;

		if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23))
		{
			if (s[i] != '-')
				return false;
			continue;
		}
		if (i + 1 >= len || (hi = hexval(s[i])) < 0 || (lo = hexval(s[i + 1])) < 0)
			return false;
		uuid->data[j++] = (unsigned char) (hi << 4 | lo);
		i++;
	}
	return j == UUID_LEN;
}

/* Does the metadata say this is a test call (true or "true")? */
static bool
metadata_is_test(JsonbContainer *metadata)
{
	JsonbValue	buf;
	JsonbValue *v = get_path(metadata, P("is_test_call"), &buf);

	return v != NULL &&
		((v->type == jbvBool && v->val.boolean) || str_eq(v, "true"));
}

/* The org uuid in metadata.org_id, if it is one. */
static void
read_metadata_org(JsonbContainer *metadata, VapiEvent *ev)
{
	JsonbValue	buf;
	JsonbValue *v = get_string(metadata, P("org_id"), &buf);
	pg_uuid_t  *uuid;

	if (v == NULL)
		return;
	uuid = palloc(sizeof(pg_uuid_t));
	if (parse_uuid(v->val.string.val, v->val.string.len, uuid))
	{
		ev->metadata_org = UUIDPGetDatum(uuid);
		ev->has_metadata_org = true;
	}
}

/*
 * The org uuid in a stored metadata object (vapi.calls.metadata), read as an
 * event's metadata is: for vapi.reresolve(), which rebuilds an event from a row.
 */
void
vapi_read_metadata_org(Jsonb *metadata, VapiEvent *ev)
{
	if (metadata != NULL && JB_ROOT_IS_OBJECT(metadata))
		read_metadata_org(&metadata->root, ev);
}

/* Set a text field from the first path that has a non-empty string. */
static void
set_text_first(VapiEvent *ev, VapiField f, JsonbContainer *msg,
			   const char *const *const *paths)
{
	for (; *paths != NULL; paths++)
	{
		text	   *t = get_text(msg, *paths);

		if (t != NULL)
		{
			vapi_set_field(ev, f, PointerGetDatum(t), ev->version);
			return;
		}
	}
}

#define PATHS(...) ((const char *const *const[]) {__VA_ARGS__, NULL})

/* Decide rank and disposition from message.type (and message.status). */
static void
classify_type(JsonbContainer *msg, const JsonbValue *type, VapiEvent *ev)
{
	JsonbValue	buf;
	JsonbValue *status;

	/* an API snapshot (api.c) carries the status of its Call object */
	bool		snapshot = str_eq(type, VAPI_API_CALL_TYPE);

	ev->disposition = VAPI_APPLY;

	if (str_eq(type, "status-update") || snapshot)
	{
		status = get_path(msg, snapshot ? P("call", "status") : P("status"), &buf);
		if (status != NULL && (str_eq(status, "not-found") ||
							   str_eq(status, "deletion-failed")))
		{
			ev->disposition = VAPI_IGNORE;
			ev->detail = snapshot ? "API snapshot of a call Vapi could not find or delete" :
				"status-update about a call Vapi could not find or delete";
			return;
		}
		for (int r = VAPI_RANK_SCHEDULED; r <= VAPI_RANK_TERMINAL; r++)
			if (status != NULL && str_eq(status, vapi_rank_name(r)))
				ev->rank = r;
		if (ev->rank == VAPI_RANK_NONE)
			ev->detail = snapshot ? "API snapshot without a known status: status left as it was" :
				"status-update without a known status: status left as it was";
		return;
	}
	if (str_eq(type, "end-of-call-report") || str_eq(type, VAPI_EXPIRED_TYPE))
	{
		ev->rank = VAPI_RANK_TERMINAL;
		return;
	}
	if (str_eq(type, "call.started"))
	{
		ev->rank = VAPI_RANK_IN_PROGRESS;
		return;
	}
	if (str_eq(type, "assistant-request"))
	{
		ev->rank = VAPI_RANK_RINGING;
		return;
	}
	for (const char *const *t = in_call_types; *t != NULL; t++)
		if (str_eq(type, *t))
		{
			ev->rank = VAPI_RANK_IN_PROGRESS;
			return;
		}
	/* transcript[transcriptType="final"] and its kin */
	if (str_prefix(type, "transcript["))
	{
		ev->rank = VAPI_RANK_IN_PROGRESS;
		return;
	}

	ev->disposition = VAPI_IGNORE;
	if (str_prefix(type, "chat.") || str_prefix(type, "session."))
		ev->detail = "this message type never carries a call";
	else
		ev->detail = "this message type does not change a call";
}

#define VAPI_TS_MAX		((UINT64CONST(1) << VAPI_TS_BITS) - 1)

/* The event's time in the version's 42 bits: ms since 1970, clamped. */
static uint64
version_ms(VapiEvent *ev)
{
	double		d;

	if (!ev->has_event_at)
		return 0;
	d = (double) ev->event_at / 1000.0 +
		(double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000.0;
	if (d <= 0)
		return 0;
	return d >= (double) VAPI_TS_MAX ? VAPI_TS_MAX : (uint64) d;
}

/*
 * The event version: status rank, then timestamp, then a content hash
 * (ties between different deliveries are broken on content, never on
 * arrival order).  Always positive: 0 means "no value" in field_versions.
 */
static int64
event_version(Jsonb *payload, VapiEvent *ev)
{
	uint64		hash = hash_bytes((const unsigned char *) VARDATA_ANY(payload),
								  VARSIZE_ANY_EXHDR(payload)) & VAPI_HASH_MASK;
	int64		version = (int64) (((uint64) ev->rank << VAPI_RANK_SHIFT) |
								   (version_ms(ev) << VAPI_TS_SHIFT) | hash);

	return version > 0 ? version : 1;
}

/*
 * The same version with its time bits reversed, so that among events of the
 * same rank the earliest wins.  For ms <= VAPI_TS_MAX, VAPI_TS_MAX - ms is
 * ms XOR VAPI_TS_MAX.
 */
static int64
earliest_wins_version(int64 version)
{
	return version ^ (int64) (VAPI_TS_MAX << VAPI_TS_SHIFT);
}

/* Is the number below zero? */
static bool
numeric_negative(Numeric n)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
											 NumericGetDatum(int64_to_numeric(0)))) < 0;
}

/*
 * A non-negative number of milliseconds as a numeric of seconds with three
 * decimals.  ms >= 0, so the text always parses.
 */
static Datum
ms_to_seconds_numeric(int64 ms)
{
	char		buf[32];

	Assert(ms >= 0);
	snprintf(buf, sizeof(buf), INT64_FORMAT ".%03d", ms / 1000, (int) (ms % 1000));
	return DirectFunctionCall3(numeric_in, CStringGetDatum(buf),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* The lifecycle times: explicit startedAt/endedAt, else the event's own time. */
static void
read_times(JsonbContainer *msg, VapiEvent *ev, bool is_status_update)
{
	TimestampTz started,
				ended;
	bool		has_started = get_timestamp(msg, P("startedAt"), &started);
	bool		has_ended = get_timestamp(msg, P("endedAt"), &ended);
	Numeric		duration = get_numeric(msg, P("durationSeconds"));
	int64		usecs;

	/* explicit values outrank times inferred from a status change */
	if (has_started)
		vapi_set_field(ev, VF_STARTED_AT, TimestampTzGetDatum(started),
					   ev->version | ((int64) VAPI_TIME_EXPLICIT << VAPI_PRIO_SHIFT));
	else if (ev->has_event_at && is_status_update && ev->rank == VAPI_RANK_IN_PROGRESS)
	{
		/* the call started at the first in-progress, not the last */
		vapi_set_field(ev, VF_STARTED_AT, TimestampTzGetDatum(ev->event_at),
					   earliest_wins_version(ev->version));
	}

	if (has_ended)
		vapi_set_field(ev, VF_ENDED_AT, TimestampTzGetDatum(ended),
					   ev->version | ((int64) VAPI_TIME_EXPLICIT << VAPI_PRIO_SHIFT));
	else if (ev->has_event_at && is_status_update && ev->rank == VAPI_RANK_TERMINAL)
		vapi_set_field(ev, VF_ENDED_AT, TimestampTzGetDatum(ev->event_at), ev->version);

	if (duration != NULL)
	{
		/* a negative duration is a bad value: skipped */
		if (!numeric_negative(duration))
			vapi_set_field(ev, VF_DURATION_SECONDS, NumericGetDatum(duration), ev->version);
	}
	else if (has_started && has_ended && !pg_sub_s64_overflow(ended, started, &usecs) &&
			 usecs >= 0)
	{
		/*
		 * Whole milliseconds, as Vapi's own durationSeconds.  Two valid
		 * timestamps can be further apart than an int64 of microseconds
		 * holds (startedAt 0, endedAt in the year 294000): such a pair has
		 * no duration rather than a wrong one.
		 */
		int64		ms = usecs / 1000;

		vapi_set_field(ev, VF_DURATION_SECONDS,
					   ms_to_seconds_numeric(ms), ev->version);
	}
}

/*
 * Our number on an outbound call: the message's phone number, else the
 * call's own (a transient number, with no phoneNumberId), in the field of
 * each provider's DTO (number; twilioPhoneNumber and vonagePhoneNumber for
 * imported numbers).
 */
static const char *const *const our_number_paths[] = {
	P("phoneNumber", "number"),
	P("phoneNumber", "twilioPhoneNumber"),
	P("phoneNumber", "vonagePhoneNumber"),
	P("call", "phoneNumber", "number"),
	P("call", "phoneNumber", "twilioPhoneNumber"),
	P("call", "phoneNumber", "vonagePhoneNumber"),
	NULL
};

/*
 * Where a call's metadata lives, most specific first: the overrides of the
 * call's assistant or squad, the message's assistant, the call's inline
 * (transient) assistant, the legacy call.metadata.
 */
static const char *const *const metadata_paths[] = {
	P("call", "assistantOverrides", "metadata"),
	P("call", "squadOverrides", "metadata"),
	P("assistant", "metadata"),
	P("call", "assistant", "metadata"),
	P("call", "metadata"),
	NULL
};

#define VAPI_METADATA_SOURCES	5

/*
 * The deepest metadata value merge_metadata() rebuilds: building a jsonb
 * recurses once per level, and the reader must not raise.
 */
#define VAPI_MERGE_MAX_DEPTH	256

/* Is the container nested deeper than VAPI_MERGE_MAX_DEPTH?  No recursion. */
static bool
container_too_deep(JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT || tok == WJB_BEGIN_ARRAY)
		{
			if (++depth > VAPI_MERGE_MAX_DEPTH)
				return true;
		}
		else if (tok == WJB_END_OBJECT || tok == WJB_END_ARRAY)
			depth--;
	}
	return false;
}

/*
 * The union of n metadata objects, src[0] winning over src[1] and so on
 * when they share a key.  NULL when one is too deep to rebuild safely.
 */
static Jsonb *
merge_metadata(JsonbContainer **src, int n)
{
	JsonbParseState *state = NULL;
	JsonbValue *res = NULL;

	for (int i = 0; i < n; i++)
		if (container_too_deep(src[i]))
			return NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < n; i++)
	{
		JsonbIterator *it = JsonbIteratorInit(src[i]);
		JsonbValue	key;
		JsonbValue	val;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
		{
			bool		shadowed = false;
			JsonbValue	buf;

			if (tok != WJB_KEY)
				continue;
			for (int j = 0; j < i && !shadowed; j++)
				shadowed = getKeyJsonValueFromContainer(src[j], key.val.string.val,
														key.val.string.len, &buf) != NULL;
			tok = JsonbIteratorNext(&it, &val, true);
			Assert(tok == WJB_VALUE);
			if (shadowed)
				continue;
			pushJsonbValue(&state, WJB_KEY, &key);
			pushJsonbValue(&state, WJB_VALUE, &val);
		}
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * The call's metadata: every metadata object the message carries, merged
 * key by key in the order of metadata_paths (the first to have a key wins).
 * The stored metadata, the test-call flag and the metadata org all read
 * the merged object.  Should a rebuild be unsafe (nesting past
 * VAPI_MERGE_MAX_DEPTH), the first object stands alone.
 */
static void
read_metadata(JsonbContainer *msg, VapiEvent *ev)
{
	JsonbValue	bufs[VAPI_METADATA_SOURCES];
	JsonbContainer *src[VAPI_METADATA_SOURCES];
	int			n = 0;
	Jsonb	   *merged = NULL;
	JsonbContainer *metadata;

	StaticAssertStmt(lengthof(metadata_paths) == VAPI_METADATA_SOURCES + 1,
					 "one buffer per metadata path");
	for (int i = 0; metadata_paths[i] != NULL; i++)
		if (get_object(msg, metadata_paths[i], &bufs[n]) != NULL)
		{
			src[n] = bufs[n].val.binary.data;
			n++;
		}
	if (n == 0)
		return;
	if (n > 1)
		merged = merge_metadata(src, n);
	if (merged != NULL)
	{
		metadata = &merged->root;
		vapi_set_field(ev, VF_METADATA, JsonbPGetDatum(merged), ev->version);
	}
	else
	{
		metadata = src[0];
		vapi_set_field(ev, VF_METADATA, object_jsonb(&bufs[0]), ev->version);
	}
	if (metadata_is_test(metadata))
		ev->is_test_call = true;
	read_metadata_org(metadata, ev);
}

/* The call snapshot: ids, type, direction, customer, metadata. */
static void
read_call(JsonbContainer *msg, VapiEvent *ev)
{
	JsonbValue	buf;
	JsonbValue *call_type = get_string(msg, P("call", "type"), &buf);
	text	   *t;
	const char *direction = NULL;

	if ((t = get_text(msg, P("call", "orgId"))) != NULL)
		vapi_set_field(ev, VF_VAPI_ORG_ID, PointerGetDatum(t), ev->version);

	ev->assistant_id = get_text(msg, P("call", "assistantId"));
	if (ev->assistant_id == NULL)
		ev->assistant_id = get_text(msg, P("assistant", "id"));
	if (ev->assistant_id != NULL)
		vapi_set_field(ev, VF_ASSISTANT_ID, PointerGetDatum(ev->assistant_id), ev->version);

	ev->phone_number_id = get_text(msg, P("call", "phoneNumberId"));
	if (ev->phone_number_id != NULL)
		vapi_set_field(ev, VF_PHONE_NUMBER_ID, PointerGetDatum(ev->phone_number_id), ev->version);

	ev->customer_number = get_text(msg, P("customer", "number"));
	if (ev->customer_number == NULL)
		ev->customer_number = get_text(msg, P("call", "customer", "number"));
	ev->customer_name = get_text(msg, P("customer", "name"));
	if (ev->customer_name == NULL)
		ev->customer_name = get_text(msg, P("call", "customer", "name"));
	if (ev->customer_number != NULL)
		vapi_set_field(ev, VF_PHONE_NUMBER, PointerGetDatum(ev->customer_number), ev->version);
	if (ev->customer_name != NULL)
		vapi_set_field(ev, VF_CUSTOMER_NAME, PointerGetDatum(ev->customer_name), ev->version);

	if (call_type != NULL)
	{
		vapi_set_field(ev, VF_CALL_TYPE, PointerGetDatum(string_text(call_type)), ev->version);
		if (str_eq(call_type, "inboundPhoneCall"))
		{
			direction = "inbound";
			if (ev->customer_number != NULL)
				vapi_set_field(ev, VF_FROM_NUMBER, PointerGetDatum(ev->customer_number),
							   ev->version);
		}
		else if (str_eq(call_type, "outboundPhoneCall"))
		{
			direction = "outbound";
			set_text_first(ev, VF_FROM_NUMBER, msg, our_number_paths);
		}
		else if (str_eq(call_type, "webCall") || str_eq(call_type, "vapi.websocketCall"))
			direction = "web";
		if (direction != NULL)
			vapi_set_field(ev, VF_DIRECTION, CStringGetTextDatum(direction), ev->version);
		if (str_eq(call_type, "webCall"))
			ev->is_test_call = true;
	}

	read_metadata(msg, ev);
}

/*
 * The end-of-call data: reason, cost, transcript, summary, recordings,
 * analysis.  utterance says the message is a transcript message, whose
 * top-level transcript is one utterance (often a partial one), not the
 * call's: only its artifact.transcript is the whole call's.
 */
static void
read_outcome(JsonbContainer *msg, VapiEvent *ev, bool utterance)
{
	JsonbValue	abuf;
	JsonbValue *analysis;
	Numeric		cost;

	set_text_first(ev, VF_ENDED_REASON, msg, PATHS(P("endedReason")));
	if ((cost = get_numeric(msg, P("cost"))) != NULL)
		vapi_set_field(ev, VF_COST, NumericGetDatum(cost), ev->version);
	if (utterance)
		set_text_first(ev, VF_TRANSCRIPT, msg, PATHS(P("artifact", "transcript")));
	else
		set_text_first(ev, VF_TRANSCRIPT, msg,
					   PATHS(P("artifact", "transcript"), P("transcript")));
	set_text_first(ev, VF_SUMMARY, msg,
				   PATHS(P("analysis", "summary"), P("summary")));
	set_text_first(ev, VF_SENTIMENT, msg,
				   PATHS(P("analysis", "structuredData", "sentiment"),
						 P("analysis", "sentiment")));
	set_text_first(ev, VF_RECORDING_URL, msg,
				   PATHS(P("artifact", "recording", "mono", "combinedUrl"),
						 P("artifact", "recordingUrl"), P("recordingUrl")));
	set_text_first(ev, VF_STEREO_RECORDING_URL, msg,
				   PATHS(P("artifact", "recording", "stereoUrl"),
						 P("artifact", "stereoRecordingUrl"), P("stereoRecordingUrl")));
	if ((analysis = get_object(msg, P("analysis"), &abuf)) != NULL)
		vapi_set_field(ev, VF_ANALYSIS, object_jsonb(analysis), ev->version);
}

/*
 * The expiry of vapi.expire_stale_calls (expire.c writes it): the
 * extension's ended reason at the expiry's version, and nothing else; its
 * timestamp (lastEventAt in the expiries of 0.1.0) is the call's last event
 * time, so first/last_event_at stay.
 */
static void
read_expiry(JsonbContainer *msg, VapiEvent *ev)
{
	JsonbValue	buf;
	JsonbValue *older_than = get_string(msg, P("olderThan"), &buf);

	/* 0.1.0 wrote expiries without a timestamp, with the time in lastEventAt */
	if (!ev->has_event_at)
		ev->has_event_at = get_timestamp(msg, P("lastEventAt"), &ev->event_at);
	ev->version = VAPI_EXPIRY_VERSION;
	vapi_set_field(ev, VF_ENDED_REASON, CStringGetTextDatum(VAPI_EXPIRED_REASON), ev->version);
	ev->detail = older_than == NULL ? "expired: no end of call" :
		psprintf("expired: no end of call within %.*s of its last event",
				 Min(older_than->val.string.len, 100), older_than->val.string.val);
}

/* The type of a tool-calls message that does not say it. */
static const JsonbValue tool_calls_type = {
	.type = jbvString,
	.val.string = {.len = 10,.val = "tool-calls"}
};

/*
 * A message without a type (or with a null one) that is a tool-calls
 * message all the same: the SDK types ServerMessageToolCalls.type as
 * optional, and its toolCallList (or toolWithToolCallList) array as required.
 */
static bool
is_untyped_tool_calls(JsonbContainer *msg)
{
	JsonbValue	buf;
	JsonbValue *v;

	v = get_path(msg, P("type"), &buf);
	if (v != NULL && v->type != jbvNull)
		return false;			/* a type of the wrong kind is not missing */
	v = get_path(msg, P("toolCallList"), &buf);
	if (v == NULL)
		v = get_path(msg, P("toolWithToolCallList"), &buf);
	return v != NULL && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/* An event that carries nothing: every field absent. */
void
vapi_init_event(VapiEvent *ev)
{
	memset(ev, 0, sizeof(*ev));
	for (int f = 0; f < VF_NUM_FIELDS; f++)
		ev->isnull[f] = true;
}

/*
 * Read one delivery.  payload may be NULL (SQL NULL).  On return
 * ev->disposition says whether to apply it, and ev->detail why not.
 */
void
vapi_read_event(Jsonb *payload, VapiEvent *ev)
{
	JsonbContainer *msg;
	JsonbContainer *body;
	JsonbValue	buf;
	JsonbValue *v;
	JsonbValue	typebuf;
	const JsonbValue *type;

	vapi_init_event(ev);
	ev->disposition = VAPI_REJECT;

	if (payload == NULL)
	{
		ev->detail = "payload is null";
		return;
	}
	if (!JB_ROOT_IS_OBJECT(payload))
	{
		ev->detail = "payload is not a JSON object";
		return;
	}

	/* 1. the message: payload->'message' when present, else the payload */
	msg = &payload->root;
	v = get_path(msg, P("message"), &buf);
	if (v != NULL)
	{
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		{
			ev->detail = "message is not a JSON object";
			return;
		}
		msg = v->val.binary.data;
	}

	/*
	 * 2. the call id, read before the type so that a delivery rejected for
	 * its type is still filed under its call
	 */
	v = get_path(msg, P("call", "id"), &buf);
	if (v != NULL && v->type == jbvString && v->val.string.len > 0 &&
		v->val.string.len <= VAPI_MAX_CALL_ID_LEN)
		ev->call_id = string_text(v);

	type = get_string(msg, P("type"), &typebuf);
	if (type == NULL && is_untyped_tool_calls(msg))
	{
		type = &tool_calls_type;
		ev->detail = "message.type is missing: read as tool-calls (the message has a tool call list)";
	}
	if (type == NULL)
	{
		ev->detail = "message.type is missing or not a string";
		return;
	}
	ev->type = string_text(type);
	classify_type(msg, type, ev);
	ev->status_name = vapi_rank_name(ev->rank);
	ev->has_event_at = get_timestamp(msg, P("timestamp"), &ev->event_at);

	if (ev->call_id == NULL && ev->disposition == VAPI_APPLY)
	{
		ev->disposition = VAPI_REJECT;
		if (v == NULL)
			ev->detail = "message.call.id is missing";
		else if (v->type != jbvString)
			ev->detail = "message.call.id is not a string";
		else if (v->val.string.len == 0)
			ev->detail = "message.call.id is empty";
		else
			ev->detail = "message.call.id is longer than 255 bytes";
	}
	if (ev->disposition != VAPI_APPLY)
		return;

	if (str_eq(type, VAPI_EXPIRED_TYPE))
	{
		read_expiry(msg, ev);
		return;
	}
	ev->version = event_version(payload, ev);
	read_call(msg, ev);

	/*
	 * An API snapshot's times and outcome are fields of its Call object,
	 * named as an end-of-call report names them in its message.
	 */
	body = msg;
	if (str_eq(type, VAPI_API_CALL_TYPE) &&
		(v = get_object(msg, P("call"), &buf)) != NULL)
		body = v->val.binary.data;
	read_times(body, ev, str_eq(type, "status-update") || str_eq(type, "call.started"));
	read_outcome(body, ev, str_eq(type, "transcript") || str_prefix(type, "transcript["));
}

/*
 * An ISO-8601 timestamp, read as the payload reader reads one (never
 * raises): for api.c, which pages Vapi's call list by createdAt.
 */
bool
vapi_parse_timestamp(const char *s, int len, TimestampTz *result)
{
	return parse_iso_timestamp(s, len, result);
}
