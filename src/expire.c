/*-------------------------------------------------------------------------
 *
 * expire.c
 *	  vapi.expire_stale_calls(older_than): calls whose end never came
 *	  become failed, through the same pipeline as every delivery.
 *
 * An expiry is a synthetic delivery of type vapi.expired (vapi_calls.h):
 * for each call that is not terminal and has had no event for older_than,
 * the row is locked and checked again, and the delivery is built from it
 * and ingested exactly as vapi_ingest() ingests a webhook: payload.c reads
 * it (terminal, the extension's ended reason at the version just below
 * every real end's, the call's last event time as its timestamp), the
 * merge applies it, vapi.events keeps it (as vapi.log_events says) and a
 * change notification goes out.  So a late real end still wins by the
 * merge rule itself, replaying the expiry gives the same row, and a
 * dashboard hears of the expiry as of any change.
 *
 * Each expired call costs one delivery's work (a few tens of
 * microseconds); the locks of the expired rows are held until the calling
 * transaction ends, as for any write.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_expire_stale_calls);

/* Calls fetched from the scan at a time. */
#define EXPIRE_BATCH	100

/*
 * The call's last event time as ISO 8601 in UTC, to the microsecond. Written
 * out twice in the lock statement rather than computed once in a LATERAL
 * subquery, which Citus cannot plan with FOR UPDATE.
 */
#define EXPIRE_AT \
	"pg_catalog.to_char(c.last_event_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* What each call of the scan is expired with. */
typedef struct ExpireRun
{
	Datum		cutoff;			/* timestamptz: now() - older_than */
	Datum		older_than;		/* text, as the interval is written */
	int32		expired;
} ExpireRun;

static SPIPlanPtr scan_plan = NULL;
static SPIPlanPtr lock_plan = NULL;

/* Was the delivery's action (in a result object) "updated"? */
static bool
result_updated(Jsonb *result)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(&result->root, "action", strlen("action"), &buf);

	return v != NULL && v->type == jbvString &&
		v->val.string.len == strlen(VAPI_OUTCOME_UPDATED) &&
		memcmp(v->val.string.val, VAPI_OUTCOME_UPDATED, v->val.string.len) == 0;
}

/*
 * Expire one call (a row of the scan) if it is still stale once locked:
 * build its vapi.expired delivery from the row and ingest it.  Runs in an
 * SPI connection of its own.
 */
static void
expire_one(HeapTuple scanrow, TupleDesc scandesc, void *arg)
{
	ExpireRun  *run = (ExpireRun *) arg;
	Oid			argtypes[6] = {TEXTOID, INT2OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[6];
	bool		isnull;
	Datum		payload;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");

	/* the time goes in as ISO 8601 in UTC, to the microsecond, whatever the session's style */
	vapi_prepare(&lock_plan,
				 "SELECT jsonb_build_object('message', jsonb_build_object("
				 "'type', $4, 'call', jsonb_build_object('id', c.vapi_call_id),"
				 " 'timestamp', " EXPIRE_AT ", 'endedReason', $5,"
				 " 'lastEventAt', " EXPIRE_AT ", 'olderThan', $6))"
				 " FROM vapi.calls c"
				 " WHERE c.vapi_call_id = $1 AND c.status_rank < $2 AND c.last_event_at < $3"
				 " FOR UPDATE OF c",
				 6, argtypes);
	values[0] = SPI_getbinval(scanrow, scandesc, 1, &isnull);
	values[1] = Int16GetDatum(VAPI_RANK_TERMINAL);
	values[2] = run->cutoff;
	values[3] = CStringGetTextDatum(VAPI_EXPIRED_TYPE);
	values[4] = CStringGetTextDatum(VAPI_EXPIRED_REASON);
	values[5] = run->older_than;
	if (vapi_execute(lock_plan, values, NULL, SPI_OK_SELECT) > 0 &&
		vapi_first_datum(&payload) &&
		result_updated(vapi_ingest_payload(DatumGetJsonbP(payload))))
		run->expired++;

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
}

/*
 * SQL: vapi.expire_stale_calls(older_than interval) returns integer, the
 * number of calls expired.  older_than must be a non-negative interval: a
 * NULL is refused as vapi.prune_events refuses it, not answered with NULL.
 */
Datum
vapi_expire_stale_calls(PG_FUNCTION_ARGS)
{
	Datum		older_than;
	Interval	zero = {0};
	ExpireRun	run;
	Oid			argtypes[2] = {INT2OID, TIMESTAMPTZOID};
	Datum		args[2];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must be a non-negative interval")));
	older_than = PG_GETARG_DATUM(0);
	if (DatumGetBool(DirectFunctionCall2(interval_lt, older_than, IntervalPGetDatum(&zero))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must be a non-negative interval")));

	run.cutoff = DirectFunctionCall2(timestamptz_mi_interval,
									 TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()),
									 older_than);
	run.older_than = DirectFunctionCall1(textin, DirectFunctionCall1(interval_out, older_than));
	run.expired = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	/* planned for its values: Citus cannot run a multi-shard generic plan */
	vapi_prepare_opts(&scan_plan,
					  "SELECT vapi_call_id FROM vapi.calls"
					  " WHERE status_rank < $1 AND last_event_at < $2 ORDER BY vapi_call_id",
					  2, argtypes, CURSOR_OPT_CUSTOM_PLAN);
	args[0] = Int16GetDatum(VAPI_RANK_TERMINAL);
	args[1] = run.cutoff;
	vapi_for_each_row(scan_plan, args, NULL, EXPIRE_BATCH, expire_one, &run);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");

	PG_RETURN_INT32(run.expired);
}
