-- vapi.reresolve: after the directory changes, calls with no org, or a
-- caller name that did not come from a contact, are resolved again by the
-- same resolver, and merged so that later events never fight the result.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';

CREATE FUNCTION pg_temp.ev(id text, ts bigint, status text, call jsonb, extra jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'type', 'status-update', 'status', status, 'timestamp', ts,
    'call', jsonb_build_object('id', id, 'type', 'inboundPhoneCall') || call) || extra)
$$;
CREATE TEMP TABLE deliveries (n int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO deliveries VALUES
  -- rr-1: an assistant nobody has mapped yet, Vapi knows the caller's name
  (1, pg_temp.ev('rr-1', 1767225600000, 'ringing',
        '{"assistantId": "asst-new", "customer": {"number": "+15550104444", "name": "Name From Vapi"}}')),
  (2, pg_temp.ev('rr-1', 1767225601000, 'in-progress',
        '{"assistantId": "asst-new", "customer": {"number": "+15550104444", "name": "Name From Vapi"}}')),
  -- rr-2: a phone number nobody has mapped yet, no name
  (3, pg_temp.ev('rr-2', 1767225602000, 'ringing', '{"phoneNumberId": "pn-new", "customer": {"number": "+15550105555"}}')),
  -- rr-3: a known assistant, but the caller is not a contact yet
  (4, pg_temp.ev('rr-3', 1767225603000, 'ringing', '{"assistantId": "asst-old", "customer": {"number": "+15550106666"}}')),
  -- rr-4: the org only in the metadata, fallback off when it arrived
  (5, pg_temp.ev('rr-4', 1767225604000, 'ringing',
        '{"metadata": {"org_id": "f0000000-0000-4000-8000-000000000003"}, "customer": {"number": "+15550107777"}}')),
  -- rr-5: a known assistant and a known contact: nothing to do
  (6, pg_temp.ev('rr-5', 1767225605000, 'ringing', '{"assistantId": "asst-old", "customer": {"number": "+15550108888"}}')),
  -- rr-6: a web call with a known assistant: no number, nothing to look up
  (7, jsonb_set(pg_temp.ev('rr-6', 1767225606000, 'ringing', '{"assistantId": "asst-old"}'),
                '{message,call,type}', '"webCall"')),
  -- rr-7: nothing to resolve it by, ever
  (8, pg_temp.ev('rr-7', 1767225607000, 'ringing', '{"customer": {"number": "+15550109999"}}'));
INSERT INTO vapi.agents VALUES ('asst-old', 'f0000000-0000-4000-8000-000000000001', 'Known');
INSERT INTO vapi.contacts (org_id, phone, name)
VALUES ('f0000000-0000-4000-8000-000000000001', '+15550108888', 'Known Contact');
SET vapi.metadata_org_fallback = off;
SELECT n, vapi_ingest(payload)->>'action' AS action FROM deliveries ORDER BY n;
CREATE VIEW pg_temp.who AS
SELECT vapi_call_id, org_id, caller_name, field_versions[1] >> 61 AS org_source,
       field_versions[9] >> 61 AS name_source
  FROM vapi.calls ORDER BY vapi_call_id;
SELECT * FROM pg_temp.who;

-- Nothing changed: nothing to do.
SELECT vapi.reresolve() AS changed;
-- A setting counts too: with the metadata fallback on, rr-4 gets its org.
RESET vapi.metadata_org_fallback;
SELECT vapi.reresolve() AS changed;
SELECT * FROM pg_temp.who WHERE vapi_call_id = 'rr-4';

-- The directory catches up: the new assistant and phone number are mapped,
-- and contacts are added (one in each org concerned, and one in an org no
-- call belongs to).
INSERT INTO vapi.agents VALUES ('asst-new', 'f0000000-0000-4000-8000-000000000002', 'Added later');
INSERT INTO vapi.phone_numbers VALUES ('pn-new', 'f0000000-0000-4000-8000-000000000001', '+15550100001');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES
  ('f0000000-0000-4000-8000-000000000002', '+1 555 010 4444', 'Contact Of rr-1'),
  ('f0000000-0000-4000-8000-000000000001', '+15550105555', 'Contact Of rr-2'),
  ('f0000000-0000-4000-8000-000000000001', '+15550106666', 'Contact Of rr-3'),
  ('f0000000-0000-4000-8000-000000000003', '+15550107777', 'Contact Of rr-4'),
  ('f0000000-0000-4000-8000-000000000009', '+15550109999', 'Contact In Another Org');
CREATE TEMP TABLE before AS SELECT * FROM vapi.calls;
SELECT vapi.reresolve() AS changed;
SELECT * FROM pg_temp.who;
-- Only org_id, caller_name, their versions and the bookkeeping moved.
SELECT c.vapi_call_id,
       (to_jsonb(c) - '{org_id,caller_name,field_versions,updated_at,events_applied,last_change_seq}'::text[]) =
       (to_jsonb(b) - '{org_id,caller_name,field_versions,updated_at,events_applied,last_change_seq}'::text[]) AS rest_unchanged,
       c.field_versions[2:8] = b.field_versions[2:8] AND c.field_versions[10:] = b.field_versions[10:] AS other_versions_unchanged
  FROM vapi.calls c JOIN before b USING (vapi_call_id) ORDER BY 1;
-- Idempotent.
SELECT vapi.reresolve() AS changed;

-- The re-resolved rows are what ingesting the same deliveries today makes,
-- field_versions included.
CREATE TEMP TABLE reresolved AS
SELECT vapi_call_id, to_jsonb(c) - '{id,created_at,updated_at,events_applied,last_change_seq}'::text[] AS r
  FROM vapi.calls c;
TRUNCATE vapi.calls;
SELECT count(*) AS ingested FROM deliveries, LATERAL vapi_ingest(payload) r WHERE r->>'ok' = 'true';
SELECT vapi_call_id, r = (to_jsonb(c) - '{id,created_at,updated_at,events_applied,last_change_seq}'::text[]) AS same_as_fresh
  FROM reresolved JOIN vapi.calls c USING (vapi_call_id) ORDER BY 1;

-- Later events do not fight a re-resolved value: an older copy and a newer
-- event leave the same org and name.
TRUNCATE vapi.calls;
DELETE FROM vapi.agents WHERE vapi_assistant_id = 'asst-new';
SELECT vapi_ingest(payload)->>'action' AS action FROM deliveries WHERE n = 2;
SELECT * FROM pg_temp.who;
INSERT INTO vapi.agents VALUES ('asst-new', 'f0000000-0000-4000-8000-000000000002', 'Added later');
SELECT vapi.reresolve() AS changed;
SELECT vapi_ingest(payload)->>'action' AS older_copy FROM deliveries WHERE n = 1;
SELECT vapi_ingest(pg_temp.ev('rr-1', 1767225650000, 'ended',
  '{"assistantId": "asst-new", "customer": {"number": "+15550104444", "name": "Name From Vapi"}}'))->>'action' AS newer_event;
SELECT * FROM pg_temp.who;
SELECT status FROM vapi.calls;

-- An org already on the row is kept: the caller is looked up in that org,
-- even though the assistant now belongs to another one.
TRUNCATE vapi.calls;
DELETE FROM vapi.contacts WHERE name = 'Contact Of rr-3';
SELECT vapi_ingest(payload)->>'action' AS action FROM deliveries WHERE n = 4;
UPDATE vapi.agents SET org_id = 'f0000000-0000-4000-8000-000000000002' WHERE vapi_assistant_id = 'asst-old';
INSERT INTO vapi.contacts (org_id, phone, name) VALUES
  ('f0000000-0000-4000-8000-000000000001', '+15550106666', 'Same Org Contact'),
  ('f0000000-0000-4000-8000-000000000002', '+15550106666', 'Other Org Contact');
SELECT vapi.reresolve() AS changed;
SELECT * FROM pg_temp.who;

-- A delivery with the caller's number but no assistant or phone number, and
-- one with the assistant but no number: each borrows what it lacks from the
-- row, so the contact is found in either order and reresolve has nothing
-- left to do.
TRUNCATE vapi.calls;
CREATE TEMP TABLE split (n int, payload jsonb);
INSERT INTO split VALUES
  (1, pg_temp.ev('rr-8', 1767225600000, 'ringing', '{"assistantId": "asst-old"}')),
  (2, jsonb_build_object('message', jsonb_build_object('type', 'conversation-update', 'timestamp', 1767225601000,
        'call', jsonb_build_object('id', 'rr-8'), 'customer', '{"number": "+15550106666", "name": "Name From Vapi"}'::jsonb)));
SELECT vapi_ingest(payload)->>'action' AS ringing FROM split WHERE n = 1;
SELECT vapi_ingest(payload)->>'action' AS conversation_update FROM split WHERE n = 2;
SELECT vapi_call_id, org_id, caller_name FROM vapi.calls;
TRUNCATE vapi.calls;
SELECT vapi_ingest(payload)->>'action' AS conversation_update FROM split WHERE n = 2;
SELECT vapi_ingest(payload)->>'action' AS ringing FROM split WHERE n = 1;
SELECT vapi_call_id, org_id, caller_name FROM vapi.calls;
SELECT vapi.reresolve() AS changed;
SELECT vapi_call_id, org_id, caller_name FROM vapi.calls;
