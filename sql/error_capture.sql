-- A delivery whose processing fails is rolled back, kept in vapi.events with
-- outcome 'error' and the message, and answered normally with ok: false.
-- Once the fault is gone, vapi.replay applies it, and the rows are what
-- direct ingestion would have made.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
INSERT INTO vapi.agents VALUES ('asst-err', 'e0000000-0000-4000-8000-000000000001', 'Front desk');
INSERT INTO vapi.contacts (org_id, phone, name)
VALUES ('e0000000-0000-4000-8000-000000000001', '+15550103333', 'Lee Contact');
SET timezone = 'UTC';

CREATE FUNCTION pg_temp.ev(id text, ts bigint, msg jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'timestamp', ts,
    'call', jsonb_build_object('id', id, 'type', 'inboundPhoneCall', 'assistantId', 'asst-err',
                               'customer', '{"number": "+15550103333"}'::jsonb)) || msg)
$$;
CREATE TEMP TABLE deliveries (n int PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO deliveries VALUES
  (1, pg_temp.ev('err-1', 1767225600000, '{"type": "status-update", "status": "ringing"}')),
  (2, pg_temp.ev('err-1', 1767225602000, '{"type": "status-update", "status": "in-progress"}')),
  (3, pg_temp.ev('err-1', 1767225660000, '{"type": "end-of-call-report", "endedReason": "customer-ended-call",
        "artifact": {"transcript": "AI: Hi\nUser: Bye"}, "cost": 0.05}')),
  (4, pg_temp.ev('err-2', 1767225700000, '{"type": "status-update", "status": "ringing"}'));

-- err-1 exists before the fault.
SELECT vapi_ingest(payload) - 'call_id' FROM deliveries WHERE n = 1;

-- The fault: a trigger that refuses every write to vapi.calls.
CREATE FUNCTION public.vapi_test_refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'calls are read-only during maintenance';
END $$;
CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE ON vapi.calls
  FOR EACH ROW EXECUTE FUNCTION public.vapi_test_refuse_writes();

-- An update and a new call both fail: no exception, ok false, the message.
SELECT n, vapi_ingest(payload) FROM deliveries WHERE n IN (2, 3, 4) ORDER BY n;
-- Nothing was written: err-1 is still ringing, err-2 does not exist.
SELECT vapi_call_id, status, transcript FROM vapi.calls ORDER BY 1;
-- Every delivery is kept, with its outcome and message.
SELECT id, vapi_call_id, type, status, outcome, detail FROM vapi.events ORDER BY id;

-- In a transaction, only the delivery's own work is rolled back: the
-- transaction goes on, and what it did before and after is kept.
BEGIN;
CREATE TEMP TABLE before_delivery (x int);
SELECT vapi_ingest(payload)->>'action' AS action FROM deliveries WHERE n = 4;
INSERT INTO before_delivery VALUES (1);
COMMIT;
SELECT count(*) AS kept FROM before_delivery;

-- Replaying while the fault is still there: errors again, no new events;
-- the stored outcome stays 'error'.
SELECT * FROM vapi.replay(outcomes => '{error}');
SELECT count(*) AS events FROM vapi.events;

-- Remove the fault, replay the failures: they apply now, in id order.
DROP TRIGGER refuse_writes ON vapi.calls;
SELECT * FROM vapi.replay(outcomes => '{error}');
-- The stored events say what happened; still no new events.
SELECT id, vapi_call_id, outcome, detail FROM vapi.events ORDER BY id;
SELECT vapi_call_id, status, caller_name, cost, transcript FROM vapi.calls ORDER BY 1;

-- Replaying everything again is harmless: nothing changes, and earlier
-- successes keep their outcome.
SELECT action, count(*) FROM vapi.replay() GROUP BY action;
SELECT id, outcome FROM vapi.events ORDER BY id;

-- The rows equal what ingesting the same deliveries directly makes.
CREATE TEMP TABLE replayed AS
SELECT to_jsonb(c) - '{id,created_at,updated_at,events_applied,last_change_seq}'::text[] AS r
  FROM vapi.calls c;
TRUNCATE vapi.calls;
SET vapi.log_events = none;
SELECT count(*) AS ingested FROM deliveries, LATERAL vapi_ingest(payload) r WHERE r->>'ok' = 'true';
RESET vapi.log_events;
SELECT (SELECT jsonb_agg(r ORDER BY r->>'vapi_call_id') FROM replayed) =
       (SELECT jsonb_agg(to_jsonb(c) - '{id,created_at,updated_at,events_applied,last_change_seq}'::text[]
                         ORDER BY vapi_call_id) FROM vapi.calls c) AS replay_equals_direct;

-- A failed delivery without a timestamp counts from when it was received,
-- not from when it was replayed.
CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE ON vapi.calls
  FOR EACH ROW EXECUTE FUNCTION public.vapi_test_refuse_writes();
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "queued", "call": {"id": "err-3"}}}')->>'action' AS action;
DROP TRIGGER refuse_writes ON vapi.calls;
DROP FUNCTION public.vapi_test_refuse_writes();
UPDATE vapi.events SET received_at = '2026-01-02 03:04:05+00' WHERE vapi_call_id = 'err-3';
SELECT event_id, vapi_call_id, previous_outcome, action FROM vapi.replay(vapi_call_ids => '{err-3}');
SELECT status, first_event_at, last_event_at FROM vapi.calls WHERE vapi_call_id = 'err-3';
