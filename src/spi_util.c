/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Prepare-once, execute-checked helpers around SPI (see spi_util.h).
 *
 * Callers are inside SPI_connect()/SPI_finish(); results stay in SPI's
 * memory until SPI_finish().
 *
 * The search_path of our own statements: pg_catalog alone.  The entry
 * points run without a SET search_path clause (leaving a function that has
 * one walks every setting in PostgreSQL 15, and so does every subtransaction
 * commit inside it), so the caller's search_path would otherwise be the one
 * in force.  Every statement here names its relations and functions in
 * full, but its operators (=, ||, ::) and the casts and functions they
 * imply are looked up along the search_path, and a caller with
 * search_path = evil, pg_catalog could have defined evil.= for text.  So
 * each prepare and each execution (where a kept plan is re-planned when the
 * path differs from the one it was prepared under, or after DDL) runs under
 * an override search path of pg_catalog alone: pushed here, popped when the
 * call returns; on an error, the abort of the (sub)transaction the call ran
 * in pops it (AtEOSubXact_Namespace, AtEOXact_Namespace).  While it is in
 * force a function's own SET search_path has no effect, so it is pushed
 * around our statements only, never around user code we call directly
 * (handlers, reply.c); the lookups on relations a user named run under the
 * setting instead (vapi_user_path_begin).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "utils/guc.h"

#include "spi_util.h"

static SPIPlanPtr prepare(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
						  int cursor_options, bool own);
static int	execute(SPIPlanPtr plan, Datum *values, const char *nulls, int expected,
					bool own);

/*
 * Make pg_catalog the whole search_path of what follows, until
 * pop_own_path().  PostgreSQL 17 removed the override search path: there
 * the setting itself is saved and set (never compiled here), which costs
 * little from 16 on (only the settings changed in a nest level are walked
 * when it ends).
 */
typedef int OwnPath;

#if PG_VERSION_NUM < 170000
static OwnPath
push_own_path(void)
{
	OverrideSearchPath path = {NIL, true, false, 0};

	PushOverrideSearchPath(&path);
	return 0;
}

static void
pop_own_path(OwnPath level)
{
	PopOverrideSearchPath();
}
#else
static OwnPath
push_own_path(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return level;
}

static void
pop_own_path(OwnPath level)
{
	AtEOXact_GUC(true, level);
}
#endif

/*
 * The search_path in force for user code: lookups on a relation a user
 * named (sources.c), a handler (reply.c).  pg_catalog, pg_temp, as it was
 * while the entry points had SET search_path = pg_catalog, pg_temp; its
 * own SET clauses take effect.  Returns the nest level to give
 * vapi_user_path_end(), 0 when the path is in force already (set for the
 * whole call by ingest.c, or by the SET clause of vapi.replay and the
 * others), so that nothing is set or walked again; an error undoes it with
 * the (sub)transaction.
 */
int
vapi_user_path_begin(void)
{
	int			level;

	if (namespace_search_path != NULL &&
		strcmp(namespace_search_path, "pg_catalog, pg_temp") == 0)
		return 0;
	level = NewGUCNestLevel();
	vapi_set_user_path();
	return level;
}

void
vapi_user_path_end(int level)
{
	if (level > 0)
		AtEOXact_GUC(true, level);
}

/*
 * Set search_path = pg_catalog, pg_temp in the current nest level, unless
 * it is that already (reply.c, whose handler's nest level undoes it).
 */
void
vapi_set_user_path(void)
{
	if (namespace_search_path == NULL ||
		strcmp(namespace_search_path, "pg_catalog, pg_temp") != 0)
		(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Prepare sql into *plan and keep it, unless that was done already.  A
 * failure here is a bug or a broken installation, so it raises.
 */
SPIPlanPtr
vapi_prepare(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	return vapi_prepare_opts(plan, sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
}

/*
 * The same with other cursor options: CURSOR_OPT_CUSTOM_PLAN for a statement
 * whose parameters are optional filters, so each run is planned for its values.
 */
SPIPlanPtr
vapi_prepare_opts(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
				  int cursor_options)
{
	return prepare(plan, sql, nargs, argtypes, cursor_options, true);
}

/*
 * The same for a statement on a relation a user named, prepared under the
 * search_path in force (vapi_user_path_begin) rather than ours.
 */
SPIPlanPtr
vapi_prepare_user(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes)
{
	return prepare(plan, sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN, false);
}

/* Prepare and keep, under our search_path when own. */
static SPIPlanPtr
prepare(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes,
		int cursor_options, bool own)
{
	SPIPlanPtr	p;
	OwnPath		path = 0;

	if (*plan != NULL)
		return *plan;
	if (own)
		path = push_own_path();
	p = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);
	if (own)
		pop_own_path(path);
	if (p == NULL)
		elog(ERROR, "vapi_calls: SPI_prepare failed (%s) for: %s",
			 SPI_result_code_string(SPI_result), sql);
	if (SPI_keepplan(p) != 0)
		elog(ERROR, "vapi_calls: SPI_keepplan failed");
	*plan = p;
	return p;
}

/*
 * Execute a kept plan and check that it returned the SPI code expected
 * (SPI_OK_SELECT, SPI_OK_INSERT_RETURNING, ...).  Returns SPI_processed.
 *
 * Never read-only, even for lookups: a read-only execution reuses the
 * calling statement's snapshot, and would not see the rows that earlier
 * calls in the same statement (SELECT vapi_ingest(p) FROM ...) wrote.
 */
int
vapi_execute(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	return execute(plan, values, nulls, expected, true);
}

/* The same for a plan of vapi_prepare_user(), under the search_path in force. */
int
vapi_execute_user(SPIPlanPtr plan, Datum *values, const char *nulls, int expected)
{
	return execute(plan, values, nulls, expected, false);
}

/* Execute and check, under our search_path when own. */
static int
execute(SPIPlanPtr plan, Datum *values, const char *nulls, int expected, bool own)
{
	OwnPath		path = own ? push_own_path() : 0;
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

	if (own)
		pop_own_path(path);
	if (rc != expected)
		elog(ERROR, "vapi_calls: SPI_execute_plan returned %s, expected %s",
			 SPI_result_code_string(rc), SPI_result_code_string(expected));
	return (int) SPI_processed;
}

/*
 * The first column of the first row of the last result, if there is a row
 * and the value is not null.
 */
bool
vapi_first_datum(Datum *value)
{
	bool		isnull;

	if (SPI_processed == 0 || SPI_tuptable == NULL)
		return false;
	*value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull;
}

/*
 * Run a kept plan as a cursor and call fn on each batch of (up to) batch
 * rows, freeing each batch after it, so memory stays flat however many rows
 * there are.  The cursor's snapshot is taken when it opens: what fn writes
 * is not seen by the scan.
 */
void
vapi_for_each_batch(SPIPlanPtr plan, Datum *values, const char *nulls, int batch,
					void (*fn) (SPITupleTable *rows, uint64 n, void *arg), void *arg)
{
	OwnPath		path = push_own_path();
	Portal		portal = SPI_cursor_open(NULL, plan, values, nulls, false);

	pop_own_path(path);
	if (portal == NULL)
		elog(ERROR, "vapi_calls: SPI_cursor_open failed (%s)",
			 SPI_result_code_string(SPI_result));
	for (;;)
	{
		SPITupleTable *rows;
		uint64		n;

		path = push_own_path();
		SPI_cursor_fetch(portal, true, batch);
		pop_own_path(path);
		rows = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		CHECK_FOR_INTERRUPTS();
		fn(rows, n, arg);
		SPI_freetuptable(rows);
	}
	SPI_cursor_close(portal);
}

/* What vapi_for_each_row calls on each row. */
typedef struct EachRow
{
	void		(*fn) (HeapTuple row, TupleDesc desc, void *arg);
	void	   *arg;
} EachRow;

static void
each_row_of_batch(SPITupleTable *rows, uint64 n, void *arg)
{
	EachRow    *each = (EachRow *) arg;

	for (uint64 i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		each->fn(rows->vals[i], rows->tupdesc, each->arg);
	}
}

/* vapi_for_each_batch, calling fn on each row. */
void
vapi_for_each_row(SPIPlanPtr plan, Datum *values, const char *nulls, int batch,
				  void (*fn) (HeapTuple row, TupleDesc desc, void *arg), void *arg)
{
	EachRow		each = {fn, arg};

	vapi_for_each_batch(plan, values, nulls, batch, each_row_of_batch, &each);
}
