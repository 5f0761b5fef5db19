-- vapi_webhook as the whole Server URL: request-type messages get the reply
-- Vapi waits for (a handler's, the directory's, or the type's fallback),
-- every other message the result object; every delivery is still kept.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials, vapi.handlers RESTART IDENTITY;
SELECT vapi.add_bearer_credential('tok-13', header => 'x-vapi-secret', prefix => '') > 0 AS added;
CREATE ROLE regress_webhook NOLOGIN;
CREATE ROLE regress_handler_owner NOLOGIN;
GRANT EXECUTE ON FUNCTION vapi_webhook(json) TO regress_webhook;

-- A delivery as PostgREST makes it, as the webhook role.
CREATE FUNCTION deliver(body text) RETURNS jsonb
	LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
BEGIN
	PERFORM set_config('request.headers', '{"x-vapi-secret": "tok-13"}', true);
	SET LOCAL ROLE regress_webhook;
	r := vapi_webhook(body::json);
	RESET ROLE;
	RETURN r;
END
$$;
CREATE FUNCTION msg(type text, call_id text, extra jsonb DEFAULT '{}') RETURNS text
	LANGUAGE sql AS $$
	SELECT jsonb_build_object('message', jsonb_build_object('type', type, 'timestamp', 1767225600000,
		'call', jsonb_build_object('id', call_id, 'type', 'inboundPhoneCall', 'phoneNumberId', 'pn-main',
		                           'orgId', 'org-vapi')) || extra)::text
$$;

INSERT INTO vapi.phone_numbers VALUES
  ('pn-main', 'a1300000-0000-4000-8000-000000000001', '+15550101300', 'asst-front-desk'),
  ('pn-none', 'a1300000-0000-4000-8000-000000000001', '+15550101301', NULL),
  ('pn-empty', 'a1300000-0000-4000-8000-000000000001', '+15550101302', '');

-- The messages that expect a reply, and a few that do not.
SELECT t, vapi.expects_reply(t)
  FROM unnest(ARRAY['assistant-request', 'tool-calls', 'transfer-destination-request',
                    'handoff-destination-request', 'knowledge-base-request', 'call.endpointing.request',
                    'campaign.predial', 'voice-request', 'status-update', 'end-of-call-report',
                    'function-call', 'Assistant-Request', '']) AS t;

-- A status update keeps today's result object.
SELECT deliver(msg('status-update', 'call-r0', '{"status": "ringing"}')) - 'call_id' AS status_update;

-- assistant-request: the number's assistant, from the directory, in one call.
SELECT deliver(msg('assistant-request', 'call-r1')) AS reply;
SELECT deliver(jsonb_set(msg('assistant-request', 'call-r2')::jsonb, '{message,call,phoneNumberId}', '"pn-none"')::text) AS no_assistant;
SELECT deliver(jsonb_set(msg('assistant-request', 'call-r3')::jsonb, '{message,call,phoneNumberId}', '"pn-empty"')::text) AS empty_assistant;
SELECT deliver(jsonb_set(msg('assistant-request', 'call-r4')::jsonb, '{message,call,phoneNumberId}', '"pn-unknown"')::text) AS unknown_number;
SELECT deliver(((msg('assistant-request', 'call-r5')::jsonb) #- '{message,call,phoneNumberId}')::text) AS no_number;
-- ... each kept and applied as any other delivery, the failure in detail
SELECT e.vapi_call_id, e.type, e.outcome, e.detail, c.status, c.org_id
  FROM vapi.events e LEFT JOIN vapi.calls c USING (vapi_call_id)
 WHERE e.type = 'assistant-request' ORDER BY e.id;

-- Through vapi.phone_numbers_source: a view with assistant_id answers; one
-- without it still resolves the org, and its assistant-request gets the
-- fallback with the reason in detail.
CREATE TABLE public.lines (ref text PRIMARY KEY, org uuid NOT NULL, bot text);
INSERT INTO public.lines VALUES ('pn-main', 'a1300000-0000-4000-8000-000000000002', 'asst-from-view');
CREATE VIEW public.lines_with_bot AS SELECT ref AS vapi_phone_number_id, org AS org_id, bot AS assistant_id FROM public.lines;
CREATE VIEW public.lines_without_bot AS SELECT ref AS vapi_phone_number_id, org AS org_id FROM public.lines;
SET vapi.phone_numbers_source = 'public.lines_with_bot';
SELECT deliver(msg('assistant-request', 'call-r6')) AS through_view;
SET vapi.phone_numbers_source = 'public.lines_without_bot';
SELECT deliver(msg('assistant-request', 'call-r7')) AS view_without_column;
RESET vapi.phone_numbers_source;
SELECT e.vapi_call_id, e.outcome, e.detail, c.org_id
  FROM vapi.events e JOIN vapi.calls c USING (vapi_call_id)
 WHERE e.vapi_call_id IN ('call-r6', 'call-r7') ORDER BY e.id;

-- The fallback of each other request type, without a handler.
\set tools '{"toolCallList": [{"id": "call_51kj", "type": "function", "function": {"name": "getWeather", "arguments": {"city": "Danville"}}}, {"id": "call_9x", "type": "function", "function": {"name": "bookSlot"}}, {"type": "function"}, "junk"]}'
SELECT deliver(msg('tool-calls', 'call-r8', :'tools')) AS tool_calls;
SELECT deliver(msg('tool-calls', 'call-r8', '{"toolCallList": "nope"}')) AS tool_calls_malformed;
SELECT t, deliver(msg(t, 'call-r9')) AS reply
  FROM unnest(ARRAY['transfer-destination-request', 'handoff-destination-request', 'knowledge-base-request',
                    'call.endpointing.request', 'campaign.predial']) WITH ORDINALITY AS u(t, n)
 ORDER BY n;
SELECT deliver(msg('voice-request', 'call-r9')) - 'call_id' AS voice_request;
SELECT type, outcome, detail FROM vapi.events WHERE vapi_call_id IN ('call-r8', 'call-r9') ORDER BY id;

-- Registering handlers: owner only, request types only, the right signature.
CREATE FUNCTION public.h_text(message text) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';
CREATE FUNCTION public.h_returns_text(message jsonb) RETURNS text LANGUAGE sql AS 'SELECT NULL::text';
CREATE FUNCTION public.h_setof(message jsonb) RETURNS SETOF jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';
CREATE FUNCTION public.h_two(message jsonb, extra int) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';
CREATE PROCEDURE public.h_proc(message jsonb) LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION public.h_null(message jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';
\set SHOW_CONTEXT never
SELECT vapi.set_handler('status-update', 'public.h_null(jsonb)');
SELECT vapi.set_handler('voice-request', 'public.h_null(jsonb)');
SELECT vapi.set_handler(NULL, 'public.h_null(jsonb)');
SELECT vapi.set_handler('tool-calls', NULL);
SELECT vapi.set_handler('tool-calls', 'public.h_text(text)');
SELECT vapi.set_handler('tool-calls', 'public.h_returns_text(jsonb)');
SELECT vapi.set_handler('tool-calls', 'public.h_setof(jsonb)');
SELECT vapi.set_handler('tool-calls', 'public.h_two(jsonb, int)');
SELECT vapi.set_handler('tool-calls', 'public.h_proc(jsonb)');
SELECT vapi.set_handler('tool-calls', 'public.h_missing(jsonb)');
SET ROLE regress_webhook;
SELECT vapi.set_handler('tool-calls', 'public.h_null(jsonb)');
SELECT vapi.remove_handler('tool-calls');
SELECT * FROM vapi.handlers;
RESET ROLE;
\set VERBOSITY terse
INSERT INTO vapi.handlers VALUES ('status-update', 'public.h_null(jsonb)');
\set VERBOSITY default
\set SHOW_CONTEXT errors
SELECT count(*) AS no_handler_yet FROM vapi.handlers;

-- A tool-calls handler owned by an unprivileged role: it runs as that role
-- (not as the extension's owner that vapi_webhook runs as), its writes are
-- kept, and its result is the whole reply.
CREATE TABLE public.tool_log (call_id text, tool text, by_role text);
GRANT INSERT ON public.tool_log TO regress_handler_owner;
CREATE FUNCTION public.tools(message jsonb) RETURNS jsonb
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.tool_log
	SELECT message #>> '{call,id}', t #>> '{function,name}', current_user
	  FROM jsonb_array_elements(message -> 'toolCallList') t;
	RETURN jsonb_build_object('results', (
		SELECT jsonb_agg(jsonb_build_object('toolCallId', t ->> 'id', 'name', t #>> '{function,name}',
		                                    'result', 'sunny, said ' || current_user))
		  FROM jsonb_array_elements(message -> 'toolCallList') t
		 WHERE jsonb_typeof(t) = 'object' AND t ? 'id'));
END
$$;
ALTER FUNCTION public.tools(jsonb) OWNER TO regress_handler_owner;
SELECT vapi.set_handler('tool-calls', 'public.tools(jsonb)');
SELECT message_type, handler FROM vapi.handlers;
SELECT deliver(msg('tool-calls', 'call-r10', :'tools')) AS handled;
SELECT * FROM public.tool_log;
SELECT outcome, detail FROM vapi.events WHERE vapi_call_id = 'call-r10';
-- a handler that writes and then gives no object: its writes are undone
CREATE FUNCTION public.log_then_null(message jsonb) RETURNS jsonb
	LANGUAGE sql AS $$ INSERT INTO public.tool_log VALUES ('undone', NULL, current_user) RETURNING NULL::jsonb $$;
ALTER FUNCTION public.log_then_null(jsonb) OWNER TO regress_handler_owner;
SELECT vapi.set_handler('tool-calls', 'public.log_then_null(jsonb)');
SELECT deliver(msg('tool-calls', 'call-r10b', :'tools')) -> 'results' -> 0 AS first_result;
SELECT count(*) AS undone_rows FROM public.tool_log WHERE call_id = 'undone';
SELECT outcome, detail FROM vapi.events WHERE vapi_call_id = 'call-r10b';

-- A handler that tries to read the credentials is refused by PostgreSQL,
-- as its owner; Vapi still gets a reply it accepts and the delivery is kept.
CREATE FUNCTION public.steal(message jsonb) RETURNS jsonb
	LANGUAGE sql AS $$ SELECT jsonb_build_object('results', jsonb_agg(secret)) FROM vapi.credentials $$;
ALTER FUNCTION public.steal(jsonb) OWNER TO regress_handler_owner;
SELECT vapi.set_handler('tool-calls', 'public.steal(jsonb)');
SELECT deliver(msg('tool-calls', 'call-r11', :'tools')) AS refused_reading_secrets;
SELECT outcome, detail FROM vapi.events WHERE vapi_call_id = 'call-r11';
-- ... nor can it climb back to the extension's owner
CREATE FUNCTION public.climb(message jsonb) RETURNS jsonb
	LANGUAGE plpgsql AS $$ BEGIN RESET ROLE; RETURN '{}'; END $$;
ALTER FUNCTION public.climb(jsonb) OWNER TO regress_handler_owner;
SELECT vapi.set_handler('tool-calls', 'public.climb(jsonb)');
SELECT deliver(msg('tool-calls', 'call-r11', :'tools')) -> 'results' -> 0 ->> 'error' AS climb;
SELECT detail FROM vapi.events WHERE vapi_call_id = 'call-r11' ORDER BY id DESC LIMIT 1;

-- Settings a handler changes, even with a plain SET, do not outlast it.
CREATE FUNCTION public.meddle(message jsonb) RETURNS jsonb
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('search_path', 'public, pg_catalog', false);
	PERFORM set_config('regress13.leak', 'leaked', false);
	RETURN jsonb_build_object('documents', '[]'::jsonb, 'path', current_setting('search_path'));
END
$$;
ALTER FUNCTION public.meddle(jsonb) OWNER TO regress_handler_owner;
SELECT vapi.set_handler('knowledge-base-request', 'public.meddle(jsonb)');
SHOW search_path;
SELECT deliver(msg('knowledge-base-request', 'call-r12')) AS meddled;
SHOW search_path;
SELECT coalesce(current_setting('regress13.leak', true), '') AS leak;

-- A handler that raises, returns null, an array or a scalar, or has been
-- dropped: the type's fallback (for assistant-request an error Vapi speaks),
-- the reason in detail.  A handler for assistant-request overrides the
-- directory.
CREATE FUNCTION public.route(message jsonb) RETURNS jsonb
	LANGUAGE plpgsql AS $$
BEGIN
	CASE message #>> '{call,id}'
	WHEN 'call-r13' THEN RETURN jsonb_build_object('assistantId', 'asst-night', 'by', current_user);
	WHEN 'call-r14' THEN RETURN 1 / 0;
	WHEN 'call-r15' THEN RETURN NULL;
	WHEN 'call-r16' THEN RETURN '["asst-1"]';
	WHEN 'call-r17' THEN RETURN '"asst-1"';
	ELSE RETURN jsonb_build_object('squadId', 'squad-7');
	END CASE;
END
$$;
ALTER FUNCTION public.route(jsonb) OWNER TO regress_handler_owner;
SELECT vapi.set_handler('assistant-request', 'public.route(jsonb)');
SELECT vapi.set_handler('campaign.predial', 'public.route(jsonb)');
SELECT id, deliver(msg('assistant-request', id)) AS reply
  FROM unnest(ARRAY['call-r13', 'call-r14', 'call-r15', 'call-r16', 'call-r17']) AS id ORDER BY id;
SELECT deliver(msg('campaign.predial', 'call-r14')) AS predial_failed;
SELECT vapi_call_id, outcome, detail FROM vapi.events
 WHERE vapi_call_id BETWEEN 'call-r13' AND 'call-r17' ORDER BY id;
-- a handler dropped after it was set
CREATE FUNCTION public.gone(message jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{}'::jsonb $$;
SELECT vapi.set_handler('transfer-destination-request', 'public.gone(jsonb)');
DROP FUNCTION public.gone(jsonb);
SELECT deliver(msg('transfer-destination-request', 'call-r18')) AS dropped_handler;
SELECT detail FROM vapi.events WHERE vapi_call_id = 'call-r18';
-- set again: the new function replaces the old
SELECT vapi.set_handler('transfer-destination-request', 'public.route(jsonb)');
SELECT deliver(msg('transfer-destination-request', 'call-r19')) AS replaced;
SELECT message_type, handler FROM vapi.handlers ORDER BY 1;

-- vapi_ingest (trusted SQL callers, replay) never runs handlers: its answer
-- is always the result object.
SELECT vapi_ingest(msg('assistant-request', 'call-r20')::jsonb) - 'call_id' - 'event_id' AS ingest_result;

-- With vapi.log_events = errors, a reply that failed is kept, a good one not.
SET vapi.log_events = errors;
SELECT deliver(msg('assistant-request', 'call-r21')) AS good;
SELECT deliver(msg('assistant-request', 'call-r14')) AS failed;
RESET vapi.log_events;
SELECT vapi_call_id, outcome, detail FROM vapi.events WHERE id > (SELECT max(id) - 2 FROM vapi.events) ORDER BY id;
SELECT count(*) AS r21_logged FROM vapi.events WHERE vapi_call_id = 'call-r21';

-- remove_handler: the directory answers again.
SELECT vapi.remove_handler('assistant-request') AS removed, vapi.remove_handler('assistant-request') AS again;
SELECT deliver(msg('assistant-request', 'call-r22')) AS directory_again;

-- Who the rows belong to is unchanged by the replies.
SELECT vapi_call_id, status, org_id FROM vapi.calls WHERE vapi_call_id IN ('call-r1', 'call-r10', 'call-r13') ORDER BY 1;

DROP FUNCTION deliver(text);
DROP FUNCTION msg(text, text, jsonb);
TRUNCATE vapi.handlers;
DROP FUNCTION public.tools(jsonb), public.log_then_null(jsonb), public.steal(jsonb), public.climb(jsonb), public.meddle(jsonb), public.route(jsonb),
	public.h_text(text), public.h_returns_text(jsonb), public.h_setof(jsonb), public.h_two(jsonb, int), public.h_null(jsonb);
DROP PROCEDURE public.h_proc(jsonb);
DROP TABLE public.tool_log;
DROP VIEW public.lines_with_bot, public.lines_without_bot;
DROP TABLE public.lines;
REVOKE EXECUTE ON FUNCTION vapi_webhook(json) FROM regress_webhook;
DROP ROLE regress_webhook;
DROP ROLE regress_handler_owner;
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials RESTART IDENTITY;
-- TRUNCATE keeps column statistics: leave none from these calls (nearly all
-- of one org), or a later test's plans would depend on whether autovacuum
-- happened to analyze them (it does under scripts/valgrind.sh).
DELETE FROM pg_catalog.pg_statistic
 WHERE starelid IN ('vapi.calls'::regclass, 'vapi.events'::regclass);
