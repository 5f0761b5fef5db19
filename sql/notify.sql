-- Change notifications: with vapi.notify on (it is off by default), NOTIFY
-- vapi_calls when an event inserts or visibly changes a call row, sent when
-- the transaction commits, never for a duplicate, a stale event or a
-- rolled-back one.  The payload is {"call_id": <vapi.calls.id>} and nothing
-- else, so that a listener learns nothing row level security hides from it.
--
-- The listener is a second connection (dblink), as a dashboard backend would
-- be.  Reading the notifications through it turns each payload into data, so
-- the random call_id is resolved to the row it names rather than printed
-- (psql would print it, and the sender's PID, for its own notifications).
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
CREATE FUNCTION pg_temp.reader_received() RETURNS TABLE (n bigint, payload text)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM FROM dblink('reader', 'SELECT 1') AS t(one int);
  RETURN QUERY SELECT ordinality, extra FROM dblink_get_notify('reader') WITH ORDINALITY;
END
$$;
-- The same, each payload's keys and the row its call_id names.
CREATE FUNCTION pg_temp.heard() RETURNS TABLE (channel text, payload_keys text[], vapi_call_id text, status text)
LANGUAGE sql AS $$
  SELECT r.channel, ARRAY(SELECT jsonb_object_keys(r.payload::jsonb)), c.vapi_call_id, c.status
    FROM pg_temp.received() r
    LEFT JOIN vapi.calls c ON c.id = (r.payload::jsonb->>'call_id')::uuid
   ORDER BY r.n;
$$;
CREATE FUNCTION pg_temp.ev(id text, type text, status text, ts bigint, extra jsonb DEFAULT '{}') RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_build_object(
    'type', type, 'status', status, 'timestamp', ts,
    'call', jsonb_build_object('id', id, 'type', 'inboundPhoneCall', 'assistantId', 'asst-n')) || extra)
$$;

-- Off by default: nothing is sent.
SELECT vapi_ingest(pg_temp.ev('n0', 'status-update', 'ringing', 1767225600000))->>'action';
SELECT * FROM pg_temp.heard();
SHOW vapi.notify;
SELECT boot_val, reset_val, context FROM pg_settings WHERE name = 'vapi.notify';
SET vapi.notify = on;

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

-- A call whose org is not resolved yet notifies too.
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
-- collapses them): two visible changes of one call arrive as one
-- notification.
BEGIN;
SELECT vapi_ingest(pg_temp.ev('n5', 'conversation-update', NULL, 1767225601000,
  '{"customer": {"number": "+15550102001"}}'))->>'action';
SELECT vapi_ingest(pg_temp.ev('n5', 'status-update', 'in-progress', 1767225602000,
  '{"customer": {"number": "+15550102001", "name": "Bo"}}'))->>'action';
COMMIT;
SELECT * FROM pg_temp.heard();

-- One statement that ingests several events sends one notification per change.
SELECT p->'message'->'call'->>'id' AS call, vapi_ingest(p)->>'action' AS action
  FROM (VALUES (pg_temp.ev('n6', 'status-update', 'ringing', 1767225600000)),
               (pg_temp.ev('n6', 'status-update', 'ringing', 1767225600000)),
               (pg_temp.ev('n7', 'end-of-call-report', NULL, 1767225600000, '{"endedReason": "pipeline-error-openai-llm-failed"}'))) v(p);
SELECT * FROM pg_temp.heard();

-- The payload is the row's id only, whatever the call id: one with quotes,
-- backslashes and non-ASCII characters, and the longest the reader keeps
-- (255 bytes), give the same 51-byte payload.
SELECT vapi_ingest(pg_temp.ev(E'n8 "q" \\ é', 'status-update', 'ringing', 1767225600000))->>'action';
SELECT vapi_ingest(pg_temp.ev(repeat('n', 255), 'status-update', 'ringing', 1767225600000))->>'action';
SELECT r.payload = jsonb_build_object('call_id', c.id)::text AS payload_is_id,
       octet_length(c.vapi_call_id) AS id_bytes, octet_length(r.payload) AS payload_bytes
  FROM pg_temp.received() r
  JOIN vapi.calls c ON c.id = (r.payload::jsonb->>'call_id')::uuid
 ORDER BY r.n;

-- vapi.notify = off sends nothing; RESET is off too.
SET vapi.notify = off;
SELECT vapi_ingest(pg_temp.ev('n9', 'status-update', 'ringing', 1767225600000))->>'action';
SELECT * FROM pg_temp.heard();
RESET vapi.notify;
SHOW vapi.notify;
SELECT vapi_ingest(pg_temp.ev('n9', 'status-update', 'in-progress', 1767225601000))->>'action';
SELECT * FROM pg_temp.heard();
SET vapi.notify = on;
SELECT vapi_ingest(pg_temp.ev('n9', 'end-of-call-report', NULL, 1767225660000,
  '{"endedReason": "customer-ended-call"}'))->>'action';
SELECT * FROM pg_temp.heard();

-- Only a superuser can turn it on (or off).
CREATE ROLE regress_vapi_notify_user;
SET ROLE regress_vapi_notify_user;
RESET vapi.notify;
SET vapi.notify = on;
SHOW vapi.notify;
RESET ROLE;
DROP ROLE regress_vapi_notify_user;

-- Tenants: a listener learns nothing row level security hides from it.  A
-- reader of org A listens; calls of org A and of org B change.  Each
-- payload is an id only; looked up with the reader's own rights, the id
-- of org A's call gives its row and the id of org B's call gives nothing.
INSERT INTO vapi.agents VALUES ('asst-nb', 'bbbbbbbb-0000-0000-0000-000000000002', 'Other org');
CREATE ROLE regress_notify_reader LOGIN;
GRANT USAGE ON SCHEMA vapi TO regress_notify_reader;
GRANT SELECT ON vapi.calls TO regress_notify_reader;
SELECT dblink_connect('reader', format('dbname=%s host=%s port=%s user=regress_notify_reader',
  current_database(), split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port')));
SELECT * FROM dblink('reader', $$SELECT current_user::text, set_config('request.jwt.claims',
  '{"org_id": "bbbbbbbb-0000-0000-0000-000000000001"}', false)$$) AS t(reader text, claims text);
SELECT dblink_exec('reader', 'LISTEN vapi_calls');
SELECT vapi_ingest(pg_temp.ev('n-org-a', 'status-update', 'ringing', 1767225600000))->>'action';
SELECT vapi_ingest(jsonb_set(pg_temp.ev('n-org-b', 'status-update', 'ringing', 1767225600000),
  '{message,call,assistantId}', '"asst-nb"'))->>'action';
SELECT n, array(SELECT jsonb_object_keys(payload::jsonb)) AS payload_keys,
       (SELECT vapi_call_id FROM dblink('reader', format('SELECT vapi_call_id FROM vapi.calls WHERE id = %L',
                                                          payload::jsonb->>'call_id')) AS t(vapi_call_id text)) AS reader_sees,
       (SELECT vapi_call_id FROM vapi.calls WHERE id = (payload::jsonb->>'call_id')::uuid) AS the_row
  FROM pg_temp.reader_received() ORDER BY n;
SELECT * FROM pg_temp.heard();
SELECT dblink_disconnect('reader');
REVOKE ALL ON vapi.calls FROM regress_notify_reader;
REVOKE ALL ON SCHEMA vapi FROM regress_notify_reader;
DROP ROLE regress_notify_reader;

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
