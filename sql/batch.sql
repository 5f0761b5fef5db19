-- vapi_ingest_batch(jsonb[]): many deliveries in one call, each call's
-- deliveries merged together and its row written once, with the results
-- vapi_ingest would give one after the other in the same order.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
INSERT INTO vapi.agents VALUES ('asst-b', 'b0000000-0000-4000-8000-00000000000a', 'Desk');
INSERT INTO vapi.contacts (org_id, phone, name)
VALUES ('b0000000-0000-4000-8000-00000000000a', '+1 555 010 3300', 'Bea Contact');

CREATE FUNCTION pg_temp.call_msgs(call_id text)
RETURNS TABLE (n int, payload jsonb) LANGUAGE sql AS $$
  SELECT n, jsonb_build_object('message', jsonb_build_object(
    'call', jsonb_build_object('id', call_id, 'type', 'inboundPhoneCall', 'assistantId', 'asst-b',
                               'customer', '{"number": "+15550103300", "name": "Vapi Name"}'::jsonb))
    || m)
  FROM (VALUES
    (1, '{"type": "status-update", "status": "ringing", "timestamp": 1767225600000}'::jsonb),
    (2, '{"type": "status-update", "status": "in-progress", "timestamp": 1767225602000}'),
    (3, '{"type": "conversation-update", "timestamp": 1767225610000, "messages": [{"role": "bot", "message": "Hi"}]}'),
    (4, '{"type": "status-update", "status": "forwarding", "timestamp": 1767225630000, "transcript": "AI: Hi", "summary": "forwarded"}'),
    (5, '{"type": "status-update", "status": "ended", "timestamp": 1767225660000, "endedReason": "customer-ended-call"}'),
    (6, '{"type": "end-of-call-report", "timestamp": 1767225661000, "endedReason": "customer-ended-call", "cost": 0.25,
          "startedAt": "2026-01-01T00:00:01.500Z", "endedAt": "2026-01-01T00:01:00.250Z",
          "artifact": {"transcript": "AI: Hi\nUser: Bye\n"},
          "analysis": {"summary": "short", "structuredData": {"sentiment": "positive"}}}'),
    (7, '{"type": "status-update", "status": "in-progress", "timestamp": 1767225700000}')
  ) AS v(n, m)
$$;
CREATE FUNCTION pg_temp.row_of(call_id text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT to_jsonb(c) - 'id' - 'created_at' - 'updated_at' - 'vapi_call_id' - 'field_versions'
         || jsonb_build_object('versions_without_hash',
                               (SELECT array_agg(v >> 16 ORDER BY i) FROM unnest(field_versions) WITH ORDINALITY u(v, i)))
    FROM vapi.calls c WHERE vapi_call_id = call_id
$$;

-- 1. Ten calls' deliveries, shuffled together with repeats, a call of one
-- speech-update and a rejected body: once one at a time, once in one batch
-- (each of the 11 calls' rows is written once).
SELECT setseed(0.17);
CREATE TEMP TABLE stream AS
SELECT row_number() OVER (ORDER BY random()) AS pos, c, n
  FROM generate_series(1, 10) c, generate_series(1, 7) n,
       LATERAL generate_series(1, 1 + (random() < 0.3)::int) rep;
CREATE FUNCTION pg_temp.stream(prefix text) RETURNS TABLE (pos bigint, payload jsonb) LANGUAGE sql AS $$
  SELECT s.pos, m.payload FROM stream s JOIN pg_temp.call_msgs(prefix || s.c) m USING (n)
  UNION ALL SELECT 1000, jsonb_build_object('message', jsonb_build_object('type', 'speech-update',
                           'timestamp', 1767225601000, 'call', jsonb_build_object('id', prefix || 'speech')))
  UNION ALL SELECT 1001, '{"no": "message"}'
$$;
-- the row writes each makes, counted in its transaction
CREATE FUNCTION pg_temp.call_writes() RETURNS bigint LANGUAGE sql AS $$
  SELECT n_tup_ins + n_tup_upd FROM pg_stat_xact_user_tables WHERE relid = 'vapi.calls'::regclass
$$;
BEGIN;
SELECT pg_temp.call_writes() AS before \gset
CREATE TEMP TABLE one_by_one AS
SELECT pos, vapi_ingest(payload) AS r FROM pg_temp.stream('single-') ORDER BY pos;
SELECT pg_temp.call_writes() - :before AS row_writes_one_by_one;
COMMIT;
BEGIN;
SELECT pg_temp.call_writes() AS before \gset
CREATE TEMP TABLE batched AS
SELECT row_number() OVER () AS pos, r
  FROM vapi_ingest_batch((SELECT array_agg(payload ORDER BY pos) FROM pg_temp.stream('batch-'))) r;
SELECT pg_temp.call_writes() - :before AS row_writes_batched;
COMMIT;
SELECT count(*) AS deliveries FROM batched;
-- the same action, status and ok for every delivery, in the same order
SELECT count(*) AS differing_results
  FROM (SELECT row_number() OVER (ORDER BY pos) AS k, r FROM one_by_one) s
  JOIN (SELECT row_number() OVER (ORDER BY pos) AS k, r FROM batched) b USING (k)
 WHERE (s.r->>'ok', s.r->>'action', s.r->>'status')
       IS DISTINCT FROM (b.r->>'ok', b.r->>'action', b.r->>'status');
SELECT b.r->>'action' AS action, count(*) FROM batched b GROUP BY 1 ORDER BY 1;
-- the same rows
SELECT count(*) AS differing_rows
  FROM generate_series(1, 10) c
 WHERE pg_temp.row_of('single-' || c) IS DISTINCT FROM pg_temp.row_of('batch-' || c);
-- every delivery logged, in the order given, with the id its result names
SELECT count(*) AS logged,
       bool_and((b.r->>'event_id')::bigint = e.id) AS ids_match,
       bool_and(e.vapi_call_id = coalesce(b.r->>'vapi_call_id', '')) AS calls_match
  FROM batched b JOIN vapi.events e ON e.id = (b.r->>'event_id')::bigint;
SELECT count(*) AS out_of_order
  FROM (SELECT pos, (r->>'event_id')::bigint AS id, lag((r->>'event_id')::bigint) OVER (ORDER BY pos) AS prev
          FROM batched) x WHERE id <= prev;

-- 2. A delivery that fails fails alone: its call's other deliveries apply.
ALTER TABLE vapi.calls ADD CONSTRAINT cheap CHECK (cost IS NULL OR cost < 0.1) NOT VALID;
SELECT r->>'ok' AS ok, r->>'action' AS action, r->>'status' AS status, r->>'error' AS error
  FROM vapi_ingest_batch((SELECT array_agg(payload ORDER BY n) FROM pg_temp.call_msgs('failing'))) r;
SELECT status, summary, cost FROM vapi.calls WHERE vapi_call_id = 'failing';
ALTER TABLE vapi.calls DROP CONSTRAINT cheap;

-- 3. The SQL path gives the same results.
SET vapi.direct_access = off;
SELECT count(*) AS differing_results
  FROM (SELECT row_number() OVER () AS k, r FROM
          vapi_ingest_batch((SELECT array_agg(payload ORDER BY pos) FROM pg_temp.stream('sql-'))) r) b
  JOIN (SELECT row_number() OVER (ORDER BY pos) AS k, r FROM one_by_one) s USING (k)
 WHERE (s.r->>'ok', s.r->>'action', s.r->>'status')
       IS DISTINCT FROM (b.r->>'ok', b.r->>'action', b.r->>'status');
RESET vapi.direct_access;
SELECT count(*) AS differing_rows
  FROM generate_series(1, 10) c
 WHERE pg_temp.row_of('single-' || c) IS DISTINCT FROM pg_temp.row_of('sql-' || c);

-- 4. Edges: no array, an empty one, a null element, two dimensions.
SELECT count(*) AS results FROM vapi_ingest_batch(NULL);
SELECT count(*) AS results FROM vapi_ingest_batch('{}');
SELECT r->>'ok' AS ok, r->>'action' AS action, r->>'error' AS error
  FROM vapi_ingest_batch(ARRAY[NULL::jsonb]) r;
SELECT vapi_ingest_batch(ARRAY[ARRAY['{}'::jsonb]]);
-- a batch of one exact repeat: unchanged, nothing written
SELECT xmin AS before FROM vapi.calls WHERE vapi_call_id = 'batch-1' \gset
SELECT r->>'action' AS action
  FROM vapi_ingest_batch((SELECT array_agg(payload) FROM pg_temp.call_msgs('batch-1') WHERE n = 2)) r;
SELECT xmin = :'before'::xid AS row_untouched FROM vapi.calls WHERE vapi_call_id = 'batch-1';
