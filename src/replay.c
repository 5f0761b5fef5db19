/*-------------------------------------------------------------------------
 *
 * replay.c
 *	  vapi.replay(...): apply stored deliveries again.
 *
 * Reads vapi.events in id order through a cursor, filtered by received_at,
 * outcome and call, and applies each stored payload exactly as
 * vapi_ingest() did: payload.c reads it, and vapi_apply_batch() (batch.c)
 * resolves and merges each batch of REPLAY_BATCH events, a call's events
 * of the batch together in one subtransaction, its row written once.  Because the merge is idempotent and
 * order-independent, replaying is always safe: a delivery that failed is
 * applied now, one that was applied changes nothing.
 *
 * Nothing is inserted into vapi.events.  The stored event's outcome and
 * detail become the new result, except that a replay which changes nothing
 * leaves an earlier success (inserted, updated) as it was, so the log still
 * says what each delivery did when it first took effect.  A delivery
 * without a timestamp counts from its received_at, as it did when ingested.
 *
 * Each batch is applied inside an SPI connection of its own, released
 * after it, so memory stays flat however many events are replayed.  An
 * event that changes nothing takes no row lock (direct.c), or, on the SQL
 * path, has its call's subtransaction rolled back, which releases the lock:
 * a live delivery waits for one call's work at most, never for the
 * replay's transaction, unless the replay changed that call.  A function called by
 * SELECT cannot commit, so the rows a replay does change stay locked until
 * its transaction ends, as any write does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_replay);

/* Events fetched from the cursor at a time. */
#define REPLAY_BATCH	500

/* Columns of the scan, 1-based. */
#define SCAN_ID			1
#define SCAN_CALL_ID	2
#define SCAN_RECEIVED	3
#define SCAN_PAYLOAD	4
#define SCAN_OUTCOME	5
#define SCAN_DETAIL		6

/* Columns of the result. */
#define OUT_EVENT_ID	0
#define OUT_CALL_ID		1
#define OUT_PREVIOUS	2
#define OUT_ACTION		3
#define OUT_DETAIL		4
#define OUT_NCOLS		5

/* Where the lines of the result go. */
typedef struct ReplayResult
{
	Tuplestorestate *store;
	TupleDesc	desc;
} ReplayResult;

static SPIPlanPtr scan_plan = NULL;
static SPIPlanPtr update_plan = NULL;

/* Did the delivery take effect (or had it already)? */
static bool
is_success(const char *outcome)
{
	return strcmp(outcome, VAPI_OUTCOME_INSERTED) == 0 ||
		strcmp(outcome, VAPI_OUTCOME_UPDATED) == 0 ||
		strcmp(outcome, VAPI_OUTCOME_UNCHANGED) == 0;
}

/*
 * Does the replay's result replace the stored outcome and detail?  Not
 * when it changes nothing after an earlier success, and not when a
 * rejected delivery is rejected again: the reason stored with it may be
 * one the payload reader cannot see (vapi_webhook's, for a body that could
 * not be jsonb), and a replay must not overwrite it with a vaguer one.
 */
static bool
rewrites_outcome(const char *previous, const char *previous_detail,
				 const char *action, const char *detail)
{
	if (strcmp(action, VAPI_OUTCOME_UNCHANGED) == 0 && is_success(previous))
		return false;
	if (strcmp(action, VAPI_OUTCOME_REJECTED) == 0 &&
		strcmp(previous, VAPI_OUTCOME_REJECTED) == 0)
		return false;
	if (strcmp(previous, action) != 0)
		return true;
	if (previous_detail == NULL || detail == NULL)
		return previous_detail != detail;
	return strcmp(previous_detail, detail) != 0;
}

/* Store the new outcome and detail of event (call_id, id). */
static void
update_event(Datum call_id, Datum id, const char *action, const char *detail)
{
	Oid			argtypes[4] = {TEXTOID, INT8OID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[4] = "    ";

	vapi_prepare(&update_plan,
				 "UPDATE vapi.events SET outcome = $3, detail = $4"
				 " WHERE vapi_call_id = $1 AND id = $2",
				 4, argtypes);
	values[0] = call_id;
	values[1] = id;
	values[2] = CStringGetTextDatum(action);
	values[3] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	nulls[3] = detail ? ' ' : 'n';
	vapi_execute(update_plan, values, nulls, SPI_OK_UPDATE);
}

/*
 * Apply a batch of stored events (rows of the scan, in id order) through
 * vapi_apply_batch, store the outcomes that change, and add a line per
 * event to the result (arg, a ReplayResult).  Runs in an SPI connection of
 * its own, so whatever the batch allocates goes when it is done.
 */
static void
replay_batch(SPITupleTable *rows, uint64 n, void *arg)
{
	ReplayResult *result = (ReplayResult *) arg;
	VapiEvent  *evs;
	VapiOutcome *outs;
	TimestampTz *nows;
	TupleDesc	rowdesc = rows->tupdesc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	evs = palloc(sizeof(VapiEvent) * n);
	outs = palloc(sizeof(VapiOutcome) * n);
	nows = palloc(sizeof(TimestampTz) * n);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		payload = SPI_getbinval(rows->vals[i], rowdesc, SCAN_PAYLOAD, &isnull);
		TimestampTz received_at;

		vapi_read_event(isnull ? NULL : DatumGetJsonbP(payload), &evs[i]);
		received_at = DatumGetTimestampTz(SPI_getbinval(rows->vals[i], rowdesc,
														SCAN_RECEIVED, &isnull));
		if (evs[i].disposition == VAPI_APPLY && !evs[i].has_event_at)
		{
			evs[i].event_at = received_at;
			evs[i].has_event_at = true;
		}
		nows[i] = GetCurrentTimestamp();
	}
	vapi_apply_batch(evs, nows, (int) n, outs);

	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	row = rows->vals[i];
		bool		isnull;
		Datum		id = SPI_getbinval(row, rowdesc, SCAN_ID, &isnull);
		Datum		call_id = SPI_getbinval(row, rowdesc, SCAN_CALL_ID, &isnull);
		char	   *previous = SPI_getvalue(row, rowdesc, SCAN_OUTCOME);
		char	   *previous_detail = SPI_getvalue(row, rowdesc, SCAN_DETAIL);
		VapiOutcome *out = &outs[i];
		const char *detail = out->ok ? evs[i].detail : out->error;
		Datum		values[OUT_NCOLS];
		bool		nulls[OUT_NCOLS] = {false};

		if (rewrites_outcome(previous, previous_detail, out->action, detail))
			update_event(call_id, id, out->action, detail);

		values[OUT_EVENT_ID] = id;
		values[OUT_CALL_ID] = call_id;
		values[OUT_PREVIOUS] = CStringGetTextDatum(previous);
		values[OUT_ACTION] = CStringGetTextDatum(out->action);
		values[OUT_DETAIL] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
		nulls[OUT_DETAIL] = (detail == NULL);
		tuplestore_putvalues(result->store, result->desc, values, nulls);
	}

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
}

/*
 * Replay the events the arguments select, in id order, adding a line per
 * event to the result.
 */
static void
replay_selected(FunctionCallInfo fcinfo, ReplayResult *result)
{
	Oid			argtypes[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];
	char		nulls[4];

	/*
	 * Every filter is optional: planned for each run's values (a custom
	 * plan), so a time range can use the received_at index.
	 */
	vapi_prepare_opts(&scan_plan,
					  "SELECT id, vapi_call_id, received_at, payload, outcome, detail"
					  " FROM vapi.events"
					  " WHERE ($1 IS NULL OR received_at >= $1)"
					  " AND ($2 IS NULL OR received_at < $2)"
					  " AND ($3 IS NULL OR outcome = ANY ($3))"
					  " AND ($4 IS NULL OR vapi_call_id = ANY ($4))"
					  " ORDER BY id",
					  4, argtypes, CURSOR_OPT_CUSTOM_PLAN);
	for (int i = 0; i < 4; i++)
	{
		values[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	vapi_for_each_batch(scan_plan, values, nulls, REPLAY_BATCH, replay_batch, result);
}

/* A tuplestore for the rows of a set-returning function, in materialize mode. */
static Tuplestorestate *
materialize_result(FunctionCallInfo fcinfo, TupleDesc *desc)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcxt;
	Tuplestorestate *store;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "vapi_calls: return type must be a row type");

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	*desc = CreateTupleDescCopy(*desc);
	store = tuplestore_begin_heap(rsinfo->allowedModes & SFRM_Materialize_Random,
								  false, work_mem);
	MemoryContextSwitchTo(oldcxt);

	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = *desc;
	return store;
}

/*
 * SQL: vapi.replay(since timestamptz, until timestamptz, outcomes text[],
 * vapi_call_ids text[]) returns table (event_id, vapi_call_id,
 * previous_outcome, action, detail).  Null arguments do not filter.
 */
Datum
vapi_replay(PG_FUNCTION_ARGS)
{
	ReplayResult result;

	result.store = materialize_result(fcinfo, &result.desc);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	replay_selected(fcinfo, &result);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
	return (Datum) 0;
}
