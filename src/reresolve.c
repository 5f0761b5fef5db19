/*-------------------------------------------------------------------------
 *
 * reresolve.c
 *	  vapi.reresolve(): redo org and caller resolution on existing rows,
 *	  after agents, phone numbers or contacts changed.
 *
 * The rows it looks at are those resolution could still improve: no org,
 * or a caller name that did not come from a contact (Vapi's name, or
 * 'Unknown Caller') while there is a number to look up, or a caller name
 * that 0.1.0 resolved from an event instead of the row.  For each, it
 * builds a synthetic event from the row: for a row without an org, the
 * resolver's inputs (assistant id, phone number id, the metadata) at the
 * versions the row holds them at, so the org they resolve to gets the
 * version ingesting those deliveries today would give it; and in every
 * case a request to derive the caller name afresh.  That event goes
 * through vapi_apply (ingest.c), as a delivery does: the same resolver,
 * the same merge (which derives the caller from the row's final org and
 * number), the same change notification.  An org already on the row is
 * kept (the contact is looked up in it); re-resolution fills in, it never
 * moves a call to another org.
 *
 * Each row is re-read before its event is built, and the event is
 * fill-only: the merge, which locks the row, skips a row deleted meanwhile
 * rather than re-creating it, and keeps an org a delivery gave it
 * meanwhile.  A row whose resolution changes nothing has its
 * subtransaction rolled back (vapi_apply), which releases its lock at once:
 * only the rows it changes stay locked until the calling transaction ends,
 * so live deliveries of the calls it could not improve never wait for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_reresolve);

/* Calls fetched from the scan at a time. */
#define RERESOLVE_BATCH		100

/* Columns of the row read, 1-based. */
#define ROW_ORG				1
#define ROW_ASSISTANT		2
#define ROW_PHONE_ID		3
#define ROW_NUMBER			4
#define ROW_METADATA		5
#define ROW_NAME_VERSION	6
#define ROW_LAST_EVENT		7
#define ROW_VERSIONS		8

static SPIPlanPtr scan_plan = NULL;
static SPIPlanPtr row_plan = NULL;

/* Read the row of call_id; false if it is gone. */
static bool
read_row(Datum call_id)
{
	Oid			argtypes[1] = {TEXTOID};
	char		sql[512];

	snprintf(sql, sizeof(sql),
			 "SELECT org_id, assistant_id, phone_number_id, phone_number, metadata,"
			 " coalesce(field_versions[%d], 0), last_event_at, field_versions"
			 " FROM vapi.calls WHERE vapi_call_id = $1",
			 VF_CALLER_NAME + 1);
	vapi_prepare(&row_plan, sql, 1, argtypes);
	return vapi_execute(row_plan, &call_id, NULL, SPI_OK_SELECT) > 0;
}

/* Column col of the row just read, or (Datum) 0 when null. */
static Datum
row_value(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? (Datum) 0 : d;
}

/* The version field f has in the row just read; 0 when absent. */
static int64
row_version(VapiField f)
{
	Datum		d = row_value(ROW_VERSIONS);
	int			subscript = f + 1;
	bool		isnull;
	Datum		v;

	if (d == (Datum) 0)
		return 0;
	v = array_get_element(d, 1, &subscript, -1, sizeof(int64), FLOAT8PASSBYVAL,
						  TYPALIGN_DOUBLE, &isnull);
	return isnull ? 0 : DatumGetInt64(v);
}

/* Carry a resolver input of the row into the event, at the row's version. */
static void
carry_input(VapiEvent *ev, VapiField f, int col)
{
	Datum		d = row_value(col);

	if (d != (Datum) 0 && row_version(f) > 0)
		vapi_set_field(ev, f, d, row_version(f));
}

/*
 * Was the caller name of a row with this caller version resolved by 0.1.0,
 * from the event rather than from the row (vapi_caller_version)?  Such a
 * name may be a contact of another org than the call's: it is derived again.
 */
static bool
legacy_caller(int64 name_version)
{
	return (name_version & ~VAPI_PRIO_MASK) != (vapi_caller_version(0) & ~VAPI_PRIO_MASK);
}

/*
 * Build the event that re-resolves the row just read: no status, no
 * values that win, the row's last event time (so first/last_event_at do
 * not move).  False when nothing about this row can improve any more.
 */
static bool
build_event(text *call_id, VapiEvent *ev)
{
	bool		no_org = row_value(ROW_ORG) == (Datum) 0;
	int64		name_version = DatumGetInt64(row_value(ROW_NAME_VERSION));

	if (!no_org && !legacy_caller(name_version) &&
		(row_value(ROW_NUMBER) == (Datum) 0 ||
		 vapi_version_prio(name_version) >= VAPI_NAME_FROM_CONTACT))
		return false;			/* resolved meanwhile */

	vapi_init_event(ev);
	ev->disposition = VAPI_APPLY;
	ev->call_id = call_id;
	ev->rank = VAPI_RANK_NONE;
	ev->version = 1;
	ev->recheck_caller = true;
	ev->fill_only = true;
	ev->event_at = DatumGetTimestampTz(row_value(ROW_LAST_EVENT));
	ev->has_event_at = true;

	/* with an org on the row, give no org inputs: the contact is looked up in it */
	if (no_org)
	{
		carry_input(ev, VF_ASSISTANT_ID, ROW_ASSISTANT);
		carry_input(ev, VF_PHONE_NUMBER_ID, ROW_PHONE_ID);
		carry_input(ev, VF_METADATA, ROW_METADATA);
		if (!ev->isnull[VF_ASSISTANT_ID])
			ev->assistant_id = DatumGetTextPP(ev->value[VF_ASSISTANT_ID]);
		if (!ev->isnull[VF_PHONE_NUMBER_ID])
			ev->phone_number_id = DatumGetTextPP(ev->value[VF_PHONE_NUMBER_ID]);
		if (!ev->isnull[VF_METADATA])
			vapi_read_metadata_org(DatumGetJsonbP(ev->value[VF_METADATA]), ev);
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
	VapiOutcome out;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");

	if (read_row(call_id) && build_event(DatumGetTextPP(call_id), &ev))
	{
		vapi_apply(&ev, GetCurrentTimestamp(), &out);
		if (!out.ok)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("could not re-resolve call \"%s\": %s",
							TextDatumGetCString(call_id), out.error)));
		if (strcmp(out.action, VAPI_OUTCOME_UPDATED) == 0)
			(*(int64 *) arg)++;
	}

	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
}

/*
 * Re-resolve the rows to look at: no org, or a caller name below a
 * contact's priority and a number to look it up by, or a caller name
 * resolved by 0.1.0 (legacy_caller).  (field_versions is 1-based in SQL.)
 * Counts the rows that changed in *changed.
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
			 " OR coalesce(field_versions[%d], 0) & (" INT64_FORMAT ") <> " INT64_FORMAT
			 " ORDER BY vapi_call_id",
			 VF_CALLER_NAME + 1, VAPI_PRIO_SHIFT, VAPI_NAME_FROM_CONTACT,
			 VF_CALLER_NAME + 1, ~VAPI_PRIO_MASK,
			 vapi_caller_version(0) & ~VAPI_PRIO_MASK);
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
