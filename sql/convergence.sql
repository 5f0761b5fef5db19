-- Convergence: the row of a call is a function of the set of deliveries,
-- whatever their order and repetition.  One realistic call is applied in
-- 303 distinct orders (in order, reversed, the report first, and 300 random
-- orders from a fixed seed), each into a fresh row; every resulting row must
-- equal the in-order one in every column but created_at, updated_at, id and
-- the counters, field_versions included.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
INSERT INTO vapi.agents VALUES ('asst-conv', 'c0000000-0000-4000-8000-00000000000a', 'Billing desk');
INSERT INTO vapi.phone_numbers VALUES ('pn-conv', 'c0000000-0000-4000-8000-00000000000a', '+15550100000');
INSERT INTO vapi.contacts (org_id, phone, name)
VALUES ('c0000000-0000-4000-8000-00000000000a', '+1 (555) 010-7788', 'Dana Contact');

-- The deliveries of one inbound call, epoch-millisecond timestamps from
-- 2026-01-01 00:00:00 UTC.  Every message carries the call snapshot, as
-- Vapi's do; the snapshot of the assistant-request has no assistant yet.
CREATE TEMP TABLE deliveries (n int PRIMARY KEY, what text NOT NULL, payload jsonb NOT NULL);
CREATE FUNCTION pg_temp.msg(msg jsonb, assistant boolean DEFAULT true) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'call', jsonb_build_object('id', 'conv-1', 'orgId', 'vapi-org-1', 'type', 'inboundPhoneCall',
                               'status', 'ringing', 'phoneNumberId', 'pn-conv',
                               'customer', '{"number": "+15550107788", "name": "Caller From Vapi"}'::jsonb,
                               'assistantOverrides', '{"metadata": {"crm_id": "42"}}'::jsonb)
            || CASE WHEN assistant THEN '{"assistantId": "asst-conv"}'::jsonb ELSE '{}' END,
    'customer', '{"number": "+15550107788", "name": "Caller From Vapi"}'::jsonb,
    'phoneNumber', '{"number": "+15550100000"}'::jsonb) || msg)
$$;
INSERT INTO deliveries VALUES
  (1, 'assistant-request', pg_temp.msg('{"type": "assistant-request", "timestamp": 1767225599500}', false)),
  (2, 'ringing', pg_temp.msg('{"type": "status-update", "status": "ringing", "timestamp": 1767225600000}')),
  (3, 'in-progress', pg_temp.msg('{"type": "status-update", "status": "in-progress", "timestamp": 1767225602000}')),
  (4, 'conversation-update 1', pg_temp.msg('{"type": "conversation-update", "timestamp": 1767225610000,
        "messages": [{"role": "bot", "message": "Hello, billing desk."}]}')),
  (5, 'conversation-update 2', pg_temp.msg('{"type": "conversation-update", "timestamp": 1767225620000,
        "messages": [{"role": "bot", "message": "Hello, billing desk."}, {"role": "user", "message": "A human please."}]}')),
  -- forwarding: a partial transcript, and the only summary of the call
  (6, 'forwarding', pg_temp.msg('{"type": "status-update", "status": "forwarding", "timestamp": 1767225630000,
        "transcript": "AI: Hello, billing desk.\nUser: A human please.",
        "summary": "Caller asked for a human; forwarded."}')),
  -- ended: terminal, infers ended_at; outranks the forwarding update but
  -- carries null for the transcript and summary that one set
  (7, 'ended', pg_temp.msg('{"type": "status-update", "status": "ended", "timestamp": 1767225660000,
        "endedReason": "assistant-forwarded-call", "transcript": null, "summary": null}')),
  -- the report: the full transcript, explicit times, an empty summary
  -- (a higher version without a value the forwarding update set)
  (8, 'end-of-call-report', pg_temp.msg('{"type": "end-of-call-report", "timestamp": 1767225661000,
        "endedReason": "assistant-forwarded-call", "cost": 0.1234,
        "startedAt": "2026-01-01T00:00:01.500Z", "endedAt": "2026-01-01T00:01:00.250Z",
        "artifact": {"transcript": "AI: Hello, billing desk.\nUser: A human please.\nAI: Forwarding you now.\n",
                     "recording": {"mono": {"combinedUrl": "https://rec.example/conv-1.wav?sig=aaa"},
                                   "stereoUrl": "https://rec.example/conv-1-stereo.wav?sig=aaa"}},
        "analysis": {"summary": "", "structuredData": {"sentiment": "neutral"}, "successEvaluation": "true"}}')),
  -- a late in-progress, stamped after the report (a skewed clock)
  (9, 'late in-progress', pg_temp.msg('{"type": "status-update", "status": "in-progress", "timestamp": 1767225700000}'))
;
-- Repeats: exact copies of the in-progress and of the second
-- conversation-update, and a retry of the report whose presigned URLs were
-- regenerated (same time and rank: the tie is broken on content).
INSERT INTO deliveries SELECT 10, 'in-progress (copy)', payload FROM deliveries WHERE n = 3;
INSERT INTO deliveries SELECT 11, 'conversation-update 2 (copy)', payload FROM deliveries WHERE n = 5;
INSERT INTO deliveries SELECT 12, 'end-of-call-report (retry)',
  replace(payload::text, 'sig=aaa', 'sig=bbb')::jsonb FROM deliveries WHERE n = 8;

-- The orders: 0 in order, 1 reversed, 2 the report first and the late
-- in-progress last, then random ones from a fixed seed.
CREATE TEMP TABLE orders (o int PRIMARY KEY, seq int[] NOT NULL);
INSERT INTO orders VALUES
  (0, ARRAY[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
  (1, ARRAY[12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]),
  (2, ARRAY[8, 7, 6, 5, 4, 3, 2, 1, 10, 11, 12, 9]);
SELECT setseed(0.3);
INSERT INTO orders
SELECT 2 + o, array_agg(n ORDER BY r)
  FROM (SELECT o, n, random() AS r FROM generate_series(1, 300) o, deliveries ORDER BY o, n) s
 GROUP BY o;

-- Apply each order to a fresh row; keep the row and every result.  Each
-- order commits, so the dead versions of the row do not pile up.
CREATE TEMP TABLE outcomes (o int, pos int, n int, action text);
CREATE TEMP TABLE rows (o int PRIMARY KEY, r jsonb);
CREATE PROCEDURE pg_temp.apply_orders() LANGUAGE plpgsql AS $$
DECLARE
  ord record;
  d record;
BEGIN
  FOR ord IN SELECT * FROM orders ORDER BY o LOOP
    DELETE FROM vapi.calls WHERE vapi_call_id = 'conv-1';
    FOR d IN SELECT s.pos, s.n, dl.payload
               FROM unnest(ord.seq) WITH ORDINALITY AS s(n, pos) JOIN deliveries dl USING (n)
              ORDER BY s.pos LOOP
      INSERT INTO outcomes VALUES (ord.o, d.pos, d.n, vapi_ingest(d.payload)->>'action');
    END LOOP;
    INSERT INTO rows
    SELECT ord.o, to_jsonb(c) - '{id,created_at,updated_at,events_applied,last_change_seq}'::text[]
      FROM vapi.calls c;
    COMMIT;
  END LOOP;
END $$;
CALL pg_temp.apply_orders();

-- The proof: every order is distinct as a sequence of payloads, and every
-- order gives the in-order row, compared as text (so even the scale of a
-- number counts).
SELECT count(*) AS orders,
       count(DISTINCT (SELECT string_agg(md5(d.payload::text), ',' ORDER BY s.pos)
                         FROM unnest(seq) WITH ORDINALITY AS s(n, pos) JOIN deliveries d USING (n))) AS distinct_orders,
       count(*) FILTER (WHERE r::text = (SELECT r::text FROM rows WHERE o = 0)) AS rows_equal_to_in_order
  FROM orders JOIN rows USING (o);
-- The special orders are among them: the report first, the late
-- in-progress after the report, the partial transcript after the full one.
SELECT bool_or(seq[1] = 8) AS report_first,
       bool_or(array_position(seq, 9) > array_position(seq, 8)) AS late_in_progress_after_report,
       bool_or(array_position(seq, 6) > array_position(seq, 8)
               AND array_position(seq, 6) > array_position(seq, 12)) AS forwarding_after_reports
  FROM orders;
-- An exact repeat is 'unchanged' wherever it comes; the first delivery of
-- each order inserts; no delivery fails.
SELECT bool_and(action = 'unchanged') AS exact_repeats_unchanged
  FROM (SELECT o, n, action, row_number() OVER (PARTITION BY o, md5(d.payload::text) ORDER BY pos) AS k
          FROM outcomes JOIN deliveries d USING (n)) s
 WHERE k = 2 AND n IN (3, 5, 10, 11);
SELECT action, count(*) FROM outcomes WHERE pos = 1 GROUP BY action;
SELECT count(*) FILTER (WHERE action NOT IN ('inserted', 'updated', 'unchanged')) AS failed FROM outcomes;

-- The canonical row, once.
SET timezone = 'UTC';
\x on
SELECT vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id, call_type, direction,
       status, ended_reason, phone_number, from_number, caller_name, customer_name, is_test_call,
       started_at, ended_at, duration_seconds, cost, transcript, summary, sentiment,
       recording_url, stereo_recording_url, analysis, metadata, first_event_at, last_event_at,
       status_rank
  FROM jsonb_populate_record(NULL::vapi.calls, (SELECT r FROM rows WHERE o = 0));
\x off
-- Which delivery each column's value came from: the source priority, then
-- the rank and time of the event (the content hash is left out).  The
-- summary is the forwarding update's: no higher event has one.  The caller
-- name is derived from the merged row, not merged: its version is its
-- source alone (2, a contact), with no event's rank or time.
SELECT col, f.v >> 61 AS priority, (f.v >> 58) & 7 AS rank,
       to_timestamp(((f.v >> 16) & ((1::bigint << 42) - 1)) / 1000.0) AS event_time
  FROM unnest((SELECT (jsonb_populate_record(NULL::vapi.calls, r)).field_versions FROM rows WHERE o = 0),
              ARRAY['org_id', 'vapi_org_id', 'assistant_id', 'phone_number_id', 'call_type', 'direction',
                    'phone_number', 'from_number', 'caller_name', 'ended_reason', 'started_at', 'ended_at',
                    'duration_seconds', 'cost', 'transcript', 'summary', 'sentiment', 'recording_url',
                    'stereo_recording_url', 'analysis', 'metadata', 'customer_name']) AS f(v, col);

-- The retry of the report (regenerated URLs) and the original differ only
-- in their content hash: whichever sorts higher wins, in every order.
SELECT (SELECT r->>'recording_url' FROM rows WHERE o = 0) =
       ALL (SELECT r->>'recording_url' FROM rows) AS same_recording_everywhere;
