/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  vapi_ingest(payload jsonb): read, resolve, merge, log, answer.
 *
 * Processing (resolution and upsert) runs in a subtransaction, as a
 * PL/pgSQL EXCEPTION block would: if it fails for any reason but a
 * cancel, it is rolled back, the delivery is still kept in vapi.events
 * with outcome 'error', and the caller gets a normal result with ok=false.
 * An event that wrote nothing has its subtransaction rolled back too, so
 * that the row lock its merge took is released at once.
 * The whole call runs inside one SPI connection, whose memory is released
 * when it ends, so a backend's memory stays flat however many events it
 * ingests.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_ingest);

static Jsonb *ingest(Jsonb *payload, const char *reject, VapiReply *reply);

/*
 * Run fn(arg) in a subtransaction, as a PL/pgSQL EXCEPTION block would.
 * Returns NULL if it succeeded; otherwise the subtransaction is rolled back
 * and the error is returned, copied into the caller's memory context.  A
 * cancel or timeout is the caller's decision: it is let through.  When
 * fn succeeds but *keep (if keep is not NULL) is then false, fn wrote
 * nothing worth keeping: its subtransaction is rolled back all the same,
 * which releases the row locks it took.
 */
static ErrorData *
try_subxact(void (*fn) (void *arg), void *arg, const bool *keep)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		if (keep == NULL || *keep)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();

	/*
	 * Re-raised only now that our subtransaction is gone: left open, an
	 * outer handler (a PL/pgSQL EXCEPTION block catching query_canceled)
	 * would roll back ours instead of its own, restoring the user id and
	 * settings in force when ours began: those of this SECURITY DEFINER
	 * function.
	 */
	if (edata != NULL && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
		ReThrowError(edata);
	return edata;
}

/* Run fn(arg) in a subtransaction (try_subxact), keeping what it did. */
ErrorData *
vapi_try(void (*fn) (void *arg), void *arg)
{
	return try_subxact(fn, arg, NULL);
}

/* The same, keeping what it did only if *keep is then true (batch.c). */
ErrorData *
vapi_try_keep(void (*fn) (void *arg), void *arg, const bool *keep)
{
	return try_subxact(fn, arg, keep);
}

/* What the subtransaction of vapi_apply() works on. */
typedef struct ApplyWork
{
	VapiEvent  *ev;
	TimestampTz now;
	VapiMergeResult mres;
	bool		keep;			/* keep the subtransaction (vapi_merge_keeps) */
} ApplyWork;

/*
 * Resolve the org, then merge (which derives the caller).  An event that
 * wrote nothing but may hold the row's lock (the SQL path) lets its
 * subtransaction be rolled back (vapi_merge_keeps), so that the lock is
 * released at once rather than when the caller's transaction ends: a long
 * replay of applied events, or a transaction of many deliveries, does not
 * hold up other deliveries.
 */
static void
resolve_and_merge(void *arg)
{
	ApplyWork  *work = (ApplyWork *) arg;

	vapi_resolve_org(work->ev);
	vapi_merge(work->ev, work->now, &work->mres);
	work->keep = vapi_merge_keeps(&work->mres, 1);
}

/*
 * Apply one read event inside a subtransaction.  On failure the
 * subtransaction is rolled back and out->error says why.
 */
void
vapi_apply(VapiEvent *ev, TimestampTz now, VapiOutcome *out)
{
	ApplyWork	work;
	ErrorData  *edata;

	memset(out, 0, sizeof(*out));
	out->call_id = ev->call_id;

	switch (ev->disposition)
	{
		case VAPI_REJECT:
			out->action = VAPI_OUTCOME_REJECTED;
			out->error = ev->detail;
			return;
		case VAPI_IGNORE:
			out->ok = true;
			out->action = VAPI_OUTCOME_IGNORED;
			return;
		case VAPI_APPLY:
			break;
	}

	work.ev = ev;
	work.now = now;
	work.keep = false;
	if ((edata = try_subxact(resolve_and_merge, &work, &work.keep)) != NULL)
	{
		out->ok = false;
		out->action = VAPI_OUTCOME_ERROR;
		out->error = edata->message ? edata->message : "processing failed";
		return;
	}
	vapi_applied(ev, &work.mres, out);
}

/*
 * The outcome of an event its merge applied (mres), copied into the
 * current memory context, and its change notification.  Called after the
 * merge's subtransaction, in the caller's transaction, because a
 * subtransaction that queued a notification keeps its memory context
 * (8 kB) until the top-level transaction ends; either way it is sent at
 * commit and dropped on rollback.
 */
void
vapi_applied(VapiEvent *ev, const VapiMergeResult *mres, VapiOutcome *out)
{
	memset(out, 0, sizeof(*out));
	out->call_id = ev->call_id;
	out->ok = true;
	out->action = mres->inserted ? VAPI_OUTCOME_INSERTED :
		mres->changed ? VAPI_OUTCOME_UPDATED : VAPI_OUTCOME_UNCHANGED;
	out->has_call_uuid = (mres->call_uuid != (Datum) 0);
	out->call_uuid = out->has_call_uuid ? datumCopy(mres->call_uuid, false, UUID_LEN) : (Datum) 0;
	out->status = mres->status ? pstrdup(mres->status) : NULL;
	out->wrote = mres->inserted || mres->wrote;
	if (mres->changed)
		vapi_notify_change(mres, ev->call_id, out->action);
}

/* Add "key": value pairs to an object under construction (also reply.c). */
void
vapi_put_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

void
vapi_put_string(JsonbParseState **state, const char *key, const char *s, int len)
{
	JsonbValue	v;

	vapi_put_key(state, key);
	if (s == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) s;
		v.val.string.len = len;
	}
	pushJsonbValue(state, WJB_VALUE, &v);
}

static void
put_cstring(JsonbParseState **state, const char *key, const char *s)
{
	vapi_put_string(state, key, s, s ? strlen(s) : 0);
}

/* The result object of the spec: ok, action, call_id, vapi_call_id, ... */
Jsonb *
vapi_result_jsonb(VapiOutcome *out, bool has_event_id, int64 event_id)
{
	JsonbParseState *state = NULL;
	JsonbValue	v;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);

	vapi_put_key(&state, "ok");
	v.type = jbvBool;
	v.val.boolean = out->ok;
	pushJsonbValue(&state, WJB_VALUE, &v);

	put_cstring(&state, "action", out->action);
	put_cstring(&state, "call_id", out->has_call_uuid ?
				DatumGetCString(DirectFunctionCall1(uuid_out, out->call_uuid)) : NULL);
	if (out->call_id)
		vapi_put_string(&state, "vapi_call_id", VARDATA_ANY(out->call_id),
				   VARSIZE_ANY_EXHDR(out->call_id));
	else
		put_cstring(&state, "vapi_call_id", NULL);
	put_cstring(&state, "status", out->status);
	if (has_event_id)
	{
		vapi_put_key(&state, "event_id");
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(event_id);
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	if (!out->ok)
		put_cstring(&state, "error", out->error ? out->error : "unknown error");

	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * Ingest one delivery: the whole job of vapi_ingest() and, after
 * authentication, of vapi_webhook().  Returns the result object, allocated
 * in the caller's memory context.
 */
Jsonb *
vapi_ingest_payload(Jsonb *payload)
{
	return ingest(payload, NULL, NULL);
}

/*
 * vapi_webhook()'s ingest: the same, and the reply to a request-type
 * message in *reply (reply.c), computed after the delivery is applied and
 * before it is logged, so that a failed reply is in the event's detail.
 */
Jsonb *
vapi_webhook_payload(Jsonb *payload, VapiReply *reply)
{
	return ingest(payload, NULL, reply);
}

/*
 * Keep a delivery that is rejected for a reason the payload reader cannot
 * see (vapi_webhook: a body whose text cannot be jsonb), with that reason.
 */
Jsonb *
vapi_ingest_rejected(Jsonb *payload, const char *why)
{
	return ingest(payload, why, NULL);
}

/*
 * Read, apply, reply (when reply is not NULL), log, answer; reject with
 * reason reject when it is not NULL.
 */
static Jsonb *
ingest(Jsonb *payload, const char *reject, VapiReply *reply)
{
	MemoryContext callcxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	VapiEvent	ev;
	VapiOutcome out;
	bool		logged = false;
	int64		event_id = 0;
	Jsonb	   *result;
	const char *detail;
	bool		reply_failed = false;
	int			path;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	/* lookups on the user's relations: pg_catalog, pg_temp, once (sources.c) */
	path = vapi_sources_named() ? vapi_user_path_begin() : 0;

	vapi_read_event(payload, &ev);
	if (reject != NULL)
	{
		ev.disposition = VAPI_REJECT;
		ev.detail = reject;
	}
	vapi_apply(&ev, now, &out);

	detail = out.ok ? ev.detail : out.error;
	if (reply != NULL)
	{
		vapi_reply(payload, &ev, reply);
		reply_failed = reply->failed;
		if (reply->detail != NULL)
			detail = detail ? psprintf("%s; %s", detail, reply->detail) : reply->detail;
	}

	/* a reply that failed is kept as a failure is */
	if (vapi_should_log(out.action) ||
		(reply_failed && vapi_log_events == VAPI_LOG_ERRORS))
	{
		event_id = vapi_log_event(payload, &ev, now, out.action, detail);
		logged = true;
	}

	MemoryContextSwitchTo(callcxt);
	result = vapi_result_jsonb(&out, logged, event_id);
	if (reply != NULL && reply->body != NULL)
	{
		Jsonb	   *body = palloc(VARSIZE(reply->body));

		memcpy(body, reply->body, VARSIZE(reply->body));
		reply->body = body;
		reply->detail = NULL;	/* freed with the SPI connection */
	}

	vapi_user_path_end(path);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
	return result;
}

/* SQL: vapi_ingest(payload jsonb) returns jsonb.  Never strict: NULL is an input too. */
Datum
vapi_ingest(PG_FUNCTION_ARGS)
{
	PG_RETURN_JSONB_P(vapi_ingest_payload(PG_ARGISNULL(0) ? NULL : PG_GETARG_JSONB_P(0)));
}
