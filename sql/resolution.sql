-- Org and caller resolution.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
INSERT INTO vapi.agents VALUES
  ('asst-1', 'aaaaaaaa-0000-0000-0000-000000000001', 'Org 1 agent'),
  ('asst-2', 'aaaaaaaa-0000-0000-0000-000000000002', 'Org 2 agent');
INSERT INTO vapi.phone_numbers VALUES
  ('pn-2', 'aaaaaaaa-0000-0000-0000-000000000002', '+15550000002');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES
  ('aaaaaaaa-0000-0000-0000-000000000001', '+1 (555) 010-2000', 'Org 1 Ada'),
  ('aaaaaaaa-0000-0000-0000-000000000002', '555-010-2000', 'Org 2 Ada (no country code)'),
  ('aaaaaaaa-0000-0000-0000-000000000002', '+1.555.010.2000', 'Org 2 Ada'),
  ('aaaaaaaa-0000-0000-0000-000000000001', '0044 20 7946 0958', ''),
  ('aaaaaaaa-0000-0000-0000-000000000003', '+15550102000', 'Org 3 Ada');

CREATE FUNCTION pg_temp.ev(id text, extra jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'type', 'status-update', 'status', 'in-progress', 'timestamp', 1767225600000,
    'call', jsonb_build_object('id', id, 'type', 'inboundPhoneCall')) || extra)
$$;

-- 1. The assistant wins over the phone number and the metadata.
SELECT vapi_ingest(pg_temp.ev('r1', '{"call": {"id": "r1", "assistantId": "asst-1", "phoneNumberId": "pn-2",
  "metadata": {"org_id": "aaaaaaaa-0000-0000-0000-000000000003"}}, "customer": {"number": "+15550102000"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r1';
-- The assistant id may come from message.assistant.id.
SELECT vapi_ingest(pg_temp.ev('r1b', '{"assistant": {"id": "asst-2"}, "customer": {"number": "+15550102000"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r1b';
-- 2. An unknown assistant falls through to the phone number.
SELECT vapi_ingest(pg_temp.ev('r2', '{"call": {"id": "r2", "assistantId": "asst-x", "phoneNumberId": "pn-2"},
  "customer": {"number": "15550102000"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r2';
-- 3. Then org_id in the metadata (each metadata path), if it is a uuid.
SELECT vapi_ingest(pg_temp.ev('r3', '{"call": {"id": "r3", "assistantOverrides": {"metadata": {"org_id": "aaaaaaaa-0000-0000-0000-000000000003"}}},
  "customer": {"number": "+1 555 010 2000"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r3';
SELECT vapi_ingest(pg_temp.ev('r3b', '{"assistant": {"metadata": {"org_id": "AAAAAAAA000000000000000000000003"}}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r3b';
SELECT vapi_ingest(pg_temp.ev('r3c', '{"call": {"id": "r3c", "metadata": {"org_id": "not-a-uuid"}}, "customer": {"number": "+15550102000", "name": "Vapi Name"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r3c';
SELECT vapi_ingest(pg_temp.ev('r3d', '{"call": {"id": "r3d", "metadata": {"org_id": 42}}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r3d';
-- The metadata fallback can be turned off.
SET vapi.metadata_org_fallback = off;
SELECT vapi_ingest(pg_temp.ev('r3e', '{"call": {"id": "r3e", "metadata": {"org_id": "aaaaaaaa-0000-0000-0000-000000000003"}}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r3e';
RESET vapi.metadata_org_fallback;

-- 4. Else the org already on the row: a later event without any org source
-- keeps it, and its caller is looked up in that org.
SELECT vapi_ingest(pg_temp.ev('r4', '{"call": {"id": "r4", "assistantId": "asst-2"}}'))->>'action';
SELECT vapi_ingest(jsonb_set(pg_temp.ev('r4', '{"customer": {"number": "+15550102000"}}'), '{message,timestamp}', '1767225700000'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r4';

-- 5. Unresolved: org stays null, the caller is Vapi's name or Unknown Caller;
-- a later event that resolves the org fills both in.
SELECT vapi_ingest(pg_temp.ev('r5', '{"call": {"id": "r5", "assistantId": "asst-late"}, "customer": {"number": "+15550102000", "name": "Name From Vapi"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r5';
SELECT vapi_ingest(pg_temp.ev('r5b', '{"call": {"id": "r5b", "assistantId": "asst-late"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r5b';
INSERT INTO vapi.agents VALUES ('asst-late', 'aaaaaaaa-0000-0000-0000-000000000001', 'Added later');
SELECT vapi_ingest(jsonb_set(pg_temp.ev('r5', '{"call": {"id": "r5", "assistantId": "asst-late"}, "customer": {"number": "+15550102000", "name": "Name From Vapi"}}'),
  '{message,type}', '"conversation-update"'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r5';
-- A contact with an empty name does not count; Vapi's name is used instead.
SELECT vapi_ingest(pg_temp.ev('r6', '{"call": {"id": "r6", "assistantId": "asst-1"}, "customer": {"number": "+442079460958", "name": "From Vapi"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r6';
-- The customer number may be only on the call snapshot.
SELECT vapi_ingest(pg_temp.ev('r7', '{"call": {"id": "r7", "assistantId": "asst-1", "customer": {"number": "+1 (555) 010-2000"}}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'r7';
-- A caller's name never goes back from a contact to Vapi's name or Unknown
-- (the event is 'updated': Vapi's name is stored, in customer_name).
SELECT vapi_ingest(jsonb_set(pg_temp.ev('r7', '{"call": {"id": "r7", "assistantId": "asst-1"}, "customer": {"name": "Other"}}'),
  '{message,timestamp}', '1767225999000'))->>'action';
SELECT org_id, caller_name, customer_name FROM vapi.calls WHERE vapi_call_id = 'r7';
