-- vapi_ingest and vapi_webhook have no SET search_path clause: their own
-- statements run with pg_catalog as the whole search_path (src/spi_util.c),
-- whatever the caller's; the lookups on a relation a source setting names
-- and the handlers run with search_path = pg_catalog, pg_temp, as when the
-- functions set it.  A caller puts a schema full of hostile operators
-- ahead of pg_catalog, and nothing of ours calls them.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials, vapi.handlers RESTART IDENTITY;
SET vapi.log_events = 'all';
SELECT vapi.add_bearer_credential('tok-sp', header => 'x-vapi-secret', prefix => '') > 0 AS added;
INSERT INTO vapi.agents VALUES ('asst-sp', 'a5000000-0000-4000-8000-00000000000a', 'SP');
INSERT INTO vapi.phone_numbers VALUES ('pn-sp', 'a5000000-0000-4000-8000-00000000000a', '+15550105000', 'asst-sp');
INSERT INTO vapi.contacts (id, org_id, phone, name) VALUES
  ('00000000-0000-4000-8000-000000000001', 'a5000000-0000-4000-8000-00000000000a', '+1 555 010 5001', 'Contact One');

-- The hostile schema: "=" is always true for text and uuid and always
-- false for integers, "+" on integers gives 1000, "<" and ">" on
-- timestamps and smallints are always false, "||" on text gives 'evil'.
CREATE SCHEMA evil;
CREATE FUNCTION evil.t(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.t(uuid, uuid) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION evil.f(integer, integer) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE FUNCTION evil.f(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE FUNCTION evil.f(smallint, smallint) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE FUNCTION evil.plus(integer, integer) RETURNS integer LANGUAGE sql AS 'SELECT 1000';
CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE sql AS 'SELECT ''evil''';
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.t);
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.t);
CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.f);
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.f);
CREATE OPERATOR evil.> (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.f);
CREATE OPERATOR evil.> (LEFTARG = smallint, RIGHTARG = smallint, FUNCTION = evil.f);
CREATE OPERATOR evil.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.plus);
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);
GRANT USAGE ON SCHEMA evil TO PUBLIC;

CREATE FUNCTION ev(call_id text, status text, ts bigint, extra jsonb DEFAULT '{}') RETURNS jsonb
	LANGUAGE sql AS $$
	SELECT pg_catalog.jsonb_build_object('message', pg_catalog.jsonb_build_object(
		'type', 'status-update', 'status', status, 'timestamp', ts,
		'call', pg_catalog.jsonb_build_object('id', call_id, 'type', 'inboundPhoneCall',
			'assistantId', 'asst-sp', 'phoneNumberId', 'pn-sp',
			'customer', '{"number": "+15550105001"}'::jsonb) OPERATOR(pg_catalog.||) extra))
$$;

-- For comparison, three events of a call ingested with the default path.
SELECT vapi_ingest(ev('sp-0', 'ringing', 1767225600000)) ->> 'action' AS action;
SELECT vapi_ingest(ev('sp-0', 'in-progress', 1767225601000)) ->> 'action' AS action;
SELECT vapi_ingest(ev('sp-0', 'queued', 1767225599000)) ->> 'action' AS action;

-- The hostile path is live for the caller's own queries.
SET search_path = evil, pg_catalog, public;
SELECT 'a'::text = 'b'::text AS text_equals, 1 = 1 AS int_equals, 1 + 1 AS one_plus_one;

-- The same events of another call ingested under it: the same actions,
-- and the same row (the upsert's "=", "+", "<", ">" and "||" are
-- pg_catalog's, the org and the contact the real ones).
SELECT vapi_ingest(ev('sp-1', 'ringing', 1767225600000)) ->> 'action' AS action;
SELECT vapi_ingest(ev('sp-1', 'in-progress', 1767225601000)) ->> 'action' AS action;
SELECT vapi_ingest(ev('sp-1', 'queued', 1767225599000)) ->> 'action' AS action;
-- the same through the SQL path's statements (direct table access off),
-- and through vapi_ingest_batch
SET vapi.direct_access = off;
SELECT vapi_ingest(ev('sp-1s', 'ringing', 1767225600000)) ->> 'action' AS action;
SELECT vapi_ingest(ev('sp-1s', 'in-progress', 1767225601000)) ->> 'action' AS action;
SELECT vapi_ingest(ev('sp-1s', 'queued', 1767225599000)) ->> 'action' AS action;
RESET vapi.direct_access;
SELECT r ->> 'action' AS action
  FROM vapi_ingest_batch(ARRAY[ev('sp-1b', 'ringing', 1767225600000), ev('sp-1b', 'in-progress', 1767225601000),
                               ev('sp-1b', 'queued', 1767225599000)]) r;
RESET search_path;
SELECT vapi_call_id, status, org_id, caller_name, events_applied, last_change_seq,
       first_event_at, last_event_at
  FROM vapi.calls ORDER BY vapi_call_id;
SELECT id, vapi_call_id, status, outcome FROM vapi.events ORDER BY id;
SET search_path = evil, pg_catalog, public;

-- vapi_webhook under it: the credentials query and the reply's handler
-- lookup, and the directory's assistant for an assistant-request.
SELECT set_config('request.headers', '{"x-vapi-secret": "tok-sp"}', false) IS NOT NULL AS headers_set;
SELECT vapi_webhook('{"message": {"type": "assistant-request", "timestamp": 1767225600000, "call": {"id": "sp-2", "phoneNumberId": "pn-sp"}}}'::json) AS reply;
SELECT set_config('request.headers', '{"x-vapi-secret": "wrong"}', false) IS NOT NULL AS headers_set;
SELECT vapi_webhook('{"message": {"type": "status-update", "call": {"id": "sp-3"}}}'::json);

-- A handler runs with search_path = pg_catalog, pg_temp, not the caller's,
-- and one that sets its own gets its own.
RESET search_path;
CREATE FUNCTION public.h_path(message jsonb) RETURNS jsonb LANGUAGE sql
	AS $$ SELECT jsonb_build_object('results', jsonb_build_array(), 'path', current_setting('search_path'),
	                                'equals', 'a'::text = 'b'::text) $$;
CREATE FUNCTION public.h_own_path(message jsonb) RETURNS jsonb LANGUAGE sql
	SET search_path = evil, pg_catalog
	AS $$ SELECT jsonb_build_object('documents', jsonb_build_array(), 'path', current_setting('search_path'),
	                                'equals', 'a'::text = 'b'::text) $$;
SELECT vapi.set_handler('tool-calls', 'public.h_path(jsonb)');
SELECT vapi.set_handler('knowledge-base-request', 'public.h_own_path(jsonb)');
SELECT set_config('request.headers', '{"x-vapi-secret": "tok-sp"}', false) IS NOT NULL AS headers_set;
SET search_path = evil, pg_catalog, public;
SELECT vapi_webhook('{"message": {"type": "tool-calls", "call": {"id": "sp-4"}, "toolCallList": []}}'::json) AS reply;
SELECT vapi_webhook('{"message": {"type": "knowledge-base-request", "call": {"id": "sp-4"}}}'::json) AS reply;
-- and the caller's own setting is as it set it
SHOW search_path;

-- A source setting naming a view: its lookup runs with search_path =
-- pg_catalog, pg_temp, so the view's "=" is pg_catalog's, and a function the
-- view calls sees that path.
RESET search_path;
CREATE TABLE public.my_agents (vapi_assistant_id text, org_id uuid);
INSERT INTO public.my_agents VALUES
  ('asst-other', 'b5000000-0000-4000-8000-00000000000b'),
  ('asst-mine', 'c5000000-0000-4000-8000-00000000000c');
CREATE FUNCTION public.seen_path() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'the view runs with search_path %', current_setting('search_path');
	RETURN true;
END
$$;
CREATE VIEW public.my_agents_v AS SELECT * FROM public.my_agents WHERE public.seen_path();
SET vapi.agents_source = 'public.my_agents_v';
SET search_path = evil, pg_catalog, public;
SELECT vapi_ingest(ev('sp-5', 'ringing', 1767225600000, '{"assistantId": "asst-mine"}')) ->> 'action' AS action;
SELECT org_id FROM vapi.calls WHERE vapi_call_id OPERATOR(pg_catalog.=) 'sp-5';
RESET vapi.agents_source;

-- A trigger added on vapi.calls fires inside our statements, so it runs
-- with pg_catalog alone (its "=" is pg_catalog's).  An error in it is the
-- event's error, and the path pushed around the statement is popped with
-- the event's subtransaction; a cancel inside it is let through to the
-- caller, whose EXCEPTION block sees its own search_path again.  No
-- "leaked override search path" warning at commit.
RESET search_path;
CREATE FUNCTION public.calls_probe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.vapi_call_id = 'sp-fail' THEN
		RAISE EXCEPTION 'probe refuses %', NEW.vapi_call_id;
	ELSIF NEW.vapi_call_id = 'sp-slow' THEN
		PERFORM pg_catalog.pg_sleep(5);
	END IF;
	RAISE NOTICE 'trigger on %: text = is %', NEW.vapi_call_id, 'a'::text = 'b'::text;
	RETURN NEW;
END
$$;
CREATE TRIGGER calls_probe BEFORE INSERT ON vapi.calls FOR EACH ROW EXECUTE FUNCTION public.calls_probe();
SET search_path = evil, pg_catalog, public;
BEGIN;
SELECT vapi_ingest(ev('sp-6', 'ringing', 1767225600000)) ->> 'action' AS action;
SELECT vapi_ingest(ev('sp-fail', 'ringing', 1767225600000)) - 'event_id' AS result;
SELECT 'a'::text = 'b'::text AS caller_text_equals;
SELECT vapi_ingest(ev('sp-7', 'ringing', 1767225600000)) ->> 'action' AS action;
COMMIT;
SET statement_timeout = '300ms';
DO $$
BEGIN
	PERFORM vapi_ingest(ev('sp-slow', 'ringing', 1767225600000));
	RAISE NOTICE 'not reached';
EXCEPTION WHEN query_canceled THEN
	RAISE NOTICE 'canceled; the caller''s text = is % again', 'a'::text = 'b'::text;
END
$$;
RESET statement_timeout;
SELECT vapi_ingest(ev('sp-8', 'ringing', 1767225600000)) ->> 'action' AS action;
RESET search_path;
SELECT vapi_call_id, status, org_id, events_applied FROM vapi.calls ORDER BY vapi_call_id;

DROP TRIGGER calls_probe ON vapi.calls;
DROP FUNCTION public.calls_probe();
DROP VIEW public.my_agents_v;
DROP TABLE public.my_agents;
DROP FUNCTION public.seen_path();
SELECT vapi.remove_handler('tool-calls'), vapi.remove_handler('knowledge-base-request');
DROP FUNCTION public.h_path(jsonb), public.h_own_path(jsonb), ev(text, text, bigint, jsonb);
DROP SCHEMA evil CASCADE;
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials, vapi.handlers RESTART IDENTITY;
