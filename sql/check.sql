-- vapi.check(), the setup doctor, and what a misconfigured source does to
-- a delivery: no exception, outcome error with a message naming the
-- setting, the delivery kept, and healed by the next call once fixed.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;

-- It runs as the extension's owner with a pinned search_path, and is not
-- executable by PUBLIC.
SELECT proname, prosecdef, proconfig, NOT EXISTS (
         SELECT 1 FROM aclexplode(proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_revoked
  FROM pg_proc WHERE oid IN ('vapi.check()'::regprocedure, 'vapi.source_query(text)'::regprocedure)
 ORDER BY 1;

-- The findings about sources and the event log (other rows are about
-- settings and credentials other features own).
CREATE FUNCTION pg_temp.findings() RETURNS TABLE (severity text, item text, detail text)
LANGUAGE sql AS $$
  SELECT * FROM vapi.check() WHERE item LIKE 'vapi.%\_source' OR item = 'vapi.log_events'
$$;
-- Ingest one event for a call: the result's action, else its error.
CREATE FUNCTION pg_temp.ingest(call_id text) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(r->>'error', r->>'action') FROM vapi_ingest(jsonb_build_object('message', jsonb_build_object(
    'type', 'status-update', 'status', 'in-progress', 'timestamp', 1767225600000,
    'call', jsonb_build_object('id', call_id, 'assistantId', 'asst-1', 'phoneNumberId', 'pn-1'),
    'customer', jsonb_build_object('number', '+15550102000')))) AS r
$$;

-- 1. A fresh installation: the extension's own tables, all indexed.
SELECT * FROM pg_temp.findings();
-- Without the credentials table (or with it empty), a warning.
SELECT severity FROM vapi.check() WHERE item = 'credentials';
-- Every row has a known severity; the other settings are listed.
SELECT count(*) FILTER (WHERE severity NOT IN ('ok', 'warning', 'error')) AS unknown_severity,
       count(*) FILTER (WHERE item = 'vapi.metadata_org_fallback') AS fallback_listed
  FROM vapi.check();

-- 2. The application's tables, seed-style, one without its index yet.
CREATE TABLE public.agents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL,
  vapi_assistant_id text UNIQUE,
  name text
);
CREATE TABLE public.contacts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL,
  phone text NOT NULL,
  name text
);
INSERT INTO public.agents (org_id, vapi_assistant_id, name)
  VALUES ('aaaaaaaa-0000-0000-0000-000000000001', 'asst-1', 'Front desk');
INSERT INTO public.contacts (org_id, phone, name)
  VALUES ('aaaaaaaa-0000-0000-0000-000000000001', '(+1) 555 010-2000', 'Ada Lovelace');
SET vapi.agents_source = 'public.agents';
SET vapi.contacts_source = 'public.contacts';
-- A missing index is a warning, and costs nothing but speed.
SELECT * FROM pg_temp.findings();
SELECT pg_temp.ingest('c1');
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'c1';
CREATE INDEX contacts_org_phone_idx ON public.contacts (org_id, vapi.normalize_phone(phone));
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.contacts_source';
-- An index on org_id alone does not serve the phone: still a warning.
DROP INDEX public.contacts_org_phone_idx;
CREATE INDEX contacts_org_idx ON public.contacts (org_id);
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.contacts_source';
DROP INDEX public.contacts_org_idx;
CREATE INDEX contacts_org_phone_idx ON public.contacts (org_id, vapi.normalize_phone(phone));
-- Through a view, the index belongs on the table behind it.
CREATE TABLE public.phone_lines (line_id serial PRIMARY KEY, org uuid NOT NULL, vapi_ref text);
CREATE VIEW public.vapi_phone_lines AS SELECT vapi_ref AS vapi_phone_number_id, org AS org_id FROM public.phone_lines;
SET vapi.phone_numbers_source = 'public.vapi_phone_lines';
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.phone_numbers_source';
CREATE INDEX ON public.phone_lines (vapi_ref);
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.phone_numbers_source';
RESET vapi.phone_numbers_source;

-- 3. A missing relation: an error in the check; each delivery is stored
-- with outcome error, and creating the relation heals the next call.
SET vapi.agents_source = 'public.assistants';
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.agents_source';
SELECT pg_temp.ingest('c2');
CREATE TABLE public.assistants (vapi_assistant_id text PRIMARY KEY, org_id uuid NOT NULL);
INSERT INTO public.assistants VALUES ('asst-1', 'aaaaaaaa-0000-0000-0000-000000000002');
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.agents_source';
SELECT pg_temp.ingest('c2');
SELECT org_id FROM vapi.calls WHERE vapi_call_id = 'c2';
-- A schema that does not exist reads the same.
SET vapi.agents_source = 'crm.agents';
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.agents_source';
SELECT pg_temp.ingest('c3');
SET vapi.agents_source = 'public.agents';

-- 4. A missing column, after the lookup's plan was kept: the same, and
-- putting the column back heals it.
ALTER TABLE public.contacts RENAME COLUMN phone TO phone_number;
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.contacts_source';
SELECT pg_temp.ingest('c4');
ALTER TABLE public.contacts RENAME COLUMN phone_number TO phone;
SELECT pg_temp.ingest('c4');
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'c4';

-- 5. A column of the wrong type, through a view.
CREATE VIEW public.agents_text AS SELECT vapi_assistant_id, org_id::text AS org_id FROM public.agents;
SET vapi.agents_source = 'public.agents_text';
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.agents_source';
SELECT pg_temp.ingest('c5');
CREATE VIEW public.agents_uuid_ids AS SELECT vapi_assistant_id::uuid AS vapi_assistant_id, org_id FROM public.agents WHERE false;
SET vapi.agents_source = 'public.agents_uuid_ids';
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.agents_source';
SELECT pg_temp.ingest('c5');
-- Something that is not a table or a view.
CREATE SEQUENCE public.agents_seq;
SET vapi.agents_source = 'public.agents_seq';
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.agents_source';
SELECT pg_temp.ingest('c5');
SET vapi.agents_source = 'public.agents';

-- 6. Not readable by the role vapi_ingest runs as (here a role that can
-- use the extension's schema but was not granted the application's tables).
CREATE ROLE regress_vapi_owner;
GRANT USAGE ON SCHEMA vapi TO regress_vapi_owner;
GRANT ALL ON ALL TABLES IN SCHEMA vapi TO regress_vapi_owner;
GRANT ALL ON ALL SEQUENCES IN SCHEMA vapi TO regress_vapi_owner;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA vapi TO regress_vapi_owner;
GRANT SELECT ON public.agents TO regress_vapi_owner;
-- (vapi.calls has row level security for readers; a role that is neither
-- its owner nor a superuser needs a policy to write every org's rows)
CREATE POLICY regress_vapi_owner_writes ON vapi.calls TO regress_vapi_owner USING (true) WITH CHECK (true);
ALTER FUNCTION vapi_ingest(jsonb) OWNER TO regress_vapi_owner;
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.contacts_source';
SELECT pg_temp.ingest('c6');
GRANT SELECT (org_id, phone, name) ON public.contacts TO regress_vapi_owner;
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.contacts_source';
GRANT SELECT ON public.contacts TO regress_vapi_owner;
ALTER TABLE public.contacts ENABLE ROW LEVEL SECURITY;
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.contacts_source';
-- (no policy: the role sees no contact, and the caller is unknown)
SELECT pg_temp.ingest('c6');
SELECT caller_name FROM vapi.calls WHERE vapi_call_id = 'c6';
ALTER TABLE public.contacts DISABLE ROW LEVEL SECURITY;
ALTER FUNCTION vapi_ingest(jsonb) OWNER TO CURRENT_USER;
DROP POLICY regress_vapi_owner_writes ON vapi.calls;
DROP OWNED BY regress_vapi_owner;
DROP ROLE regress_vapi_owner;

-- Every failed delivery was stored, with the message the result gave.
SELECT id, vapi_call_id, outcome, detail FROM vapi.events WHERE outcome <> 'inserted' ORDER BY id;

-- 7. The event-log policy.
SET vapi.log_events = 'errors';
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.log_events';
SET vapi.log_events = 'none';
SELECT * FROM pg_temp.findings() WHERE item = 'vapi.log_events';
RESET vapi.log_events;

-- 8. Where each source setting comes from, as vapi.check() reports it.
SELECT * FROM pg_temp.findings() WHERE detail LIKE '%, a %';
RESET vapi.agents_source;
RESET vapi.contacts_source;
SELECT * FROM pg_temp.findings() WHERE detail LIKE '%, a %';

DROP VIEW public.agents_text, public.agents_uuid_ids, public.vapi_phone_lines;
DROP SEQUENCE public.agents_seq;
DROP TABLE public.agents, public.contacts, public.assistants, public.phone_lines;
TRUNCATE vapi.calls, vapi.events RESTART IDENTITY;
