/*-------------------------------------------------------------------------
 *
 * eventlog.c
 *	  The event log: every delivery as received, with what became of it.
 *
 * vapi.events keeps the raw payload so that any delivery can be replayed;
 * vapi.log_events decides which outcomes are kept (all, only the failures,
 * or none).  The insert runs outside the processing subtransaction, so a
 * delivery whose processing failed is still kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "vapi_calls.h"

static SPIPlanPtr insert_plan = NULL;

/* Does vapi.log_events keep a delivery with this outcome? */
bool
vapi_should_log(const char *outcome)
{
	switch (vapi_log_events)
	{
		case VAPI_LOG_ALL:
			return true;
		case VAPI_LOG_ERRORS:
			return strcmp(outcome, VAPI_OUTCOME_ERROR) == 0 ||
				strcmp(outcome, VAPI_OUTCOME_REJECTED) == 0;
		default:
			return false;
	}
}

/* Keep one delivery; returns its vapi.events id. */
int64
vapi_log_event(Jsonb *payload, VapiEvent *ev, TimestampTz received_at,
			   const char *outcome, const char *detail)
{
	VapiEventLog *log = vapi_event_log_open();
	int64		id = vapi_log_event_to(log, payload, ev, received_at, outcome, detail);

	vapi_event_log_close(log);
	return id;
}

/*
 * Keep one delivery in an open event log (vapi_event_log_open: direct.c),
 * by the SQL insert when direct access is not possible; returns its
 * vapi.events id.  For many deliveries, one open log saves setting up the
 * insert for each (vapi_ingest_batch).
 */
int64
vapi_log_event_to(VapiEventLog *log, Jsonb *payload, VapiEvent *ev,
				  TimestampTz received_at, const char *outcome, const char *detail)
{
	Oid			argtypes[8] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID,
	TIMESTAMPTZOID, JSONBOID, TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[8] = "        ";
	Datum		id;
	int64		direct_id;

	if (vapi_event_log_write(log, payload, ev, received_at, outcome, detail, &direct_id))
		return direct_id;
	vapi_prepare(&insert_plan,
				 "INSERT INTO vapi.events"
				 " (received_at, vapi_call_id, type, status, event_at, payload, outcome, detail)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
				 8, argtypes);

	values[0] = TimestampTzGetDatum(received_at);
	values[1] = ev->call_id ? PointerGetDatum(ev->call_id) : CStringGetTextDatum("");
	values[2] = PointerGetDatum(ev->type);
	nulls[2] = ev->type ? ' ' : 'n';
	values[3] = ev->status_name ? CStringGetTextDatum(ev->status_name) : (Datum) 0;
	nulls[3] = ev->status_name ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(ev->event_at);
	nulls[4] = ev->has_event_at ? ' ' : 'n';
	values[5] = JsonbPGetDatum(payload);
	nulls[5] = payload ? ' ' : 'n';
	values[6] = CStringGetTextDatum(outcome);
	values[7] = detail ? CStringGetTextDatum(detail) : (Datum) 0;
	nulls[7] = detail ? ' ' : 'n';

	vapi_execute(insert_plan, values, nulls, SPI_OK_INSERT_RETURNING);
	if (!vapi_first_datum(&id))
		elog(ERROR, "vapi_calls: event insert returned no id");
	return DatumGetInt64(id);
}
