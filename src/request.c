/*-------------------------------------------------------------------------
 *
 * request.c
 *	  What the HTTP layer tells us about the request: its headers and its
 *	  JWT claims, read from the settings PostgREST (or a thin proxy) sets
 *	  in the transaction.
 *
 * PostgREST puts the request headers, with lower-cased names, in
 * request.headers and the verified JWT claims in request.jwt.claims, both
 * as JSON objects.  The caller controls these values, so nothing here may
 * raise on a malformed one: they are read with PostgreSQL's own JSON
 * parser (common/jsonapi.h), which reports syntax errors instead of
 * throwing.  Only the top-level members whose values are strings or
 * numbers are kept; anything else counts as absent.  That parser recurses
 * once per level of nesting and raises "stack depth limit exceeded" past a
 * few thousand, so a value nested deeper than VAPI_REQUEST_MAX_DEPTH is
 * malformed: counted without recursion, before parsing.  It also converts
 * every \u escape to the database encoding, and raises when a character
 * has no equivalent there (\u4e00 in a LATIN1 database), so such a value
 * is malformed too: checked, with a conversion that cannot raise, in the
 * same pass.
 *
 * vapi.current_org() is the org of the request: the claim named by
 * vapi.jwt_org_claim, when it is a uuid.  The row level security policy
 * on vapi.calls compares org_id with it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/guc.h"
#include "utils/uuid.h"

#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_current_org);

/*
 * The deepest nesting of objects and arrays we parse.  PostgREST's headers
 * are one level deep and JWT claims a few; the limit keeps the recursive
 * parser far from the stack limit wherever it is called from (a row level
 * security policy inside a deep query, too).
 */
#define VAPI_REQUEST_MAX_DEPTH	256

/* Semantic actions return an error code from PostgreSQL 16 on. */
#if PG_VERSION_NUM >= 160000
#define JSON_ACTION JsonParseErrorType
#define JSON_ACTION_DONE return JSON_SUCCESS
#else
#define JSON_ACTION void
#define JSON_ACTION_DONE return
#endif

/* Parser state: the members of the top-level object found so far. */
typedef struct MemberReader
{
	int			depth;			/* nesting of objects and arrays */
	bool		top_is_object;
	bool		lower_names;
	char	   *field;			/* current top-level member name */
	VapiRequestObject *obj;
} MemberReader;

static JSON_ACTION
reader_object_start(void *state)
{
	MemberReader *r = (MemberReader *) state;

	if (r->depth++ == 0)
		r->top_is_object = true;
	JSON_ACTION_DONE;
}

static JSON_ACTION
reader_nest_start(void *state)
{
	((MemberReader *) state)->depth++;
	JSON_ACTION_DONE;
}

static JSON_ACTION
reader_nest_end(void *state)
{
	((MemberReader *) state)->depth--;
	JSON_ACTION_DONE;
}

static JSON_ACTION
reader_field_start(void *state, char *fname, bool isnull)
{
	MemberReader *r = (MemberReader *) state;

	if (r->depth == 1)
	{
		if (r->lower_names)
			for (char *p = fname; *p; p++)
				*p = pg_ascii_tolower((unsigned char) *p);
		r->field = fname;
	}
	JSON_ACTION_DONE;
}

static JSON_ACTION
reader_field_end(void *state, char *fname, bool isnull)
{
	MemberReader *r = (MemberReader *) state;

	if (r->depth == 1)
		r->field = NULL;
	JSON_ACTION_DONE;
}

/* A string or number directly under the top-level object is a member. */
static JSON_ACTION
reader_scalar(void *state, char *token, JsonTokenType tokentype)
{
	MemberReader *r = (MemberReader *) state;
	VapiRequestObject *obj = r->obj;

	if (r->depth != 1 || r->field == NULL ||
		(tokentype != JSON_TOKEN_STRING && tokentype != JSON_TOKEN_NUMBER))
		JSON_ACTION_DONE;
	if (obj->count == obj->size)
	{
		obj->size = obj->size ? obj->size * 2 : 16;
		obj->members = obj->members ?
			repalloc(obj->members, obj->size * sizeof(VapiRequestMember)) :
			palloc(obj->size * sizeof(VapiRequestMember));
	}
	obj->members[obj->count].name = r->field;
	obj->members[obj->count].value = token;
	obj->count++;
	JSON_ACTION_DONE;
}

/* The value of the four hex digits at s (a NUL-terminated string), or -1. */
static int
hex4(const char *s)
{
	uint8		b[2];

	if (strnlen(s, 4) < 4 || vapi_decode_hex(s, 4, b, 2) != 2)
		return -1;
	return b[0] << 8 | b[1];
}

/*
 * Can the database encoding hold the character c, which a \u escape
 * names?  Always in UTF8 and for ASCII; otherwise as pg_unicode_to_server()
 * would convert it, but without raising.
 */
static bool
escape_convertible(pg_wchar c)
{
	static Oid	proc = InvalidOid;
	static bool looked_up = false;
	int			encoding = GetDatabaseEncoding();
	unsigned char utf8[8];
	unsigned char out[MAX_CONVERSION_GROWTH * 4 + 1];
	int			len;

	if (c <= 0x7F || encoding == PG_UTF8)
		return true;
	if (!is_valid_unicode_codepoint(c) || encoding == PG_SQL_ASCII)
		return false;
	if (!looked_up)
	{
		proc = FindDefaultConversionProc(PG_UTF8, encoding);
		looked_up = true;
	}
	if (!OidIsValid(proc))
		return false;
	unicode_to_utf8(c, utf8);
	len = pg_utf_mblen(utf8);
	return pg_do_encoding_conversion_buf(proc, PG_UTF8, encoding, utf8, len,
										 out, sizeof(out), true) == len;
}

/*
 * Would parsing the JSON text json raise?  True when it is nested deeper
 * than VAPI_REQUEST_MAX_DEPTH, or a \u escape in it names a character the
 * database encoding lacks.  One pass, without recursion; the text need not
 * be valid JSON (the parser reports what else is wrong, without raising).
 */
static bool
unsafe_to_parse(const char *json)
{
	int			depth = 0;
	bool		in_string = false;

	for (const char *p = json; *p; p++)
	{
		if (in_string)
		{
			if (*p == '\\' && p[1] == 'u' && hex4(p + 2) >= 0)
			{
				pg_wchar	c = hex4(p + 2);

				p += 5;
				/* a surrogate pair is one character */
				if (c >= 0xD800 && c <= 0xDBFF && p[1] == '\\' && p[2] == 'u' &&
					hex4(p + 3) >= 0xDC00 && hex4(p + 3) <= 0xDFFF)
				{
					c = 0x10000 + ((c - 0xD800) << 10) + (hex4(p + 3) - 0xDC00);
					p += 6;
				}
				/* a lone surrogate is the parser's error to report */
				if (!(c >= 0xD800 && c <= 0xDFFF) && !escape_convertible(c))
					return true;
			}
			else if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_string = false;
		}
		else if (*p == '"')
			in_string = true;
		else if (*p == '{' || *p == '[')
		{
			if (++depth > VAPI_REQUEST_MAX_DEPTH)
				return true;
		}
		else if (*p == '}' || *p == ']')
			depth--;
	}
	return false;
}

/*
 * Read the setting named name as a JSON object into *obj.  Returns false
 * when it is set but is not a JSON object, or cannot be parsed without
 * raising (unsafe_to_parse); an unset or empty setting is an object without members, with
 * obj->absent set.  Member names are lower-cased (ASCII) when lower_names
 * is true.
 */
bool
vapi_request_object(const char *name, bool lower_names, VapiRequestObject *obj)
{
	char	   *json = GetConfigOptionByName(name, NULL, true);
	JsonLexContext *lex;
	JsonSemAction sem;
	MemberReader reader;

	memset(obj, 0, sizeof(*obj));
	if (json == NULL || json[0] == '\0')
	{
		obj->absent = true;
		return true;
	}

	if (unsafe_to_parse(json))
		return false;

	memset(&reader, 0, sizeof(reader));
	reader.lower_names = lower_names;
	reader.obj = obj;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &reader;
	sem.object_start = reader_object_start;
	sem.object_end = reader_nest_end;
	sem.array_start = reader_nest_start;
	sem.array_end = reader_nest_end;
	sem.object_field_start = reader_field_start;
	sem.object_field_end = reader_field_end;
	sem.scalar = reader_scalar;

#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, json, strlen(json), GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen(json, strlen(json), GetDatabaseEncoding(), true);
#endif
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || !reader.top_is_object)
	{
		obj->count = 0;
		return false;
	}
	return true;
}

/* The value of member name (the last one, if repeated), or NULL. */
const char *
vapi_request_member(const VapiRequestObject *obj, const char *name)
{
	for (int i = obj->count - 1; i >= 0; i--)
		if (strcmp(obj->members[i].name, name) == 0)
			return obj->members[i].value;
	return NULL;
}

/*
 * Read a uuid in the forms uuid_in accepts (optional braces, a hyphen
 * allowed after any group of four digits), without raising.
 */
static bool
parse_uuid(const char *s, pg_uuid_t *uuid)
{
	char		hex[2 * UUID_LEN];
	int			n = 0;
	bool		braces = (*s == '{');

	if (braces)
		s++;
	for (; *s && *s != '}'; s++)
	{
		if (*s == '-' && n > 0 && n % 4 == 0 && n < 2 * UUID_LEN && s[-1] != '-')
			continue;
		if (n == 2 * UUID_LEN)
			return false;
		hex[n++] = *s;
	}
	if (braces && *s++ != '}')
		return false;
	return *s == '\0' && n == 2 * UUID_LEN &&
		vapi_decode_hex(hex, n, uuid->data, UUID_LEN) == UUID_LEN;
}

/* vapi.current_org()'s last answer, for the claims and claim name it was for. */
typedef struct OrgCache
{
	char	   *claims;			/* request.jwt.claims as it was */
	char	   *claim;			/* vapi.jwt_org_claim as it was */
	bool		found;
	pg_uuid_t	org;
} OrgCache;

/* The org claim of request.jwt.claims, if it is a uuid string. */
static bool
read_org_claim(pg_uuid_t *org)
{
	VapiRequestObject claims;
	const char *value;

	return vapi_request_object("request.jwt.claims", false, &claims) &&
		vapi_jwt_org_claim != NULL &&
		(value = vapi_request_member(&claims, vapi_jwt_org_claim)) != NULL &&
		parse_uuid(value, org);
}

/*
 * SQL: vapi.current_org() returns uuid.  The org claim of the request's
 * JWT, or NULL when there are no claims, no such claim, or it is not a
 * uuid string.  Never raises: under row level security a NULL org simply
 * matches no row.  The row level security policy calls it once per row
 * (Citus allows no subquery there that would call it once), so each call
 * site keeps its last answer and parses the claims again only when they or
 * the claim name changed.
 */
Datum
vapi_current_org(PG_FUNCTION_ARGS)
{
	OrgCache   *cache = (OrgCache *) fcinfo->flinfo->fn_extra;
	const char *claims = GetConfigOption("request.jwt.claims", true, false);
	const char *claim = vapi_jwt_org_claim;
	pg_uuid_t  *result;

	if (claims == NULL)
		claims = "";
	if (claim == NULL)
		claim = "";
	if (cache == NULL || strcmp(cache->claims, claims) != 0 || strcmp(cache->claim, claim) != 0)
	{
		pg_uuid_t	org;
		bool		found = read_org_claim(&org);
		MemoryContext oldcxt = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (cache == NULL)
			cache = fcinfo->flinfo->fn_extra = palloc0(sizeof(OrgCache));
		else
		{
			pfree(cache->claims);
			pfree(cache->claim);
		}
		cache->claims = pstrdup(claims);
		cache->claim = pstrdup(claim);
		cache->found = found;
		if (found)
			cache->org = org;
		MemoryContextSwitchTo(oldcxt);
	}
	if (!cache->found)
		PG_RETURN_NULL();
	result = palloc(sizeof(pg_uuid_t));
	*result = cache->org;
	PG_RETURN_UUID_P(result);
}
