/*-------------------------------------------------------------------------
 *
 * sources.c
 *	  The relations the resolver reads: settings vapi.agents_source,
 *	  vapi.phone_numbers_source and vapi.contacts_source.
 *
 * Each setting names a table or view, always schema-qualified; its value is
 * checked for syntax only (the check hook cannot read the catalogs).  The
 * lookup on it is built from a fixed template and the name, each part
 * quoted with quote_identifier, and kept as a plan together with the value
 * it was built from.  When the setting's value differs from that (after SET
 * or a reload), or the last use of the plan failed, the plan is dropped and
 * prepared again, so a change takes effect on the next call and a fixed
 * mistake heals without a reconnect.  With the default values the SQL text
 * is exactly that of the extension's own tables.
 *
 * The contacts lookup has a second form, for a caller's number that has
 * several forms under vapi.default_country (vapi_find_contact).
 *
 * On the extension's own tables (the default values) dircache.c does the
 * lookups in C when it can, and keeps the agents' and phone numbers'
 * answers; the SQL here runs for every other relation, and for those when
 * direct access could answer otherwise (row level security, Citus).  On
 * those it is one of our own statements, run with pg_catalog alone
 * (spi_util.c); on a relation of the user's, which may be a view calling
 * the user's functions, with search_path = pg_catalog, pg_temp, as when the
 * entry points set it (they set it once for the call: vapi_sources_named).
 *
 * A failure to prepare or run a lookup is raised again naming the setting
 * and its value, so the message stored in vapi.events says which setting to
 * look at.  The caller (vapi_apply) catches it in its subtransaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "parser/parse_coerce.h"
#include "parser/scansup.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_source_query_sql);

char	   *vapi_agents_source = NULL;
char	   *vapi_phone_numbers_source = NULL;
char	   *vapi_contacts_source = NULL;

/* One configurable lookup and its kept plan. */
typedef struct VapiSource
{
	const char *setting;		/* the setting's name */
	char	  **value;			/* the setting's variable */
	const char *own;			/* its default: the extension's own table */
	const char *sql;			/* template; %s is the quoted relation */
	int			nargs;
	Oid			argtypes[2];
	const char *column;			/* the column the lookup returns */
	Oid			restype;		/* its type (or one binary-coercible to it) */
	SPIPlanPtr	plan;			/* kept; NULL until prepared */
	char	   *planned_for;	/* the value plan was built from; NULL = rebuild */
} VapiSource;

static bool sql_lookup(VapiSourceId id, Datum *args, Datum *result);

static VapiSource sources[VAPI_NUM_SOURCES] = {
	[VAPI_SOURCE_AGENTS] = {
		"vapi.agents_source", &vapi_agents_source, VAPI_AGENTS_SOURCE_DEFAULT,
		"SELECT org_id FROM %s WHERE vapi_assistant_id = $1",
		1, {TEXTOID}, "org_id", UUIDOID
	},
	[VAPI_SOURCE_PHONE_NUMBERS] = {
		"vapi.phone_numbers_source", &vapi_phone_numbers_source, VAPI_PHONE_NUMBERS_SOURCE_DEFAULT,
		"SELECT org_id FROM %s WHERE vapi_phone_number_id = $1",
		1, {TEXTOID}, "org_id", UUIDOID
	},
	[VAPI_SOURCE_CONTACTS] = {
		"vapi.contacts_source", &vapi_contacts_source, VAPI_CONTACTS_SOURCE_DEFAULT,
		"SELECT name FROM %s"
		" WHERE org_id = $1 AND vapi.normalize_phone(phone) = $2"
		" AND name IS NOT NULL AND name <> ''"
		" ORDER BY id LIMIT 1",
		2, {UUIDOID, TEXTOID}, "name", TEXTOID
	},
	/* the same lookup for a number that has several forms (vapi_find_contact) */
	[VAPI_SOURCE_CONTACTS_ANY] = {
		"vapi.contacts_source", &vapi_contacts_source, VAPI_CONTACTS_SOURCE_DEFAULT,
		"SELECT name FROM %s"
		" WHERE org_id = $1 AND vapi.normalize_phone(phone) = ANY ($2)"
		" AND name IS NOT NULL AND name <> ''"
		" ORDER BY id LIMIT 1",
		2, {UUIDOID, TEXTARRAYOID}, "name", TEXTOID
	},
	/* the directory's answer to an assistant-request (src/reply.c) */
	[VAPI_SOURCE_PHONE_ASSISTANTS] = {
		"vapi.phone_numbers_source", &vapi_phone_numbers_source, VAPI_PHONE_NUMBERS_SOURCE_DEFAULT,
		"SELECT assistant_id FROM %s WHERE vapi_phone_number_id = $1",
		1, {TEXTOID}, "assistant_id", TEXTOID
	},
};

/* Characters of an unquoted identifier, as the SQL scanner reads them. */
static bool
ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		IS_HIGHBIT_SET(c);
}

static bool
ident_cont(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/*
 * Split a relation name into schema and relation, as the SQL parser would
 * (unquoted parts folded to lower case, "" inside quotes is a quote).  No
 * catalog access: the settings' check hook uses it.  Returns NULL and the
 * two parts (palloc'd), or a sentence saying what is wrong.
 */
const char *
vapi_parse_source_name(const char *value, char **schema, char **relname)
{
	char	   *parts[2];
	int			n = 0;
	const char *p = value;

	if (value == NULL)
		return "The value must be a schema-qualified relation name, such as public.agents.";
	for (;;)
	{
		char	   *ident;

		while (scanner_isspace(*p))
			p++;
		if (*p == '"')
		{
			StringInfoData buf;

			initStringInfo(&buf);
			for (p++;; p++)
			{
				if (*p == '\0')
					return "A quoted identifier is not closed.";
				if (*p == '"')
				{
					if (p[1] != '"')
						break;
					p++;
				}
				appendStringInfoChar(&buf, *p);
			}
			p++;
			if (buf.len == 0)
				return "A quoted identifier is empty.";
			truncate_identifier(buf.data, buf.len, false);
			ident = buf.data;
		}
		else if (ident_start(*p))
		{
			const char *start = p;

			while (ident_cont(*p))
				p++;
			ident = downcase_truncate_identifier(start, p - start, false);
		}
		else
			return "The value must be a schema-qualified relation name, such as public.agents.";

		if (n == 2)
			return "The name has more than two parts: it must be schema.relation.";
		parts[n++] = ident;

		while (scanner_isspace(*p))
			p++;
		if (*p == '\0')
			break;
		if (*p != '.')
			return "The value must be a schema-qualified relation name, such as public.agents.";
		p++;
	}
	if (n != 2)
		return "The name must be schema-qualified, such as public.agents.";
	if (strcmp(parts[0], "pg_temp") == 0 || strncmp(parts[0], "pg_temp_", 8) == 0)
		return "A temporary relation cannot be a source.";
	*schema = parts[0];
	*relname = parts[1];
	return NULL;
}

/* The lookup's SQL for the setting's current value (palloc'd). */
static char *
source_sql(VapiSource *src)
{
	char	   *schema;
	char	   *relname;
	const char *why = vapi_parse_source_name(*src->value, &schema, &relname);

	/* the check hook let only valid names in */
	if (why != NULL)
		elog(ERROR, "vapi_calls: invalid %s: %s", src->setting, why);
	return psprintf(src->sql, quote_qualified_identifier(schema, relname));
}

/* Does the setting name the extension's own table (its default value)? */
static bool
is_own(VapiSource *src)
{
	return strcmp(*src->value, src->own) == 0;
}

/*
 * Does a source setting name a relation of the user's?  The entry points
 * then set search_path = pg_catalog, pg_temp for the whole call (ingest.c),
 * once, rather than once per lookup.
 */
bool
vapi_sources_named(void)
{
	for (int i = 0; i < VAPI_NUM_SOURCES; i++)
		if (!is_own(&sources[i]))
			return true;
	return false;
}

/*
 * Prepare the lookup unless the kept plan was built for the current value:
 * under our search_path for the extension's own table, under the one in
 * force (vapi_user_path_begin) for a relation of the user's, which may be a
 * view whose functions are the user's.
 */
static void
source_prepare(VapiSource *src, bool own)
{
	if (src->planned_for != NULL && strcmp(src->planned_for, *src->value) == 0)
		return;
	if (src->plan != NULL)
	{
		SPI_freeplan(src->plan);
		src->plan = NULL;
	}
	if (src->planned_for != NULL)
	{
		pfree(src->planned_for);
		src->planned_for = NULL;
	}
	if (own)
		vapi_prepare(&src->plan, source_sql(src), src->nargs, src->argtypes);
	else
		vapi_prepare_user(&src->plan, source_sql(src), src->nargs, src->argtypes);
	src->planned_for = MemoryContextStrdup(TopMemoryContext, *src->value);
}

/* Raise unless the lookup returned the type the resolver reads. */
static void
check_result_type(VapiSource *src)
{
	Oid			got = SPI_gettypeid(SPI_tuptable->tupdesc, 1);

	if (got == src->restype || IsBinaryCoercible(got, src->restype))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column %s is of type %s, not %s", src->column,
					format_type_be(got), format_type_be(src->restype))));
}

/*
 * Run the lookup of a source with args; true and *result when it found a
 * row with a value.  On the extension's own tables it is done in C when it
 * can be (dircache.c); otherwise by SQL, with search_path pg_catalog,
 * pg_temp, as a lookup always ran.  A failure is raised again naming the
 * setting, and the plan is rebuilt on the next call.
 */
bool
vapi_source_lookup(VapiSourceId id, Datum *args, Datum *result)
{
	bool		found;

	if (vapi_dircache_lookup(id, args, result, &found))
		return found;
	return sql_lookup(id, args, result);
}

/* The lookup of a source with args, by its SQL (vapi_source_lookup). */
static bool
sql_lookup(VapiSourceId id, Datum *args, Datum *result)
{
	VapiSource *src = &sources[id];
	MemoryContext oldcxt = CurrentMemoryContext;

	PG_TRY();
	{
		bool		own = is_own(src);

		/* undone by the (sub)transaction's abort on an error */
		int			path = own ? 0 : vapi_user_path_begin();

		source_prepare(src, own);
		if (own)
			vapi_execute(src->plan, args, NULL, SPI_OK_SELECT);
		else
			vapi_execute_user(src->plan, args, NULL, SPI_OK_SELECT);
		vapi_user_path_end(path);
		check_result_type(src);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		/* freed on the next call, once the failed execution is cleaned up */
		if (src->planned_for != NULL)
		{
			pfree(src->planned_for);
			src->planned_for = NULL;
		}
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		FlushErrorState();
		if (edata->sqlerrcode == ERRCODE_UNDEFINED_TABLE ||
			edata->sqlerrcode == ERRCODE_UNDEFINED_SCHEMA)
			ereport(ERROR,
					(errcode(edata->sqlerrcode),
					 errmsg("%s \"%s\" does not exist", src->setting, *src->value)));
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("%s \"%s\" cannot be used: %s", src->setting, *src->value,
						edata->message ? edata->message : "unknown error"),
				 edata->detail ? errdetail_internal("%s", edata->detail) : 0));
	}
	PG_END_TRY();
	return vapi_first_datum(result);
}

/*
 * The name of org's contact whose vapi.normalize_phone(phone) matches the
 * caller's number phone (normalized the same way); true and *name when
 * there is one.  Under vapi.default_country a number has several forms
 * that mean it (the E.164 one and the national ones: classify.c), and the
 * lookup takes them all at once; without it, the number alone.  Either way
 * the index on vapi.normalize_phone(phone) serves it, and the first
 * contact by id wins.
 */
bool
vapi_find_contact(Datum org, text *phone, Datum *name)
{
	text	   *forms[VAPI_MAX_PHONE_CANDIDATES];
	Datum		elems[VAPI_MAX_PHONE_CANDIDATES];
	Datum		args[2];
	int			n = vapi_phone_candidates(phone, vapi_default_country, forms);
	bool		found;

	if (vapi_dircache_find_contact(org, forms, n, name, &found))
		return found;
	args[0] = org;
	if (n == 1)
	{
		args[1] = PointerGetDatum(forms[0]);
		return sql_lookup(VAPI_SOURCE_CONTACTS, args, name);
	}
	for (int i = 0; i < n; i++)
		elems[i] = PointerGetDatum(forms[i]);
	args[1] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	return sql_lookup(VAPI_SOURCE_CONTACTS_ANY, args, name);
}

/*
 * SQL: vapi.source_query(setting text) returns text: the lookup run against
 * the relation a source setting names, with its $1/$2 parameters, as it
 * would be prepared now.  vapi.check() explains it.
 */
Datum
vapi_source_query_sql(PG_FUNCTION_ARGS)
{
	char	   *setting = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int			i;

	for (i = 0; i < VAPI_NUM_SOURCES; i++)
		if (strcmp(setting, sources[i].setting) == 0)
			PG_RETURN_TEXT_P(cstring_to_text(source_sql(&sources[i])));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("\"%s\" is not a source setting", setting),
			 errhint("The source settings are vapi.agents_source, vapi.phone_numbers_source and vapi.contacts_source.")));
	PG_RETURN_NULL();
}
