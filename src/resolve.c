/*-------------------------------------------------------------------------
 *
 * resolve.c
 *	  The resolver: which org owns a call, and who the caller is.
 *
 * Org: the assistant id through vapi.agents, else the phone number id
 * through vapi.phone_numbers, else org_id in the call's metadata (unless
 * vapi.metadata_org_fallback is off), else whatever the row already has.
 * Caller: the org's contact whose normalized phone equals the customer's,
 * else the name Vapi sent, else 'Unknown Caller'.  The agents, phone
 * numbers and contacts lookups read the relations their settings name
 * (sources.c); the extension's own tables by default.
 *
 * Each source is a priority above the event version (vapi_calls.h), so
 * the merge keeps the best-sourced value whatever the delivery order.
 * Every lookup is its own statement, run before the upsert.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "spi_util.h"
#include "vapi_calls.h"

static SPIPlanPtr row_org_plan = NULL;

/* The org of an assistant, a phone number, or none. */
static bool
resolve_org(VapiEvent *ev, Datum *org, int *prio)
{
	Datum		arg[1];

	if (ev->assistant_id != NULL)
	{
		arg[0] = PointerGetDatum(ev->assistant_id);
		if (vapi_source_lookup(VAPI_SOURCE_AGENTS, arg, org))
		{
			*prio = VAPI_ORG_FROM_ASSISTANT;
			return true;
		}
	}
	if (ev->phone_number_id != NULL)
	{
		arg[0] = PointerGetDatum(ev->phone_number_id);
		if (vapi_source_lookup(VAPI_SOURCE_PHONE_NUMBERS, arg, org))
		{
			*prio = VAPI_ORG_FROM_PHONE;
			return true;
		}
	}
	if (ev->has_metadata_org && vapi_metadata_org_fallback)
	{
		*org = ev->metadata_org;
		*prio = VAPI_ORG_FROM_METADATA;
		return true;
	}
	return false;
}

/*
 * The org and customer number already on the call's row, for a contact
 * lookup when the event lacks one of them.  False if there is no row yet.
 */
static bool
row_context(VapiEvent *ev, Datum *org, bool *has_org, text **number)
{
	Oid			texttype[1] = {TEXTOID};
	Datum		arg[1];
	bool		isnull;
	Datum		d;

	vapi_prepare(&row_org_plan,
				 "SELECT org_id, phone_number FROM vapi.calls WHERE vapi_call_id = $1",
				 1, texttype);
	arg[0] = PointerGetDatum(ev->call_id);
	if (vapi_execute(row_org_plan, arg, NULL, SPI_OK_SELECT) == 0)
		return false;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull && !*has_org)
	{
		*org = d;
		*has_org = true;
	}
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull && *number == NULL)
		*number = DatumGetTextPP(d);
	return true;
}

/* Is this a web call (which never has a customer number)? */
static bool
is_web_call(VapiEvent *ev)
{
	text	   *d = (text *) DatumGetPointer(ev->value[VF_DIRECTION]);

	return !ev->isnull[VF_DIRECTION] && VARSIZE_ANY_EXHDR(d) == 3 &&
		memcmp(VARDATA_ANY(d), "web", 3) == 0;
}

/* The name of the org's contact with this normalized phone, if any. */
static bool
contact_name(Datum org, text *phone, Datum *name)
{
	return vapi_find_contact(org, phone, name);
}

/*
 * Resolve the org and the caller name of an event about to be applied.
 * An event that lacks the org or the customer number borrows it from the
 * row, so the contact is found whichever of the call's events came first.
 */
void
vapi_resolve(VapiEvent *ev)
{
	Datum		org = (Datum) 0;
	int			prio = 0;
	bool		has_org = resolve_org(ev, &org, &prio);
	bool		org_for_contact = has_org;
	text	   *number = ev->customer_number;
	Datum		name;
	text	   *phone;

	if (has_org)
		vapi_set_field(ev, VF_ORG_ID, org,
					   ev->version | ((int64) prio << VAPI_PRIO_SHIFT));

	if ((number != NULL && !has_org) ||
		(number == NULL && has_org && !is_web_call(ev)))
		row_context(ev, &org, &org_for_contact, &number);

	if (number != NULL && org_for_contact &&
		(phone = vapi_normalize_phone_text(VARDATA_ANY(number),
										   VARSIZE_ANY_EXHDR(number))) != NULL &&
		contact_name(org, phone, &name))
		vapi_set_field(ev, VF_CALLER_NAME, name,
					   ev->version | ((int64) VAPI_NAME_FROM_CONTACT << VAPI_PRIO_SHIFT));
	else if (ev->customer_name != NULL)
		vapi_set_field(ev, VF_CALLER_NAME, PointerGetDatum(ev->customer_name),
					   ev->version | ((int64) VAPI_NAME_FROM_VAPI << VAPI_PRIO_SHIFT));
	else
		vapi_set_field(ev, VF_CALLER_NAME, CStringGetTextDatum("Unknown Caller"),
					   ev->version);
}
