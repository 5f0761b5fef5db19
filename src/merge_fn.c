/*-------------------------------------------------------------------------
 *
 * merge_fn.c
 *	  The immutable functions the upsert's DO UPDATE calls: the per-column
 *	  merge rule of merge.c, evaluated in C.
 *
 * The rule (README, "Ordering model"): the incoming value of field i wins
 * when its version, incoming_versions[i], is higher than the stored one
 * (a missing stored version counts as 0), or equal with a greater value.
 * Spelled out in SQL, that rule made the upsert an expression of some 2,500
 * steps (a CASE over array subscripts per column, repeated in the SET list,
 * the WHERE clause and twice in the "visible change" test), and the
 * executor compiles a kept plan's expressions afresh on every execution:
 * that compilation cost more than the rest of the event.  One call per
 * column, and one for each test over all columns, keeps the statement a
 * single INSERT ... ON CONFLICT of parameters, columns and immutable
 * functions (as Citus requires) at a tenth of the size.
 *
 * Every function here follows SQL's semantics exactly: subscripts as
 * c.field_versions[i] does (NULL when out of range), the type's own
 * comparison and equality (with the column's collation) for values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_merge_value);
PG_FUNCTION_INFO_V1(vapi_merge_versions);
PG_FUNCTION_INFO_V1(vapi_merge_wins);
PG_FUNCTION_INFO_V1(vapi_merge_changed);

/* The arguments before the (field, stored, incoming) triples of the tests. */
#define TRIPLES_FIRST_ARG	2

/*
 * versions[field] as SQL's subscript gives it; false for NULL.  The arrays
 * are nearly always plain one-dimensional arrays without nulls (the
 * statement's parameter and the stored column): those are read directly,
 * which the tests, called over every field on every event, do often
 * enough for array_get_element's generality to show in profiles.
 */
static bool
version_at(FunctionCallInfo fcinfo, int argno, int field, int64 *version)
{
	bool		isnull;
	Datum		d;

	if (PG_ARGISNULL(argno))
		return false;
	if (!VARATT_IS_EXTENDED(DatumGetPointer(PG_GETARG_DATUM(argno))))
	{
		ArrayType  *a = (ArrayType *) DatumGetPointer(PG_GETARG_DATUM(argno));

		if (ARR_NDIM(a) == 1 && !ARR_HASNULL(a) && ARR_ELEMTYPE(a) == INT8OID)
		{
			int64		i = (int64) field - ARR_LBOUND(a)[0];

			if (i < 0 || i >= ARR_DIMS(a)[0])
				return false;
			*version = ((const int64 *) ARR_DATA_PTR(a))[i];
			return true;
		}
	}
	d = array_get_element(PG_GETARG_DATUM(argno), 1, &field,
						  -1, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &isnull);
	if (isnull)
		return false;
	*version = DatumGetInt64(d);
	return true;
}

/* The type cache entry of argument argno, with what is asked for in flags. */
static TypeCacheEntry *
arg_type(FunctionCallInfo fcinfo, int argno, int flags)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, argno);
	TypeCacheEntry *tc;

	if (!OidIsValid(typid))
		elog(ERROR, "vapi_calls: could not determine the type of merge argument %d", argno);
	tc = lookup_type_cache(typid, flags);
	if ((flags & TYPECACHE_CMP_PROC_FINFO) && !OidIsValid(tc->cmp_proc_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify a comparison function for type %s",
						format_type_be(typid))));
	if ((flags & TYPECACHE_EQ_OPR_FINFO) && !OidIsValid(tc->eq_opr_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an equality operator for type %s",
						format_type_be(typid))));
	return tc;
}

/*
 * Does the incoming value of field win over the stored one?  As SQL's
 *   incoming_versions[field] > coalesce(stored_versions[field], 0)
 *   OR (incoming_versions[field] = stored_versions[field] AND incoming > stored)
 * with the arrays at arguments versions_arg and versions_arg + 1 and the
 * values at value_arg (stored) and value_arg + 1 (incoming).
 */
static bool
incoming_wins(FunctionCallInfo fcinfo, int versions_arg, int field, int value_arg)
{
	int64		stored_v = 0;
	int64		incoming_v;
	bool		has_stored_v = version_at(fcinfo, versions_arg, field, &stored_v);
	TypeCacheEntry *tc;

	if (!version_at(fcinfo, versions_arg + 1, field, &incoming_v))
		return false;
	if (incoming_v > (has_stored_v ? stored_v : 0))
		return true;
	if (!has_stored_v || incoming_v != stored_v ||
		PG_ARGISNULL(value_arg) || PG_ARGISNULL(value_arg + 1))
		return false;
	/* a tie between two different deliveries: the greater value wins */
	tc = arg_type(fcinfo, value_arg, TYPECACHE_CMP_PROC_FINFO);
	return DatumGetInt32(FunctionCall2Coll(&tc->cmp_proc_finfo, PG_GET_COLLATION(),
										   PG_GETARG_DATUM(value_arg + 1),
										   PG_GETARG_DATUM(value_arg))) > 0;
}

/* Are the two values of a pair distinct, as IS DISTINCT FROM? */
static bool
pair_distinct(FunctionCallInfo fcinfo, int stored_arg)
{
	TypeCacheEntry *tc;

	if (PG_ARGISNULL(stored_arg) || PG_ARGISNULL(stored_arg + 1))
		return PG_ARGISNULL(stored_arg) != PG_ARGISNULL(stored_arg + 1);
	tc = arg_type(fcinfo, stored_arg, TYPECACHE_EQ_OPR_FINFO);
	return !DatumGetBool(FunctionCall2Coll(&tc->eq_opr_finfo, PG_GET_COLLATION(),
										   PG_GETARG_DATUM(stored_arg + 1),
										   PG_GETARG_DATUM(stored_arg)));
}

/*
 * The number of (field, stored, incoming) triples after the two arrays;
 * the field numbers must be integers and not null.
 */
static int
triple_count(FunctionCallInfo fcinfo)
{
	int			n = (PG_NARGS() - TRIPLES_FIRST_ARG) / 3;

	if (get_fn_expr_variadic(fcinfo->flinfo))
		elog(ERROR, "vapi_calls: the merge tests take their triples as separate arguments");
	if ((PG_NARGS() - TRIPLES_FIRST_ARG) % 3 != 0)
		elog(ERROR, "vapi_calls: the merge tests take (field, stored, incoming) triples");
	for (int t = 0; t < n; t++)
	{
		int			arg = TRIPLES_FIRST_ARG + 3 * t;

		if (PG_ARGISNULL(arg) || get_fn_expr_argtype(fcinfo->flinfo, arg) != INT4OID)
			elog(ERROR, "vapi_calls: merge test argument %d must be a field number", arg + 1);
		/* one type's comparison is applied to both values: they must agree */
		if (get_fn_expr_argtype(fcinfo->flinfo, arg + 1) !=
			get_fn_expr_argtype(fcinfo->flinfo, arg + 2))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("merge test arguments %d and %d must be of the same type",
							arg + 2, arg + 3)));
	}
	return n;
}

/*
 * SQL: vapi.merge_value(stored anyelement, incoming anyelement,
 *   stored_versions bigint[], incoming_versions bigint[], field int)
 * The merged value of one column: incoming if it wins, else stored.
 */
Datum
vapi_merge_value(PG_FUNCTION_ARGS)
{
	bool		wins;

	if (PG_ARGISNULL(4))
		elog(ERROR, "vapi_calls: merge_value needs a field number");
	wins = incoming_wins(fcinfo, 2, PG_GETARG_INT32(4), 0);
	if (PG_ARGISNULL(wins ? 1 : 0))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(PG_GETARG_DATUM(wins ? 1 : 0));
}

/*
 * SQL: vapi.merge_versions(stored bigint[], incoming bigint[]) returns bigint[]
 * Element by element, greatest(coalesce(stored[i], 0), incoming[i]).
 */
Datum
vapi_merge_versions(PG_FUNCTION_ARGS)
{
	ArrayType  *incoming;
	int			lbound,
				n;
	Datum	   *elems;

	if (PG_ARGISNULL(1))
		elog(ERROR, "vapi_calls: merge_versions needs the incoming versions");
	incoming = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(incoming) != 1)
		elog(ERROR, "vapi_calls: incoming versions must be a one-dimensional array");
	lbound = ARR_LBOUND(incoming)[0];
	n = ARR_DIMS(incoming)[0];
	elems = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		int			field = lbound + i;
		int64		stored_v = 0;
		int64		incoming_v;
		bool		has_incoming = version_at(fcinfo, 1, field, &incoming_v);

		(void) version_at(fcinfo, 0, field, &stored_v);
		elems[i] = Int64GetDatum(has_incoming && incoming_v > stored_v ? incoming_v : stored_v);
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(elems, NULL, 1, &n, &lbound, INT8OID,
											 sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * SQL: vapi.merge_wins(stored_versions bigint[], incoming_versions bigint[],
 *   VARIADIC "any") returns boolean
 * The variadic arguments are (field number, stored value, incoming value)
 * triples.  True when the incoming value of any of these fields wins.
 */
Datum
vapi_merge_wins(PG_FUNCTION_ARGS)
{
	int			ntriples = triple_count(fcinfo);

	for (int t = 0; t < ntriples; t++)
	{
		int			arg = TRIPLES_FIRST_ARG + 3 * t;

		if (incoming_wins(fcinfo, 0, PG_GETARG_INT32(arg), arg + 1))
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}

/*
 * SQL: vapi.merge_changed(stored_versions bigint[], incoming_versions bigint[],
 *   VARIADIC "any") returns boolean
 * As merge_wins, but true only when a winning value is distinct from the
 * stored one: the event changes something a reader can see.
 */
Datum
vapi_merge_changed(PG_FUNCTION_ARGS)
{
	int			ntriples = triple_count(fcinfo);

	for (int t = 0; t < ntriples; t++)
	{
		int			arg = TRIPLES_FIRST_ARG + 3 * t;

		if (incoming_wins(fcinfo, 0, PG_GETARG_INT32(arg), arg + 1) &&
			pair_distinct(fcinfo, arg + 1))
			PG_RETURN_BOOL(true);
	}
	PG_RETURN_BOOL(false);
}
