-- The lookups read the application's own tables, named by the settings
-- vapi.agents_source, vapi.phone_numbers_source and vapi.contacts_source.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;

-- An application schema shaped like a typical voice-agent app.  Agents and
-- contacts have the documented column names (and more); phone lines and a
-- CRM's customers do not, and are presented through one-line views.
CREATE TABLE public.organizations (id uuid PRIMARY KEY, name text NOT NULL);
INSERT INTO public.organizations VALUES
  ('aaaaaaaa-0000-0000-0000-000000000001', 'Acme Dental'),
  ('aaaaaaaa-0000-0000-0000-000000000002', 'Birch Clinic');
CREATE TABLE public.agents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org_id uuid NOT NULL REFERENCES public.organizations,
  vapi_assistant_id text UNIQUE,
  name text NOT NULL,
  voice text,
  first_message text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.contacts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  org_id uuid NOT NULL REFERENCES public.organizations,
  phone text NOT NULL,
  name text,
  email text,
  tags text[] NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_org_phone_idx ON public.contacts (org_id, vapi.normalize_phone(phone));
CREATE TABLE public.phone_lines (
  line_id serial PRIMARY KEY,
  organization uuid NOT NULL REFERENCES public.organizations,
  vapi_number_ref varchar(64) UNIQUE,
  e164 text,
  label text
);
CREATE VIEW public.vapi_phone_numbers AS
  SELECT vapi_number_ref AS vapi_phone_number_id, organization AS org_id FROM public.phone_lines;
-- National numbers, '(555) 010-2000': the view adds the country code, and
-- the index is on the same expression, so the lookup still uses it.
CREATE TABLE public.customers (
  customer_id bigint PRIMARY KEY,
  account uuid NOT NULL REFERENCES public.organizations,
  first_name text,
  last_name text,
  mobile text
);
CREATE VIEW public.vapi_customers AS
  SELECT customer_id AS id, account AS org_id, '+1 ' || mobile AS phone,
         concat_ws(' ', first_name, last_name) AS name
    FROM public.customers;
CREATE INDEX customers_vapi_phone_idx ON public.customers (account, vapi.normalize_phone('+1 ' || mobile));

INSERT INTO public.agents (org_id, vapi_assistant_id, name, voice) VALUES
  ('aaaaaaaa-0000-0000-0000-000000000001', 'asst-acme', 'Acme front desk', 'jennifer'),
  ('aaaaaaaa-0000-0000-0000-000000000002', 'asst-birch', 'Birch triage', 'mark'),
  ('aaaaaaaa-0000-0000-0000-000000000002', NULL, 'Birch draft agent', NULL);
INSERT INTO public.contacts (org_id, phone, name, email) VALUES
  ('aaaaaaaa-0000-0000-0000-000000000001', '+1 (555) 010-2000', 'Ada Lovelace', 'ada@example.com'),
  ('aaaaaaaa-0000-0000-0000-000000000002', '+1 (555) 010-2000', 'Grace Hopper', NULL),
  ('aaaaaaaa-0000-0000-0000-000000000002', '+1 555 010 2000', 'Grace (duplicate)', NULL);
INSERT INTO public.phone_lines (organization, vapi_number_ref, e164, label) VALUES
  ('aaaaaaaa-0000-0000-0000-000000000002', 'pn-birch', '+15550000002', 'Main line');
INSERT INTO public.customers VALUES
  (101, 'aaaaaaaa-0000-0000-0000-000000000001', 'Ada', 'Customer', '(555) 010-2000'),
  (201, 'aaaaaaaa-0000-0000-0000-000000000002', 'Grace', 'Customer', '(555) 010-2000');

-- Ingest one event for a call; show the action, the org's name and the caller.
CREATE FUNCTION pg_temp.ingest(call_id text, extra jsonb,
                               OUT action text, OUT org text, OUT caller text)
LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
BEGIN
  r := vapi_ingest(jsonb_build_object('message', jsonb_build_object(
         'type', 'status-update', 'status', 'in-progress', 'timestamp', 1767225600000,
         'call', jsonb_build_object('id', call_id, 'type', 'inboundPhoneCall')) || extra));
  action := coalesce(r->>'error', r->>'action');
  SELECT o.name, c.caller_name INTO org, caller
    FROM vapi.calls c LEFT JOIN public.organizations o ON o.id = c.org_id
   WHERE c.vapi_call_id = call_id;
END
$$;

-- 1. With the defaults the extension's own (empty) tables are read: nothing resolves.
SHOW vapi.agents_source;
SHOW vapi.phone_numbers_source;
SHOW vapi.contacts_source;
SELECT * FROM pg_temp.ingest('s1', '{"call": {"id": "s1", "assistantId": "asst-acme"},
  "customer": {"number": "+15550102000", "name": "From Vapi"}}');

-- 2. Point the settings at the application's relations: org and caller resolve.
SET vapi.agents_source = 'public.agents';
SET vapi.phone_numbers_source = 'public.vapi_phone_numbers';
SET vapi.contacts_source = 'public.contacts';
-- the assistant, through public.agents; the caller through public.contacts
SELECT * FROM pg_temp.ingest('s2', '{"call": {"id": "s2", "assistantId": "asst-acme"},
  "customer": {"number": "+15550102000", "name": "From Vapi"}}');
-- an unknown assistant: the phone number, through the view; the first
-- contact by id among two with the same number
SELECT * FROM pg_temp.ingest('s3', '{"call": {"id": "s3", "assistantId": "asst-unknown", "phoneNumberId": "pn-birch"},
  "customer": {"number": "+1 555-010-2000"}}');
-- no contact with that number: Vapi's name
SELECT * FROM pg_temp.ingest('s4', '{"call": {"id": "s4", "assistantId": "asst-birch"},
  "customer": {"number": "+15550109999", "name": "From Vapi"}}');
-- s1 resolves on its next event, now that its assistant is found
SELECT * FROM pg_temp.ingest('s1', '{"type": "end-of-call-report", "call": {"id": "s1", "assistantId": "asst-acme"},
  "customer": {"number": "+15550102000", "name": "From Vapi"}}');

-- 3. Switching a setting in a running session takes effect on the next call:
-- the customers view, whose phones have no country code.
SET vapi.contacts_source = 'public.vapi_customers';
SELECT * FROM pg_temp.ingest('s5', '{"call": {"id": "s5", "assistantId": "asst-acme"}, "customer": {"number": "+15550102000"}}');
-- SET LOCAL lasts for the transaction; then the session's value is back.
BEGIN;
SET LOCAL vapi.contacts_source = 'public.contacts';
SELECT * FROM pg_temp.ingest('s6', '{"call": {"id": "s6", "assistantId": "asst-birch"}, "customer": {"number": "+15550102000"}}');
COMMIT;
SELECT * FROM pg_temp.ingest('s7', '{"call": {"id": "s7", "assistantId": "asst-birch"}, "customer": {"number": "+15550102000"}}');
-- Each lookup the application's relations serve uses an index.
SELECT severity, item, detail FROM vapi.check() WHERE item LIKE 'vapi.%\_source' AND detail LIKE '%index%';
-- Back to the defaults: the extension's own tables again.
RESET vapi.agents_source;
RESET vapi.phone_numbers_source;
RESET vapi.contacts_source;
SELECT * FROM pg_temp.ingest('s8', '{"call": {"id": "s8", "assistantId": "asst-acme"}, "customer": {"number": "+15550102000"}}');

-- 4. Every name is quoted as an identifier: mixed case and spaces work, and a
-- name is never SQL.
CREATE SCHEMA "CRM Data";
CREATE TABLE "CRM Data"."Agents" (vapi_assistant_id text PRIMARY KEY, org_id uuid NOT NULL);
INSERT INTO "CRM Data"."Agents" VALUES ('asst-crm', 'aaaaaaaa-0000-0000-0000-000000000002');
SET vapi.agents_source = ' "CRM Data" . "Agents" ';
SELECT vapi.source_query('vapi.agents_source');
SELECT * FROM pg_temp.ingest('s9', '{"call": {"id": "s9", "assistantId": "asst-crm"}}');
-- unquoted parts fold to lower case, as in SQL
SET vapi.agents_source = 'Public.Agents';
SELECT vapi.source_query('vapi.agents_source');
SET vapi.agents_source = 'public."agents; DELETE FROM public.agents; --"';
SELECT vapi.source_query('vapi.agents_source');
SELECT * FROM pg_temp.ingest('s10', '{"call": {"id": "s10", "assistantId": "asst-acme"}}');
SELECT count(*) AS agents_left FROM public.agents;
RESET vapi.agents_source;
SELECT vapi.source_query('vapi.contacts_source');
SELECT vapi.source_query('vapi.log_events');

-- 5. A syntactically invalid name is rejected when it is set.
SET vapi.contacts_source = 'contacts';
SET vapi.contacts_source = 'app.public.contacts';
SET vapi.contacts_source = 'public.';
SET vapi.contacts_source = '.contacts';
SET vapi.contacts_source = 'public.contacts;';
SET vapi.contacts_source = 'public.contacts extra';
SET vapi.contacts_source = 'public."contacts';
SET vapi.contacts_source = 'public.""';
SET vapi.contacts_source = '1public.contacts';
SET vapi.contacts_source = 'pg_temp.contacts';
SET vapi.contacts_source = '';
SHOW vapi.contacts_source;

-- 6. Only a superuser can change them.
CREATE ROLE regress_vapi_app;
SET ROLE regress_vapi_app;
SET vapi.contacts_source = 'public.contacts';
SHOW vapi.contacts_source;
RESET ROLE;
DROP ROLE regress_vapi_app;

-- 7. Per database, as the README says: the setting is in force in new sessions.
SELECT format('ALTER DATABASE %I SET vapi.agents_source = %L', current_database(), 'public.agents') \gexec
\c
SHOW vapi.agents_source;
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225600000,
  "call": {"id": "s11", "assistantId": "asst-acme"}}}')->>'action';
SELECT o.name FROM vapi.calls c JOIN public.organizations o ON o.id = c.org_id WHERE c.vapi_call_id = 's11';
SELECT format('ALTER DATABASE %I RESET vapi.agents_source', current_database()) \gexec
\c
-- (a new session knows the settings once the module is loaded, by any call)
SELECT vapi.normalize_phone('+1 555 010 2000');
SHOW vapi.agents_source;

-- After a reload, for a setting in the configuration files: the session
-- that read vapi.agents reads public.agents on its next call.
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225600000,
  "call": {"id": "s12", "assistantId": "asst-birch"}}}')->>'action';
SELECT org_id FROM vapi.calls WHERE vapi_call_id = 's12';
ALTER SYSTEM SET vapi.agents_source = 'public.agents';
SELECT pg_reload_conf(), pg_sleep(0.5);
SHOW vapi.agents_source;
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225600000,
  "call": {"id": "s12", "assistantId": "asst-birch"}}}')->>'action';
SELECT o.name FROM vapi.calls c JOIN public.organizations o ON o.id = c.org_id WHERE c.vapi_call_id = 's12';
ALTER SYSTEM RESET vapi.agents_source;
SELECT pg_reload_conf(), pg_sleep(0.5);
SHOW vapi.agents_source;

-- 8. An application that reads public.calls: a view over vapi.calls.
CREATE VIEW public.calls AS
  SELECT id, org_id, vapi_call_id, direction, status, caller_name AS contact_name,
         phone_number AS caller_phone, started_at, ended_at, duration_seconds,
         summary, transcript, recording_url
    FROM vapi.calls;
SELECT vapi_call_id, contact_name, status FROM public.calls ORDER BY vapi_call_id COLLATE "C";

DROP VIEW public.calls;
DROP SCHEMA "CRM Data" CASCADE;
DROP VIEW public.vapi_customers, public.vapi_phone_numbers;
DROP TABLE public.customers, public.phone_lines, public.contacts, public.agents, public.organizations;
TRUNCATE vapi.calls, vapi.events RESTART IDENTITY;
