-- vapi.call_log: one row per call as a dashboard lists it, newest first,
-- test calls hidden; vapi.call_log_all with them; vapi.call_log_rows, every
-- call in no order, for queries that sort themselves.  All security_invoker,
-- so row level security on vapi.calls applies to whoever reads them.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';
INSERT INTO vapi.agents VALUES
  ('asst-a', 'aaaaaaaa-0000-0000-0000-00000000000a', 'Org A'),
  ('asst-b', 'bbbbbbbb-0000-0000-0000-00000000000b', 'Org B');
INSERT INTO vapi.contacts (org_id, phone, name)
VALUES ('aaaaaaaa-0000-0000-0000-00000000000a', '+1 555 010 1000', 'Ada Lovelace');

CREATE FUNCTION pg_temp.ev(id text, type text, status text, ts text, call jsonb, extra jsonb DEFAULT '{}') RETURNS text
LANGUAGE sql AS $$
  SELECT vapi_ingest(jsonb_build_object('message', jsonb_build_object(
    'type', type, 'status', status, 'timestamp', ts,
    'call', jsonb_build_object('id', id) || call) || extra))->>'action'
$$;

-- l1, org A: inbound, from a contact, finished with everything a dashboard shows.
SELECT pg_temp.ev('l1', 'status-update', 'in-progress', '2026-01-01T10:00:00Z',
  '{"type": "inboundPhoneCall", "assistantId": "asst-a", "customer": {"number": "+15550101000"}}');
SELECT pg_temp.ev('l1', 'end-of-call-report', NULL, '2026-01-01T10:03:00Z',
  '{"type": "inboundPhoneCall", "assistantId": "asst-a", "customer": {"number": "+15550101000"}}',
  '{"endedReason": "customer-ended-call", "startedAt": "2026-01-01T10:00:00Z", "endedAt": "2026-01-01T10:02:30Z",
    "cost": 0.21, "summary": "Booked a table for two.", "recordingUrl": "https://rec.example/l1.wav"}');
-- l2, org B: outbound, in progress.
SELECT pg_temp.ev('l2', 'status-update', 'in-progress', '2026-01-01T10:05:00Z',
  '{"type": "outboundPhoneCall", "assistantId": "asst-b", "customer": {"number": "+15550102000", "name": "Grace"}}');
-- l3, org A: a web call, which is a test call.
SELECT pg_temp.ev('l3', 'status-update', 'in-progress', '2026-01-01T10:10:00Z',
  '{"type": "webCall", "assistantId": "asst-a"}');
-- l4, org A: a phone call marked as a test in its metadata.
SELECT pg_temp.ev('l4', 'status-update', 'in-progress', '2026-01-01T10:03:00Z',
  '{"type": "inboundPhoneCall", "assistantId": "asst-a", "metadata": {"is_test_call": true}}');
-- l5, org A: still ringing, so not started: listed at the time it was first seen.
SELECT pg_temp.ev('l5', 'status-update', 'ringing', '2026-01-01T10:07:00Z',
  '{"type": "inboundPhoneCall", "assistantId": "asst-a", "customer": {"number": "+15550103000"}}');
-- l6, org B: failed, known only from its report, first seen at the same
-- time as l1 (ties go by vapi_call_id, descending).
SELECT pg_temp.ev('l6', 'end-of-call-report', NULL, '2026-01-01T10:00:00Z',
  '{"type": "outboundPhoneCall", "assistantId": "asst-b", "customer": {"number": "+15550104000"}}',
  '{"endedReason": "customer-busy", "startedAt": "2026-01-01T09:59:40Z", "endedAt": "2026-01-01T10:00:00Z"}');
-- l7: no org resolved yet.
SELECT pg_temp.ev('l7', 'status-update', 'queued', '2026-01-01T09:00:00Z', '{"type": "outboundPhoneCall"}');

-- The dashboard's list: test calls hidden, newest (first seen) first.
SELECT vapi_call_id, org_id, first_seen_at, started_at, caller_name, customer_number, direction, status,
       duration_seconds, cost, summary, recording_url, is_test_call
  FROM vapi.call_log;
-- With test calls.
SELECT vapi_call_id, first_seen_at, started_at, direction, status, is_test_call FROM vapi.call_log_all;
-- call_id is the row's id; updated_at is the row's.
SELECT count(*) AS rows, count(*) FILTER (WHERE l.call_id = c.id AND l.updated_at = c.updated_at) AS matching
  FROM vapi.call_log_all l JOIN vapi.calls c USING (vapi_call_id);
-- The unsorted rows are the same rows.
SELECT (SELECT count(*) FROM vapi.call_log_rows) AS rows,
       (SELECT count(*) FROM (SELECT * FROM vapi.call_log_rows EXCEPT SELECT * FROM vapi.call_log_all) d) AS differing;
-- A call keeps its place in the list when it starts.
SELECT pg_temp.ev('l5', 'status-update', 'in-progress', '2026-01-01T10:08:00Z',
  '{"type": "inboundPhoneCall", "assistantId": "asst-a"}');
SELECT vapi_call_id, first_seen_at, started_at, status FROM vapi.call_log LIMIT 2;
-- An event older than any seen so far moves it down.
SELECT pg_temp.ev('l5', 'assistant-request', NULL, '2026-01-01T10:04:00Z',
  '{"type": "inboundPhoneCall", "assistantId": "asst-a"}');
SELECT vapi_call_id, first_seen_at, started_at, status FROM vapi.call_log LIMIT 2;
-- A call that turns out to be a test call leaves the list.
SELECT pg_temp.ev('l2', 'conversation-update', NULL, '2026-01-01T10:06:00Z',
  '{"type": "outboundPhoneCall", "assistantId": "asst-b", "metadata": {"is_test_call": "true"}}');
SELECT vapi_call_id FROM vapi.call_log;

-- The views' columns and options.
SELECT column_name, data_type
  FROM information_schema.columns
 WHERE table_schema = 'vapi' AND table_name = 'call_log'
 ORDER BY ordinal_position;
SELECT oid::regclass AS view, relkind, reloptions
  FROM pg_class WHERE oid IN ('vapi.call_log'::regclass, 'vapi.call_log_all'::regclass, 'vapi.call_log_rows'::regclass)
 ORDER BY 1;

-- An org's newest calls are read backwards from the (org_id, first_event_at)
-- index, not sorted from a scan of every call of the org: from the sorted
-- view, and from the unsorted one with an ORDER BY of the query's own.
INSERT INTO vapi.calls (vapi_call_id, org_id, first_event_at, last_event_at)
SELECT 'bulk-' || g, ('cccccccc-0000-0000-0000-' || lpad((g % 5)::text, 12, '0'))::uuid,
       '2025-01-01'::timestamptz + g * interval '1 minute', '2025-01-01'
  FROM generate_series(1, 5000) g;
ANALYZE vapi.calls;
EXPLAIN (COSTS OFF)
SELECT * FROM vapi.call_log WHERE org_id = 'cccccccc-0000-0000-0000-000000000003' LIMIT 20;
SELECT vapi_call_id, first_seen_at FROM vapi.call_log WHERE org_id = 'cccccccc-0000-0000-0000-000000000003' LIMIT 3;
EXPLAIN (COSTS OFF)
SELECT * FROM vapi.call_log_rows WHERE org_id = 'cccccccc-0000-0000-0000-000000000003' AND NOT is_test_call
 ORDER BY first_seen_at DESC, vapi_call_id DESC LIMIT 20;
DELETE FROM vapi.calls WHERE vapi_call_id LIKE 'bulk-%';

-- Row level security applies to the reader of the views: a tenant role that
-- reads with the JWT claims PostgREST sets sees the rows of its org only.
CREATE ROLE regress_vapi_tenant;
GRANT USAGE ON SCHEMA vapi TO regress_vapi_tenant;
GRANT SELECT ON vapi.call_log, vapi.call_log_all, vapi.call_log_rows TO regress_vapi_tenant;
BEGIN;
SET LOCAL ROLE regress_vapi_tenant;
SELECT set_config('request.jwt.claims', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', true) IS NOT NULL AS claims_set;
-- The reader needs SELECT on vapi.calls itself: the view lends it nothing.
SELECT vapi_call_id FROM vapi.call_log;
ROLLBACK;
GRANT SELECT ON vapi.calls TO regress_vapi_tenant;
BEGIN;
SET LOCAL ROLE regress_vapi_tenant;
SELECT set_config('request.jwt.claims', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', true) IS NOT NULL AS claims_set;
SELECT vapi_call_id, org_id, status FROM vapi.call_log;
SELECT vapi_call_id, org_id, is_test_call FROM vapi.call_log_all;
SELECT vapi_call_id FROM vapi.call_log_rows ORDER BY vapi_call_id;
-- Without claims, nothing.
SELECT set_config('request.jwt.claims', '', true) IS NOT NULL AS claims_cleared;
SELECT count(*) FROM vapi.call_log_all;
COMMIT;
-- A superuser sees every row.
SELECT count(*) FROM vapi.call_log_all;
REVOKE ALL ON vapi.calls, vapi.call_log, vapi.call_log_all, vapi.call_log_rows FROM regress_vapi_tenant;
REVOKE ALL ON SCHEMA vapi FROM regress_vapi_tenant;
DROP ROLE regress_vapi_tenant;
