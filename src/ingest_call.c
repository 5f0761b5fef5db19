/*-------------------------------------------------------------------------
 *
 * ingest_call.c
 *	  vapi_ingest_call(vapi_call_id text, payload jsonb): vapi_ingest with
 *	  the call's Vapi id as an argument of its own.
 *
 * On one node it is vapi_ingest and a check.  On Citus, vapi.distribute()
 * registers it with create_distributed_function(), distributed by its
 * first argument and co-located with vapi.calls, so that Citus sends the
 * whole call to the worker that holds the call's shards, in one round trip,
 * and everything it does there (lookups in the reference tables, the
 * merge, the event insert, the subtransaction) is local to that worker.
 * Citus routes by the argument, the merge by the payload's
 * message.call.id: a delivery whose two disagree would run on a worker
 * that may not hold its call, so it is not applied; it is kept in
 * vapi.events as rejected (under the payload's call id, as any rejected
 * delivery is), and the caller gets ok=false and why.  The function is
 * strict, unlike vapi_ingest: Citus 13.2's coordinator crashes delegating a
 * call of a non-strict function whose distribution argument is null.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_ingest_call);

/* Is call id a the call id b (NULL: none) that the payload reader found? */
static bool
same_call_id(text *a, text *b)
{
	return b != NULL && VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/*
 * SQL: vapi_ingest_call(vapi_call_id text, payload jsonb) returns jsonb.
 * Strict (see the SQL), so neither argument is NULL.
 */
Datum
vapi_ingest_call(PG_FUNCTION_ARGS)
{
	text	   *call_id = PG_GETARG_TEXT_PP(0);
	Jsonb	   *payload = PG_GETARG_JSONB_P(1);
	MemoryContext readcxt;
	MemoryContext oldcxt;
	VapiEvent	ev;
	bool		agree;

	/* the reader's allocations are dropped at once: ingest reads it again */
	readcxt = AllocSetContextCreate(CurrentMemoryContext, "vapi_ingest_call check",
									ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(readcxt);
	vapi_read_event(payload, &ev);
	agree = same_call_id(call_id, ev.call_id);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(readcxt);

	if (!agree)
		PG_RETURN_JSONB_P(vapi_ingest_rejected(payload,
											   "the vapi_call_id argument of vapi_ingest_call is not the payload's message.call.id"));
	PG_RETURN_JSONB_P(vapi_ingest_payload(payload));
}
