/*-------------------------------------------------------------------------
 *
 * reply.c
 *	  The reply body of vapi_webhook() to request-type messages.
 *
 * A few message types are requests: Vapi waits for the reply body and acts
 * on it (assistant-request, tool-calls, transfer-destination-request, ...).
 * For those, once the delivery has been applied and before it is logged,
 * vapi_webhook() asks here for the reply: the result of the SQL handler
 * registered for the type in vapi.handlers (vapi.set_handler), else, for
 * an assistant-request, {"assistantId": ...} from the assistant_id of the
 * call's phone number in vapi.phone_numbers_source, else the type's
 * fallback: a reply Vapi accepts that declines the request (for an
 * assistant-request, an "error" Vapi speaks to the caller).  A handler that
 * raises or returns no object gets the fallback too.  Whenever the reply is
 * the fallback, the reason is added to the delivery's vapi.events.detail.
 *
 * A handler runs with its owner's rights, not those of the extension's
 * owner that vapi_webhook (SECURITY DEFINER) runs as: the user id is
 * switched to the owner of the function for the call, in a subtransaction
 * that also undoes every setting the handler changed, so nothing it does
 * outlasts it but its writes.  It runs with search_path = pg_catalog,
 * pg_temp (the entry points no longer set it: spi_util.c), unless it sets
 * its own.  The list of request types lives here and
 * nowhere else; vapi.set_handler() asks vapi.expects_reply() for it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/syscache.h"

#include "spi_util.h"
#include "vapi_calls.h"

PG_FUNCTION_INFO_V1(vapi_expects_reply_sql);

/* Vapi speaks this to a caller whose assistant-request got no assistant. */
#define UNANSWERED_CALL \
	"Sorry, this number cannot take your call right now. Please try again later."

/*
 * The request types (the SDK's ServerMessageResponse* replies) and the
 * fallback kind of each.  voice-request is not one: its reply is raw PCM
 * audio, which a jsonb function cannot give.
 */
typedef enum ReplyKind
{
	REPLY_ASSISTANT,			/* {"error": UNANSWERED_CALL} */
	REPLY_TOOL_CALLS,			/* {"results": [{toolCallId, name, error}]} */
	REPLY_DECLINE,				/* {"error": "..."} */
	REPLY_DOCUMENTS,			/* {"documents": []} */
	REPLY_ENDPOINTING,			/* {"timeoutSeconds": 0.4} */
	REPLY_PREDIAL				/* {"eligible": true}, false if a handler failed */
} ReplyKind;

typedef struct RequestType
{
	const char *type;
	ReplyKind	kind;
} RequestType;

static const RequestType request_types[] = {
	{"assistant-request", REPLY_ASSISTANT},
	{"tool-calls", REPLY_TOOL_CALLS},
	{"transfer-destination-request", REPLY_DECLINE},
	{"handoff-destination-request", REPLY_DECLINE},
	{"knowledge-base-request", REPLY_DOCUMENTS},
	{"call.endpointing.request", REPLY_ENDPOINTING},
	{"campaign.predial", REPLY_PREDIAL},
};

static SPIPlanPtr handler_plan = NULL;

/* The request type named by s[0..len), or NULL. */
static const RequestType *
find_request_type(const char *s, int len)
{
	for (int i = 0; i < lengthof(request_types); i++)
		if (strlen(request_types[i].type) == len &&
			memcmp(request_types[i].type, s, len) == 0)
			return &request_types[i];
	return NULL;
}

/* A one-member object {"key": "s"}. */
static Jsonb *
object_of_string(const char *key, const char *s, int len)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	vapi_put_string(&state, key, s, len);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* A one-member object {"key": <numeric or boolean v>}. */
static Jsonb *
object_of_scalar(const char *key, JsonbValue *v)
{
	JsonbParseState *state = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	vapi_put_key(&state, key);
	pushJsonbValue(&state, WJB_VALUE, v);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* The string member key of an object container, or NULL. */
static JsonbValue *
string_member(JsonbContainer *obj, const char *key, JsonbValue *buf)
{
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), buf);

	return v != NULL && v->type == jbvString ? v : NULL;
}

/*
 * {"results": [...]}: for each entry of message.toolCallList, its id, its
 * function's name and error, so that the model hears that the tool failed.
 */
static Jsonb *
tool_calls_fallback(JsonbContainer *msg, const char *error)
{
	JsonbParseState *state = NULL;
	JsonbValue	buf;
	JsonbValue *list = getKeyJsonValueFromContainer(msg, "toolCallList", 12, &buf);

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	vapi_put_key(&state, "results");
	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	if (list != NULL && list->type == jbvBinary && JsonContainerIsArray(list->val.binary.data))
	{
		JsonbContainer *arr = list->val.binary.data;
		uint32		n = JsonContainerSize(arr);

		for (uint32 i = 0; i < n; i++)
		{
			JsonbValue *call = getIthJsonbValueFromContainer(arr, i);
			JsonbValue	idbuf,
						fnbuf,
						namebuf;
			JsonbValue *id,
					   *fn,
					   *name = NULL;

			if (call == NULL || call->type != jbvBinary ||
				!JsonContainerIsObject(call->val.binary.data) ||
				(id = string_member(call->val.binary.data, "id", &idbuf)) == NULL)
				continue;
			fn = getKeyJsonValueFromContainer(call->val.binary.data, "function", 8, &fnbuf);
			if (fn != NULL && fn->type == jbvBinary && JsonContainerIsObject(fn->val.binary.data))
				name = string_member(fn->val.binary.data, "name", &namebuf);

			pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
			vapi_put_string(&state, "toolCallId", id->val.string.val, id->val.string.len);
			if (name != NULL)
				vapi_put_string(&state, "name", name->val.string.val, name->val.string.len);
			vapi_put_string(&state, "error", error, strlen(error));
			pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		}
	}
	pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/* The reply of a request that no handler or directory answered. */
static Jsonb *
fallback(const RequestType *rt, JsonbContainer *msg, bool handler_failed)
{
	JsonbValue	v;
	const char *why = handler_failed ? "the handler of this request failed" :
		"no handler is registered for this request";

	switch (rt->kind)
	{
		case REPLY_ASSISTANT:
			return object_of_string("error", UNANSWERED_CALL, strlen(UNANSWERED_CALL));
		case REPLY_TOOL_CALLS:
			return tool_calls_fallback(msg, why);
		case REPLY_DECLINE:
			return object_of_string("error", why, strlen(why));
		case REPLY_DOCUMENTS:
			{
				JsonbParseState *state = NULL;

				pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
				vapi_put_key(&state, "documents");
				pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
				pushJsonbValue(&state, WJB_END_ARRAY, NULL);
				return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
			}
		case REPLY_ENDPOINTING:
			v.type = jbvNumeric;
			v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																CStringGetDatum("0.4"),
																ObjectIdGetDatum(InvalidOid),
																Int32GetDatum(-1)));
			return object_of_scalar("timeoutSeconds", &v);
		case REPLY_PREDIAL:
			v.type = jbvBool;
			v.val.boolean = !handler_failed;
			return object_of_scalar("eligible", &v);
	}
	elog(ERROR, "vapi_calls: unknown reply kind %d", (int) rt->kind);
	return NULL;
}

/* What the handler's subtransaction works on. */
typedef struct HandlerCall
{
	Oid			fn;
	Jsonb	   *message;
	Jsonb	   *result;			/* a JSON object */
} HandlerCall;

/*
 * Call the handler as its owner, with every setting it changes undone when
 * it returns.  A result that is not a JSON object is an error, so that the
 * handler's writes are rolled back with its subtransaction, which also
 * restores the user id if it raises.
 */
static void
call_handler(void *arg)
{
	HandlerCall *hc = (HandlerCall *) arg;
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(hc->fn));
	Form_pg_proc proc;
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	int			save_nestlevel;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("it does not exist")));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	/* vapi.set_handler checked this; the function may have been replaced */
	if (proc->prokind != PROKIND_FUNCTION || proc->proretset || proc->pronargs != 1 ||
		proc->proargtypes.values[0] != JSONBOID || proc->prorettype != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("it is not a function (message jsonb) returns jsonb")));
	owner = proc->proowner;
	ReleaseSysCache(tup);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
	save_nestlevel = NewGUCNestLevel();
	/* search_path pg_catalog, pg_temp, unless the handler sets its own */
	vapi_set_user_path();

	fmgr_info(hc->fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(hc->message);
	fcinfo->args[0].isnull = false;
	result = FunctionCallInvoke(fcinfo);

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec);

	if (fcinfo->isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("it returned null")));
	hc->result = DatumGetJsonbPCopy(result);
	if (JB_ROOT_IS_SCALAR(hc->result) || !JB_ROOT_IS_OBJECT(hc->result))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("it returned %s, not a JSON object",
						JB_ROOT_IS_SCALAR(hc->result) ? "a scalar" : "an array")));
}

/* What the reply's subtransaction works on. */
typedef struct ReplyWork
{
	const RequestType *rt;
	VapiEvent  *ev;
	JsonbContainer *msg;
	uint32		msglen;			/* the container's size in bytes */
	VapiReply  *reply;
} ReplyWork;

/*
 * The handler's or the directory's answer; on none, reply->detail says why
 * and reply->body stays NULL.
 */
static void
answer(void *arg)
{
	ReplyWork  *work = (ReplyWork *) arg;
	VapiReply  *reply = work->reply;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Datum		d;

	vapi_prepare(&handler_plan,
				 "SELECT handler, pg_catalog.to_regprocedure(handler)::pg_catalog.oid"
				 " FROM vapi.handlers WHERE message_type = $1",
				 1, argtypes);
	args[0] = CStringGetTextDatum(work->rt->type);
	if (vapi_execute(handler_plan, args, NULL, SPI_OK_SELECT) > 0)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		HandlerCall hc = {InvalidOid, NULL, NULL};
		JsonbValue	msgval;
		ErrorData  *edata;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		reply->handler_failed = true;
		if (isnull)
		{
			reply->detail = psprintf("reply: handler %s does not exist", name);
			return;
		}
		hc.fn = DatumGetObjectId(d);
		msgval.type = jbvBinary;
		msgval.val.binary.data = work->msg;
		msgval.val.binary.len = work->msglen;
		hc.message = JsonbValueToJsonb(&msgval);

		if ((edata = vapi_try(call_handler, &hc)) != NULL)
			reply->detail = psprintf("reply: handler %s failed: %s", name,
									 edata->message ? edata->message : "unknown error");
		else
		{
			reply->body = hc.result;
			reply->handler_failed = false;
		}
		return;
	}

	if (work->rt->kind != REPLY_ASSISTANT)
	{
		reply->detail = psprintf("reply: no handler for %s", work->rt->type);
		return;
	}
	if (work->ev->phone_number_id == NULL)
	{
		reply->detail = "reply: no assistant: the call has no phoneNumberId and there is no handler for assistant-request";
		return;
	}
	args[0] = PointerGetDatum(work->ev->phone_number_id);
	if (vapi_source_lookup(VAPI_SOURCE_PHONE_ASSISTANTS, args, &d) &&
		VARSIZE_ANY_EXHDR(DatumGetTextPP(d)) > 0)
	{
		text	   *id = DatumGetTextPP(d);

		reply->body = object_of_string("assistantId", VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id));
		return;
	}
	reply->detail = psprintf("reply: no assistant: phone number %s has no assistant_id in %s",
							 text_to_cstring(work->ev->phone_number_id),
							 vapi_phone_numbers_source);
}

/*
 * The reply to a delivery, in reply: body NULL for a message that is not a
 * request (the caller answers with the result object).  Runs inside the
 * caller's SPI connection, after the delivery was applied; never raises
 * but for a cancel.
 */
void
vapi_reply(Jsonb *payload, VapiEvent *ev, VapiReply *reply)
{
	const RequestType *rt;
	ReplyWork	work;
	JsonbValue	buf;
	JsonbValue *v;
	ErrorData  *edata;

	memset(reply, 0, sizeof(*reply));
	if (ev->type == NULL ||
		(rt = find_request_type(VARDATA_ANY(ev->type), VARSIZE_ANY_EXHDR(ev->type))) == NULL)
		return;

	/* the message, found as the payload reader found it */
	work.msg = &payload->root;
	work.msglen = VARSIZE(payload) - VARHDRSZ;
	v = getKeyJsonValueFromContainer(work.msg, "message", 7, &buf);
	if (v != NULL && v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data))
	{
		work.msg = v->val.binary.data;
		work.msglen = v->val.binary.len;
	}
	work.rt = rt;
	work.ev = ev;
	work.reply = reply;

	if ((edata = vapi_try(answer, &work)) != NULL)
		reply->detail = psprintf("reply: %s", edata->message ? edata->message : "unknown error");
	if (reply->body == NULL)
	{
		reply->failed = true;
		reply->body = fallback(rt, work.msg, reply->handler_failed);
	}
}

/* SQL: vapi.expects_reply(message_type text) returns boolean. */
Datum
vapi_expects_reply_sql(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(find_request_type(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) != NULL);
}
