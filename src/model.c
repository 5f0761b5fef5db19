/*-------------------------------------------------------------------------
 *
 * model.c
 *	  The names of the ordering model, for C and for SQL.
 *
 * vapi_calls.h defines the model (status ranks, the version layout, the
 * outcomes); this file holds its names and exposes them to SQL through
 * immutable functions, so that the install script derives from the C
 * definitions instead of repeating them: vapi.status_rank(text) and
 * vapi.terminal_rank() for queries over vapi.calls.status_rank (the
 * pipeline health view), vapi.call_statuses() and vapi.event_outcomes() for
 * the domains of vapi.calls.status and vapi.events.outcome.  Being
 * immutable, a call with constant arguments is folded into a constant when
 * a query or a domain constraint is planned: the hot path never calls them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_status_rank_sql);
PG_FUNCTION_INFO_V1(vapi_terminal_rank_sql);
PG_FUNCTION_INFO_V1(vapi_call_statuses_sql);
PG_FUNCTION_INFO_V1(vapi_event_outcomes_sql);

/* The status each rank means; "ended" is Vapi's name for the terminal rank. */
static const char *const rank_names[VAPI_RANK_TERMINAL + 1] = {
	[VAPI_RANK_NONE] = NULL,
	[VAPI_RANK_SCHEDULED] = "scheduled",
	[VAPI_RANK_QUEUED] = "queued",
	[VAPI_RANK_RINGING] = "ringing",
	[VAPI_RANK_IN_PROGRESS] = "in-progress",
	[VAPI_RANK_FORWARDING] = "forwarding",
	[VAPI_RANK_TERMINAL] = "ended",
};

/* What a terminal call is stored as (vapi.classify_ended_reason's answers). */
static const char *const terminal_statuses[] = {"completed", "failed"};

static const char *const outcomes[] = {
	VAPI_OUTCOME_INSERTED, VAPI_OUTCOME_UPDATED, VAPI_OUTCOME_UNCHANGED,
	VAPI_OUTCOME_IGNORED, VAPI_OUTCOME_REJECTED, VAPI_OUTCOME_ERROR,
};

/* The status name of a rank ("ended" for the terminal rank); NULL for none. */
const char *
vapi_rank_name(int rank)
{
	return (rank >= 0 && rank <= VAPI_RANK_TERMINAL) ? rank_names[rank] : NULL;
}

/*
 * The status a call row of this rank stores: the rank's name, or for a
 * terminal call what its ended reason (NULL when none is known) says.
 */
const char *
vapi_status_of(int rank, text *ended_reason)
{
	if (rank != VAPI_RANK_TERMINAL)
		return vapi_rank_name(rank);
	if (ended_reason == NULL)
		return "completed";
	return vapi_classify_ended_reason(VARDATA_ANY(ended_reason),
									  VARSIZE_ANY_EXHDR(ended_reason));
}

/* A text[] of C strings. */
static ArrayType *
text_array(const char *const *names, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(names[i]);
	return construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/*
 * SQL: vapi.status_rank(status text) returns smallint, immutable, strict.
 * The rank of a status as Vapi sends it or as vapi.calls stores it
 * (ended, completed and failed are terminal); NULL for anything else.
 */
Datum
vapi_status_rank_sql(PG_FUNCTION_ARGS)
{
	char	   *status = text_to_cstring(PG_GETARG_TEXT_PP(0));

	for (int r = VAPI_RANK_SCHEDULED; r <= VAPI_RANK_TERMINAL; r++)
		if (strcmp(status, rank_names[r]) == 0)
			PG_RETURN_INT16(r);
	for (int i = 0; i < lengthof(terminal_statuses); i++)
		if (strcmp(status, terminal_statuses[i]) == 0)
			PG_RETURN_INT16(VAPI_RANK_TERMINAL);
	PG_RETURN_NULL();
}

/* SQL: vapi.terminal_rank() returns smallint, immutable. */
Datum
vapi_terminal_rank_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT16(VAPI_RANK_TERMINAL);
}

/*
 * SQL: vapi.call_statuses() returns text[], immutable: every value
 * vapi.calls.status can take, in rank order.
 */
Datum
vapi_call_statuses_sql(PG_FUNCTION_ARGS)
{
	const char *names[VAPI_RANK_TERMINAL - 1 + lengthof(terminal_statuses)];
	int			n = 0;

	for (int r = VAPI_RANK_SCHEDULED; r < VAPI_RANK_TERMINAL; r++)
		names[n++] = rank_names[r];
	for (int i = 0; i < lengthof(terminal_statuses); i++)
		names[n++] = terminal_statuses[i];
	PG_RETURN_ARRAYTYPE_P(text_array(names, n));
}

/* SQL: vapi.event_outcomes() returns text[], immutable: vapi.events.outcome's values. */
Datum
vapi_event_outcomes_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_ARRAYTYPE_P(text_array(outcomes, lengthof(outcomes)));
}
