-- Change notifications: NOTIFY vapi_calls when an event inserts or visibly
-- changes a call row, sent when the transaction commits, never for a
-- duplicate, a stale event or a rolled-back one.
--
-- The listener is a second connection (dblink), as a dashboard backend would
-- be.  Reading the notifications through it turns each payload into data, so
-- the random call_id is compared with the row's id rather than printed (psql
-- would print it, and the sender's PID, for its own notifications).
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
CREATE EXTENSION dblink;
INSERT INTO vapi.agents VALUES ('asst-n', 'bbbbbbbb-0000-0000-0000-000000000001', 'Notify org');

SELECT dblink_connect('listener', format('dbname=%s host=%s port=%s', current_database(),
  split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT dblink_exec('listener', 'LISTEN vapi_calls');

-- What the listener received since the last look, in order.  The query on
-- the listener makes its server send what it has queued before answering.
CREATE FUNCTION pg_temp.received() RETURNS TABLE (n bigint, channel text, payload text)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM dblink('listener', 'SELECT 1') AS t(one int);
  RETURN QUERY SELECT ordinality, notify_name, extra FROM dblink_get_notify('listener') WITH ORDINALITY;
END
$$;
-- The same, with the call_id checked against the row it names.
CREATE FUNCTION pg_temp.heard() RETURNS TABLE (channel text, payload text, call_id_is_row boolean)
LANGUAGE sql AS $$
  SELECT r.channel,
         regexp_replace(r.payload, '"call_id": "[0-9a-f-]{36}"', '"call_id": "<call_id>"'),
         (r.payload::jsonb->>'call_id')::uuid = c.id
    FROM pg_temp.received() r
    LEFT JOIN vapi.calls c ON c.vapi_call_id = r.payload::jsonb->>'vapi_call_id'
   ORDER BY r.n;
$$;
CREATE FUNCTION pg_temp.ev(id text, type text, status text, ts bigint, extra jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'type', type, 'status', status, 'timestamp', ts,
    'call', jsonb_build_object('id', id, 'type', 'inboundPhoneCall', 'assistantId', 'asst-n')) || extra)
$$;

-- A new call: inserted.
SELECT vapi_ingest(pg_temp.ev('n1', 'status-update', 'ringing', 1767225600000))->>'action';
SELECT * FROM pg_temp.heard();
-- A status change: updated.
SELECT vapi_ingest(pg_temp.ev('n1', 'status-update', 'in-progress', 1767225601000))->>'action';
SELECT * FROM pg_temp.heard();
-- An exact duplicate: unchanged, nothing sent.
SELECT vapi_ingest(pg_temp.ev('n1', 'status-update', 'in-progress', 1767225601000))->>'action';
SELECT * FROM pg_temp.heard();
-- A later event that changes nothing a reader sees (only last_event_at):
-- unchanged, nothing sent.
SELECT vapi_ingest(pg_temp.ev('n1', 'speech-update', NULL, 1767225602000))->>'action';
SELECT * FROM pg_temp.heard();
-- A visible change without a status change: updated, same status.
SELECT vapi_ingest(pg_temp.ev('n1', 'conversation-update', NULL, 1767225603000,
  '{"customer": {"number": "+15550102000", "name": "Ada"}}'))->>'action';
SELECT * FROM pg_temp.heard();
-- The end of the call.
SELECT vapi_ingest(pg_temp.ev('n1', 'end-of-call-report', NULL, 1767225660000,
  '{"endedReason": "customer-ended-call", "summary": "Booked a table."}'))->>'action';
SELECT * FROM pg_temp.heard();
-- A stale update (an in-progress sent before the end, arriving after it):
-- unchanged, nothing sent.
SELECT vapi_ingest(pg_temp.ev('n1', 'status-update', 'in-progress', 1767225630000))->>'action';
SELECT * FROM pg_temp.heard();
SELECT vapi_call_id, status, summary FROM vapi.calls;

-- Deliveries that change no row send nothing: ignored, rejected, error.
SELECT vapi_ingest('{"message": {"type": "call.deleted", "call": {"id": "n1"}}}')->>'action';
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ringing"}}')->>'action';
ALTER TABLE vapi.calls ADD CONSTRAINT regress_refuse CHECK (vapi_call_id <> 'n-error');
SELECT vapi_ingest(pg_temp.ev('n-error', 'status-update', 'ringing', 1767225600000))->>'action';
ALTER TABLE vapi.calls DROP CONSTRAINT regress_refuse;
SELECT * FROM pg_temp.heard();

-- A call whose org is not resolved yet: org_id is null in the payload.
SELECT vapi_ingest(jsonb_set(pg_temp.ev('n2', 'status-update', 'queued', 1767225600000),
  '{message,call,assistantId}', '"asst-unknown"'))->>'action';
SELECT * FROM pg_temp.heard();

-- Sent at commit: nothing while the transaction is open, all of it after.
BEGIN;
SELECT vapi_ingest(pg_temp.ev('n3', 'status-update', 'ringing', 1767225600000))->>'action';
SELECT vapi_ingest(pg_temp.ev('n3', 'status-update', 'in-progress', 1767225601000))->>'action';
SELECT * FROM pg_temp.heard();
COMMIT;
SELECT * FROM pg_temp.heard();

-- A rolled-back transaction notifies nothing, although its ingests succeeded.
BEGIN;
SELECT vapi_ingest(pg_temp.ev('n4', 'status-update', 'ringing', 1767225600000))->>'action';
ROLLBACK;
SELECT * FROM pg_temp.heard();
-- Nor does a rolled-back savepoint; what the transaction keeps is sent.
BEGIN;
SAVEPOINT s;
SELECT vapi_ingest(pg_temp.ev('n4', 'status-update', 'ringing', 1767225600000))->>'action';
ROLLBACK TO SAVEPOINT s;
SELECT vapi_ingest(pg_temp.ev('n5', 'status-update', 'ringing', 1767225600000))->>'action';
COMMIT;
SELECT * FROM pg_temp.heard();

-- Identical payloads in one transaction are delivered once (PostgreSQL
-- collapses them): two visible changes that leave the status as it was.
BEGIN;
SELECT vapi_ingest(pg_temp.ev('n5', 'conversation-update', NULL, 1767225601000,
  '{"customer": {"number": "+15550102001"}}'))->>'action';
SELECT vapi_ingest(pg_temp.ev('n5', 'conversation-update', NULL, 1767225602000,
  '{"customer": {"number": "+15550102001", "name": "Bo"}}'))->>'action';
COMMIT;
SELECT * FROM pg_temp.heard();

-- One statement that ingests several events sends one notification per change.
SELECT p->'message'->'call'->>'id' AS call, vapi_ingest(p)->>'action' AS action
  FROM (VALUES (pg_temp.ev('n6', 'status-update', 'ringing', 1767225600000)),
               (pg_temp.ev('n6', 'status-update', 'ringing', 1767225600000)),
               (pg_temp.ev('n7', 'end-of-call-report', NULL, 1767225600000, '{"endedReason": "pipeline-error-openai-llm-failed"}'))) v(p);
SELECT * FROM pg_temp.heard();

-- The payload is JSON: a call id with quotes, backslashes and non-ASCII
-- characters comes back intact; the longest call id the reader keeps (255
-- bytes) gives a payload far below NOTIFY's 8000-byte limit.
SELECT vapi_ingest(pg_temp.ev(E'n8 "q" \\ é', 'status-update', 'ringing', 1767225600000))->>'action';
SELECT vapi_ingest(pg_temp.ev(repeat('n', 255), 'status-update', 'ringing', 1767225600000))->>'action';
SELECT r.payload::jsonb->>'vapi_call_id' = c.vapi_call_id AS id_intact,
       octet_length(c.vapi_call_id) AS id_bytes, octet_length(r.payload) AS payload_bytes
  FROM pg_temp.received() r
  JOIN vapi.calls c ON c.id = (r.payload::jsonb->>'call_id')::uuid
 ORDER BY r.n;

-- vapi.notify = off sends nothing.
SHOW vapi.notify;
SET vapi.notify = off;
SELECT vapi_ingest(pg_temp.ev('n9', 'status-update', 'ringing', 1767225600000))->>'action';
SELECT * FROM pg_temp.heard();
RESET vapi.notify;
SELECT vapi_ingest(pg_temp.ev('n9', 'status-update', 'in-progress', 1767225601000))->>'action';
SELECT * FROM pg_temp.heard();

-- Only a superuser can turn it off.
CREATE ROLE regress_vapi_notify_user;
SET ROLE regress_vapi_notify_user;
SET vapi.notify = off;
SHOW vapi.notify;
RESET ROLE;
DROP ROLE regress_vapi_notify_user;
SELECT context FROM pg_settings WHERE name = 'vapi.notify';

-- Every path that changes a call row notifies, as ingest does.  An expiry
-- (vapi.expire_stale_calls) is a delivery like any other: its change is
-- heard, and a dashboard stops showing the call as in progress.
TRUNCATE vapi.calls, vapi.events;
SELECT vapi_ingest(pg_temp.ev('n-stale', 'status-update', 'in-progress', 1719828000000))->>'action';
SELECT * FROM pg_temp.heard();
SELECT vapi.expire_stale_calls('1 day');
SELECT * FROM pg_temp.heard();
-- So does re-resolution (vapi.reresolve), once the assistant is mapped.
SELECT vapi_ingest(jsonb_set(pg_temp.ev('n-late', 'status-update', 'ringing', 1767225600000),
  '{message,call,assistantId}', '"asst-later"'))->>'action';
SELECT * FROM pg_temp.heard();
INSERT INTO vapi.agents VALUES ('asst-later', 'bbbbbbbb-0000-0000-0000-000000000002', 'Mapped later');
SELECT vapi.reresolve();
SELECT * FROM pg_temp.heard();
-- A replay that changes nothing is not heard.
SELECT action, count(*) FROM vapi.replay() GROUP BY 1;
SELECT * FROM pg_temp.heard();

SELECT dblink_disconnect('listener');
DROP EXTENSION dblink;
