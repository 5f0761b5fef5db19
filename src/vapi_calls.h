/*-------------------------------------------------------------------------
 *
 * vapi_calls.h
 *	  Declarations shared by the subsystems of the vapi_calls extension.
 *
 * The hot path is: payload.c reads one delivery into a VapiEvent without
 * touching the database; resolve.c looks up the org and the caller;
 * merge.c upserts the call row; eventlog.c keeps the delivery; ingest.c
 * ties them together inside a subtransaction and builds the result.
 * Everything here runs in the backend that calls vapi_ingest().
 *
 *-------------------------------------------------------------------------
 */
#ifndef VAPI_CALLS_H
#define VAPI_CALLS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/jsonb.h"

/*
 * The ordering model (README, "Ordering model").  This header is its one
 * home: the C code uses these names, and the SQL derives from them through
 * the immutable functions of model.c (vapi.status_rank, vapi.terminal_rank,
 * vapi.call_statuses, vapi.event_outcomes) and merge_fn.c (vapi.merge_*).
 *
 * Status ranks.  Status never moves backwards: a call's rank is the highest
 * rank of any event applied to it.  Rank 0 means "this event implies no
 * status" (a status-update whose status we do not know).
 */
#define VAPI_RANK_NONE			0
#define VAPI_RANK_SCHEDULED		1
#define VAPI_RANK_QUEUED		2
#define VAPI_RANK_RINGING		3
#define VAPI_RANK_IN_PROGRESS	4
#define VAPI_RANK_FORWARDING	5
#define VAPI_RANK_TERMINAL		6

/*
 * The version of an event, a positive int64, compared as a number:
 *   bits 61-62  source priority (set per field by the resolver, below)
 *   bits 58-60  status rank
 *   bits 16-57  message.timestamp in milliseconds since 1970 (42 bits reach
 *               2109; clamped; 0 without a timestamp)
 *   bits 0-15   a hash of the delivery's bytes (ties broken on content)
 * 0 means "no value" in vapi.calls.field_versions.
 */
#define VAPI_PRIO_SHIFT			61
#define VAPI_PRIO_MASK			(INT64CONST(3) << VAPI_PRIO_SHIFT)
#define VAPI_RANK_SHIFT			58
#define VAPI_TS_SHIFT			16
#define VAPI_TS_BITS			42
#define VAPI_HASH_MASK			0xFFFF

/* The source priority of a field version. */
static inline int
vapi_version_prio(int64 version)
{
	return (int) (version >> VAPI_PRIO_SHIFT);
}

/*
 * Priorities for values whose source matters more than the event that
 * carried them (org, times, caller name).  They sit above the event version.
 */
#define VAPI_ORG_FROM_METADATA	1
#define VAPI_ORG_FROM_PHONE		2
#define VAPI_ORG_FROM_ASSISTANT	3
#define VAPI_TIME_EXPLICIT		1	/* startedAt/endedAt over inferred times */
#define VAPI_NAME_UNKNOWN		0
#define VAPI_NAME_FROM_VAPI		1
#define VAPI_NAME_FROM_CONTACT	2

/*
 * The caller name is derived, not merged: it is a function of the row's
 * merged org, customer number and Vapi's customer name (resolve.c), so its
 * version is its source alone, and the same set of deliveries gives the
 * same version whatever their order.
 */
static inline int64
vapi_caller_version(int source)
{
	return ((int64) source << VAPI_PRIO_SHIFT) | 1;
}

/*
 * The expiry (vapi.expire_stale_calls) is a synthetic event of this type:
 * terminal, with the ended reason below, at the version just below every
 * terminal event's, so that it outranks every non-terminal event and any
 * real end outranks it.
 */
#define VAPI_EXPIRED_TYPE		"vapi.expired"
#define VAPI_EXPIRED_REASON		"vapi_calls.expired-no-end-of-call-report"
#define VAPI_EXPIRY_VERSION		((((int64) VAPI_RANK_TERMINAL) << VAPI_RANK_SHIFT) - 1)

/* The outcomes of a delivery: the result's action, vapi.events.outcome. */
#define VAPI_OUTCOME_INSERTED	"inserted"
#define VAPI_OUTCOME_UPDATED	"updated"
#define VAPI_OUTCOME_UNCHANGED	"unchanged"
#define VAPI_OUTCOME_IGNORED	"ignored"
#define VAPI_OUTCOME_REJECTED	"rejected"
#define VAPI_OUTCOME_ERROR		"error"

/*
 * What the payload reader decided to do with a delivery.
 */
typedef enum VapiDisposition
{
	VAPI_APPLY,					/* has a call id and a type we apply */
	VAPI_IGNORE,				/* well-formed, but nothing to apply */
	VAPI_REJECT					/* malformed: no usable call id */
} VapiDisposition;

/*
 * The columns of vapi.calls that events set, each merged by "the value of
 * the highest-versioned event that carries one wins".  The order is the
 * order of vapi.calls.field_versions and must never change; new fields are
 * appended.
 */
typedef enum VapiField
{
	VF_ORG_ID,
	VF_VAPI_ORG_ID,
	VF_ASSISTANT_ID,
	VF_PHONE_NUMBER_ID,
	VF_CALL_TYPE,
	VF_DIRECTION,
	VF_PHONE_NUMBER,
	VF_FROM_NUMBER,
	VF_CALLER_NAME,
	VF_ENDED_REASON,
	VF_STARTED_AT,
	VF_ENDED_AT,
	VF_DURATION_SECONDS,
	VF_COST,
	VF_TRANSCRIPT,
	VF_SUMMARY,
	VF_SENTIMENT,
	VF_RECORDING_URL,
	VF_STEREO_RECORDING_URL,
	VF_ANALYSIS,
	VF_METADATA,
	VF_CUSTOMER_NAME,
	VF_NUM_FIELDS
} VapiField;

/* Column name and SQL type of each VapiField (merge.c). */
typedef struct VapiFieldInfo
{
	const char *column;
	Oid			type;
	bool		derived;		/* set from the merged row, not merged by version */
} VapiFieldInfo;

extern const VapiFieldInfo vapi_fields[VF_NUM_FIELDS];

/*
 * One delivery, read.  Strings are palloc'd text in the per-call context.
 */
typedef struct VapiEvent
{
	VapiDisposition disposition;
	const char *detail;			/* why ignored or rejected; NULL otherwise */

	text	   *type;			/* message.type, NULL if absent */
	text	   *call_id;		/* message.call.id */
	const char *status_name;	/* status this event carries or implies */
	int			rank;			/* VAPI_RANK_* */
	bool		has_event_at;
	TimestampTz event_at;		/* message.timestamp */
	int64		version;		/* rank, timestamp, content hash */

	/* inputs of resolution (NULL when absent) */
	text	   *assistant_id;
	text	   *phone_number_id;
	text	   *customer_number;	/* as sent */
	text	   *customer_name;
	Datum		metadata_org;	/* uuid from metadata.org_id */
	bool		has_metadata_org;
	bool		is_test_call;
	bool		recheck_caller; /* look the caller up even if its inputs did not
								 * change (vapi.reresolve) */
	bool		fill_only;		/* only fill in an existing row: without a row
								 * do nothing, and keep an org it has
								 * (vapi.reresolve) */

	/* the merged columns; versions are 0 where the value is absent */
	Datum		value[VF_NUM_FIELDS];
	bool		isnull[VF_NUM_FIELDS];
	int64		fversion[VF_NUM_FIELDS];
} VapiEvent;

/* payload.c */
extern void vapi_init_event(VapiEvent *ev);
extern void vapi_read_event(Jsonb *payload, VapiEvent *ev);
extern void vapi_read_metadata_org(Jsonb *metadata, VapiEvent *ev);
extern bool vapi_parse_timestamp(const char *s, int len, TimestampTz *result);

/*
 * The message type of a snapshot from Vapi's REST API (api.c): the payload
 * {"message": {"type": "api.call", "timestamp": <updatedAt>, "call": <Call>}}
 * whose status, times and outcome are read from the Call object.
 */
#define VAPI_API_CALL_TYPE		"api.call"

/* countries.c: calling code, trunk and international prefix by ISO code */
typedef struct VapiCountry
{
	const char *iso;			/* ISO 3166 alpha-2, upper case */
	const char *code;			/* calling code, digits */
	const char *trunk;			/* trunk (national) prefix, "" if none */
	const char *idd;			/* international prefix not starting 00, or "" */
} VapiCountry;

extern const VapiCountry *vapi_find_country(const char *iso, int len);

/* classify.c */
#define VAPI_MAX_PHONE_CANDIDATES	4

extern const char *vapi_classify_ended_reason(const char *reason, int len);
extern text *vapi_normalize_phone_text(const char *s, int len);
extern text *vapi_phone_to_e164(text *phone, const VapiCountry *country);
extern int	vapi_phone_candidates(text *phone, const VapiCountry *country,
								  text **candidates);

/* model.c: the names of the ordering model */
extern const char *vapi_rank_name(int rank);
extern const char *vapi_status_of(int rank, text *ended_reason);

/*
 * A call row as the merge reads it, locked, before an event is merged into
 * it: the inputs of the caller name and their versions.
 */
typedef struct VapiRow
{
	Datum		org_id;			/* (Datum) 0 when null */
	text	   *phone_number;
	text	   *customer_name;
	text	   *caller_name;
	int64		fversion[VF_NUM_FIELDS];	/* 0 where absent */
	Datum		call_uuid;		/* vapi.calls.id, where read (the SQL path) */
	char	   *status;			/* and status */
} VapiRow;

/* resolve.c */
extern void vapi_resolve_org(VapiEvent *ev);
extern void vapi_resolve_caller(VapiEvent *ev, const VapiRow *row);

/* merge_fn.c: the per-field merge rule, for SQL and for C callers */
extern bool vapi_field_wins(VapiField f, bool has_stored_v, int64 stored_v,
							Datum stored, bool stored_null,
							int64 incoming_v, Datum incoming, bool incoming_null,
							Oid collation);

/* merge.c */
typedef struct VapiMergeResult
{
	bool		inserted;
	bool		wrote;			/* the row was written (inserted or updated) */
	bool		changed;		/* a visible column changed */
	bool		locked;			/* the row may be locked although not written (the
								 * SQL path's SELECT ... FOR UPDATE) */
	Datum		call_uuid;
	Datum		org_id;			/* vapi.calls.org_id; (Datum) 0 if null or not read */
	char	   *status;			/* NULL if the row has no status yet */
} VapiMergeResult;

extern void vapi_set_field(VapiEvent *ev, VapiField f, Datum value, int64 version);
extern Datum vapi_empty_object(void);
extern bool vapi_values_equal(Oid type, Oid collation, Datum a, bool a_null,
							  Datum b, bool b_null);

/* direct.c: the writes without SQL, where they keep every guarantee */
extern bool vapi_direct_access;
extern bool vapi_direct_merge(VapiEvent **evs, const TimestampTz *nows, int n,
							  VapiMergeResult *res);
typedef struct VapiEventLog VapiEventLog;
extern VapiEventLog *vapi_event_log_open(void);
extern bool vapi_event_log_write(VapiEventLog *log, Jsonb *payload, VapiEvent *ev,
								 TimestampTz received_at, const char *outcome,
								 const char *detail, int64 *id);
extern void vapi_event_log_close(VapiEventLog *log);
extern void vapi_merge(VapiEvent *ev, TimestampTz now, VapiMergeResult *res);
extern void vapi_merge_group(VapiEvent **evs, const TimestampTz *nows, int n,
							 VapiMergeResult *res);
extern bool vapi_merge_keeps(const VapiMergeResult *res, int n);
extern void vapi_lookup_call(text *call_id, VapiMergeResult *res);

/* ingest.c */
typedef struct VapiOutcome
{
	bool		ok;
	const char *action;			/* inserted, updated, unchanged, ignored, ... */
	text	   *call_id;		/* Vapi's call id, if the event had one */
	bool		has_call_uuid;
	Datum		call_uuid;		/* vapi.calls.id */
	char	   *status;			/* the row's status after the event */
	const char *error;			/* a sentence, when !ok */
	bool		wrote;			/* the row was written, even if nothing visible changed */
} VapiOutcome;

extern void vapi_apply(VapiEvent *ev, TimestampTz now, VapiOutcome *out);
extern void vapi_applied(VapiEvent *ev, const VapiMergeResult *mres, VapiOutcome *out);
extern Jsonb *vapi_result_jsonb(VapiOutcome *out, bool has_event_id, int64 event_id);
extern void vapi_put_key(JsonbParseState **state, const char *key);
extern void vapi_put_string(JsonbParseState **state, const char *key, const char *s, int len);
extern Jsonb *vapi_ingest_payload(Jsonb *payload);

/* eventlog.c */
extern bool vapi_should_log(const char *outcome);
extern int64 vapi_log_event(Jsonb *payload, VapiEvent *ev, TimestampTz received_at,
							const char *outcome, const char *detail);
extern int64 vapi_log_event_to(VapiEventLog *log, Jsonb *payload, VapiEvent *ev,
							   TimestampTz received_at, const char *outcome,
							   const char *detail);

/* guc.c */
typedef enum VapiLogEvents
{
	VAPI_LOG_ALL,
	VAPI_LOG_ERRORS,
	VAPI_LOG_NONE
} VapiLogEvents;

extern int	vapi_log_events;
extern bool vapi_metadata_org_fallback;
extern const VapiCountry *vapi_default_country;	/* vapi.default_country */

/*
 * Repair (issue 3): replay.c re-applies stored deliveries (vapi.replay),
 * reresolve.c redoes org and caller resolution on existing rows
 * (vapi.reresolve).  Both are SQL-callable only; nothing else calls them.
 */

/* sources.c: the relations the lookups read (settings vapi.*_source) */
typedef enum VapiSourceId
{
	VAPI_SOURCE_AGENTS,
	VAPI_SOURCE_PHONE_NUMBERS,
	VAPI_SOURCE_CONTACTS,
	VAPI_SOURCE_CONTACTS_ANY,	/* the same, for several candidate numbers */
	VAPI_SOURCE_PHONE_ASSISTANTS,	/* phone_numbers_source's assistant_id */
	VAPI_NUM_SOURCES
} VapiSourceId;

extern char *vapi_agents_source;
extern char *vapi_phone_numbers_source;
extern char *vapi_contacts_source;

extern const char *vapi_parse_source_name(const char *value, char **schema,
										  char **relname);
/* The source settings' defaults: the extension's own tables. */
#define VAPI_AGENTS_SOURCE_DEFAULT			"vapi.agents"
#define VAPI_PHONE_NUMBERS_SOURCE_DEFAULT	"vapi.phone_numbers"
#define VAPI_CONTACTS_SOURCE_DEFAULT		"vapi.contacts"

extern bool vapi_source_lookup(VapiSourceId id, Datum *args, Datum *result);
extern bool vapi_sources_named(void);
extern bool vapi_find_contact(Datum org, text *phone, Datum *name);

/* dircache.c: the lookups on the extension's own tables, in C */
extern void vapi_dircache_init(void);
extern bool vapi_dircache_lookup(VapiSourceId id, Datum *args, Datum *result, bool *found);
extern bool vapi_dircache_find_contact(Datum org, text **forms, int n, Datum *name,
									   bool *found);

/*
 * The HTTP endpoint (issue 4): request.c reads the request context that
 * PostgREST or a proxy sets, auth.c authenticates vapi_webhook() deliveries.
 */

/* One top-level member of a JSON object held in a setting. */
typedef struct VapiRequestMember
{
	char	   *name;
	char	   *value;			/* a string's text, or a number as written */
} VapiRequestMember;

typedef struct VapiRequestObject
{
	bool		absent;			/* the setting is unset or empty */
	int			count;
	int			size;
	VapiRequestMember *members;
} VapiRequestObject;

/* request.c */
extern bool vapi_request_object(const char *name, bool lower_names, VapiRequestObject *obj);
extern const char *vapi_request_member(const VapiRequestObject *obj, const char *name);

/* auth.c */
extern int	vapi_decode_hex(const char *s, size_t len, uint8 *dst, size_t dstlen);

/* ingest.c: keep a delivery that cannot be read, with the reason; run a
 * function in a subtransaction and return its error, if any */
extern Jsonb *vapi_ingest_rejected(Jsonb *payload, const char *why);

/*
 * Replies to request-type messages (issue 13): reply.c answers them from
 * the handlers (vapi.set_handler) or the directory; vapi_webhook() returns
 * the reply instead of the result object.
 */
typedef struct VapiReply
{
	Jsonb	   *body;			/* NULL: not a request, answer with the result */
	const char *detail;			/* for vapi.events.detail when it is the fallback */
	bool		failed;			/* the fallback: no handler or directory answer */
	bool		handler_failed; /* a handler raised, returned null or no object */
} VapiReply;

extern void vapi_reply(Jsonb *payload, VapiEvent *ev, VapiReply *reply);
extern Jsonb *vapi_webhook_payload(Jsonb *payload, VapiReply *reply);
extern ErrorData *vapi_try(void (*fn) (void *arg), void *arg);
extern ErrorData *vapi_try_keep(void (*fn) (void *arg), void *arg, const bool *keep);
extern void vapi_apply_batch(VapiEvent *evs, const TimestampTz *nows, int n,
							 VapiOutcome *outs);

/* guc.c */
extern char *vapi_jwt_org_claim;

/* notify.c: change notifications (guc.c defines vapi.notify) */
#define VAPI_NOTIFY_CHANNEL		"vapi_calls"

extern bool vapi_notify;
extern void vapi_notify_change(const VapiMergeResult *res, text *call_id,
							   const char *action);

#endif							/* VAPI_CALLS_H */
