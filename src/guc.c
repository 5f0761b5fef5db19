/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Settings and module load.
 *
 * Every setting that changes behaviour is PGC_SUSET: the entry points run
 * as SECURITY DEFINER for callers who must not be able to steer them.  The
 * "vapi" prefix is reserved so a typo is reported, not silently kept.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "vapi_calls.h"

PG_MODULE_MAGIC;

int			vapi_log_events = VAPI_LOG_ALL;
bool		vapi_metadata_org_fallback = true;
bool		vapi_notify = true;

static const struct config_enum_entry log_events_options[] = {
	{"all", VAPI_LOG_ALL, false},
	{"errors", VAPI_LOG_ERRORS, false},
	{"none", VAPI_LOG_NONE, false},
	{NULL, 0, false}
};

void		_PG_init(void);

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

	DefineCustomBoolVariable("vapi.notify",
							 "Send NOTIFY vapi_calls when an event inserts or visibly changes a call row.",
							 "The payload is a JSON object with org_id, call_id, vapi_call_id, status and action; it is sent when the transaction commits.",
							 &vapi_notify,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("vapi");
#else
	EmitWarningsOnPlaceholders("vapi");
#endif
}
