/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Many deliveries at once: vapi_ingest_batch(payloads jsonb[]), and the
 *	  apply step vapi.replay shares with it.
 *
 * The deliveries are grouped by call.  Each call's group is applied in one
 * subtransaction: its orgs resolved, then merged in memory, in the order
 * given, into the call's row, which is written once (direct.c); every
 * delivery gets the result it would have had if applied on its own in that
 * order.  Groups are applied in call id order, so that two batches racing
 * on the same calls lock them in the same order and cannot deadlock.  If a
 * group fails, its subtransaction is rolled back and its deliveries are
 * applied again one at a time (vapi_apply), so that one bad delivery fails
 * alone, as it would through vapi_ingest.  Where direct access is not
 * possible, the group's deliveries are merged one at a time by the SQL
 * path, still in one subtransaction.  A group that writes nothing has its
 * subtransaction rolled back, which releases any row lock the SQL path
 * took.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/memutils.h"

#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_ingest_batch);

/* The deliveries of one call, applied in one subtransaction. */
typedef struct BatchGroup
{
	VapiEvent **evs;			/* in the order given */
	const TimestampTz *nows;
	VapiMergeResult *mres;
	int			n;
	bool		keep;			/* keep the subtransaction (vapi_merge_keeps) */
} BatchGroup;

/* The events to sort: position and call id. */
typedef struct BatchKey
{
	int			pos;
	text	   *call_id;
} BatchKey;

/* Order by call id (bytes), then position. */
static int
key_cmp(const void *a, const void *b)
{
	const BatchKey *ka = (const BatchKey *) a;
	const BatchKey *kb = (const BatchKey *) b;
	int			la = VARSIZE_ANY_EXHDR(ka->call_id);
	int			lb = VARSIZE_ANY_EXHDR(kb->call_id);
	int			c = memcmp(VARDATA_ANY(ka->call_id), VARDATA_ANY(kb->call_id), Min(la, lb));

	if (c != 0)
		return c;
	if (la != lb)
		return la < lb ? -1 : 1;
	return ka->pos - kb->pos;
}

/* Do two keys name the same call? */
static bool
same_call(const BatchKey *a, const BatchKey *b)
{
	return VARSIZE_ANY_EXHDR(a->call_id) == VARSIZE_ANY_EXHDR(b->call_id) &&
		memcmp(VARDATA_ANY(a->call_id), VARDATA_ANY(b->call_id),
			   VARSIZE_ANY_EXHDR(a->call_id)) == 0;
}

/* Resolve and merge one group (the body of its subtransaction). */
static void
apply_group(void *arg)
{
	BatchGroup *g = (BatchGroup *) arg;

	for (int i = 0; i < g->n; i++)
		vapi_resolve_org(g->evs[i]);
	vapi_merge_group(g->evs, g->nows, g->n, g->mres);
	g->keep = vapi_merge_keeps(g->mres, g->n);
}

/*
 * Apply n read events, event i as of time nows[i], as vapi_apply would one
 * after the other in this order (outs[i] is what event i did), each call's
 * deliveries merged together and its row written once.  What a group's
 * work allocates is freed after it; the outcomes are in the caller's
 * memory context.  (The events' merged values are then gone too: only
 * what the reader set remains, what logging needs.)
 */
void
vapi_apply_batch(VapiEvent *evs, const TimestampTz *nows, int n, VapiOutcome *outs)
{
	MemoryContext outcxt = CurrentMemoryContext;
	MemoryContext groupcxt = AllocSetContextCreate(CurrentMemoryContext,
												   "vapi_calls batch group",
												   ALLOCSET_DEFAULT_SIZES);
	BatchKey   *keys = palloc(sizeof(BatchKey) * Max(n, 1));
	int			nkeys = 0;

	for (int i = 0; i < n; i++)
	{
		if (evs[i].disposition == VAPI_APPLY)
			keys[nkeys++] = (BatchKey) {i, evs[i].call_id};
		else
			vapi_apply(&evs[i], nows[i], &outs[i]);	/* ignored or rejected: no work */
	}
	qsort(keys, nkeys, sizeof(BatchKey), key_cmp);

	for (int start = 0, end; start < nkeys; start = end)
	{
		BatchGroup	g;
		TimestampTz *nows_g;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(groupcxt);
		MemoryContextSwitchTo(groupcxt);
		for (end = start + 1; end < nkeys && same_call(&keys[start], &keys[end]); end++)
			;
		g.n = end - start;
		g.evs = palloc(sizeof(VapiEvent *) * g.n);
		nows_g = palloc(sizeof(TimestampTz) * g.n);
		g.mres = palloc0(sizeof(VapiMergeResult) * g.n);
		for (int i = 0; i < g.n; i++)
		{
			g.evs[i] = &evs[keys[start + i].pos];
			nows_g[i] = nows[keys[start + i].pos];
		}
		g.nows = nows_g;
		g.keep = false;

		if (vapi_try_keep(apply_group, &g, &g.keep) == NULL)
		{
			MemoryContextSwitchTo(outcxt);
			for (int i = 0; i < g.n; i++)
				vapi_applied(g.evs[i], &g.mres[i], &outs[keys[start + i].pos]);
			continue;
		}
		/* one of them failed: each on its own, so that only that one fails */
		MemoryContextSwitchTo(outcxt);
		for (int i = 0; i < g.n; i++)
			vapi_apply(g.evs[i], g.nows[i], &outs[keys[start + i].pos]);
	}
	MemoryContextSwitchTo(outcxt);
	MemoryContextDelete(groupcxt);
}

/*
 * SQL: vapi_ingest_batch(payloads jsonb[]) returns setof jsonb
 * One result per delivery, in the order given, each what vapi_ingest
 * would have returned for it had the deliveries been ingested one after
 * the other in that order.  Every delivery is logged as vapi_ingest logs
 * it, in that order.  A null array is no deliveries; a null element is a
 * delivery without a body (rejected, as vapi_ingest(NULL)).
 */
Datum
vapi_ingest_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext callcxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	Datum	   *elems = NULL;
	bool	   *nulls = NULL;
	int			n = 0;
	VapiEvent  *evs;
	VapiOutcome *outs;
	TimestampTz *nows;
	Jsonb	  **results;
	VapiEventLog *log;
	int			path;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (!PG_ARGISNULL(0))
	{
		ArrayType  *a = PG_GETARG_ARRAYTYPE_P(0);

		if (ARR_NDIM(a) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("vapi_ingest_batch takes a one-dimensional array of deliveries")));
		deconstruct_array(a, JSONBOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	}
	results = palloc(sizeof(Jsonb *) * Max(n, 1));	/* outlives the SPI connection */

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	/* lookups on the user's relations: pg_catalog, pg_temp, once (sources.c) */
	path = vapi_sources_named() ? vapi_user_path_begin() : 0;
	evs = palloc(sizeof(VapiEvent) * Max(n, 1));
	outs = palloc(sizeof(VapiOutcome) * Max(n, 1));
	nows = palloc(sizeof(TimestampTz) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		vapi_read_event(nulls[i] ? NULL : DatumGetJsonbP(elems[i]), &evs[i]);
		nows[i] = now;
	}
	vapi_apply_batch(evs, nows, n, outs);

	log = vapi_event_log_open();
	for (int i = 0; i < n; i++)
	{
		VapiOutcome *out = &outs[i];
		const char *detail = out->ok ? evs[i].detail : out->error;
		bool		logged = vapi_should_log(out->action);
		int64		event_id = 0;
		MemoryContext oldcxt;

		if (logged)
			event_id = vapi_log_event_to(log, nulls[i] ? NULL : DatumGetJsonbP(elems[i]),
										 &evs[i], now, out->action, detail);
		oldcxt = MemoryContextSwitchTo(callcxt);
		results[i] = vapi_result_jsonb(out, logged, event_id);
		MemoryContextSwitchTo(oldcxt);
	}
	vapi_event_log_close(log);
	vapi_user_path_end(path);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");

	for (int i = 0; i < n; i++)
	{
		Datum		value = JsonbPGetDatum(results[i]);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}
