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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_classify_ended_reason_sql);
PG_FUNCTION_INFO_V1(vapi_normalize_phone_sql);

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
 * The digits of a phone number, with a leading '+' when the number is
 * international: written with '+', or with the "00" international prefix.
 * Punctuation, spaces and letters are dropped.  NULL when there are no
 * digits at all.
 */
text *
vapi_normalize_phone_text(const char *s, int len)
{
	char	   *out = palloc(len + 2);
	int			n = 0;
	bool		plus = false;
	bool		seen_digit = false;

	for (int i = 0; i < len; i++)
	{
		if (s[i] == '+' && !seen_digit)
			plus = true;
		else if (s[i] >= '0' && s[i] <= '9')
		{
			seen_digit = true;
			out[1 + n++] = s[i];
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
