/*-------------------------------------------------------------------------
 *
 * reresolve.c
 *	  vapi.reresolve(): redo org and caller resolution on existing rows,
 *	  after agents, phone numbers or contacts changed.
 *
 * The rows it looks at are those resolution could still improve: no org,
 * or a caller name that did not come from a contact (Vapi's name, or
 * 'Unknown Caller') while there is a number to look up.  For each, it
 * rebuilds the resolver's inputs from the row (assistant id, phone number
 * id, the org_id in the metadata, the customer's number, and Vapi's name,
 * which is the stored name when that is its source), runs the same
 * resolver as ingestion (resolve.c) and merges the result through the same
 * upsert (merge.c), as an event that carries only an org and a caller name.
 *
 * The version it gives them is the version of the caller name already on
 * the row (the latest event that set it) with the new source priority on
 * top: so a better source wins, an equal one changes nothing, and a later
 * event still outranks it exactly as it would outrank the event whose
 * inputs were used.  An org already on the row is kept (the contact is
 * looked up in it); re-resolution fills in, it never moves a call to
 * another org.
 *
 * Each row is re-read and locked (FOR UPDATE) before it is resolved, so a
 * row deleted meanwhile is skipped rather than re-created; the locks are
 * held until the calling transaction ends.
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

PG_FUNCTION_INFO_V1(vapi_reresolve);

/* Calls fetched from the scan at a time. */
#define RERESOLVE_BATCH		100

/* The source-priority bits of a version (bits 61-62). */
#define PRIO_MASK			(INT64CONST(3) << VAPI_PRIO_SHIFT)

/* Columns of the row read, 1-based. */
#define ROW_ORG				1
#define ROW_ASSISTANT		2
#define ROW_PHONE_ID		3
#define ROW_NUMBER			4
#define ROW_NAME			5
#define ROW_METADATA		6
#define ROW_NAME_VERSION	7
#define ROW_LAST_EVENT		8

static SPIPlanPtr scan_plan = NULL;
static SPIPlanPtr row_plan = NULL;

/* Read and lock the row of call_id; false if it is gone. */
static bool
lock_row(Datum call_id)
{
	Oid			argtypes[1] = {TEXTOID};
	char		sql[512];

	snprintf(sql, sizeof(sql),
			 "SELECT org_id, assistant_id, phone_number_id, phone_number, caller_name,"
			 " metadata, coalesce(field_versions[%d], 0), last_event_at"
			 " FROM vapi.calls WHERE vapi_call_id = $1 FOR UPDATE",
			 VF_CALLER_NAME + 1);
	vapi_prepare(&row_plan, sql, 1, argtypes);
	return vapi_execute(row_plan, &call_id, NULL, SPI_OK_SELECT) > 0;
}

/* A text column of the row just read, or NULL. */
static text *
row_text(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NULL : DatumGetTextPP(d);
}

/*
 * Build the event that re-resolves the row just read: no status, no
 * fields of its own, the row's last event time (so first/last_event_at do
 * not move).  False when nothing about this row can improve any more.
 */
static bool
build_event(text *call_id, VapiEvent *ev)
{
	HeapTuple	row = SPI_tuptable->vals[0];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		no_org;
	bool		isnull;
	int64		name_version;
	Datum		d;

	vapi_init_event(ev);
	ev->disposition = VAPI_APPLY;
	ev->call_id = call_id;
	ev->rank = VAPI_RANK_NONE;

	SPI_getbinval(row, desc, ROW_ORG, &no_org);
	name_version = DatumGetInt64(SPI_getbinval(row, desc, ROW_NAME_VERSION, &isnull));
	ev->customer_number = row_text(ROW_NUMBER);
	if (!no_org && (ev->customer_number == NULL ||
					name_version >> VAPI_PRIO_SHIFT >= VAPI_NAME_FROM_CONTACT))
		return false;			/* resolved meanwhile */

	ev->version = name_version & ~PRIO_MASK;
	if ((name_version >> VAPI_PRIO_SHIFT) == VAPI_NAME_FROM_VAPI)
		ev->customer_name = row_text(ROW_NAME);
	ev->event_at = DatumGetTimestampTz(SPI_getbinval(row, desc, ROW_LAST_EVENT, &isnull));
	ev->has_event_at = true;

	/* with an org on the row, give no org inputs: the contact is looked up in it */
	if (no_org)
	{
		ev->assistant_id = row_text(ROW_ASSISTANT);
		ev->phone_number_id = row_text(ROW_PHONE_ID);
		d = SPI_getbinval(row, desc, ROW_METADATA, &isnull);
		if (!isnull)
			vapi_read_metadata_org(DatumGetJsonbP(d), ev);
	}
	return true;
}

/*
 * Re-resolve the row of one call (a row of the scan); count it in arg (an
 * int64) if a visible column changed.  Runs in an SPI connection of its own.
 */
static void
reresolve_one(HeapTuple scanrow, TupleDesc scandesc, void *arg)
{
	bool		isnull;
	Datum		call_id = SPI_getbinval(scanrow, scandesc, 1, &isnull);
	VapiEvent	ev;
	VapiMergeResult res;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");

	if (lock_row(call_id) && build_event(DatumGetTextPP(call_id), &ev))
	{
		vapi_resolve(&ev);
		vapi_merge(&ev, GetCurrentTimestamp(), &res);
		if (res.changed)
			(*(int64 *) arg)++;
	}

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
}

/*
 * Re-resolve the rows to look at: no org, or a caller name below a
 * contact's priority and a number to look it up by.  (field_versions is
 * 1-based in SQL.)  Counts the rows that changed in *changed.
 */
static void
reresolve_all(int64 *changed)
{
	char		sql[512];

	snprintf(sql, sizeof(sql),
			 "SELECT vapi_call_id FROM vapi.calls"
			 " WHERE org_id IS NULL"
			 " OR (phone_number IS NOT NULL"
			 " AND coalesce(field_versions[%d], 0) >> %d < %d)"
			 " ORDER BY vapi_call_id",
			 VF_CALLER_NAME + 1, VAPI_PRIO_SHIFT, VAPI_NAME_FROM_CONTACT);
	vapi_prepare(&scan_plan, sql, 0, NULL);
	vapi_for_each_row(scan_plan, NULL, NULL, RERESOLVE_BATCH, reresolve_one, changed);
}

/* SQL: vapi.reresolve() returns bigint, the number of rows that changed. */
Datum
vapi_reresolve(PG_FUNCTION_ARGS)
{
	int64		changed = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	reresolve_all(&changed);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
	PG_RETURN_INT64(changed);
}
