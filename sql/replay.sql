-- vapi.replay: which stored events it re-applies (time range, outcome,
-- call), in id order, without adding events; what it answers and stores.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';

CREATE FUNCTION pg_temp.ev(id text, ts bigint, status text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'type', 'status-update', 'status', status, 'timestamp', ts,
    'call', jsonb_build_object('id', id, 'type', 'webCall')))
$$;
SELECT vapi_ingest(p)->>'action' AS action
  FROM (VALUES (pg_temp.ev('rp-1', 1767225600000, 'ringing')),
               (pg_temp.ev('rp-1', 1767225601000, 'in-progress')),
               (pg_temp.ev('rp-2', 1767225602000, 'ringing')),
               ('{"message": {"type": "status-update", "status": "ringing"}}'),
               ('{"message": {"type": "chat.created"}}'),
               (pg_temp.ev('rp-2', 1767225603000, 'ended')),
               (NULL)) v(p);
-- Received a day apart each, so time ranges can pick them.
UPDATE vapi.events SET received_at = '2026-01-01 00:00:00+00'::timestamptz + (id - 1) * interval '1 day';
SELECT id, received_at, vapi_call_id, type, outcome, detail FROM vapi.events ORDER BY id;

-- A time range: received_at in [since, until).
SELECT * FROM vapi.replay(since => '2026-01-02', until => '2026-01-04');
SELECT event_id FROM vapi.replay(since => '2026-01-06');
SELECT event_id FROM vapi.replay(until => '2026-01-02');
-- By outcome: rejected and ignored deliveries stay what they were.
SELECT * FROM vapi.replay(outcomes => '{rejected,ignored}');
-- By call.
SELECT event_id, vapi_call_id, action FROM vapi.replay(vapi_call_ids => '{rp-2}');
SELECT event_id FROM vapi.replay(vapi_call_ids => '{rp-1,no-such-call}', outcomes => '{inserted}');
-- Nothing matches: no rows.
SELECT count(*) FROM vapi.replay(since => '2027-01-01');
-- All of them, in id order; no event was added.
SELECT * FROM vapi.replay();
SELECT count(*) AS events FROM vapi.events;

-- A row deleted by hand comes back from its events, with the same content.
CREATE TEMP TABLE before AS
SELECT to_jsonb(c) - '{id,created_at,updated_at,events_applied,last_change_seq}'::text[] AS r
  FROM vapi.calls c WHERE vapi_call_id = 'rp-2';
DELETE FROM vapi.calls WHERE vapi_call_id = 'rp-2';
SELECT event_id, previous_outcome, action FROM vapi.replay(vapi_call_ids => '{rp-2}');
SELECT r = (SELECT to_jsonb(c) - '{id,created_at,updated_at,events_applied,last_change_seq}'::text[]
              FROM vapi.calls c WHERE vapi_call_id = 'rp-2') AS same_row
  FROM before;
-- Those were their outcomes already: no outcome changed.
SELECT id, outcome FROM vapi.events ORDER BY id;

-- A failure that now applies takes the replay's result as its outcome,
-- even 'unchanged' (its content had arrived meanwhile), and loses its detail.
UPDATE vapi.events SET outcome = 'error', detail = 'made up' WHERE id = 2;
SELECT event_id, previous_outcome, action, detail FROM vapi.replay(outcomes => '{error}');
SELECT id, outcome, detail FROM vapi.events WHERE id = 2;

-- A delivery vapi_webhook rejected for a reason the payload reader cannot
-- see (a body that could not be jsonb, kept as a string of its text) keeps
-- that reason when a replay rejects it again; the replay's own line says
-- what it saw.
INSERT INTO vapi.events (vapi_call_id, payload, outcome, detail)
VALUES ('', to_jsonb('{"message": "\u0000"}'::text), 'rejected',
        'the body is valid JSON but cannot be stored as jsonb: unsupported Unicode escape sequence');
SELECT previous_outcome, action, detail FROM vapi.replay(outcomes => '{rejected}') WHERE event_id = 8;
SELECT outcome, detail FROM vapi.events WHERE id = 8;

-- vapi.replay_by_call: the same selection, one call per transaction, for
-- large repairs.  Everything applied: nothing changes.
CALL vapi.replay_by_call();
-- A lost row comes back; only what matches is replayed.
DELETE FROM vapi.calls WHERE vapi_call_id = 'rp-2';
CALL vapi.replay_by_call(vapi_call_ids => '{rp-1,rp-2}');
SELECT vapi_call_id, status FROM vapi.calls ORDER BY 1;
CALL vapi.replay_by_call(since => '2026-01-02', until => '2026-01-04');
-- It commits after each call, so it must be called on its own: inside a
-- transaction block it stops at the first commit.
BEGIN;
CALL vapi.replay_by_call(vapi_call_ids => '{rp-1,rp-2}');
ROLLBACK;

-- Like vapi_ingest: runs as its owner, search_path pinned, not executable
-- by PUBLIC; so is vapi.reresolve.
SELECT p.oid::regprocedure AS function, prosecdef, proconfig,
       proacl IS NOT NULL AND NOT EXISTS (SELECT 1 FROM aclexplode(proacl) a
                    WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_revoked
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'vapi' AND p.proname IN ('replay', 'reresolve')
 ORDER BY 1;
