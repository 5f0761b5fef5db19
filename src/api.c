/*-------------------------------------------------------------------------
 *
 * api.c
 *	  vapi.reconcile_calls() and vapi.sync_calls(): fetch from Vapi's REST
 *	  API what webhooks never delivered, and merge it as events.
 *
 * Each Call object Vapi returns becomes a snapshot event,
 * {"message": {"type": "api.call", "timestamp": <updatedAt>, "call": <Call>}},
 * that goes through the same reader, resolver, merge and notification as a
 * webhook (payload.c reads its status and outcome from the Call object), and
 * is kept in vapi.events, so vapi.replay() can apply it again.  Its version
 * is its status rank and updatedAt, so a snapshot that says "ended"
 * completes a call and one that says "in-progress" never reopens it.  A
 * snapshot that changes nothing (a call fetched again) is not logged: a
 * second run writes nothing.
 *
 * HTTP is http.c's.  A refused key (HTTP 401 or 403) raises, so the run's
 * transaction writes nothing.  Other failures are counted; a run stops
 * early, returning what it did and why it stopped, when Vapi cannot be
 * reached, keeps answering 429, or (reconcile) fails five calls in a row,
 * or (sync) a page fails, since pages cannot be skipped.
 *
 * Progress is shown as the backend's application_name in pg_stat_activity
 * while a run lasts; the setting itself is not changed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "http.h"
#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_reconcile_calls);
PG_FUNCTION_INFO_V1(vapi_sync_calls);

/* A run stops after this many failed calls in a row (reconcile). */
#define MAX_FAILURES_IN_A_ROW	5
/* The largest page asked for when many calls share one createdAt. */
#define MAX_PAGE_SIZE			1000
/* How many ids and failures the result lists. */
#define MAX_LISTED				100
/* How much of Vapi's message an error quotes. */
#define MAX_MESSAGE_LEN			300

/* One run of either function. */
typedef struct ApiRun
{
	const char *function;		/* for progress and the event log's detail */
	char	   *key;
	char	   *base;			/* vapi.api_url without a trailing slash */
	MemoryContext runcxt;		/* lives as long as the run */
	int64		requests;
	int64		fetched;
	int64		inserted;
	int64		updated;
	int64		unchanged;
	int64		ignored;
	int64		not_found;
	int64		failed;
	int64		pages;
	int			failures_in_a_row;
	List	   *not_found_ids;
	List	   *failures;
	char	   *stopped;		/* why the run ended early, if it did */
	char	   *oldest_created_at;	/* sync: the oldest createdAt reached */
} ApiRun;

static SPIPlanPtr key_plan = NULL;
static SPIPlanPtr candidates_plan = NULL;

/* Start a run: read the key and the base URL (inside SPI). */
static void
start_run(ApiRun *run, const char *function)
{
	char	   *key;
	size_t		len;

	memset(run, 0, sizeof(*run));
	run->function = function;
	run->runcxt = CurrentMemoryContext;

	vapi_prepare(&key_plan, "SELECT secret FROM vapi.api_key", 0, NULL);
	if (vapi_execute(key_plan, NULL, NULL, SPI_OK_SELECT) == 0 ||
		(key = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no Vapi API key is set"),
				 errhint("Set Vapi's private API key with SELECT vapi.set_api_key('...').")));
	run->key = MemoryContextStrdup(run->runcxt, key);
	explicit_bzero(key, strlen(key));

	run->base = MemoryContextStrdup(run->runcxt, vapi_api_url);
	len = strlen(run->base);
	while (len > 0 && run->base[len - 1] == '/')
		run->base[--len] = '\0';
}

/* Forget the key. */
static void
end_run(ApiRun *run)
{
	explicit_bzero(run->key, strlen(run->key));
}

/* Show progress in pg_stat_activity.application_name (clipped to its 63 bytes). */
static void
report_progress(ApiRun *run, const char *fmt,...) pg_attribute_printf(2, 3);

static void
report_progress(ApiRun *run, const char *fmt,...)
{
	char		msg[NAMEDATALEN];
	int			len;
	va_list		args;

	len = snprintf(msg, sizeof(msg), "vapi.%s: ", run->function);
	va_start(args, fmt);
	if (len >= 0 && len < (int) sizeof(msg))
		vsnprintf(msg + len, sizeof(msg) - len, fmt, args);
	va_end(args);
	pgstat_report_appname(msg);
}

/* Note an item for one of the result's lists (capped). */
static void
note(ApiRun *run, List **list, const char *s)
{
	MemoryContext old;

	if (list_length(*list) >= MAX_LISTED)
		return;
	old = MemoryContextSwitchTo(run->runcxt);
	*list = lappend(*list, pstrdup(s));
	MemoryContextSwitchTo(old);
}

/* Stop the run early, for this reason. */
static void
stop(ApiRun *run, const char *why)
{
	if (run->stopped == NULL)
		run->stopped = MemoryContextStrdup(run->runcxt, why);
}

/* Count a failed call; too many in a row stop a reconcile. */
static void
fail_call(ApiRun *run, const char *call_id, const char *why)
{
	char	   *line = psprintf("%s: %s", call_id ? call_id : "(no id)", why);

	run->failed++;
	note(run, &run->failures, line);
	if (++run->failures_in_a_row >= MAX_FAILURES_IN_A_ROW)
		stop(run, psprintf("%d calls in a row failed, the last with: %s",
						   MAX_FAILURES_IN_A_ROW, why));
}

/* What vapi_try() parses. */
typedef struct ParseWork
{
	const char *body;
	size_t		len;
	Jsonb	   *result;
} ParseWork;

/* Parse an answer as jsonb (raises on anything that is not JSON text). */
static void
parse_body(void *arg)
{
	ParseWork  *w = (ParseWork *) arg;
	char	   *s;

	if (memchr(w->body, '\0', w->len) != NULL ||
		!pg_verify_mbstr(PG_UTF8, w->body, (int) w->len, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("not UTF-8 text")));
	s = pg_any_to_server(w->body, (int) w->len, PG_UTF8);
	w->result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/* The answer as jsonb, or NULL when it is not valid JSON. */
static Jsonb *
parse_answer(VapiHttpResponse *resp)
{
	ParseWork	w = {resp->body, resp->len, NULL};

	if (resp->len > (size_t) MaxAllocSize / 2 || vapi_try(parse_body, &w) != NULL)
		return NULL;
	return w.result;
}

/* A string member of a jsonb object, as a C string, or NULL. */
static char *
member_string(JsonbContainer *obj, const char *key)
{
	JsonbValue	buf;
	JsonbValue *v;

	if (!JsonContainerIsObject(obj) ||
		(v = getKeyJsonValueFromContainer(obj, key, strlen(key), &buf)) == NULL ||
		v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * Vapi's message in an error answer ({"message": ..., "error": ...,
 * "statusCode": ...}; message may be an array), else the body if it is
 * short printable ASCII.  Clipped, control characters blanked, and the key
 * masked should the answer ever echo it.
 */
static char *
vapi_message(ApiRun *run, VapiHttpResponse *resp)
{
	Jsonb	   *j = parse_answer(resp);
	char	   *msg = NULL;
	char	   *p;
	int			len;

	if (j != NULL && JB_ROOT_IS_OBJECT(j))
	{
		JsonbValue	buf;
		JsonbValue *v = getKeyJsonValueFromContainer(&j->root, "message", 7, &buf);

		if (v != NULL && v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data) &&
			JsonContainerSize(v->val.binary.data) > 0)
			v = getIthJsonbValueFromContainer(v->val.binary.data, 0);
		if (v != NULL && v->type == jbvString)
			msg = pnstrdup(v->val.string.val, v->val.string.len);
		if (msg == NULL)
			msg = member_string(&j->root, "error");
	}
	if (msg == NULL)
	{
		bool		ascii = resp->len > 0 && resp->len <= MAX_MESSAGE_LEN;

		for (size_t i = 0; ascii && i < resp->len; i++)
			ascii = (unsigned char) resp->body[i] < 0x80;
		msg = ascii ? pstrdup(resp->body) : pstrdup("(no message)");
	}
	len = pg_mbcliplen(msg, strlen(msg), MAX_MESSAGE_LEN);
	msg[len] = '\0';
	for (p = msg; *p; p++)
		if ((unsigned char) *p < ' ' || *p == 0x7f)
			*p = ' ';
	if (run->key[0] != '\0')
		while ((p = strstr(msg, run->key)) != NULL)
			memset(p, '*', strlen(run->key));
	return msg;
}

/* Raise for an answer that refuses the key: nothing of the run is kept. */
static void
check_refused(ApiRun *run, VapiHttpResponse *resp)
{
	if (resp->result != VAPI_HTTP_DONE || (resp->status != 401 && resp->status != 403))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("Vapi's API refused the key: HTTP %ld: %s",
					resp->status, vapi_message(run, resp)),
			 errdetail("Nothing was merged: the whole run is rolled back."),
			 errhint("Set Vapi's private API key (not the public one) with vapi.set_api_key().")));
}

/* GET base || path, counting the requests. */
static void
api_get(ApiRun *run, const char *path, VapiHttpResponse *resp)
{
	vapi_http_get(psprintf("%s%s", run->base, path), run->key, resp);
	run->requests += resp->attempts;
	check_refused(run, resp);
}

/* What a failed request says, as a sentence. */
static char *
describe_failure(ApiRun *run, VapiHttpResponse *resp)
{
	if (resp->result != VAPI_HTTP_DONE)
		return resp->error;
	return psprintf("HTTP %ld: %s", resp->status, vapi_message(run, resp));
}

/* A string as a value or an array element (keys: vapi_put_key, ingest.c). */
static void
push_string(JsonbParseState **state, JsonbIteratorToken token, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(state, token, &v);
}

/*
 * The snapshot event of one Call object (a jbvBinary object): typed
 * api.call, timestamped with the call's updatedAt, which orders it among
 * the call's webhooks (payload.c).
 */
static Jsonb *
snapshot_payload(JsonbValue *call)
{
	JsonbParseState *state = NULL;
	JsonbValue	buf;
	JsonbValue *updated = getKeyJsonValueFromContainer(call->val.binary.data,
													   "updatedAt", 9, &buf);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	vapi_put_key(&state, "message");
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	vapi_put_key(&state, "type");
	push_string(&state, WJB_VALUE, VAPI_API_CALL_TYPE);
	if (updated != NULL && updated->type == jbvString)
	{
		vapi_put_key(&state, "timestamp");
		pushJsonbValue(&state, WJB_VALUE, updated);
	}
	vapi_put_key(&state, "call");
	pushJsonbValue(&state, WJB_VALUE, call);
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * Merge one Call object as a webhook is merged (read, resolve, upsert,
 * notify, log), in an SPI connection of its own, and count what it did.
 */
static void
merge_call(ApiRun *run, JsonbValue *call, const char *call_id)
{
	Jsonb	   *payload = snapshot_payload(call);
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext callcxt = CurrentMemoryContext;
	VapiEvent	ev;
	VapiOutcome out;
	char	   *why = NULL;

	run->fetched++;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	vapi_read_event(payload, &ev);
	vapi_apply(&ev, now, &out);

	/*
	 * Kept unless it changed nothing at all: an unchanged snapshot that
	 * still wrote the row (its time moved last_event_at) is logged, so that
	 * a replay of vapi.events rebuilds the same row.
	 */
	if (strcmp(out.action, VAPI_OUTCOME_IGNORED) != 0 &&
		(strcmp(out.action, VAPI_OUTCOME_UNCHANGED) != 0 || out.wrote) &&
		vapi_should_log(out.action))
		(void) vapi_log_event(payload, &ev, now, out.action,
							  out.ok ? (ev.detail ? ev.detail : psprintf("vapi.%s", run->function)) :
							  out.error);
	/* the error lives in the SPI connection's memory, which SPI_finish frees */
	if (!out.ok)
		why = MemoryContextStrdup(callcxt, out.error ? out.error : out.action);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");

	if (why != NULL)
	{
		fail_call(run, call_id, why);
		return;
	}
	run->failures_in_a_row = 0;
	if (strcmp(out.action, "inserted") == 0)
		run->inserted++;
	else if (strcmp(out.action, "updated") == 0)
		run->updated++;
	else if (strcmp(out.action, "ignored") == 0)
		run->ignored++;
	else
		run->unchanged++;
}

/* Add "key": number to the result. */
static void
push_count(JsonbParseState **state, const char *key, int64 n)
{
	JsonbValue	v;

	vapi_put_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(n);
	pushJsonbValue(state, WJB_VALUE, &v);
}

/* Add "key": [strings] to the result. */
static void
push_list(JsonbParseState **state, const char *key, List *list)
{
	ListCell   *lc;

	vapi_put_key(state, key);
	pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, list)
		push_string(state, WJB_ELEM, (const char *) lfirst(lc));
	pushJsonbValue(state, WJB_END_ARRAY, NULL);
}

/*
 * What the run did, as the functions' result.  A run that stopped early
 * also says so in a warning, for the server log of a scheduled job.
 */
static Jsonb *
run_result(ApiRun *run, int64 candidates)
{
	JsonbParseState *state = NULL;
	JsonbValue	v;

	if (run->stopped != NULL)
		ereport(WARNING,
				(errmsg("vapi.%s stopped early: %s", run->function, run->stopped),
				 errdetail("What it merged before stopping is kept; running it again goes on.")));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (candidates >= 0)
		push_count(&state, "candidates", candidates);
	else
		push_count(&state, "pages", run->pages);
	push_count(&state, "requests", run->requests);
	push_count(&state, "fetched", run->fetched);
	push_count(&state, "inserted", run->inserted);
	push_count(&state, "updated", run->updated);
	push_count(&state, "unchanged", run->unchanged);
	push_count(&state, "ignored", run->ignored);
	if (candidates >= 0)
	{
		push_count(&state, "not_found", run->not_found);
		push_list(&state, "not_found_ids", run->not_found_ids);
	}
	else if (run->oldest_created_at != NULL)
	{
		vapi_put_key(&state, "oldest_created_at");
		push_string(&state, WJB_VALUE, run->oldest_created_at);
	}
	push_count(&state, "failed", run->failed);
	push_list(&state, "failures", run->failures);
	vapi_put_key(&state, "stopped");
	if (run->stopped != NULL)
		push_string(&state, WJB_VALUE, run->stopped);
	else
	{
		v.type = jbvNull;
		pushJsonbValue(&state, WJB_VALUE, &v);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* Fetch one call by id and merge it. */
static void
reconcile_one(ApiRun *run, const char *call_id)
{
	VapiHttpResponse resp;
	Jsonb	   *j;
	JsonbValue	call;
	char	   *id;

	api_get(run, psprintf("/call/%s", vapi_http_escape(call_id)), &resp);
	if (resp.result == VAPI_HTTP_UNREACHABLE)
	{
		run->failed++;
		stop(run, resp.error);
		return;
	}
	if (resp.result == VAPI_HTTP_DONE && resp.status == 404)
	{
		run->not_found++;
		run->failures_in_a_row = 0;
		note(run, &run->not_found_ids, call_id);
		return;
	}
	if (resp.result == VAPI_HTTP_DONE && resp.status == 429)
	{
		run->failed++;
		stop(run, psprintf("rate limited: %s", describe_failure(run, &resp)));
		return;
	}
	if (resp.result != VAPI_HTTP_DONE || resp.status != 200)
	{
		fail_call(run, call_id, describe_failure(run, &resp));
		return;
	}
	if ((j = parse_answer(&resp)) == NULL || !JB_ROOT_IS_OBJECT(j))
	{
		fail_call(run, call_id, j == NULL ? "Vapi's answer is not valid JSON" :
				  "Vapi's answer is not a JSON object");
		return;
	}
	id = member_string(&j->root, "id");
	if (id == NULL || strcmp(id, call_id) != 0)
	{
		fail_call(run, call_id, "Vapi's answer is not this call");
		return;
	}
	call.type = jbvBinary;
	call.val.binary.data = &j->root;
	call.val.binary.len = VARSIZE(j) - VARHDRSZ;
	merge_call(run, &call, call_id);
}

/* Reconcile every candidate; raises only for a refused key or a cancel. */
static int64
reconcile(ApiRun *run, Interval *older_than)
{
	Oid			argtypes[2] = {INT2OID, INTERVALOID};
	Datum		args[2] = {Int16GetDatum(VAPI_RANK_TERMINAL), IntervalPGetDatum(older_than)};
	List	   *ids = NIL;
	int64		n;
	int64		done = 0;
	MemoryContext callcxt;
	ListCell   *lc;

	/* the ids first: each merge then runs on its own, with no cursor open */
	vapi_prepare(&candidates_plan,
				 "SELECT vapi_call_id FROM vapi.calls"
				 " WHERE status_rank < $1 AND last_event_at < now() - $2"
				 " ORDER BY last_event_at, vapi_call_id",
				 2, argtypes);
	n = vapi_execute(candidates_plan, args, NULL, SPI_OK_SELECT);
	for (int64 i = 0; i < n; i++)
		ids = lappend(ids, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "vapi_calls reconcile",
									ALLOCSET_DEFAULT_SIZES);
	foreach(lc, ids)
	{
		MemoryContext old;

		if (run->stopped != NULL)
			break;
		report_progress(run, "call " INT64_FORMAT " of " INT64_FORMAT, ++done, n);
		old = MemoryContextSwitchTo(callcxt);
		reconcile_one(run, (const char *) lfirst(lc));
		MemoryContextSwitchTo(old);
		MemoryContextReset(callcxt);
	}
	MemoryContextDelete(callcxt);
	return n;
}

/*
 * SQL: vapi.reconcile_calls(older_than interval) returns jsonb.  For every
 * call not terminal whose last event is older than older_than, GET
 * /call/{id} and merge the answer.
 */
Datum
vapi_reconcile_calls(PG_FUNCTION_ARGS)
{
	Interval   *older_than = PG_GETARG_INTERVAL_P(0);
	Interval	zero = {0};
	MemoryContext callercxt = CurrentMemoryContext;
	ApiRun		run;
	Jsonb	   *result;
	volatile int64 candidates = 0;

	if (DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(older_than),
										  IntervalPGetDatum(&zero))) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must be a non-negative interval")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	start_run(&run, "reconcile_calls");
	PG_TRY();
	{
		report_progress(&run, "starting");
		candidates = reconcile(&run, older_than);
	}
	PG_FINALLY();
	{
		end_run(&run);
		pgstat_report_appname(application_name ? application_name : "");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(callercxt);
	result = run_result(&run, candidates);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
	PG_RETURN_JSONB_P(result);
}

/*
 * A time as Vapi's API writes one (ISO 8601, UTC, milliseconds), rounded up
 * to the millisecond: createdAtGe and createdAtLt of it select exactly the
 * calls at or after, and before, ts.
 */
static char *
api_time(TimestampTz ts, const char *what)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int64		rem = ts % 1000;

	if (rem < 0)
		rem += 1000;
	if (rem != 0)
		ts += 1000 - rem;
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of the range of Vapi's API", what)));
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year, tm.tm_mon,
					tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) (fsec / 1000));
}

/* Where the paging of a sync stands: the oldest createdAt reached so far. */
typedef struct SyncCursor
{
	bool		started;
	TimestampTz at;
	char	   *at_text;		/* as Vapi wrote it: the next page's createdAtLe */
	List	   *ids_at;			/* the calls at that createdAt merged so far */
	MemoryContext cxt;			/* of at_text and ids_at */
} SyncCursor;

/* One call of a page, read. */
typedef struct PageCall
{
	JsonbValue *value;
	char	   *id;
	bool		has_created;
	TimestampTz created;
	char	   *created_text;
} PageCall;

/* Was this call of the page merged already, on an earlier page? */
static bool
seen_before(SyncCursor *cur, PageCall *c)
{
	ListCell   *lc;

	if (!cur->started || !c->has_created || c->created != cur->at)
		return false;
	foreach(lc, cur->ids_at)
		if (strcmp((const char *) lfirst(lc), c->id) == 0)
			return true;
	return false;
}

/*
 * Merge one page (newest first) and move the cursor to its oldest
 * createdAt.  Returns false when there is no further page.
 */
static bool
sync_page(ApiRun *run, SyncCursor *cur, Jsonb *page, int limit, int *next_limit)
{
	int			n = JsonContainerSize(&page->root);
	PageCall   *calls = palloc0(sizeof(PageCall) * Max(n, 1));
	PageCall   *oldest = NULL;
	MemoryContext cxt,
				old;

	for (int i = 0; i < n; i++)
	{
		PageCall   *c = &calls[i];
		char	   *created;

		c->value = getIthJsonbValueFromContainer(&page->root, i);
		if (c->value->type != jbvBinary || !JsonContainerIsObject(c->value->val.binary.data))
		{
			c->value = NULL;
			continue;
		}
		c->id = member_string(c->value->val.binary.data, "id");
		created = member_string(c->value->val.binary.data, "createdAt");
		if (created != NULL &&
			vapi_parse_timestamp(created, strlen(created), &c->created))
		{
			c->has_created = true;
			c->created_text = created;
			if (oldest == NULL || c->created < oldest->created)
				oldest = c;
		}
	}

	for (int i = 0; i < n; i++)
	{
		PageCall   *c = &calls[i];

		if (c->value == NULL)
			fail_call(run, NULL, "an element of the page is not a JSON object");
		else if (c->id == NULL || c->id[0] == '\0')
			fail_call(run, NULL, "a call without an id");
		else if (!seen_before(cur, c))
			merge_call(run, c->value, c->id);
	}
	if (run->stopped != NULL || n == 0)
		return false;
	if (oldest == NULL)
	{
		stop(run, "a page of Vapi's call list has no createdAt to continue from");
		return false;
	}
	if (cur->started && oldest->created > cur->at)
	{
		stop(run, "a page of Vapi's call list is newer than the one before it");
		return false;
	}

	*next_limit = vapi_api_page_size;
	if (cur->started && oldest->created == cur->at)
	{
		/* nothing older on this page: the end, or a tie wider than the page */
		if (n < limit)
			return false;
		if (limit >= MAX_PAGE_SIZE)
		{
			stop(run, psprintf("more than %d calls share the createdAt %s: they cannot be paged",
							   MAX_PAGE_SIZE, cur->at_text));
			return false;
		}
		*next_limit = Min(limit * 2, MAX_PAGE_SIZE);
		cxt = cur->cxt;
	}
	else
	{
		/* a new boundary: keep the ids at it, forget the older boundary's */
		cxt = AllocSetContextCreate(run->runcxt, "vapi_calls sync cursor",
									ALLOCSET_SMALL_SIZES);
		if (cur->cxt != NULL)
			MemoryContextDelete(cur->cxt);
		cur->cxt = cxt;
		cur->ids_at = NIL;
		cur->at = oldest->created;
		cur->at_text = MemoryContextStrdup(cxt, oldest->created_text);
		cur->started = true;
		run->oldest_created_at = cur->at_text;
	}
	old = MemoryContextSwitchTo(cxt);
	for (int i = 0; i < n; i++)
		if (calls[i].has_created && calls[i].created == cur->at && calls[i].id != NULL &&
			!seen_before(cur, &calls[i]))
			cur->ids_at = lappend(cur->ids_at, pstrdup(calls[i].id));
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Page through GET /call, newest first: the first page below until, each
 * next one at or below the oldest createdAt seen (createdAtLe), so calls
 * that share it across a page boundary are fetched again and skipped by id,
 * never lost.  Stops at the first page that fails.
 */
static void
sync_range(ApiRun *run, const char *since, const char *until)
{
	SyncCursor	cur = {0};
	int			limit = vapi_api_page_size;
	MemoryContext pagecxt = AllocSetContextCreate(CurrentMemoryContext, "vapi_calls sync page",
												  ALLOCSET_DEFAULT_SIZES);
	bool		more = true;

	while (more && run->stopped == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(pagecxt);
		StringInfoData path;
		VapiHttpResponse resp;
		Jsonb	   *page;
		int			next_limit = limit;

		initStringInfo(&path);
		appendStringInfo(&path, "/call?limit=%d", limit);
		if (since != NULL)
			appendStringInfo(&path, "&createdAtGe=%s", vapi_http_escape(since));
		if (cur.started)
			appendStringInfo(&path, "&createdAtLe=%s", vapi_http_escape(cur.at_text));
		else if (until != NULL)
			appendStringInfo(&path, "&createdAtLt=%s", vapi_http_escape(until));

		report_progress(run, "page " INT64_FORMAT ", " INT64_FORMAT " calls",
						run->pages + 1, run->fetched);
		api_get(run, path.data, &resp);
		run->pages++;
		if (resp.result != VAPI_HTTP_DONE || resp.status != 200)
		{
			run->failed++;
			stop(run, describe_failure(run, &resp));
		}
		else if ((page = parse_answer(&resp)) == NULL || !JB_ROOT_IS_ARRAY(page) ||
				 JB_ROOT_IS_SCALAR(page))
		{
			run->failed++;
			stop(run, page == NULL ? "a page of Vapi's call list is not valid JSON" :
				 "a page of Vapi's call list is not a JSON array");
		}
		else
		{
			more = sync_page(run, &cur, page, limit, &next_limit);
			limit = next_limit;
		}
		MemoryContextSwitchTo(old);
		MemoryContextReset(pagecxt);
	}
	MemoryContextDelete(pagecxt);
}

/*
 * SQL: vapi.sync_calls(since timestamptz, until timestamptz) returns jsonb.
 * Fetch every call created in [since, until) (null: unbounded) and merge it.
 */
Datum
vapi_sync_calls(PG_FUNCTION_ARGS)
{
	MemoryContext callercxt = CurrentMemoryContext;
	bool		has_since = !PG_ARGISNULL(0) && !TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(0));
	bool		has_until = !PG_ARGISNULL(1) && !TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(1));
	char	   *volatile since = NULL;
	char	   *volatile until = NULL;
	ApiRun		run;
	Jsonb	   *result;

	if (!PG_ARGISNULL(0) && TIMESTAMP_IS_NOEND(PG_GETARG_TIMESTAMPTZ(0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must not be infinity")));
	if (!PG_ARGISNULL(1) && TIMESTAMP_IS_NOBEGIN(PG_GETARG_TIMESTAMPTZ(1)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("until must not be -infinity")));
	if (has_since && has_until && PG_GETARG_TIMESTAMPTZ(0) > PG_GETARG_TIMESTAMPTZ(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must not be later than until")));
	if (has_since)
		since = api_time(PG_GETARG_TIMESTAMPTZ(0), "since");
	if (has_until)
		until = api_time(PG_GETARG_TIMESTAMPTZ(1), "until");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "vapi_calls: SPI_connect failed");
	start_run(&run, "sync_calls");
	PG_TRY();
	{
		report_progress(&run, "starting");
		if (!(since != NULL && until != NULL && strcmp(since, until) == 0))
			sync_range(&run, since, until);
	}
	PG_FINALLY();
	{
		end_run(&run);
		pgstat_report_appname(application_name ? application_name : "");
	}
	PG_END_TRY();
	MemoryContextSwitchTo(callercxt);
	result = run_result(&run, -1);
	if (SPI_finish() != SPI_OK_FINISH)
		elog(ERROR, "vapi_calls: SPI_finish failed");
	PG_RETURN_JSONB_P(result);
}
