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
 * A derived field (vapi_fields[].derived: the caller name, set by C from
 * the merged row) is not merged by version: its incoming value, when it has
 * one, replaces the stored one whenever the two differ.  vapi_field_wins
 * applies the same rule to plain values, for C code that holds the stored
 * row (resolve.c; a merge that writes the tuple directly).
 *
 * Every function here follows SQL's semantics exactly: subscripts as
 * c.field_versions[i] does (NULL when out of range), the type's own
 * comparison and equality (with the column's collation) for values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
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
PG_FUNCTION_INFO_V1(vapi_merge_status);

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

/* What the versions alone say about an incoming value (see field_rule). */
typedef enum FieldRule
{
	RULE_LOSES,
	RULE_WINS,
	RULE_IF_GREATER,			/* a tie: the greater value wins */
	RULE_IF_DISTINCT			/* a derived field: a different value wins */
} FieldRule;

/* Is field number field (1-based, as in SQL) a derived one? */
static bool
is_derived(int field)
{
	return field >= 1 && field <= VF_NUM_FIELDS && vapi_fields[field - 1].derived;
}

/*
 * The merge rule on versions.  A merged field: the incoming value wins when
 * its version is higher than the stored one (a missing stored version
 * counts as 0), or equal and the value greater.  A derived field (set by C
 * from the merged row, vapi_calls.h) takes any incoming value that differs
 * from the stored one, in value or version; without an incoming version
 * the stored value stays.
 */
static FieldRule
field_rule(bool derived, bool has_stored_v, int64 stored_v, bool has_incoming_v,
		   int64 incoming_v)
{
	if (!has_incoming_v)
		return RULE_LOSES;
	if (derived)
	{
		if (incoming_v == 0)
			return RULE_LOSES;
		return (!has_stored_v || stored_v != incoming_v) ? RULE_WINS : RULE_IF_DISTINCT;
	}
	if (incoming_v > (has_stored_v ? stored_v : 0))
		return RULE_WINS;
	if (!has_stored_v || incoming_v != stored_v)
		return RULE_LOSES;
	return RULE_IF_GREATER;
}

/* Decide a tie of field_rule with the type's comparison (cmp) or equality (eq). */
static bool
decide_tie(FieldRule rule, FmgrInfo *cmp, FmgrInfo *eq, Oid collation,
		   Datum stored, bool stored_null, Datum incoming, bool incoming_null)
{
	switch (rule)
	{
		case RULE_LOSES:
			return false;
		case RULE_WINS:
			return true;
		case RULE_IF_GREATER:
			if (stored_null || incoming_null)
				return false;
			return DatumGetInt32(FunctionCall2Coll(cmp, collation, incoming, stored)) > 0;
		case RULE_IF_DISTINCT:
			if (stored_null || incoming_null)
				return stored_null != incoming_null;
			return !DatumGetBool(FunctionCall2Coll(eq, collation, incoming, stored));
	}
	return false;
}

/* The type cache entry of type typid, with the comparison or equality a rule needs. */
static TypeCacheEntry *
rule_type(Oid typid, FieldRule rule)
{
	int			flags = rule == RULE_IF_GREATER ? TYPECACHE_CMP_PROC_FINFO : TYPECACHE_EQ_OPR_FINFO;
	TypeCacheEntry *tc = lookup_type_cache(typid, flags);

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

/* The type cache entry of argument argno, with what is asked for in flags. */
static TypeCacheEntry *
arg_type(FunctionCallInfo fcinfo, int argno, int flags)
{
	Oid			typid = get_fn_expr_argtype(fcinfo->flinfo, argno);

	if (!OidIsValid(typid))
		elog(ERROR, "vapi_calls: could not determine the type of merge argument %d", argno);
	return rule_type(typid, flags == TYPECACHE_CMP_PROC_FINFO ? RULE_IF_GREATER : RULE_IF_DISTINCT);
}

/*
 * The merge rule of field f on plain values, for C callers that hold the
 * stored row (resolve.c predicts the merged org and number with it; a
 * direct-access merge can apply it to a fetched tuple): does the incoming
 * value win over the stored one?  Exactly what the upsert's
 * vapi.merge_value decides.
 */
bool
vapi_field_wins(VapiField f, bool has_stored_v, int64 stored_v,
				Datum stored, bool stored_null,
				int64 incoming_v, Datum incoming, bool incoming_null, Oid collation)
{
	FieldRule	rule = field_rule(vapi_fields[f].derived, has_stored_v, stored_v,
								  true, incoming_v);
	TypeCacheEntry *tc;

	if (rule == RULE_LOSES || rule == RULE_WINS)
		return rule == RULE_WINS;
	tc = rule_type(vapi_fields[f].type, rule);
	return decide_tie(rule, &tc->cmp_proc_finfo, &tc->eq_opr_finfo, collation,
					  stored, stored_null, incoming, incoming_null);
}

/*
 * Are two values of a type equal (both null counts as equal), by the
 * type's equality with the collation: the "distinct" test of
 * vapi.merge_changed, for C callers.
 */
bool
vapi_values_equal(Oid type, Oid collation, Datum a, bool a_null, Datum b, bool b_null)
{
	TypeCacheEntry *tc;

	if (a_null || b_null)
		return a_null == b_null;

	/*
	 * Texts of different lengths are not equal under a deterministic
	 * collation: said without detoasting them (a stored transcript is
	 * usually out of line, and an incoming one that wins usually differs).
	 */
	if (type == TEXTOID && (!OidIsValid(collation) || get_collation_isdeterministic(collation)) &&
		toast_raw_datum_size(a) != toast_raw_datum_size(b))
		return false;
	tc = rule_type(type, RULE_IF_DISTINCT);
	return DatumGetBool(FunctionCall2Coll(&tc->eq_opr_finfo, collation, b, a));
}

/*
 * Does the incoming value of field win over the stored one?  The rule of
 * field_rule, with the arrays at arguments versions_arg and versions_arg + 1
 * and the values at value_arg (stored) and value_arg + 1 (incoming).
 */
static bool
incoming_wins(FunctionCallInfo fcinfo, int versions_arg, int field, int value_arg)
{
	int64		stored_v = 0;
	int64		incoming_v = 0;
	bool		has_stored_v = version_at(fcinfo, versions_arg, field, &stored_v);
	bool		has_incoming_v = version_at(fcinfo, versions_arg + 1, field, &incoming_v);
	FieldRule	rule = field_rule(is_derived(field), has_stored_v, stored_v,
								  has_incoming_v, incoming_v);
	TypeCacheEntry *tc;

	if (rule == RULE_LOSES || rule == RULE_WINS)
		return rule == RULE_WINS;
	if (PG_ARGISNULL(value_arg) && PG_ARGISNULL(value_arg + 1))
		return false;
	tc = arg_type(fcinfo, value_arg, rule == RULE_IF_GREATER ?
				  TYPECACHE_CMP_PROC_FINFO : TYPECACHE_EQ_OPR_FINFO);
	return decide_tie(rule, &tc->cmp_proc_finfo, &tc->eq_opr_finfo, PG_GET_COLLATION(),
					  PG_GETARG_DATUM(value_arg), PG_ARGISNULL(value_arg),
					  PG_GETARG_DATUM(value_arg + 1), PG_ARGISNULL(value_arg + 1));
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
 * Element by element, greatest(coalesce(stored[i], 0), incoming[i]); for a
 * derived field, incoming[i] unless it is missing or 0.
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
		if (is_derived(field))
			elems[i] = Int64GetDatum(has_incoming && incoming_v != 0 ? incoming_v : stored_v);
		else
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

/*
 * SQL: vapi.merge_status(rank smallint, ended_reason text) returns text
 * The status a row of this (merged) rank and ended reason stores.
 */
Datum
vapi_merge_status(PG_FUNCTION_ARGS)
{
	const char *status;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	status = vapi_status_of(PG_GETARG_INT16(0), PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1));
	if (status == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(status));
}
