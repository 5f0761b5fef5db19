/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  Change notifications: NOTIFY vapi_calls with the row's opaque id
 *	  whenever an event visibly changes a row of vapi.calls (vapi.notify on;
 *	  off by default).
 *
 * vapi_apply calls this right after the subtransaction that merged the
 * event has been released, in the caller's (sub)transaction.  PostgreSQL
 * queues a notification in the (sub)transaction that raised it and sends it
 * only when the top-level transaction commits: a rolled-back event,
 * savepoint or transaction notifies nothing, and a listener never hears of
 * a row it cannot yet see.  Identical payloads raised in one transaction
 * are delivered once, so a transaction's changes of one call arrive as one
 * notification.
 *
 * What a payload may carry: any role that can connect may LISTEN, and
 * PostgreSQL cannot restrict it, so a notification must tell a listener
 * nothing that row level security would hide from it.  The payload is
 * {"call_id": "<vapi.calls.id>"} and nothing else: that id is a random
 * uuid, which says nothing about the call, its org, its Vapi id or its
 * status; a reader looks the row up by it, and row level security decides
 * whether the reader sees it.  What a listener still learns is that some
 * call changed, when, and (by the repeated id) how often one unnamed call
 * changes: NOTIFY cannot hide that (README, "Change notifications").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "vapi_calls.h"

/*
 * Queue the notification for one changed call row: its id only (see the
 * file's header), never the org, Vapi's call id (call_id), the status or
 * the action, which 0.1.0 sent.  Does nothing when vapi.notify is off.
 */
void
vapi_notify_change(const VapiMergeResult *res, text *call_id, const char *action)
{
	char	   *payload;

	if (!vapi_notify || res->call_uuid == (Datum) 0)
		return;

	payload = psprintf("{\"call_id\": \"%s\"}",
					   DatumGetCString(DirectFunctionCall1(uuid_out, res->call_uuid)));
	Async_Notify(VAPI_NOTIFY_CHANNEL, payload);
	pfree(payload);
}
