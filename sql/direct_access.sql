-- Direct table access (src/direct.c): the merge and the event insert write
-- vapi.calls and vapi.events without SQL where that keeps every guarantee,
-- and fall back to the SQL statements where it would bypass something.
-- Which path ran is visible in pg_stat_xact_user_functions: only the SQL
-- upsert calls the vapi.merge_* functions (the counts are read before and
-- after, in one transaction: PostgreSQL 15 keeps a backend's counts
-- pending across transactions until it reports them).
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
INSERT INTO vapi.agents VALUES ('asst-d', 'd0000000-0000-4000-8000-00000000000a', 'Desk');
INSERT INTO vapi.contacts (org_id, phone, name)
VALUES ('d0000000-0000-4000-8000-00000000000a', '+1 555 010 2200', 'Dee Contact');

-- The deliveries of one call (id given), as Vapi sends them.
CREATE FUNCTION pg_temp.call_msgs(call_id text)
RETURNS TABLE (n int, payload jsonb) LANGUAGE sql AS $$
  SELECT n, jsonb_build_object('message', jsonb_build_object(
    'call', jsonb_build_object('id', call_id, 'type', 'inboundPhoneCall', 'assistantId', 'asst-d',
                               'customer', '{"number": "+15550102200", "name": "Vapi Name"}'::jsonb))
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

-- Which path merged: the number of vapi.merge_* calls counted so far.
CREATE FUNCTION pg_temp.sql_path_calls() RETURNS bigint LANGUAGE sql AS $$
  SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions
   WHERE schemaname = 'vapi' AND funcname LIKE 'merge%'
$$;

-- A row as a reader sees it, without what differs by nature between calls
-- (the low 16 bits of a version hash the content, call id included).
CREATE FUNCTION pg_temp.row_of(call_id text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT to_jsonb(c) - 'id' - 'created_at' - 'updated_at' - 'vapi_call_id' - 'field_versions'
         || jsonb_build_object('versions_without_hash',
                               (SELECT array_agg(v >> 16 ORDER BY i) FROM unnest(field_versions) WITH ORDINALITY u(v, i)))
    FROM vapi.calls c WHERE vapi_call_id = call_id
$$;

-- 1. The same deliveries, in 40 orders with repeats, merged by each path
-- into calls of their own: every row and every result is the same.
SELECT setseed(0.42);
CREATE TEMP TABLE orders AS
SELECT o, row_number() OVER (PARTITION BY o ORDER BY random()) AS pos, n
  FROM generate_series(1, 40) o, generate_series(1, 7) n,
       LATERAL generate_series(1, 1 + (random() < 0.3)::int) rep;
CREATE TEMP TABLE results (path text, o int, pos bigint, action text, status text, row jsonb);
BEGIN;
SET LOCAL track_functions = 'all';
SET LOCAL vapi.direct_access = off;
SELECT pg_temp.sql_path_calls() AS before \gset
INSERT INTO results
SELECT 'sql', o.o, o.pos, r->>'action', r->>'status', NULL
  FROM orders o JOIN pg_temp.call_msgs('sql-' || o.o) m USING (n),
       LATERAL vapi_ingest(m.payload) r
 ORDER BY o.o, o.pos;
SELECT pg_temp.sql_path_calls() > :before AS sql_path_used;
COMMIT;
BEGIN;
SET LOCAL track_functions = 'all';
SELECT pg_temp.sql_path_calls() AS before \gset
INSERT INTO results
SELECT 'direct', o.o, o.pos, r->>'action', r->>'status', NULL
  FROM orders o JOIN pg_temp.call_msgs('direct-' || o.o) m USING (n),
       LATERAL vapi_ingest(m.payload) r
 ORDER BY o.o, o.pos;
SELECT pg_temp.sql_path_calls() - :before AS merge_function_calls_on_direct_path;
COMMIT;
SELECT count(*) AS deliveries, count(DISTINCT o) AS orders FROM results WHERE path = 'direct';
-- per delivery: the same action and status
SELECT count(*) AS differing_results
  FROM results s JOIN results d USING (o, pos)
 WHERE s.path = 'sql' AND d.path = 'direct'
   AND (s.action, s.status) IS DISTINCT FROM (d.action, d.status);
-- per call: the same row, field versions, counters and caller included
SELECT count(*) AS differing_rows
  FROM generate_series(1, 40) o
 WHERE pg_temp.row_of('sql-' || o) IS DISTINCT FROM pg_temp.row_of('direct-' || o);
SELECT status, caller_name, org_id, duration_seconds, cost, summary, events_applied, last_change_seq
  FROM vapi.calls WHERE vapi_call_id = 'direct-1';
SELECT count(*) AS events_logged, count(DISTINCT id) AS distinct_ids,
       min(id) = 1 AND max(id) = count(*) AS ids_dense
  FROM vapi.events;

-- 2. Several deliveries of one call in one statement: each sees the last.
SELECT r->>'action' AS action, r->>'status' AS status
  FROM pg_temp.call_msgs('one-statement') m, LATERAL vapi_ingest(m.payload) r
 WHERE m.n IN (1, 2, 5) ORDER BY m.n;

-- 3. A repeat writes nothing: the row's version (xmin) stays.
SELECT xmin AS before FROM vapi.calls WHERE vapi_call_id = 'one-statement' \gset
SELECT vapi_ingest(payload)->>'action' AS repeat FROM pg_temp.call_msgs('one-statement') WHERE n = 2;
SELECT xmin = :'before'::xid AS row_untouched FROM vapi.calls WHERE vapi_call_id = 'one-statement';

-- 4. Constraints a user adds are kept on the direct path: a CHECK
-- constraint fails the delivery as the SQL statement would (kept, error).
ALTER TABLE vapi.calls ADD CONSTRAINT cost_sane CHECK (cost IS NULL OR cost < 0.1) NOT VALID;
SELECT r->>'ok' AS ok, r->>'action' AS action, r->>'error' AS error
  FROM pg_temp.call_msgs('checked') m, LATERAL vapi_ingest(m.payload) r WHERE m.n = 6;
SET vapi.direct_access = off;
SELECT r->>'ok' AS ok, r->>'action' AS action, r->>'error' AS error
  FROM pg_temp.call_msgs('checked-sql') m, LATERAL vapi_ingest(m.payload) r WHERE m.n = 6;
RESET vapi.direct_access;
ALTER TABLE vapi.calls DROP CONSTRAINT cost_sane;

-- 5. Columns a user adds get their defaults, on both tables.
ALTER TABLE vapi.calls ADD COLUMN crm_note text NOT NULL DEFAULT 'new';
ALTER TABLE vapi.events ADD COLUMN via text DEFAULT 'webhook';
SELECT vapi_ingest(payload)->>'action' AS action FROM pg_temp.call_msgs('extra-cols') WHERE n = 1;
SELECT crm_note FROM vapi.calls WHERE vapi_call_id = 'extra-cols';
SELECT via FROM vapi.events WHERE vapi_call_id = 'extra-cols';
ALTER TABLE vapi.calls DROP COLUMN crm_note;
ALTER TABLE vapi.events DROP COLUMN via;
-- and after the drop (a dropped attribute stays in the descriptor)
SELECT vapi_ingest(payload)->>'action' AS action FROM pg_temp.call_msgs('extra-cols') WHERE n = 2;

-- 6. Where direct access would bypass something, the SQL path runs.
CREATE FUNCTION pg_temp.merged_by_sql(call_id text, n int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  p jsonb;
  before bigint := pg_temp.sql_path_calls();
BEGIN
  SELECT payload INTO p FROM pg_temp.call_msgs(call_id) m WHERE m.n = merged_by_sql.n;
  PERFORM vapi_ingest(p);
  RETURN pg_temp.sql_path_calls() > before;
END
$$;
SET track_functions = 'all';
-- a trigger a user added fires, on the insert and on the update (an
-- insert calls no merge function on either path: the notices show it)
CREATE FUNCTION pg_temp.saw_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'trigger saw % of %: status %', TG_OP, NEW.vapi_call_id, NEW.status;
  RETURN NEW;
END
$$;
CREATE TRIGGER saw_write AFTER INSERT OR UPDATE ON vapi.calls
  FOR EACH ROW EXECUTE FUNCTION pg_temp.saw_write();
BEGIN;
SELECT pg_temp.merged_by_sql('fallback', 1) AS with_trigger_insert;
SELECT pg_temp.merged_by_sql('fallback', 2) AS with_trigger_update;
COMMIT;
DROP TRIGGER saw_write ON vapi.calls;
BEGIN;
SELECT pg_temp.merged_by_sql('fallback', 3) AS without_trigger_sql;
COMMIT;
-- repeatable read: the SQL path's serialization checks
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.merged_by_sql('fallback', 4) AS repeatable_read;
COMMIT;
-- a column type other than the merge's
ALTER TABLE vapi.calls ALTER COLUMN sentiment TYPE varchar(40);
BEGIN;
SELECT pg_temp.merged_by_sql('fallback', 6) AS other_column_type;
COMMIT;
ALTER TABLE vapi.calls ALTER COLUMN sentiment TYPE text;
BEGIN;
SELECT pg_temp.merged_by_sql('fallback', 7) AS type_restored;
COMMIT;
-- (Row-level security that applies to the extension's owner sends it to
-- the SQL path too; a superuser owner, as here, is never subject to it.)
RESET track_functions;
SELECT status, ended_reason, sentiment, cost FROM vapi.calls WHERE vapi_call_id = 'fallback';

-- 7. A read-only transaction cannot write by either path.
BEGIN READ ONLY;
SELECT vapi_ingest(payload) FROM pg_temp.call_msgs('read-only') WHERE n = 1;
ROLLBACK;
SELECT count(*) AS read_only_rows FROM vapi.calls WHERE vapi_call_id = 'read-only';

-- 8. A statement that writes the call's row and then ingests into it, in
-- the same command: the merge sees the row (it does not retry an insert
-- forever against a row it cannot see).
SET statement_timeout = '20s';
WITH made AS (
  INSERT INTO vapi.calls (vapi_call_id, first_event_at, last_event_at)
  VALUES ('same-command', '2026-01-01', '2026-01-01') RETURNING vapi_call_id)
SELECT vapi_ingest(m.payload)->>'action' AS action
  FROM made, pg_temp.call_msgs('same-command') m WHERE m.n = 2;
RESET statement_timeout;
SELECT status, events_applied FROM vapi.calls WHERE vapi_call_id = 'same-command';
