/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  Change notifications: NOTIFY vapi_calls with a small JSON payload
 *	  whenever an event visibly changes a row of vapi.calls.
 *
 * vapi_apply calls this right after the subtransaction that merged the
 * event has been released, in the caller's (sub)transaction.  PostgreSQL
 * queues a notification in the (sub)transaction that raised it and sends it
 * only when the top-level transaction commits: a rolled-back event,
 * savepoint or transaction notifies nothing, and a listener never hears of
 * a row it cannot yet see.  Identical payloads raised in one transaction
 * are delivered once.
 *
 * The payload holds ids, a status and an action only, so it stays far
 * below NOTIFY's 8000-byte limit: the reader caps Vapi call ids at 255
 * bytes, and everything else is a uuid or a short word.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/uuid.h"

#include "vapi_calls.h"

/* Append "key": value, where value is a JSON string or null. */
static void
put_member(StringInfo buf, const char *key, const char *value)
{
	if (buf->len > 1)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
	if (value)
		escape_json(buf, value);
	else
		appendStringInfoString(buf, "null");
}

/* The text of a uuid Datum, or NULL for (Datum) 0. */
static const char *
uuid_text(Datum uuid)
{
	return uuid ? DatumGetCString(DirectFunctionCall1(uuid_out, uuid)) : NULL;
}

/*
 * Queue the notification for one changed call row.  action is "inserted"
 * or "updated".  Does nothing when vapi.notify is off.
 */
void
vapi_notify_change(const VapiMergeResult *res, text *call_id, const char *action)
{
	StringInfoData buf;

	if (!vapi_notify)
		return;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	put_member(&buf, "org_id", uuid_text(res->org_id));
	put_member(&buf, "call_id", uuid_text(res->call_uuid));
	put_member(&buf, "vapi_call_id", call_id ? text_to_cstring(call_id) : NULL);
	put_member(&buf, "status", res->status);
	put_member(&buf, "action", action);
	appendStringInfoChar(&buf, '}');

	Async_Notify(VAPI_NOTIFY_CHANNEL, buf.data);
	pfree(buf.data);
}
