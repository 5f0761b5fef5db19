-- Tenants: row level security on vapi.calls.  A role reading through
-- PostgREST sees only the calls of the org in its JWT claims (the claim
-- named by vapi.jwt_org_claim in request.jwt.claims); anything else in the
-- claims shows no row and raises nothing.  The entry points run as the
-- owner, so they read and write every org's rows whatever the caller's claims.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials RESTART IDENTITY;
SET timezone = 'UTC';
INSERT INTO vapi.agents VALUES
  ('asst-a', 'aaaaaaaa-0000-0000-0000-00000000000a', 'Org A agent'),
  ('asst-b', 'bbbbbbbb-0000-0000-0000-00000000000b', 'Org B agent');

CREATE FUNCTION pg_temp.ev(id text, assistant text, status text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'type', 'status-update', 'status', status, 'timestamp', 1767225600000,
    'call', jsonb_build_object('id', id, 'assistantId', assistant)))
$$;
SELECT vapi_ingest(pg_temp.ev(id, assistant, 'ringing')) ->> 'action' AS action
  FROM (VALUES ('t-a1', 'asst-a'), ('t-a2', 'asst-a'), ('t-b1', 'asst-b'), ('t-x1', 'asst-unknown')) AS c(id, assistant);

-- The policy: reads only, no subquery (Citus refuses them in policies).
SELECT policyname, permissive, roles, cmd, qual FROM pg_policies WHERE schemaname = 'vapi';

-- A reader as PostgREST sets it up: its role, its claims.
CREATE ROLE regress_tenant NOLOGIN;
GRANT USAGE ON SCHEMA vapi TO regress_tenant;
GRANT SELECT ON vapi.calls TO regress_tenant;
BEGIN;
SET LOCAL ROLE regress_tenant;
SELECT set_config('request.jwt.claims', '{"role": "regress_tenant", "org_id": "aaaaaaaa-0000-0000-0000-00000000000a", "exp": 1999999999}', true);
SELECT set_config('request.method', 'GET', true);
SELECT vapi_call_id, org_id, status FROM vapi.calls ORDER BY 1;
COMMIT;

-- The calls a reader sees under each set of claims.
CREATE FUNCTION visible(claims text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.jwt.claims', claims, true);
	RETURN (SELECT coalesce(string_agg(vapi_call_id, ', ' ORDER BY vapi_call_id), '(none)')
			  FROM vapi.calls);
END
$$;
BEGIN;
SET LOCAL ROLE regress_tenant;
SELECT n, label, visible(claims)
  FROM (VALUES
	(1, 'org A', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}'),
	(2, 'org B', '{"role": "regress_tenant", "org_id": "bbbbbbbb-0000-0000-0000-00000000000b"}'),
	(3, 'org A, in capitals, without hyphens', '{"org_id": "AAAAAAAA00000000000000000000000A"}'),
	(4, 'org A, in braces', '{"org_id": "{aaaaaaaa-0000-0000-0000-00000000000a}"}'),
	(5, 'an org with no calls', '{"org_id": "cccccccc-0000-0000-0000-00000000000c"}'),
	(6, 'no claims', ''),
	(7, 'claims without the org', '{"role": "regress_tenant"}'),
	(8, 'org not a uuid', '{"org_id": "org-a"}'),
	(9, 'org a uuid with a stray hyphen', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a-"}'),
	(10, 'org a uuid one digit short', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000"}'),
	(11, 'org a number', '{"org_id": 42}'),
	(12, 'org null', '{"org_id": null}'),
	(13, 'org an object', '{"org_id": {"id": "aaaaaaaa-0000-0000-0000-00000000000a"}}'),
	(14, 'org only nested in another claim', '{"app_metadata": {"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}}'),
	(15, 'claims not JSON', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"'),
	(16, 'claims an array', '[{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}]'),
	(17, 'repeated claim: the last one counts', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a", "org_id": "bbbbbbbb-0000-0000-0000-00000000000b"}')
  ) AS c(n, label, claims)
 ORDER BY n;
COMMIT;

-- The claim name is a superuser's setting (here an Auth0-style namespaced
-- claim); the reader is then read from it, and org_id no longer counts.
SET vapi.jwt_org_claim = 'https://example.com/org_id';
BEGIN;
SET LOCAL ROLE regress_tenant;
SELECT visible('{"https://example.com/org_id": "bbbbbbbb-0000-0000-0000-00000000000b"}') AS namespaced,
       visible('{"org_id": "bbbbbbbb-0000-0000-0000-00000000000b"}') AS default_name;
COMMIT;
RESET vapi.jwt_org_claim;

-- vapi.current_org() itself: the claim as a uuid, or NULL.
SELECT set_config('request.jwt.claims', '{"org_id": "AAAAAAAA-0000-0000-0000-00000000000A"}', false) IS NOT NULL AS set,
       vapi.current_org();
SELECT set_config('request.jwt.claims', '{"org_id": "nope"}', false) IS NOT NULL AS set,
       vapi.current_org();
SELECT set_config('request.jwt.claims', '', false) IS NOT NULL AS set,
       vapi.current_org();

-- The index on (org_id, first_event_at) serves the policy: the org is an
-- index condition, computed once when the scan starts.
BEGIN;
SET LOCAL ROLE regress_tenant;
SET LOCAL enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT vapi_call_id FROM vapi.calls;
COMMIT;

-- A reader cannot write, turn row security off, or read the event log.
-- Given UPDATE and DELETE, it still changes nothing: there is no policy for
-- them, so no row qualifies.
BEGIN;
SET LOCAL ROLE regress_tenant;
SELECT set_config('request.jwt.claims', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', true) IS NOT NULL AS set;
INSERT INTO vapi.calls (vapi_call_id, first_event_at, last_event_at) VALUES ('forged', now(), now());
COMMIT;
BEGIN;
SET LOCAL ROLE regress_tenant;
SET LOCAL row_security = off;
SELECT count(*) FROM vapi.calls;
COMMIT;
BEGIN;
SET LOCAL ROLE regress_tenant;
SELECT count(*) FROM vapi.events;
COMMIT;
GRANT UPDATE, DELETE ON vapi.calls TO regress_tenant;
BEGIN;
SET LOCAL ROLE regress_tenant;
SELECT set_config('request.jwt.claims', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', true) IS NOT NULL AS set;
UPDATE vapi.calls SET summary = 'tampered' RETURNING vapi_call_id;
DELETE FROM vapi.calls RETURNING vapi_call_id;
COMMIT;
REVOKE UPDATE, DELETE ON vapi.calls FROM regress_tenant;

-- The entry points are not subject to it: called by a role whose claims
-- name org A, they insert and update calls of any org.
CREATE ROLE regress_webhook NOLOGIN;
CREATE ROLE regress_backend NOLOGIN;
GRANT EXECUTE ON FUNCTION vapi_webhook(json) TO regress_webhook;
GRANT EXECUTE ON FUNCTION vapi_ingest(jsonb) TO regress_backend;
SELECT vapi.add_bearer_credential('tok-tenants-19') > 0 AS added;
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT set_config('request.jwt.claims', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', true) IS NOT NULL AS set;
SELECT set_config('request.headers', '{"authorization": "Bearer tok-tenants-19"}', true) IS NOT NULL AS set;
SELECT vapi_webhook(pg_temp.ev('t-b2', 'asst-b', 'ringing')::json) ->> 'action' AS new_call_of_b,
       vapi_webhook(pg_temp.ev('t-b1', 'asst-b', 'in-progress')::json) ->> 'action' AS update_of_b;
COMMIT;
BEGIN;
SET LOCAL ROLE regress_backend;
SELECT set_config('request.jwt.claims', '{"org_id": "bbbbbbbb-0000-0000-0000-00000000000b"}', true) IS NOT NULL AS set;
SELECT vapi_ingest(pg_temp.ev('t-a2', 'asst-a', 'in-progress')) ->> 'action' AS update_of_a;
COMMIT;

-- The owner sees every row.
SELECT vapi_call_id, org_id, status, summary FROM vapi.calls ORDER BY 1;

DROP FUNCTION visible(text);
DROP OWNED BY regress_tenant, regress_webhook, regress_backend;
DROP ROLE regress_tenant, regress_webhook, regress_backend;
TRUNCATE vapi.credentials RESTART IDENTITY;

-- Per row (a sequential scan), vapi.current_org() keeps its answer for the
-- claims it was given, and follows them when they change between rows.
CREATE TEMP TABLE claim_seq AS
SELECT n, CASE WHEN n % 2 = 0 THEN '{"org_id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"}'
               ELSE '{"org_id": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}' END AS claims
  FROM generate_series(1, 4) n;
SELECT n, CASE WHEN set_config('request.jwt.claims', claims, true) IS NOT NULL
               THEN vapi.current_org() END AS org
  FROM claim_seq ORDER BY n;
-- and the claim name too.
SELECT n, CASE WHEN set_config('vapi.jwt_org_claim', CASE WHEN n < 3 THEN 'org_id' ELSE 'tenant' END, true) IS NOT NULL
                AND set_config('request.jwt.claims', '{"org_id": "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa", "tenant": "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb"}', true) IS NOT NULL
               THEN vapi.current_org() END AS org
  FROM claim_seq ORDER BY n;
