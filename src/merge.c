/*-------------------------------------------------------------------------
 *
 * merge.c
 *	  The upsert: one INSERT ... ON CONFLICT DO UPDATE per event, whose SET
 *	  list merges the event into the call row so that the result does not
 *	  depend on the order in which events arrive.
 *
 * Every merged column i has a version in vapi.calls.field_versions[i]: the
 * version of the event (and source priority) its value came from.  An
 * incoming value replaces the stored one only if its version is higher, or
 * equal with a greater value, so the value of the highest version that has
 * one wins whatever the order, and a null never erases anything.  Status
 * rank only grows; first/last event times are a min and a max; the test
 * flag is an OR.  A delivery that changes nothing (an exact repeat) fails
 * the DO UPDATE's WHERE and writes nothing.
 *
 * The caller name is the exception: it is derived from the merged org,
 * customer number and Vapi's name (resolve.c), so that it is always a
 * contact of the row's final org.  vapi_merge therefore reads and locks the
 * row before the upsert (fetch_row), has the caller derived from what the
 * row will hold, and passes it as a derived field, which the upsert takes
 * whenever it differs (merge_fn.c).  Holding the row lock from the read to
 * the write is what keeps a concurrent delivery from changing the inputs
 * in between (README, "Ordering model").
 *
 * The statement is generated once from vapi_fields[] below and kept; it
 * uses only parameters, columns and immutable functions, as Citus needs.
 * The per-column rule is evaluated by the vapi.merge_* functions
 * (merge_fn.c): written out in SQL it made an expression the executor
 * spent more time compiling, on every execution, than the event took.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "spi_util.h"
#include "vapi_calls.h"

/* In VapiField order: the order of vapi.calls.field_versions. */
const VapiFieldInfo vapi_fields[VF_NUM_FIELDS] = {
	[VF_ORG_ID] = {"org_id", UUIDOID},
	[VF_VAPI_ORG_ID] = {"vapi_org_id", TEXTOID},
	[VF_ASSISTANT_ID] = {"assistant_id", TEXTOID},
	[VF_PHONE_NUMBER_ID] = {"phone_number_id", TEXTOID},
	[VF_CALL_TYPE] = {"call_type", TEXTOID},
	[VF_DIRECTION] = {"direction", TEXTOID},
	[VF_PHONE_NUMBER] = {"phone_number", TEXTOID},
	[VF_FROM_NUMBER] = {"from_number", TEXTOID},
	[VF_CALLER_NAME] = {"caller_name", TEXTOID, true},
	[VF_ENDED_REASON] = {"ended_reason", TEXTOID},
	[VF_STARTED_AT] = {"started_at", TIMESTAMPTZOID},
	[VF_ENDED_AT] = {"ended_at", TIMESTAMPTZOID},
	[VF_DURATION_SECONDS] = {"duration_seconds", NUMERICOID},
	[VF_COST] = {"cost", NUMERICOID},
	[VF_TRANSCRIPT] = {"transcript", TEXTOID},
	[VF_SUMMARY] = {"summary", TEXTOID},
	[VF_SENTIMENT] = {"sentiment", TEXTOID},
	[VF_RECORDING_URL] = {"recording_url", TEXTOID},
	[VF_STEREO_RECORDING_URL] = {"stereo_recording_url", TEXTOID},
	[VF_ANALYSIS] = {"analysis", JSONBOID},
	[VF_METADATA] = {"metadata", JSONBOID},
	[VF_CUSTOMER_NAME] = {"customer_name", TEXTOID},
};

/* Parameters after the field values. */
#define P_CALL_ID		1
#define P_FIELD(f)		(2 + (f))
#define P_IS_TEST		(2 + VF_NUM_FIELDS)
#define P_RANK			(3 + VF_NUM_FIELDS)
#define P_STATUS		(4 + VF_NUM_FIELDS)
#define P_VERSIONS		(5 + VF_NUM_FIELDS)
#define P_EVENT_AT		(6 + VF_NUM_FIELDS)
#define P_NOW			(7 + VF_NUM_FIELDS)
#define NPARAMS			(7 + VF_NUM_FIELDS)

static SPIPlanPtr upsert_plan[2] = {NULL, NULL};	/* full, lean */
static SPIPlanPtr lookup_plan = NULL;
static SPIPlanPtr row_plan = NULL;

/* Record a value and its version for field f of the event. */
void
vapi_set_field(VapiEvent *ev, VapiField f, Datum value, int64 version)
{
	ev->value[f] = value;
	ev->isnull[f] = false;
	ev->fversion[f] = version;
}

/* The merged value of field f (merge_fn.c has the rule). */
static void
append_merged(StringInfo sql, int f)
{
	appendStringInfo(sql, "vapi.merge_value(c.%s, excluded.%s, c.field_versions,"
					 " excluded.field_versions, %d)",
					 vapi_fields[f].column, vapi_fields[f].column, f + 1);
}

/*
 * The fields only an end-of-call report (or a forwarding update) carries.
 * A delivery without any of them is upserted by the lean statement, which
 * leaves them out: a field the delivery does not carry has version 0 and
 * never wins, so the row comes out the same, and the executor, which
 * compiles the statement's expressions on every execution, has a third
 * less to compile for most deliveries.
 */
static bool
is_report_field(int f)
{
	return f >= VF_DURATION_SECONDS && f <= VF_ANALYSIS;
}

/* Is field f in the statement (lean or full)? */
static bool
in_statement(int f, bool lean)
{
	return !(lean && is_report_field(f));
}

/*
 * A merge test over the statement's fields: vapi.merge_wins or
 * vapi.merge_changed, with a (field number, stored, incoming) triple each.
 */
static void
append_merge_test(StringInfo sql, const char *function, bool lean)
{
	appendStringInfo(sql, "vapi.%s(c.field_versions, excluded.field_versions", function);
	for (int f = 0; f < VF_NUM_FIELDS; f++)
		if (in_statement(f, lean))
			appendStringInfo(sql, ", %d, c.%s, excluded.%s",
							 f + 1, vapi_fields[f].column, vapi_fields[f].column);
	appendStringInfoChar(sql, ')');
}

/* "the event changes something a reader can see" */
static void
append_visible_change(StringInfo sql, bool lean)
{
	appendStringInfoString(sql, "(excluded.status_rank > c.status_rank"
						   " OR (excluded.is_test_call AND NOT c.is_test_call) OR ");
	append_merge_test(sql, "merge_changed", lean);
	appendStringInfoChar(sql, ')');
}

/*
 * Generate the upsert statement from vapi_fields[]: every field, or (lean)
 * every field but the report's.  Both take the same parameters.
 */
static char *
upsert_sql(bool lean)
{
	StringInfoData sql;
	int			f;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "INSERT INTO vapi.calls AS c (vapi_call_id");
	for (f = 0; f < VF_NUM_FIELDS; f++)
		if (in_statement(f, lean))
			appendStringInfo(&sql, ", %s", vapi_fields[f].column);
	appendStringInfoString(&sql, ", is_test_call, status_rank, status, field_versions,"
						   " first_event_at, last_event_at, created_at, updated_at)"
						   " VALUES ($1");
	for (f = 0; f < VF_NUM_FIELDS; f++)
		if (in_statement(f, lean))
			appendStringInfo(&sql, ", $%d", P_FIELD(f));
	appendStringInfo(&sql, ", $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)",
					 P_IS_TEST, P_RANK, P_STATUS, P_VERSIONS,
					 P_EVENT_AT, P_EVENT_AT, P_NOW, P_NOW);

	appendStringInfoString(&sql, " ON CONFLICT (vapi_call_id) DO UPDATE SET ");
	for (f = 0; f < VF_NUM_FIELDS; f++)
	{
		if (!in_statement(f, lean))
			continue;
		appendStringInfo(&sql, "%s = ", vapi_fields[f].column);
		append_merged(&sql, f);
		appendStringInfoString(&sql, ", ");
	}
	appendStringInfoString(&sql,
						   "is_test_call = c.is_test_call OR excluded.is_test_call, "
						   "status_rank = greatest(c.status_rank, excluded.status_rank), "
						   "status = vapi.merge_status(greatest(c.status_rank, excluded.status_rank), ");
	append_merged(&sql, VF_ENDED_REASON);
	appendStringInfoString(&sql,
						   "), "
						   "field_versions = vapi.merge_versions(c.field_versions,"
						   " excluded.field_versions), "
						   "first_event_at = least(c.first_event_at, excluded.first_event_at), "
						   "last_event_at = greatest(c.last_event_at, excluded.last_event_at), "
						   "events_applied = c.events_applied + 1, "
						   "last_change_seq = CASE WHEN ");
	append_visible_change(&sql, lean);
	appendStringInfoString(&sql, " THEN c.events_applied + 1 ELSE c.last_change_seq END, "
						   "updated_at = CASE WHEN ");
	append_visible_change(&sql, lean);
	appendStringInfoString(&sql, " THEN excluded.updated_at ELSE c.updated_at END"
						   " WHERE excluded.status_rank > c.status_rank"
						   " OR (excluded.is_test_call AND NOT c.is_test_call)"
						   " OR excluded.first_event_at < c.first_event_at"
						   " OR excluded.last_event_at > c.last_event_at OR ");
	append_merge_test(&sql, "merge_wins", lean);
	appendStringInfoString(&sql, " RETURNING id, status, events_applied = 1,"
						   " last_change_seq = events_applied, org_id");
	return sql.data;
}

/* The kept upsert statement for a delivery: lean if it carries no report field. */
static SPIPlanPtr
prepare_upsert(VapiEvent *ev)
{
	Oid			argtypes[NPARAMS];
	bool		lean = true;

	for (int f = 0; f < VF_NUM_FIELDS; f++)
		if (is_report_field(f) && !ev->isnull[f])
			lean = false;
	if (upsert_plan[lean] != NULL)
		return upsert_plan[lean];
	argtypes[P_CALL_ID - 1] = TEXTOID;
	for (int f = 0; f < VF_NUM_FIELDS; f++)
		argtypes[P_FIELD(f) - 1] = vapi_fields[f].type;
	argtypes[P_IS_TEST - 1] = BOOLOID;
	argtypes[P_RANK - 1] = INT2OID;
	argtypes[P_STATUS - 1] = TEXTOID;
	argtypes[P_VERSIONS - 1] = INT8ARRAYOID;
	argtypes[P_EVENT_AT - 1] = TIMESTAMPTZOID;
	argtypes[P_NOW - 1] = TIMESTAMPTZOID;
	return vapi_prepare(&upsert_plan[lean], upsert_sql(lean), NPARAMS, argtypes);
}

/* An empty jsonb object, the default of vapi.calls.metadata (also direct.c). */
Datum
vapi_empty_object(void)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL)));
}

/* The status a new row gets from this event alone. */
static const char *
insert_status(VapiEvent *ev)
{
	return vapi_status_of(ev->rank, ev->isnull[VF_ENDED_REASON] ? NULL :
						  DatumGetTextPP(ev->value[VF_ENDED_REASON]));
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
 * Read and lock (FOR UPDATE) the row of the event's call: what the caller
 * name derives from, and the field versions.  False when there is no row
 * yet.  Until the transaction ends (or the subtransaction of an event that
 * changed nothing is rolled back), no other delivery can change the row,
 * so what is derived from it here is what the upsert merges into.
 */
static bool
fetch_row(text *call_id, VapiRow *row)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		arg[1] = {PointerGetDatum(call_id)};
	bool		isnull;
	Datum		d;

	vapi_prepare(&row_plan,
				 "SELECT org_id, phone_number, customer_name, caller_name, field_versions,"
				 " id, status FROM vapi.calls WHERE vapi_call_id = $1 FOR UPDATE",
				 1, argtypes);
	if (vapi_execute(row_plan, arg, NULL, SPI_OK_SELECT) == 0)
		return false;

	memset(row, 0, sizeof(*row));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	row->org_id = isnull ? (Datum) 0 : d;
	row->phone_number = row_text(2);
	row->customer_name = row_text(3);
	row->caller_name = row_text(4);
	row->call_uuid = datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 6, &isnull), false, UUID_LEN);
	row->status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
	if (!isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		if (ARR_NDIM(a) == 1 && ARR_LBOUND(a)[0] == 1)
		{
			deconstruct_array(a, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
							  &elems, &nulls, &n);
			for (int f = 0; f < n && f < VF_NUM_FIELDS; f++)
				row->fversion[f] = nulls[f] ? 0 : DatumGetInt64(elems[f]);
		}
	}
	return true;
}

/* id, status and org of an existing row (after a no-op upsert). */
void
vapi_lookup_call(text *call_id, VapiMergeResult *res)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		arg[1] = {PointerGetDatum(call_id)};
	bool		isnull;

	vapi_prepare(&lookup_plan,
				 "SELECT id, status, org_id FROM vapi.calls WHERE vapi_call_id = $1",
				 1, argtypes);
	if (vapi_execute(lookup_plan, arg, NULL, SPI_OK_SELECT) == 0)
		return;
	res->call_uuid = datumCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											 1, &isnull), false, UUID_LEN);
	res->status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
}

/*
 * Upsert the event into its call row.  event_at falls back to now when the
 * message has no usable timestamp.  What res points to is copied out of
 * SPI's result, so it survives the rollback of an event's subtransaction.
 * row: the row as fetch_row read and locked it (NULL if there was none),
 * whose id and status are the answer when the upsert writes nothing.
 */
static void
upsert(VapiEvent *ev, TimestampTz now, const VapiRow *row, VapiMergeResult *res)
{
	SPIPlanPtr	plan = prepare_upsert(ev);
	Datum		values[NPARAMS];
	char		nulls[NPARAMS];
	Datum		versions[VF_NUM_FIELDS];
	const char *status = insert_status(ev);
	bool		isnull;
	HeapTuple	tuple;
	TupleDesc	desc;

	memset(nulls, ' ', sizeof(nulls));
	memset(res, 0, sizeof(*res));

	values[P_CALL_ID - 1] = PointerGetDatum(ev->call_id);
	for (int f = 0; f < VF_NUM_FIELDS; f++)
	{
		values[P_FIELD(f) - 1] = ev->value[f];
		nulls[P_FIELD(f) - 1] = ev->isnull[f] ? 'n' : ' ';
		versions[f] = Int64GetDatum(ev->isnull[f] ? 0 : ev->fversion[f]);
	}
	if (ev->isnull[VF_METADATA])
	{
		values[P_FIELD(VF_METADATA) - 1] = vapi_empty_object();
		nulls[P_FIELD(VF_METADATA) - 1] = ' ';
	}
	values[P_IS_TEST - 1] = BoolGetDatum(ev->is_test_call);
	values[P_RANK - 1] = Int16GetDatum(ev->rank);
	values[P_STATUS - 1] = status ? CStringGetTextDatum(status) : (Datum) 0;
	nulls[P_STATUS - 1] = status ? ' ' : 'n';
	values[P_VERSIONS - 1] = PointerGetDatum(construct_array(versions, VF_NUM_FIELDS,
															 INT8OID, sizeof(int64),
															 FLOAT8PASSBYVAL,
															 TYPALIGN_DOUBLE));
	values[P_EVENT_AT - 1] = TimestampTzGetDatum(ev->has_event_at ? ev->event_at : now);
	values[P_NOW - 1] = TimestampTzGetDatum(now);

	if (vapi_execute(plan, values, nulls, SPI_OK_INSERT_RETURNING) == 0)
	{
		/* nothing new: an exact repeat, or an older copy of what we have */
		if (row != NULL)
		{
			res->call_uuid = row->call_uuid;
			res->status = row->status;
		}
		else
			vapi_lookup_call(ev->call_id, res);
		return;
	}
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	res->call_uuid = datumCopy(SPI_getbinval(tuple, desc, 1, &isnull), false, UUID_LEN);
	res->status = SPI_getvalue(tuple, desc, 2);
	res->wrote = true;
	res->inserted = DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull));
	res->changed = res->inserted || DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull));
	res->org_id = SPI_getbinval(tuple, desc, 5, &isnull);
	res->org_id = isnull ? (Datum) 0 : datumCopy(res->org_id, false, UUID_LEN);
}

/*
 * The SQL path's merge of an event (its org resolved: vapi_resolve_org)
 * into its call row.  The row is read and locked first, the caller name is derived from what
 * the row will hold once the event is merged (vapi_resolve_caller), then
 * the upsert merges.  When there was no row to lock but the upsert found
 * one (another delivery created it meanwhile), the upsert's ON CONFLICT
 * has locked it: the name is derived again from what it now holds and the
 * event merged again, which changes nothing but the name.  A fill-only
 * event (vapi.reresolve) merges into the row only if there is one, and
 * never replaces an org the row has by then.
 */
static void
merge_sql(VapiEvent *ev, TimestampTz now, VapiMergeResult *res)
{
	VapiRow		row;
	bool		found;
	VapiMergeResult again;

	found = fetch_row(ev->call_id, &row);
	memset(res, 0, sizeof(*res));
	if (ev->fill_only)
	{
		if (!found)
			return;				/* deleted meanwhile: not to be re-created */
		if (row.org_id != (Datum) 0)
			ev->isnull[VF_ORG_ID] = true;	/* resolved meanwhile: kept */
	}
	vapi_resolve_caller(ev, found ? &row : NULL);
	upsert(ev, now, found ? &row : NULL, res);
	res->locked = true;			/* by FOR UPDATE, or by ON CONFLICT's update */
	if (found || res->inserted)
		return;

	if (!fetch_row(ev->call_id, &row))
		elog(ERROR, "vapi_calls: call row vanished under its lock");
	ev->recheck_caller = true;
	vapi_resolve_caller(ev, &row);
	upsert(ev, now, &row, &again);
	again.wrote = again.wrote || res->wrote;
	again.changed = again.changed || res->changed;
	again.locked = true;
	*res = again;
}

/*
 * Merge the n events of one call (their orgs resolved: vapi_resolve_org)
 * into its row, in order; res[i] is what event i did.  Directly where that
 * keeps every guarantee (direct.c: the row written once), else by the SQL
 * path, one event at a time.
 */
void
vapi_merge_group(VapiEvent **evs, const TimestampTz *nows, int n, VapiMergeResult *res)
{
	if (vapi_direct_merge(evs, nows, n, res))
		return;
	for (int i = 0; i < n; i++)
		merge_sql(evs[i], nows[i], &res[i]);
}

/* Merge one event into its call row (vapi_merge_group of one). */
void
vapi_merge(VapiEvent *ev, TimestampTz now, VapiMergeResult *res)
{
	vapi_merge_group(&ev, &now, 1, res);
}

/*
 * Is the subtransaction of these n merges worth keeping?  Yes if one of
 * them wrote the row, or none may hold a lock on it (direct access takes
 * none unless it writes, and keeping costs less than rolling back);
 * otherwise it is rolled back, which releases the row lock the SQL path
 * took, so that other deliveries of the call do not wait for the
 * caller's transaction.
 */
bool
vapi_merge_keeps(const VapiMergeResult *res, int n)
{
	bool		locked = false;

	for (int i = 0; i < n; i++)
	{
		if (res[i].inserted || res[i].wrote)
			return true;
		locked = locked || res[i].locked;
	}
	return !locked;
}
