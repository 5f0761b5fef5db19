/*-------------------------------------------------------------------------
 *
 * spi_util.h
 *	  Kept SPI plans: prepared once per backend, executed with parameters.
 *
 * Every statement the extension runs on the hot path is a VapiPlan: its SQL
 * text is fixed (schema-qualified, no values pasted in), it is prepared on
 * first use with SPI_prepare_cursor(CURSOR_OPT_GENERIC_PLAN) and kept with
 * SPI_keepplan.  PostgreSQL's plan cache revalidates it after DDL.  It is
 * prepared and run with pg_catalog as the whole search_path (spi_util.c);
 * a statement on a relation a user named uses the _user variants instead.
 *
 *-------------------------------------------------------------------------
 */
#ifndef VAPI_SPI_UTIL_H
#define VAPI_SPI_UTIL_H

#include "postgres.h"

#include "executor/spi.h"

extern SPIPlanPtr vapi_prepare(SPIPlanPtr *plan, const char *sql, int nargs,
							   Oid *argtypes);
extern SPIPlanPtr vapi_prepare_opts(SPIPlanPtr *plan, const char *sql, int nargs,
									Oid *argtypes, int cursor_options);
extern int	vapi_execute(SPIPlanPtr plan, Datum *values, const char *nulls,
						 int expected);
extern SPIPlanPtr vapi_prepare_user(SPIPlanPtr *plan, const char *sql, int nargs,
									Oid *argtypes);
extern int	vapi_execute_user(SPIPlanPtr plan, Datum *values, const char *nulls,
							  int expected);
extern int	vapi_user_path_begin(void);
extern void vapi_user_path_end(int level);
extern void vapi_set_user_path(void);
extern bool vapi_first_datum(Datum *value);
extern void vapi_for_each_batch(SPIPlanPtr plan, Datum *values, const char *nulls,
								int batch,
								void (*fn) (SPITupleTable *rows, uint64 n, void *arg),
								void *arg);
extern void vapi_for_each_row(SPIPlanPtr plan, Datum *values, const char *nulls,
							  int batch,
							  void (*fn) (HeapTuple row, TupleDesc desc, void *arg),
							  void *arg);

#endif							/* VAPI_SPI_UTIL_H */
