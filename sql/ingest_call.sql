-- vapi_ingest_call(vapi_call_id, payload): vapi_ingest with the call id as
-- an argument of its own (the entry point Citus delegates to the worker of
-- the call).  On one node: the same as vapi_ingest when the two agree; a
-- delivery whose argument is not its message.call.id is not applied, but
-- kept as rejected under the payload's call; strict.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';

CREATE TEMP TABLE d (n int, payload jsonb);
INSERT INTO d VALUES
  (1, '{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225600000,
        "call": {"id": "ic-1"}, "customer": {"number": "+14155550001"}}}'),
  (2, '{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225601000,
        "call": {"id": "ic-1"}}}'),
  (3, '{"message": {"type": "status-update", "status": "ended", "endedReason": "customer-ended-call",
        "timestamp": 1767225660000, "call": {"id": "ic-1"}}}');

-- The same answers and the same row as vapi_ingest on the same deliveries.
SELECT n, r - 'call_id' AS result
  FROM d, vapi_ingest_call('ic-1', d.payload) r ORDER BY n;
CREATE TEMP TABLE by_ingest_call AS
SELECT to_jsonb(c) - '{id,created_at,updated_at}'::text[] AS r FROM vapi.calls c;
TRUNCATE vapi.calls;
SELECT n, r - 'call_id' - 'event_id' AS result
  FROM d, vapi_ingest(d.payload) r ORDER BY n;
SELECT (SELECT r FROM by_ingest_call) = (SELECT to_jsonb(c) - '{id,created_at,updated_at}'::text[] FROM vapi.calls c)
       AS same_row;

-- An argument that is not the payload's call id: nothing applied, the
-- delivery kept as rejected under the payload's call id, ok=false.
SELECT vapi_ingest_call('ic-9', payload) - 'event_id' AS result FROM d WHERE n = 1;
SELECT vapi_ingest_call('IC-1', payload) ->> 'action' AS other_case FROM d WHERE n = 1;
SELECT vapi_ingest_call('ic-1 ', payload) ->> 'action' AS trailing_space FROM d WHERE n = 1;
SELECT vapi_ingest_call('', '{"message": {"type": "status-update", "status": "ringing", "call": {"id": ""}}}') - 'event_id' AS empty_ids;
SELECT vapi_ingest_call('ic-3', '{"message": {"type": "status-update", "status": "ringing"}}') - 'event_id' AS no_call_id;
SELECT vapi_ingest_call(repeat('x', 300), jsonb_build_object('message', jsonb_build_object(
         'type', 'status-update', 'status', 'ringing', 'call', jsonb_build_object('id', repeat('x', 300))))) - 'event_id' AS too_long;
SELECT vapi_ingest_call('ic-4', '[1, 2]') - 'event_id' AS not_an_object;
SELECT vapi_call_id, outcome, detail FROM vapi.events WHERE outcome = 'rejected' ORDER BY id;
SELECT vapi_call_id, status, events_applied FROM vapi.calls ORDER BY vapi_call_id;

-- Strict: a null argument gives null and keeps nothing.
SELECT count(*) AS events_before FROM vapi.events;
SELECT vapi_ingest_call(NULL, payload) IS NULL AS null_id, vapi_ingest_call('ic-1', NULL) IS NULL AS null_payload
  FROM d WHERE n = 1;
SELECT count(*) AS events_after FROM vapi.events;

-- Only trusted callers, as vapi_ingest.
SELECT has_function_privilege('public', 'vapi_ingest_call(text, jsonb)', 'EXECUTE') AS public_may_call;
