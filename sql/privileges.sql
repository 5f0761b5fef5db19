-- Least privilege: who may call what, what the webhook role can see, and
-- that nothing a caller sets in its own session (a search_path full of
-- shadow tables, functions and operators, or a setting) steers the entry
-- points.  The attack comes first, so the kept plans are prepared under it.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials RESTART IDENTITY;
SET timezone = 'UTC';
SET vapi.log_events = 'all';

INSERT INTO vapi.agents VALUES
  ('asst-a', 'aaaaaaaa-0000-0000-0000-00000000000a', 'Org A agent'),
  ('asst-b', 'bbbbbbbb-0000-0000-0000-00000000000b', 'Org B agent');
INSERT INTO vapi.contacts (id, org_id, phone, name) VALUES
  ('00000000-0000-0000-0000-000000000001', 'aaaaaaaa-0000-0000-0000-00000000000a', '+15550100001', 'Org A contact'),
  ('00000000-0000-0000-0000-000000000002', 'bbbbbbbb-0000-0000-0000-00000000000b', '+15550100001', 'Org B contact');
SELECT vapi.add_bearer_credential('tok-priv-7c41', header => 'x-vapi-secret', prefix => '') AS credential_id \gset

CREATE ROLE regress_webhook NOLOGIN;		-- may call vapi_webhook, nothing else
CREATE ROLE regress_backend NOLOGIN;		-- may call vapi_ingest
CREATE ROLE regress_stranger NOLOGIN;		-- granted nothing
GRANT EXECUTE ON FUNCTION vapi_webhook(json) TO regress_webhook;
GRANT EXECUTE ON FUNCTION vapi_ingest(jsonb) TO regress_backend;

-- The attacker's schema: tables named as the extension's, functions that
-- the internal queries call, and an "=" for text and for uuid that is
-- always true.  And temporary tables of the same names.
CREATE SCHEMA regress_shadow AUTHORIZATION regress_webhook;
SET ROLE regress_webhook;
CREATE TABLE regress_shadow.credentials (id bigint, kind text, secret text, header text, prefix text,
	algorithm text, encoding text, timestamp_header text, payload_format text, tolerance interval);
INSERT INTO regress_shadow.credentials (id, kind, secret, header, prefix) VALUES (1, 'bearer', 'attacker', 'x-vapi-secret', '');
CREATE TABLE regress_shadow.agents (vapi_assistant_id text, org_id uuid, name text);
INSERT INTO regress_shadow.agents VALUES ('asst-b', 'cccccccc-0000-0000-0000-00000000000c', 'hijacked');
CREATE TABLE regress_shadow.calls (vapi_call_id text, org_id uuid);
CREATE TABLE regress_shadow.events (id bigint, payload jsonb);
CREATE FUNCTION regress_shadow.always(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION regress_shadow.always(uuid, uuid) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR regress_shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_shadow.always);
CREATE OPERATOR regress_shadow.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = regress_shadow.always);
CREATE FUNCTION regress_shadow.date_part(text, interval) RETURNS double precision
	LANGUAGE sql AS 'SELECT 1e12::float8';
CREATE FUNCTION regress_shadow.normalize_phone(text) RETURNS text LANGUAGE sql AS 'SELECT ''+1''';
CREATE FUNCTION regress_shadow.gen_random_uuid() RETURNS uuid
	LANGUAGE sql AS 'SELECT ''00000000-0000-0000-0000-000000000000''::uuid';
CREATE FUNCTION regress_shadow.now() RETURNS timestamptz LANGUAGE sql AS 'SELECT ''2000-01-01''::timestamptz';
CREATE TEMP TABLE credentials AS SELECT * FROM regress_shadow.credentials;
CREATE TEMP TABLE agents AS SELECT * FROM regress_shadow.agents;
CREATE TEMP TABLE contacts (id uuid, org_id uuid, phone text, name text);
INSERT INTO contacts VALUES (NULL, 'bbbbbbbb-0000-0000-0000-00000000000b', '+15550100001', 'hijacked');
RESET ROLE;

\set body '{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225600000, "call": {"id": "call-p1", "assistantId": "asst-b"}, "customer": {"number": "+1 555 010 0001"}}}'

-- The attack is live for the caller's own queries...
BEGIN;
SET LOCAL ROLE regress_webhook;
SET LOCAL search_path = regress_shadow, pg_temp, pg_catalog, public;
SELECT 'a'::text = 'b'::text AS hostile_equals, (SELECT secret FROM credentials) AS shadow_secret;
-- ...but the shadow credential is not one,
SELECT set_config('request.headers', '{"x-vapi-secret": "attacker"}', true);
SELECT set_config('request.method', 'POST', true);
SELECT vapi_webhook(:'body'::json);
\echo :LAST_ERROR_SQLSTATE
COMMIT;
-- ...and the real one resolves org and caller from the real tables, with
-- the real operators.
BEGIN;
SET LOCAL ROLE regress_webhook;
SET LOCAL search_path = regress_shadow, pg_temp, pg_catalog, public;
SELECT set_config('request.headers', '{"x-vapi-secret": "tok-priv-7c41"}', true);
SELECT set_config('request.method', 'POST', true);
SELECT vapi_webhook(:'body'::json) ->> 'action' AS action;
COMMIT;
-- pg_temp first changes nothing either; nor does vapi_ingest for its
-- caller, once the plans are kept.
BEGIN;
SET LOCAL ROLE regress_webhook;
SET LOCAL search_path = pg_temp, regress_shadow, pg_catalog, public;
SELECT set_config('request.headers', '{"x-vapi-secret": "tok-priv-7c41"}', true);
SELECT vapi_webhook(replace(:'body', 'call-p1', 'call-p2')::json) ->> 'action' AS action;
COMMIT;
BEGIN;
SET LOCAL ROLE regress_backend;
SET LOCAL search_path = pg_temp, pg_catalog, public;
CREATE TEMP TABLE calls (vapi_call_id text);
SELECT vapi_ingest(replace(:'body', 'call-p1', 'call-p3')::jsonb) ->> 'action' AS action;
COMMIT;
SELECT vapi_call_id, org_id, caller_name, status, created_at > '2020-01-01' AS real_now
  FROM vapi.calls ORDER BY 1;
SELECT id, vapi_call_id, outcome FROM vapi.events ORDER BY id;
SELECT (SELECT count(*) FROM regress_shadow.calls) AS shadow_calls,
       (SELECT count(*) FROM regress_shadow.events) AS shadow_events;

-- Who may execute what: only the owner, unless granted, but for the three
-- functions that read no table.  Functions that run queries pin their
-- search_path, but for the two hot entry points, which pin it in C (their
-- statements run with pg_catalog alone); the entry points run as their owner.  (A function added to
-- the extension shows up here, to be checked.)
SELECT p.oid::regprocedure AS function, p.prosecdef AS security_definer, p.proconfig,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vapi_calls')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
-- vapi_webhook has one unnamed json parameter, as PostgREST needs.
SELECT pronargs, proargtypes::regtype[], proargnames FROM pg_proc WHERE oid = 'vapi_webhook(json)'::regprocedure;
-- No relation is open to PUBLIC; only vapi.calls has row level security.
SELECT c.oid::regclass AS relation, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
       c.relacl IS NULL OR NOT EXISTS (SELECT FROM aclexplode(c.relacl) a WHERE a.grantee = 0) AS closed_to_public
  FROM pg_class c
 WHERE c.relnamespace = 'vapi'::regnamespace AND c.relkind IN ('r', 'v', 'S')
 ORDER BY c.oid::regclass::text COLLATE "C";
SELECT has_schema_privilege('public', 'vapi', 'USAGE') AS public_uses_vapi;

-- A role without the grant cannot call either entry point.
SET ROLE regress_stranger;
SELECT vapi_webhook(:'body'::json);
SELECT vapi_ingest(:'body'::jsonb);
RESET ROLE;

-- The webhook role cannot read the tables or the secrets, nor manage
-- credentials, nor call vapi_ingest...
SET ROLE regress_webhook;
SELECT secret FROM vapi.credentials;
SELECT * FROM vapi.credential_list;
SELECT count(*) FROM vapi.calls;
SELECT count(*) FROM vapi.events;
SELECT vapi.add_bearer_credential('tok-mine');
SELECT vapi.remove_credential(:credential_id);
SELECT vapi_ingest(:'body'::jsonb);
RESET ROLE;
-- ...even if it is given the schema: the tables, the view and the
-- functions are closed on their own.  Column statistics do not leak either.
ANALYZE vapi.credentials;
GRANT USAGE ON SCHEMA vapi TO regress_webhook;
SET ROLE regress_webhook;
SELECT secret FROM vapi.credentials;
SELECT * FROM vapi.credential_list;
SELECT count(*) FROM vapi.calls;
SELECT vapi.add_bearer_credential('tok-mine');
SELECT vapi.add_hmac_credential('tok-mine');
SELECT vapi.remove_credential(:credential_id);
SELECT count(*) AS visible_stats FROM pg_stats WHERE schemaname = 'vapi' AND tablename = 'credentials';
RESET ROLE;
REVOKE USAGE ON SCHEMA vapi FROM regress_webhook;
SELECT count(*) AS credentials_left FROM vapi.credentials;

-- The settings are the superuser's: a caller can neither set them for
-- itself nor make them its role's default.
SET ROLE regress_webhook;
SET vapi.log_events = 'none';
SET vapi.metadata_org_fallback = off;
SET vapi.jwt_org_claim = 'sub';
SELECT set_config('vapi.log_events', 'none', true);
ALTER ROLE regress_webhook SET vapi.log_events = 'none';
ALTER FUNCTION vapi_webhook(json) RESET search_path;
SHOW vapi.log_events;
SHOW vapi.jwt_org_claim;
RESET ROLE;
-- A superuser can; the claim name cannot be empty.
SET vapi.jwt_org_claim = '';
SET vapi.jwt_org_claim = 'https://example.com/org_id';
SHOW vapi.jwt_org_claim;
RESET vapi.jwt_org_claim;

SET client_min_messages = warning;
DROP SCHEMA regress_shadow CASCADE;
RESET client_min_messages;
DROP OWNED BY regress_webhook, regress_backend, regress_stranger;
DROP ROLE regress_webhook, regress_backend, regress_stranger;
TRUNCATE vapi.credentials RESTART IDENTITY;

-- A cancel (here a statement timeout) inside processing is let through, but
-- only after the extension's own subtransaction is gone: a caller that
-- catches it goes on as itself, never as the extension's owner, and
-- nothing is stored for the cancelled delivery.
CREATE ROLE regress_canceller;
GRANT EXECUTE ON FUNCTION vapi_ingest(jsonb) TO regress_canceller;
CREATE FUNCTION public.regress_slow_trigger() RETURNS trigger LANGUAGE plpgsql
	AS $$ BEGIN PERFORM pg_sleep(10); RETURN NEW; END $$;
CREATE TRIGGER regress_slow BEFORE INSERT OR UPDATE ON vapi.calls
	FOR EACH ROW EXECUTE FUNCTION public.regress_slow_trigger();
SET ROLE regress_canceller;
SET statement_timeout = '300ms';
DO $$
BEGIN
	BEGIN
		PERFORM vapi_ingest('{"message": {"type": "status-update", "status": "ringing", "call": {"id": "cancel-1"}}}');
	EXCEPTION WHEN query_canceled THEN
		RAISE NOTICE 'cancel caught, running as %, search_path %', current_user, current_setting('search_path');
	END;
	RAISE NOTICE 'then running as %', current_user;
END $$;
RESET statement_timeout;
SELECT current_user;
RESET ROLE;
DROP TRIGGER regress_slow ON vapi.calls;
DROP FUNCTION public.regress_slow_trigger();
SELECT count(*) AS stored FROM vapi.events WHERE vapi_call_id = 'cancel-1';
DROP OWNED BY regress_canceller;
DROP ROLE regress_canceller;
