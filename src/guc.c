/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Settings and module load.
 *
 * Every setting that changes behaviour is PGC_SUSET: the entry points run
 * as SECURITY DEFINER for callers who must not be able to steer them.  The
 * "vapi" prefix is reserved so a typo is reported, not silently kept.
 * The source settings (sources.c) name relations: their check hook
 * validates the syntax only, since it cannot read the catalogs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "http.h"
#include "vapi_calls.h"

PG_MODULE_MAGIC;

int			vapi_log_events = VAPI_LOG_ALL;
bool		vapi_metadata_org_fallback = true;
bool		vapi_notify = false;

static const struct config_enum_entry log_events_options[] = {
	{"all", VAPI_LOG_ALL, false},
	{"errors", VAPI_LOG_ERRORS, false},
	{"none", VAPI_LOG_NONE, false},
	{NULL, 0, false}
};

char	   *vapi_jwt_org_claim = NULL;

/* vapi.default_country: its text, and the country it names (NULL: none) */
static char *default_country_setting = NULL;
const VapiCountry *vapi_default_country = NULL;

void		_PG_init(void);

/* Check hook of the source settings: a schema-qualified relation name. */
static bool
check_source_name(char **newval, void **extra, GucSource source)
{
	char	   *schema;
	char	   *relname;
	const char *why = vapi_parse_source_name(*newval, &schema, &relname);

	if (why == NULL)
		return true;
	GUC_check_errdetail("%s", why);
	return false;
}

/* vapi.jwt_org_claim names a claim: it cannot be empty. */
static bool
check_jwt_org_claim(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("The claim name must not be empty.");
		return false;
	}
	return true;
}

/*
 * Check hook of vapi.default_country: empty (no country) or an ISO 3166
 * alpha-2 code the country table knows, in any case.
 */
static bool
check_default_country(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' ||
		vapi_find_country(*newval, strlen(*newval)) != NULL)
		return true;
	GUC_check_errdetail("\"%s\" is not an ISO 3166 alpha-2 country code that vapi_calls knows.",
						*newval);
	GUC_check_errhint("Use a code such as US, GB or DE, or an empty string for none.");
	return false;
}

/* Assign hook of vapi.default_country: the country its checked value names. */
static void
assign_default_country(const char *newval, void *extra)
{
	vapi_default_country = (newval == NULL || newval[0] == '\0') ? NULL :
		vapi_find_country(newval, strlen(newval));
}

/* vapi.api_url: https://, or http:// to a loopback address (http.c). */
static bool
check_api_url(char **newval, void **extra, GucSource source)
{
	const char *why;

	if (vapi_check_api_url(*newval, &why))
		return true;
	GUC_check_errdetail("%s", why);
	return false;
}

/* Define the settings. */
void
_PG_init(void)
{
	DefineCustomEnumVariable("vapi.log_events",
							 "Which deliveries vapi.events keeps.",
							 "all keeps every delivery; errors keeps only the rejected and failed ones; none keeps nothing.",
							 &vapi_log_events,
							 VAPI_LOG_ALL,
							 log_events_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("vapi.metadata_org_fallback",
							 "Resolve a call's org from org_id in its metadata when the assistant and phone number do not resolve it.",
							 NULL,
							 &vapi_metadata_org_fallback,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("vapi.agents_source",
							   "The table or view that maps Vapi assistant ids to orgs.",
							   "A schema-qualified relation with columns vapi_assistant_id (text) and org_id (uuid).",
							   &vapi_agents_source,
							   VAPI_AGENTS_SOURCE_DEFAULT,
							   PGC_SUSET,
							   0,
							   check_source_name, NULL, NULL);

	DefineCustomStringVariable("vapi.phone_numbers_source",
							   "The table or view that maps Vapi phone number ids to orgs.",
							   "A schema-qualified relation with columns vapi_phone_number_id (text) and org_id (uuid), and optionally assistant_id (text).",
							   &vapi_phone_numbers_source,
							   VAPI_PHONE_NUMBERS_SOURCE_DEFAULT,
							   PGC_SUSET,
							   0,
							   check_source_name, NULL, NULL);

	DefineCustomStringVariable("vapi.contacts_source",
							   "The table or view of each org's contacts, matched on the caller's phone number.",
							   "A schema-qualified relation with columns id, org_id (uuid), phone (text) and name (text).",
							   &vapi_contacts_source,
							   VAPI_CONTACTS_SOURCE_DEFAULT,
							   PGC_SUSET,
							   0,
							   check_source_name, NULL, NULL);

	DefineCustomStringVariable("vapi.default_country",
							   "The country whose national phone numbers contacts are matched in.",
							   "An ISO 3166 alpha-2 code such as US or GB: a contact's phone written without + or 00 is read as a number of that country, with its trunk prefix dropped. Empty: no country, numbers match digit for digit.",
							   &default_country_setting,
							   "",
							   PGC_SUSET,
							   0,
							   check_default_country, assign_default_country, NULL);

	DefineCustomStringVariable("vapi.jwt_org_claim",
							   "The JWT claim that holds a reader's org, for row level security on vapi.calls.",
							   "The claim is read from request.jwt.claims, which PostgREST sets; it must be a top-level string holding a uuid.",
							   &vapi_jwt_org_claim,
							   "org_id",
							   PGC_SUSET,
							   0,
							   check_jwt_org_claim, NULL, NULL);

	DefineCustomBoolVariable("vapi.direct_access",
							 "Write vapi.calls and vapi.events directly, as the logical-replication apply worker does, where that keeps every guarantee of the SQL statements.",
							 "Off: every write is an SQL statement.  The results are the same either way; the SQL path is slower.",
							 &vapi_direct_access,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("vapi.notify",
							 "Send NOTIFY vapi_calls when an event inserts or visibly changes a call row.",
							 "The payload is {\"call_id\": the row's id}; it is sent when the transaction commits.  Notifying transactions commit one at a time.",
							 &vapi_notify,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	/* Vapi's REST API: vapi.reconcile_calls and vapi.sync_calls (http.c, api.c) */
	DefineCustomStringVariable("vapi.api_url",
							   "The base URL of Vapi's REST API.",
							   "https://, or http:// to localhost, 127.0.0.1 or [::1] only (a test stand-in, a local proxy).",
							   &vapi_api_url,
							   "https://api.vapi.ai",
							   PGC_SUSET,
							   0,
							   check_api_url, NULL, NULL);

	DefineCustomIntVariable("vapi.api_connect_timeout",
							"How long a request to Vapi's API may take to connect.",
							NULL,
							&vapi_api_connect_timeout,
							10000, 1, 3600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("vapi.api_timeout",
							"How long one attempt of a request to Vapi's API may take in all.",
							NULL,
							&vapi_api_timeout,
							30000, 1, 3600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("vapi.api_max_response_size",
							"The largest answer accepted from Vapi's API.",
							NULL,
							&vapi_api_max_response_size,
							65536, 1, 524288,	/* up to 512 MB: under MaxAllocSize / 2 */
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("vapi.api_retries",
							"How many times a request to Vapi's API is retried after a 429, a 5xx or a dropped connection.",
							NULL,
							&vapi_api_retries,
							3, 0, 10,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("vapi.api_max_retry_wait",
							"The longest wait before a retry; an answer whose Retry-After asks for longer is not retried.",
							NULL,
							&vapi_api_max_retry_wait,
							30000, 0, 3600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("vapi.api_page_size",
							"How many calls vapi.sync_calls asks for per page of GET /call.",
							NULL,
							&vapi_api_page_size,
							100, 1, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("vapi");
#else
	EmitWarningsOnPlaceholders("vapi");
#endif

	vapi_dircache_init();
}
