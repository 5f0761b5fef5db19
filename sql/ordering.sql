-- The ordering model across every path: the caller is the contact of the
-- row's final org whatever the order, field versions do not depend on the
-- order, a replay of applied events writes nothing at all, and the model's
-- names reach SQL from C.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';
-- Org P owns the phone number, org Q the assistant (the assistant wins).
-- Both orgs have a contact with the caller's number, in different formats.
INSERT INTO vapi.phone_numbers VALUES ('pn-p', 'a0000000-0000-4000-8000-00000000000a', '+15550100000');
INSERT INTO vapi.agents VALUES ('asst-q', 'b0000000-0000-4000-8000-00000000000b', 'Q desk');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES
  ('a0000000-0000-4000-8000-00000000000a', '+1 555 010 7777', 'Contact of org P'),
  ('b0000000-0000-4000-8000-00000000000b', '(+1) 555-010-7777', 'Contact of org Q'),
  ('a0000000-0000-4000-8000-00000000000a', '+15550108888', 'Only in org P');

CREATE FUNCTION pg_temp.ev(id text, status text, ts bigint, call jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'type', 'status-update', 'status', status, 'timestamp', ts,
    'call', jsonb_build_object('id', id, 'type', 'inboundPhoneCall') || call))
$$;
-- A row without what may differ between calls: the ids, the times of
-- writing and the counters (field_versions stays in).
CREATE FUNCTION pg_temp.row_of(cid text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT to_jsonb(c) - '{vapi_call_id,id,created_at,updated_at,events_applied,last_change_seq}'::text[]
    FROM vapi.calls c WHERE vapi_call_id = cid
$$;
-- The deliveries of one call, applied in the order given.
CREATE FUNCTION pg_temp.apply(id text, variant text, seq int[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  n int;
  ringing jsonb := pg_temp.ev(id, 'ringing', 1767225600000,
      '{"phoneNumberId": "pn-p", "customer": {"number": "+15550107777", "name": "Vapi Name"}}');
  in_progress jsonb := pg_temp.ev(id, 'in-progress', 1767225601000, '{"assistantId": "asst-q"}');
  ended jsonb := pg_temp.ev(id, 'ended', 1767225602000, '{"phoneNumberId": "pn-p"}');
BEGIN
  IF variant = 'no contact in Q' THEN
    ringing := pg_temp.ev(id, 'ringing', 1767225600000,
      '{"phoneNumberId": "pn-p", "customer": {"number": "+15550108888", "name": "Vapi Name"}}');
  END IF;
  FOREACH n IN ARRAY seq LOOP
    PERFORM vapi_ingest(CASE n WHEN 1 THEN ringing WHEN 2 THEN in_progress ELSE ended END);
  END LOOP;
END
$$;

-- ringing (number, phone number of P) then in-progress (assistant of Q),
-- and the other way round: Q's contact both times, the same row, the same
-- field versions.
SELECT pg_temp.apply('pq', 'contact', '{1,2}'), pg_temp.apply('qp', 'contact', '{2,1}');
SELECT vapi_call_id, org_id, caller_name, customer_name, field_versions[9] >> 61 AS name_source
  FROM vapi.calls ORDER BY vapi_call_id;
-- (The content hash covers the call id, so the rows are compared with the
-- hash bits masked.)
CREATE FUNCTION pg_temp.masked(cid text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT pg_temp.row_of(cid) - 'field_versions' ||
         jsonb_build_object('field_versions', (SELECT array_agg(v & ~65535 ORDER BY i)
                                                 FROM unnest(field_versions) WITH ORDINALITY AS u(v, i)))
    FROM vapi.calls WHERE vapi_call_id = cid
$$;
SELECT pg_temp.masked('pq') = pg_temp.masked('qp') AS same_row_and_versions;

-- Every order of three deliveries, with repeats: one row.
SELECT count(pg_temp.apply('o' || i, 'contact', seq::int[])) AS calls
  FROM unnest(ARRAY['{1,2,3}', '{1,3,2}', '{2,1,3}', '{2,3,1}', '{3,1,2}', '{3,2,1}',
                    '{3,3,2,1,1}', '{2,1,2,3,1}']) WITH ORDINALITY AS o(seq, i);
SELECT count(DISTINCT pg_temp.masked(vapi_call_id)) AS distinct_rows,
       min(caller_name) AS caller_name
  FROM vapi.calls WHERE vapi_call_id LIKE 'o%';

-- When Q has no contact for the number, P's contact must not show on Q's
-- call, in either order: Vapi's name does.
SELECT pg_temp.apply('pq-none', 'no contact in Q', '{1,2}'),
       pg_temp.apply('qp-none', 'no contact in Q', '{2,1}');
SELECT vapi_call_id, org_id, caller_name, field_versions[9] >> 61 AS name_source
  FROM vapi.calls WHERE vapi_call_id LIKE '%-none' ORDER BY vapi_call_id;
SELECT pg_temp.masked('pq-none') = pg_temp.masked('qp-none') AS same_row_and_versions;

-- A replay of applied events changes nothing at all: not a value, not a
-- version, not even a counter or the row's physical version (xmin).  The
-- in-progress update lacks the number and the ringing one the org, so the
-- caller is found only from the row: before, replaying the in-progress
-- update moved the caller name's version.
CREATE TEMP TABLE before_replay AS
SELECT vapi_call_id, xmin::text AS row_xmin, to_jsonb(c) AS r FROM vapi.calls c;
SELECT action, count(*) FROM vapi.replay() GROUP BY action ORDER BY action;
SELECT count(*) AS rows_rewritten
  FROM vapi.calls c JOIN before_replay b USING (vapi_call_id)
 WHERE b.row_xmin <> c.xmin::text OR b.r <> to_jsonb(c);
SELECT action, count(*) FROM vapi.replay() GROUP BY action ORDER BY action;
SELECT count(*) AS rows_rewritten
  FROM vapi.calls c JOIN before_replay b USING (vapi_call_id)
 WHERE b.row_xmin <> c.xmin::text OR b.r <> to_jsonb(c);

-- An org that changes moves the caller with it: the call first resolves
-- through its metadata to P, then the assistant (of Q) arrives.
SELECT vapi_ingest(pg_temp.ev('meta', 'ringing', 1767225600000,
  '{"metadata": {"org_id": "a0000000-0000-4000-8000-00000000000a"}, "customer": {"number": "+15550107777"}}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'meta';
SELECT vapi_ingest(pg_temp.ev('meta', 'queued', 1767225500000, '{"assistantId": "asst-q"}'))->>'action';
SELECT org_id, caller_name FROM vapi.calls WHERE vapi_call_id = 'meta';

-- A caller name resolved by 0.1.0 (from the event, at the event's version)
-- may be another org's contact; vapi.reresolve() derives it again from the
-- row, once, and gives it the version of its source.
UPDATE vapi.calls
   SET caller_name = 'Contact of org P', field_versions[9] = (2::bigint << 61) | field_versions[5]
 WHERE vapi_call_id = 'pq';
SELECT vapi.reresolve() AS changed;
SELECT caller_name, field_versions[9] = (2::bigint << 61) | 1 AS derived_version
  FROM vapi.calls WHERE vapi_call_id = 'pq';
SELECT vapi.reresolve() AS changed_again;

-- Expiry goes through the merge: after it, a late report converges to what
-- the report alone makes, and the expiry's own delivery replays to the
-- same row.  (Only these calls, so that the others do not expire.)
TRUNCATE vapi.calls, vapi.events;
SELECT vapi_ingest(pg_temp.ev('exp', 'in-progress', 1719828000000, '{"assistantId": "asst-q"}'))->>'action';
SELECT vapi_ingest(pg_temp.ev('exp-copy', 'in-progress', 1719828000000, '{"assistantId": "asst-q"}'))->>'action';
SELECT vapi.expire_stale_calls('1 day');
SELECT vapi_call_id, status, ended_reason, field_versions[10] = (vapi.terminal_rank()::bigint << 58) - 1 AS at_expiry_version
  FROM vapi.calls WHERE vapi_call_id LIKE 'exp%' ORDER BY 1;
-- The expiry's delivery, replayed on a row deleted by hand, expires it again.
CREATE TEMP TABLE expired AS SELECT pg_temp.row_of('exp') AS r;
DELETE FROM vapi.calls WHERE vapi_call_id = 'exp';
SELECT previous_outcome, action FROM vapi.replay(vapi_call_ids => '{exp}');
SELECT r = pg_temp.row_of('exp') AS same_row FROM expired;
-- An expiry logged by 0.1.0 (no timestamp, the time in lastEventAt),
-- replayed, changes nothing: not even last_event_at, which the time it was
-- received would have moved.
UPDATE vapi.events e
   SET payload = jsonb_set(payload #- '{message,timestamp}', '{message,lastEventAt}', to_jsonb(c.last_event_at)),
       received_at = now()
  FROM vapi.calls c
 WHERE e.type = 'vapi.expired' AND e.vapi_call_id = 'exp-copy' AND c.vapi_call_id = e.vapi_call_id;
SELECT payload->'message'->>'lastEventAt' AS last_event_at_as_0_1_0_wrote_it
  FROM vapi.events WHERE type = 'vapi.expired' AND vapi_call_id = 'exp-copy';
CREATE TEMP TABLE expired_copy AS SELECT xmin::text AS row_xmin, pg_temp.row_of('exp-copy') AS r FROM vapi.calls WHERE vapi_call_id = 'exp-copy';
SELECT payload->'message' ? 'timestamp' AS has_timestamp, action
  FROM vapi.replay(vapi_call_ids => '{exp-copy}') JOIN vapi.events e ON e.id = event_id
 WHERE e.type = 'vapi.expired';
SELECT r = pg_temp.row_of('exp-copy') AND row_xmin = (SELECT xmin::text FROM vapi.calls WHERE vapi_call_id = 'exp-copy') AS untouched
  FROM expired_copy;
-- The late real report wins on both.
SELECT vapi_ingest(jsonb_set(pg_temp.ev(id, 'ended', 1719828300000, '{"assistantId": "asst-q"}'),
                             '{message,endedReason}', '"customer-ended-call"'))->>'action'
  FROM unnest(ARRAY['exp', 'exp-copy']) AS id;
SELECT vapi_call_id, status, ended_reason FROM vapi.calls WHERE vapi_call_id LIKE 'exp%' ORDER BY 1;

-- The ordering model in SQL comes from C: the ranks, the terminal rank, the
-- statuses a row can store and the outcomes an event can have.
SELECT s, vapi.status_rank(s)
  FROM unnest(ARRAY['scheduled', 'queued', 'ringing', 'in-progress', 'forwarding', 'ended',
                    'completed', 'failed', 'not-a-status', '']) AS s;
SELECT vapi.terminal_rank(), vapi.status_rank(NULL) IS NULL AS strict;
SELECT vapi.call_statuses(), vapi.event_outcomes();
-- The domains read them: a status or outcome outside the model is refused.
SELECT 'ended'::vapi.call_status;
SELECT 'applied'::vapi.event_outcome;
SELECT 'failed'::vapi.call_status, 'unchanged'::vapi.event_outcome;
-- Every stored status is one of them, at its rank.
SELECT count(*) AS rows_off_model FROM vapi.calls
 WHERE status IS DISTINCT FROM vapi.merge_status(status_rank, ended_reason)
    OR status_rank <> coalesce(vapi.status_rank(status), 0);
