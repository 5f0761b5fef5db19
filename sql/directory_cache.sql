-- The directory lookups on the extension's own tables are index scans from
-- C, and the agents' and phone numbers' answers are cached per backend
-- (src/dircache.c).  On one connection: a change is seen by the next event
-- in the same transaction, and no longer once rolled back (to a savepoint
-- too); TRUNCATE, DELETE and INSERT are seen; the contacts lookup picks
-- the contact the SQL would; row level security forced on the table is
-- honoured (the lookup falls back to SQL); a source setting naming another
-- relation still works.  directory_cache_race.spec has the other connections.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET vapi.log_events = 'none';
INSERT INTO vapi.agents VALUES ('asst-1', 'a1000000-0000-4000-8000-000000000001', 'One');
INSERT INTO vapi.phone_numbers (vapi_phone_number_id, org_id) VALUES ('pn-1', 'f1000000-0000-4000-8000-00000000000f');

-- Ingest a new call with this assistant and phone number id (NULL: none)
-- and customer number; the first character of the org it got ('none').
CREATE FUNCTION org_of(call text, assistant text, phone text DEFAULT 'pn-1', customer text DEFAULT NULL)
	RETURNS text LANGUAGE sql AS $$
	SELECT vapi_ingest(jsonb_build_object('message', jsonb_build_object(
		'type', 'status-update', 'status', 'ringing', 'timestamp', 1767225600000,
		'call', jsonb_build_object('id', call, 'assistantId', assistant, 'phoneNumberId', phone,
		                           'customer', jsonb_build_object('number', customer)))));
	SELECT coalesce(left(org_id::text, 1), 'none') FROM vapi.calls WHERE vapi_call_id = call;
$$;
CREATE FUNCTION caller_of(call text) RETURNS text LANGUAGE sql AS
	$$ SELECT caller_name FROM vapi.calls WHERE vapi_call_id = call $$;

-- Cached, then changed in the same transaction: the next event sees it;
-- after the rollback, the old answer again.
SELECT org_of('c1', 'asst-1') AS org;
BEGIN;
UPDATE vapi.agents SET org_id = 'b1000000-0000-4000-8000-00000000000b';
SELECT org_of('c2', 'asst-1') AS org;
ROLLBACK;
SELECT org_of('c3', 'asst-1') AS org;
-- The same with a savepoint, and an unknown assistant (a cached "none")
-- that a rolled-back insert made known.
SELECT org_of('c4', 'asst-2') AS org;
BEGIN;
SAVEPOINT s;
INSERT INTO vapi.agents VALUES ('asst-2', 'c1000000-0000-4000-8000-00000000000c', 'Two');
UPDATE vapi.phone_numbers SET org_id = 'd1000000-0000-4000-8000-00000000000d';
SELECT org_of('c5', 'asst-2') AS org, org_of('c6', NULL) AS phone_org;
ROLLBACK TO SAVEPOINT s;
SELECT org_of('c7', 'asst-2') AS org, org_of('c8', NULL) AS phone_org;
COMMIT;
-- Committed changes: insert, update, delete, truncate.
INSERT INTO vapi.agents VALUES ('asst-2', 'c1000000-0000-4000-8000-00000000000c', 'Two');
SELECT org_of('c9', 'asst-2') AS org;
UPDATE vapi.agents SET org_id = 'e1000000-0000-4000-8000-00000000000e' WHERE vapi_assistant_id = 'asst-2';
SELECT org_of('c10', 'asst-2') AS org;
DELETE FROM vapi.agents WHERE vapi_assistant_id = 'asst-2';
SELECT org_of('c11', 'asst-2') AS org;
SELECT org_of('c12', 'asst-1') AS org, org_of('c13', NULL) AS phone_org;
TRUNCATE vapi.agents;
SELECT org_of('c14', 'asst-1') AS org;
TRUNCATE vapi.phone_numbers;
SELECT org_of('c15', 'asst-1') AS org;
-- Also a TRUNCATE rolled back.
INSERT INTO vapi.agents VALUES ('asst-1', 'a1000000-0000-4000-8000-000000000001', 'One');
SELECT org_of('c16', 'asst-1') AS org;
BEGIN;
TRUNCATE vapi.agents;
SELECT org_of('c17', 'asst-1') AS org;
ROLLBACK;
SELECT org_of('c18', 'asst-1') AS org;
-- An id longer than the cache keeps (64 bytes) is looked up each time.
INSERT INTO vapi.agents VALUES (repeat('x', 100), 'b1000000-0000-4000-8000-00000000000b', 'Long');
SELECT org_of('c19', repeat('x', 100)) AS org, org_of('c20', repeat('x', 99)) AS shorter;
-- More ids than the cache holds: it starts again, and stays right.
INSERT INTO vapi.agents SELECT 'many-' || i, 'c1000000-0000-4000-8000-00000000000c', NULL
  FROM generate_series(1, 9000) i;
SELECT count(*) FILTER (WHERE org_of('m' || i, 'many-' || i, NULL) = 'c') AS resolved
  FROM generate_series(1, 9000) i;
UPDATE vapi.agents SET org_id = 'e1000000-0000-4000-8000-00000000000e' WHERE vapi_assistant_id = 'many-9000';
SELECT org_of('m-last', 'many-9000', NULL) AS org;

-- With its trigger disabled (or dropped), the table's answers are not
-- kept, so a write that no longer invalidates them is still seen.
ALTER TABLE vapi.agents DISABLE TRIGGER agents_changed;
SELECT org_of('t1', 'asst-1') AS org;
UPDATE vapi.agents SET org_id = 'b1000000-0000-4000-8000-00000000000b' WHERE vapi_assistant_id = 'asst-1';
SELECT org_of('t2', 'asst-1') AS org;
UPDATE vapi.agents SET org_id = 'a1000000-0000-4000-8000-000000000001' WHERE vapi_assistant_id = 'asst-1';
ALTER TABLE vapi.agents ENABLE ALWAYS TRIGGER agents_changed;
SELECT org_of('t3', 'asst-1') AS org;

-- The assistant-request reply reads vapi.phone_numbers.assistant_id the
-- same way (not cached).
INSERT INTO vapi.phone_numbers VALUES ('pn-2', 'f1000000-0000-4000-8000-00000000000f', NULL, 'asst-front');
SELECT vapi.add_bearer_credential('tok-dc', header => 'x-vapi-secret', prefix => '') > 0 AS added;
SELECT set_config('request.headers', '{"x-vapi-secret": "tok-dc"}', false) IS NOT NULL AS headers_set;
SELECT vapi_webhook('{"message": {"type": "assistant-request", "call": {"id": "ar-1", "phoneNumberId": "pn-2"}}}'::json) AS reply;
UPDATE vapi.phone_numbers SET assistant_id = 'asst-night' WHERE vapi_phone_number_id = 'pn-2';
SELECT vapi_webhook('{"message": {"type": "assistant-request", "call": {"id": "ar-2", "phoneNumberId": "pn-2"}}}'::json) AS reply;

-- Contacts: the first by id among the org's contacts with that normalized
-- number and a name, exactly as the SQL lookup (vapi.source_query) finds it,
-- with vapi.default_country's forms too.
INSERT INTO vapi.contacts (id, org_id, phone, name) VALUES
  ('00000000-0000-4000-8000-000000000005', 'a1000000-0000-4000-8000-000000000001', '+1 415 555 0100', 'Fifth'),
  ('00000000-0000-4000-8000-000000000003', 'a1000000-0000-4000-8000-000000000001', '+14155550100', 'Third'),
  ('00000000-0000-4000-8000-000000000001', 'a1000000-0000-4000-8000-000000000001', '+1 (415) 555-0100', ''),
  ('00000000-0000-4000-8000-000000000002', 'a1000000-0000-4000-8000-000000000001', '+14155550100', NULL),
  ('00000000-0000-4000-8000-000000000004', 'b1000000-0000-4000-8000-00000000000b', '+14155550100', 'Other org'),
  ('00000000-0000-4000-8000-000000000009', 'a1000000-0000-4000-8000-000000000001', '(415) 555-0100', 'National'),
  ('00000000-0000-4000-8000-000000000006', 'a1000000-0000-4000-8000-000000000001', '415 555 0101', 'National only');
SELECT org_of('k1', 'asst-1', NULL, '+14155550100') AS org, caller_of('k1') AS caller;
SELECT name FROM vapi.contacts
 WHERE org_id = 'a1000000-0000-4000-8000-000000000001' AND vapi.normalize_phone(phone) = '+14155550100'
   AND name IS NOT NULL AND name <> '' ORDER BY id LIMIT 1;
DELETE FROM vapi.contacts WHERE name = 'Third';
SELECT org_of('k2', 'asst-1', NULL, '+14155550100') AS org, caller_of('k2') AS caller;
SELECT org_of('k3', 'asst-1', NULL, '+14155550101') AS org, caller_of('k3') AS caller;
SET vapi.default_country = 'US';
-- now '(415) 555-0100' (id ...09) means the number too, but Fifth (...05) comes first
SELECT org_of('k4', 'asst-1', NULL, '+14155550100') AS org, caller_of('k4') AS caller;
SELECT org_of('k5', 'asst-1', NULL, '+14155550101') AS org, caller_of('k5') AS caller;
UPDATE vapi.contacts SET name = 'Renamed' WHERE name = 'Fifth';
SELECT org_of('k6', 'asst-1', NULL, '+14155550100') AS org, caller_of('k6') AS caller;
RESET vapi.default_country;

-- Row level security forced on vapi.agents applies to the role the lookup
-- runs as: the lookup falls back to SQL, which applies the policy.  To see
-- it, vapi_ingest runs as a role that is not a superuser (superusers bypass
-- row level security) and owns the tables.
CREATE ROLE regress_dir_owner NOLOGIN;
GRANT USAGE ON SCHEMA vapi TO regress_dir_owner;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA vapi TO regress_dir_owner;
ALTER TABLE vapi.agents OWNER TO regress_dir_owner;
ALTER TABLE vapi.phone_numbers OWNER TO regress_dir_owner;
ALTER TABLE vapi.contacts OWNER TO regress_dir_owner;
ALTER TABLE vapi.calls OWNER TO regress_dir_owner;
ALTER TABLE vapi.events OWNER TO regress_dir_owner;
ALTER FUNCTION vapi_ingest(jsonb) OWNER TO regress_dir_owner;
INSERT INTO vapi.agents VALUES ('asst-hidden', 'b1000000-0000-4000-8000-00000000000b', 'hidden');
CREATE POLICY agents_visible ON vapi.agents USING (name IS DISTINCT FROM 'hidden');
ALTER TABLE vapi.agents ENABLE ROW LEVEL SECURITY;
-- enabled: the owner is exempt, as from the SQL
SELECT org_of('r1', 'asst-hidden', NULL) AS org, org_of('r2', 'asst-1', NULL) AS visible;
ALTER TABLE vapi.agents FORCE ROW LEVEL SECURITY;
SELECT org_of('r3', 'asst-hidden', NULL) AS org, org_of('r4', 'asst-1', NULL) AS visible;
ALTER TABLE vapi.agents NO FORCE ROW LEVEL SECURITY;
SELECT org_of('r5', 'asst-hidden', NULL) AS org;
-- a role that may not read the table gets the SQL's error, as before
REVOKE SELECT ON vapi.agents FROM regress_dir_owner;
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ringing", "call": {"id": "r6", "assistantId": "asst-1"}}}') ->> 'error' AS error;
GRANT SELECT ON vapi.agents TO regress_dir_owner;
SELECT org_of('r7', 'asst-1', NULL) AS org;
ALTER TABLE vapi.agents DISABLE ROW LEVEL SECURITY;
DROP POLICY agents_visible ON vapi.agents;
ALTER FUNCTION vapi_ingest(jsonb) OWNER TO CURRENT_USER;
ALTER TABLE vapi.agents OWNER TO CURRENT_USER;
ALTER TABLE vapi.phone_numbers OWNER TO CURRENT_USER;
ALTER TABLE vapi.contacts OWNER TO CURRENT_USER;
ALTER TABLE vapi.calls OWNER TO CURRENT_USER;
ALTER TABLE vapi.events OWNER TO CURRENT_USER;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA vapi FROM regress_dir_owner;
REVOKE USAGE ON SCHEMA vapi FROM regress_dir_owner;
DROP ROLE regress_dir_owner;

-- A source setting naming another relation: its SQL runs, on its rows,
-- and a change there is seen at once (nothing of it is cached).
CREATE TABLE public.crm_agents (vapi_assistant_id text PRIMARY KEY, org_id uuid);
INSERT INTO public.crm_agents VALUES ('asst-1', 'd1000000-0000-4000-8000-00000000000d');
SET vapi.agents_source = 'public.crm_agents';
SELECT org_of('u1', 'asst-1', NULL) AS org;
UPDATE public.crm_agents SET org_id = 'e1000000-0000-4000-8000-00000000000e';
SELECT org_of('u2', 'asst-1', NULL) AS org;
-- the same table under another spelling of its name is another relation
-- to the setting's check, so it is read by SQL; the answer is the same
SET vapi.agents_source = '"vapi"."agents"';
SELECT org_of('u3', 'asst-1', NULL) AS org;
RESET vapi.agents_source;
SELECT org_of('u4', 'asst-1', NULL) AS org;
DROP TABLE public.crm_agents;

-- The trigger function is a trigger only.
SELECT vapi.directory_changed();
CREATE TABLE public.not_directory (x int);
CREATE TRIGGER t BEFORE INSERT ON public.not_directory FOR EACH ROW EXECUTE FUNCTION vapi.directory_changed();
INSERT INTO public.not_directory VALUES (1);
DROP TABLE public.not_directory;

DROP FUNCTION org_of(text, text, text, text), caller_of(text);
RESET vapi.log_events;
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts, vapi.credentials
	RESTART IDENTITY;
