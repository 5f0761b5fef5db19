/*-------------------------------------------------------------------------
 *
 * resolve.c
 *	  The resolver: which org owns a call, and who the caller is.
 *
 * Org: the assistant id through vapi.agents, else the phone number id
 * through vapi.phone_numbers, else org_id in the call's metadata (unless
 * vapi.metadata_org_fallback is off), else whatever the row already has.
 * Each source is a priority above the version of the input it came from
 * (vapi_calls.h), so the merge keeps the best-sourced org whatever the
 * delivery order.  The org depends on the event alone: vapi_resolve_org
 * runs before the row is touched.
 *
 * Caller: the contact, in the row's org, whose normalized phone equals the
 * row's customer number; else the customer name Vapi sent; else 'Unknown
 * Caller'.  The caller name is derived from the row (README, "Ordering
 * model"), not merged: vapi_resolve_caller runs inside the merge, on the
 * row merge.c has read and locked, and derives the name from what the row
 * will hold once the event is merged (the merge rule of merge_fn.c applied
 * to the org, the number and Vapi's name).  So the contact is always one
 * of the row's final org, whatever the order of the deliveries, and no
 * concurrent delivery can change those inputs between the reading and the
 * upsert.  When the event changes none of them, the stored name stays and
 * nothing is looked up.
 *
 * The agents, phone numbers and contacts lookups read the relations their
 * settings name (sources.c); the extension's own tables by default.  Every
 * lookup is its own statement, run before the upsert.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "spi_util.h"
#include "vapi_calls.h"

/* The version an org from input field f gets: that input's, or the event's. */
static int64
input_version(VapiEvent *ev, VapiField f, int prio)
{
	int64		v = ev->isnull[f] ? ev->version : ev->fversion[f];

	return (v & ~VAPI_PRIO_MASK) | ((int64) prio << VAPI_PRIO_SHIFT);
}

/*
 * Resolve the org of an event about to be applied, from the event alone:
 * the assistant, else the phone number, else the metadata.
 */
void
vapi_resolve_org(VapiEvent *ev)
{
	Datum		arg[1];
	Datum		org;

	if (ev->assistant_id != NULL)
	{
		arg[0] = PointerGetDatum(ev->assistant_id);
		if (vapi_source_lookup(VAPI_SOURCE_AGENTS, arg, &org))
		{
			vapi_set_field(ev, VF_ORG_ID, org,
						   input_version(ev, VF_ASSISTANT_ID, VAPI_ORG_FROM_ASSISTANT));
			return;
		}
	}
	if (ev->phone_number_id != NULL)
	{
		arg[0] = PointerGetDatum(ev->phone_number_id);
		if (vapi_source_lookup(VAPI_SOURCE_PHONE_NUMBERS, arg, &org))
		{
			vapi_set_field(ev, VF_ORG_ID, org,
						   input_version(ev, VF_PHONE_NUMBER_ID, VAPI_ORG_FROM_PHONE));
			return;
		}
	}
	if (ev->has_metadata_org && vapi_metadata_org_fallback)
		vapi_set_field(ev, VF_ORG_ID, ev->metadata_org,
					   input_version(ev, VF_METADATA, VAPI_ORG_FROM_METADATA));
}

/*
 * The value field f will have once the event is merged into row (NULL:
 * there is no row yet), by the merge rule itself.
 */
static Datum
merged_value(VapiEvent *ev, const VapiRow *row, VapiField f, Datum stored)
{
	if (ev->isnull[f])
		return row ? stored : (Datum) 0;
	if (row == NULL ||
		vapi_field_wins(f, row->fversion[f] != 0, row->fversion[f],
						stored, stored == (Datum) 0,
						ev->fversion[f], ev->value[f], false, DEFAULT_COLLATION_OID))
		return ev->value[f];
	return stored;
}

/* Are two texts (NULL for none) the same? */
static bool
same_text(text *a, text *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* Are two uuids ((Datum) 0 for none) the same? */
static bool
same_uuid(Datum a, Datum b)
{
	if (a == (Datum) 0 || b == (Datum) 0)
		return a == b;
	return memcmp(DatumGetUUIDP(a), DatumGetUUIDP(b), UUID_LEN) == 0;
}

/* The name of the org's contact with this normalized phone, if any. */
static bool
contact_name(Datum org, text *phone, Datum *name)
{
	return vapi_find_contact(org, phone, name);
}

/*
 * Set the event's caller name: the one derived from the org, customer
 * number and Vapi's name that row (locked; NULL when there is none yet)
 * will hold once the event is merged.  The stored name stays when none of
 * them changes, unless the event asks for a fresh look (recheck_caller).
 */
void
vapi_resolve_caller(VapiEvent *ev, const VapiRow *row)
{
	Datum		org = merged_value(ev, row, VF_ORG_ID, row ? row->org_id : (Datum) 0);
	text	   *number = (text *) DatumGetPointer(merged_value(ev, row, VF_PHONE_NUMBER,
															   PointerGetDatum(row ? row->phone_number : NULL)));
	text	   *vapi_name = (text *) DatumGetPointer(merged_value(ev, row, VF_CUSTOMER_NAME,
																  PointerGetDatum(row ? row->customer_name : NULL)));
	text	   *phone;
	Datum		name;

	if (row != NULL && row->caller_name != NULL && !ev->recheck_caller &&
		same_uuid(org, row->org_id) && same_text(number, row->phone_number) &&
		same_text(vapi_name, row->customer_name))
	{
		vapi_set_field(ev, VF_CALLER_NAME, PointerGetDatum(row->caller_name),
					   row->fversion[VF_CALLER_NAME]);
		return;
	}

	if (org != (Datum) 0 && number != NULL &&
		(phone = vapi_normalize_phone_text(VARDATA_ANY(number),
										   VARSIZE_ANY_EXHDR(number))) != NULL &&
		contact_name(org, phone, &name))
		vapi_set_field(ev, VF_CALLER_NAME, name, vapi_caller_version(VAPI_NAME_FROM_CONTACT));
	else if (vapi_name != NULL)
		vapi_set_field(ev, VF_CALLER_NAME, PointerGetDatum(vapi_name),
					   vapi_caller_version(VAPI_NAME_FROM_VAPI));
	else
		vapi_set_field(ev, VF_CALLER_NAME, CStringGetTextDatum("Unknown Caller"),
					   vapi_caller_version(VAPI_NAME_UNKNOWN));
}
