/*-------------------------------------------------------------------------
 *
 * classify.c
 *	  Pure functions of values: ended-reason classification, phone number
 *	  normalization.  No database access, no state.  (The status names are
 *	  the ordering model's: model.c.)
 *
 * vapi.classify_ended_reason() answers "completed" or "failed" for every
 * ended reason Vapi documents (listed and pinned by the classify_ended_reason
 * test, sql/classify_ended_reason.sql) by an exact list, then prefix families, then
 * a rule for values not invented yet.  vapi.normalize_phone() is what
 * contact matching compares on; both are IMMUTABLE and used in indexes and
 * in the upsert, so their answers must never depend on settings.
 *
 * vapi.normalize_phone(phone, country) reads a national number as one of
 * that country (countries.c) and answers E.164.  It is a function of the
 * one-argument answer, so a lookup under vapi.default_country can go the
 * other way: from the caller's E.164 number to the few one-argument forms
 * that mean it in that country (vapi_phone_candidates), which the index on
 * vapi.normalize_phone(phone) finds, whatever the setting is or becomes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_classify_ended_reason_sql);
PG_FUNCTION_INFO_V1(vapi_normalize_phone_sql);
PG_FUNCTION_INFO_V1(vapi_normalize_phone_country_sql);

/* Normal ends of a conversation: either side hung up, a timeout, a hand-off. */
static const char *const completed_reasons[] = {
	"assistant-ended-call",
	"assistant-ended-call-after-message-spoken",
	"assistant-ended-call-with-hangup-task",
	"assistant-forwarded-call",
	"assistant-said-end-call-phrase",
	"call.ending.hook-executed-say",
	"call.ending.hook-executed-transfer",
	"call.in-progress.sip-completed-call",
	"call.in-progress.twilio-completed-call",
	"call.ringing.hook-executed-say",
	"call.ringing.hook-executed-transfer",
	"customer-ended-call",
	"customer-ended-call-after-warm-transfer-attempt",
	"customer-ended-call-before-warm-transfer",
	"customer-ended-call-during-transfer",
	"exceeded-max-duration",
	"silence-timed-out",
	"voicemail",
	"vonage-completed",
	NULL
};

/* Calls that never reached a normal end, named one by one. */
static const char *const failed_reasons[] = {
	"assistant-join-timed-out",
	"assistant-not-found",
	"assistant-not-valid",
	"call-deleted",
	"call.forwarding.no-answer",
	"call.forwarding.operator-busy",
	"call.ringing.sip-inbound-caller-hungup-before-call-connect",
	"customer-busy",
	"customer-did-not-answer",
	"customer-did-not-give-microphone-permission",
	"manually-canceled",
	"phone-call-provider-bypass-enabled-but-no-call-received",
	"phone-call-provider-closed-websocket",
	"scheduled-call-deleted",
	"twilio-failed-to-connect-call",
	"twilio-reported-customer-misdialed",
	VAPI_EXPIRED_REASON,		/* vapi.expire_stale_calls() */
	"vonage-disconnected",
	"vonage-failed-to-connect-call",
	"vonage-rejected",
	"worker-shutdown",
	NULL
};

/* Families of failures: start errors, faults, pipeline errors. */
static const char *const failed_prefixes[] = {
	"assistant-request-",
	"call-start-",
	"call.in-progress.error-",
	"call.ringing.error-",
	"call.start.",
	"pipeline-error-",
	NULL
};

/* Words that mark a failure in a reason not invented yet. */
static const char *const failed_markers[] = {
	"error", "fault", "fail", "busy", "did-not-answer", "no-answer",
	"rejected", "misdialed", "not-found", "not-valid", "cancel",
	NULL
};

static bool
in_list(const char *const *list, const char *s, int len)
{
	for (; *list != NULL; list++)
		if (strlen(*list) == (size_t) len && memcmp(*list, s, len) == 0)
			return true;
	return false;
}

static bool
has_prefix(const char *const *list, const char *s, int len)
{
	for (; *list != NULL; list++)
	{
		size_t		n = strlen(*list);

		if (n <= (size_t) len && memcmp(*list, s, n) == 0)
			return true;
	}
	return false;
}

/* Does s (of length len, not NUL-terminated) contain word? */
static bool
contains(const char *s, int len, const char *word)
{
	size_t		n = strlen(word);

	for (int i = 0; i + (int) n <= len; i++)
		if (memcmp(s + i, word, n) == 0)
			return true;
	return false;
}

/*
 * "completed" or "failed" for an ended reason.  Known normal ends are
 * completed; known failures and failure families are failed; a reason not
 * invented yet is failed when it names an error, a fault or a call that
 * never connected, and completed otherwise.
 */
const char *
vapi_classify_ended_reason(const char *reason, int len)
{
	if (in_list(completed_reasons, reason, len))
		return "completed";
	if (in_list(failed_reasons, reason, len) ||
		has_prefix(failed_prefixes, reason, len))
		return "failed";
	for (const char *const *m = failed_markers; *m != NULL; m++)
		if (contains(reason, len, *m))
			return "failed";
	return "completed";
}

/* SQL: vapi.classify_ended_reason(text) returns text, immutable, strict. */
Datum
vapi_classify_ended_reason_sql(PG_FUNCTION_ARGS)
{
	text	   *reason = PG_GETARG_TEXT_PP(0);

	PG_RETURN_TEXT_P(cstring_to_text(
									 vapi_classify_ended_reason(VARDATA_ANY(reason),
																VARSIZE_ANY_EXHDR(reason))));
}

/*
 * The digit zero of each run of ten Unicode decimal digits (category Nd)
 * beyond ASCII, in order (Unicode 14.0): Arabic-Indic, Devanagari, Thai,
 * fullwidth, ...  A number typed with them means the same digits; dropped
 * as letters, they left another number behind ("+971 ５５５ 0100" became
 * "+0100").
 */
static const pg_wchar unicode_digit_zeros[] = {
	0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6,
	0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090,
	0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40,
	0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
	0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450,
	0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50,
	0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC,
	0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0
};

#define FULLWIDTH_PLUS	0xFF0B

/* The value of code point c if it is a Unicode decimal digit, else -1. */
static int
unicode_digit(pg_wchar c)
{
	int			lo = 0;
	int			hi = lengthof(unicode_digit_zeros) - 1;

	/* the last zero at or below c */
	if (c < unicode_digit_zeros[0])
		return -1;
	while (lo < hi)
	{
		int			mid = (lo + hi + 1) / 2;

		if (unicode_digit_zeros[mid] <= c)
			lo = mid;
		else
			hi = mid - 1;
	}
	return c - unicode_digit_zeros[lo] < 10 ? (int) (c - unicode_digit_zeros[lo]) : -1;
}

/*
 * The digits of a phone number, with a leading '+' when the number is
 * international: written with '+', or with the "00" international prefix.
 * In a UTF-8 database a digit of any script counts as its ASCII digit, and
 * a fullwidth plus as '+'.  Punctuation, spaces and letters are dropped.
 * NULL when there are no digits at all.
 */
text *
vapi_normalize_phone_text(const char *s, int len)
{
	char	   *out = palloc(len + 2);
	int			n = 0;
	bool		plus = false;
	bool		seen_digit = false;
	bool		utf8 = GetDatabaseEncoding() == PG_UTF8;

	for (int i = 0; i < len; i++)
	{
		int			digit = -1;
		bool		is_plus = s[i] == '+';

		if (s[i] >= '0' && s[i] <= '9')
			digit = s[i] - '0';
		else if (utf8 && (unsigned char) s[i] >= 0x80)
		{
			const unsigned char *c = (const unsigned char *) s + i;
			int			l = pg_utf_mblen(c);

			if (l > 1 && i + l <= len && pg_utf8_islegal(c, l))
			{
				pg_wchar	cp = utf8_to_unicode(c);

				digit = unicode_digit(cp);
				is_plus = cp == FULLWIDTH_PLUS;
				i += l - 1;
			}
		}
		if (is_plus && !seen_digit)
			plus = true;
		else if (digit >= 0)
		{
			seen_digit = true;
			out[1 + n++] = '0' + digit;
		}
	}
	if (n == 0)
		return NULL;

	if (!plus && n > 2 && out[1] == '0' && out[2] == '0')
	{
		/* "00" is the international prefix: read it as '+' */
		out[2] = '+';
		return cstring_to_text_with_len(out + 2, n - 1);
	}
	if (plus)
	{
		out[0] = '+';
		return cstring_to_text_with_len(out, n + 1);
	}
	return cstring_to_text_with_len(out + 1, n);
}

/* SQL: vapi.normalize_phone(text) returns text, immutable, strict. */
Datum
vapi_normalize_phone_sql(PG_FUNCTION_ARGS)
{
	text	   *phone = PG_GETARG_TEXT_PP(0);
	text	   *result = vapi_normalize_phone_text(VARDATA_ANY(phone),
												   VARSIZE_ANY_EXHDR(phone));

	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

/* Does the string s of length len start with prefix (not empty)? */
static bool
starts_with(const char *s, int len, const char *prefix)
{
	int			n = strlen(prefix);

	return n > 0 && len > n && memcmp(s, prefix, n) == 0;
}

/* '+', then a, then b (of length blen), as text. */
static text *
plus_concat(const char *a, const char *b, int blen)
{
	int			alen = strlen(a);
	text	   *t = (text *) palloc(VARHDRSZ + 1 + alen + blen);

	SET_VARSIZE(t, VARHDRSZ + 1 + alen + blen);
	VARDATA(t)[0] = '+';
	memcpy(VARDATA(t) + 1, a, alen);
	memcpy(VARDATA(t) + 1 + alen, b, blen);
	return t;
}

/* Fewer national digits than this are a short code or an extension. */
#define VAPI_MIN_NATIONAL_DIGITS	4

/*
 * A one-argument normalized number (vapi_normalize_phone_text's answer) in
 * E.164 for country: an international number as it is; a national one
 * after the country's international prefix is its international number,
 * else with the trunk prefix dropped and the calling code put in front.
 * With no country, or fewer than VAPI_MIN_NATIONAL_DIGITS digits left
 * (911, an extension), phone itself.
 */
text *
vapi_phone_to_e164(text *phone, const VapiCountry *country)
{
	const char *s = VARDATA_ANY(phone);
	int			len = VARSIZE_ANY_EXHDR(phone);

	if (country == NULL || len == 0 || s[0] == '+')
		return phone;
	if (starts_with(s, len, country->idd))
	{
		int			n = strlen(country->idd);

		return plus_concat("", s + n, len - n);
	}
	if (starts_with(s, len, country->trunk))
	{
		int			n = strlen(country->trunk);

		if (len - n >= VAPI_MIN_NATIONAL_DIGITS)
			return plus_concat(country->code, s + n, len - n);
	}
	else if (len >= VAPI_MIN_NATIONAL_DIGITS)
		return plus_concat(country->code, s, len);
	return phone;
}

/* Is t the text of s (of length len)? */
static bool
text_is(text *t, const char *s, int len)
{
	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/* A candidate: s followed by tail, kept when it means e164 in country. */
static void
add_candidate(text **out, int *n, const char *s, const char *tail, int tlen,
			  text *e164, const VapiCountry *country)
{
	int			slen = strlen(s);
	text	   *t = (text *) palloc(VARHDRSZ + slen + tlen);
	text	   *back;

	SET_VARSIZE(t, VARHDRSZ + slen + tlen);
	memcpy(VARDATA(t), s, slen);
	memcpy(VARDATA(t) + slen, tail, tlen);
	back = vapi_phone_to_e164(t, country);
	if (text_is(back, VARDATA_ANY(e164), VARSIZE_ANY_EXHDR(e164)))
		out[(*n)++] = t;
}

/*
 * Every one-argument normalized number that means phone (itself a
 * one-argument normalized number) in country: phone in E.164, and that
 * number dialled from the country (after its international prefix) and
 * written nationally (with and without the trunk prefix).  Each one is
 * checked by going back through vapi_phone_to_e164, so the set is exactly
 * the numbers vapi.normalize_phone(x, country) sends to the same E.164.
 * Returns how many (at most VAPI_MAX_PHONE_CANDIDATES); with no country,
 * phone alone.
 */
int
vapi_phone_candidates(text *phone, const VapiCountry *country, text **candidates)
{
	text	   *e164 = vapi_phone_to_e164(phone, country);
	const char *d = VARDATA_ANY(e164) + 1;	/* the digits after '+' */
	int			dlen = VARSIZE_ANY_EXHDR(e164) - 1;
	int			n = 0;

	candidates[n++] = e164;
	if (country == NULL || dlen < 0 || VARDATA_ANY(e164)[0] != '+')
		return n;
	if (country->idd[0] != '\0')
		add_candidate(candidates, &n, country->idd, d, dlen, e164, country);
	if (starts_with(d, dlen, country->code))
	{
		int			clen = strlen(country->code);

		if (country->trunk[0] != '\0')
			add_candidate(candidates, &n, country->trunk, d + clen, dlen - clen,
						  e164, country);
		add_candidate(candidates, &n, "", d + clen, dlen - clen, e164, country);
	}
	Assert(n <= VAPI_MAX_PHONE_CANDIDATES);
	return n;
}

/* The country named by a SQL argument; NULL for none ('' or NULL). */
static const VapiCountry *
country_arg(FunctionCallInfo fcinfo, int argno)
{
	text	   *iso;
	const VapiCountry *country;

	if (PG_ARGISNULL(argno))
		return NULL;
	iso = PG_GETARG_TEXT_PP(argno);
	if (VARSIZE_ANY_EXHDR(iso) == 0)
		return NULL;
	country = vapi_find_country(VARDATA_ANY(iso), VARSIZE_ANY_EXHDR(iso));
	if (country == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not a country code that vapi_calls knows", text_to_cstring(iso)),
				 errhint("Use an ISO 3166 alpha-2 code, such as US or GB.")));
	return country;
}

/*
 * SQL: vapi.normalize_phone(phone text, country text) returns text,
 * immutable, not strict: a NULL or empty country is no country (the
 * one-argument answer); a NULL phone is NULL.
 */
Datum
vapi_normalize_phone_country_sql(PG_FUNCTION_ARGS)
{
	const VapiCountry *country = country_arg(fcinfo, 1);
	text	   *phone;
	text	   *result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	phone = PG_GETARG_TEXT_PP(0);
	result = vapi_normalize_phone_text(VARDATA_ANY(phone), VARSIZE_ANY_EXHDR(phone));
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(vapi_phone_to_e164(result, country));
}
