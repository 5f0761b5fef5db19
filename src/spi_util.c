/*-------------------------------------------------------------------------
 *
 * spi_util.c
 *	  Prepare-once, execute-checked helpers around SPI (see spi_util.h).
 *
 * Callers are inside SPI_connect()/SPI_finish(); results stay in SPI's
 * memory until SPI_finish().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"

#include "spi_util.h"

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
	SPIPlanPtr	p;

	if (*plan != NULL)
		return *plan;
	p = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);
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
	int			rc = SPI_execute_plan(plan, values, nulls, false, 0);

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
	Portal		portal = SPI_cursor_open(NULL, plan, values, nulls, false);

	if (portal == NULL)
		elog(ERROR, "vapi_calls: SPI_cursor_open failed (%s)",
			 SPI_result_code_string(SPI_result));
	for (;;)
	{
		SPITupleTable *rows;
		uint64		n;

		SPI_cursor_fetch(portal, true, batch);
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
