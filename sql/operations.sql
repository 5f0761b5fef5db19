-- Operations: expiring calls whose end never came, pruning the event log,
-- the pipeline health view.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
INSERT INTO vapi.agents VALUES ('asst-1', '11111111-1111-1111-1111-111111111111', 'Front desk');
SET timezone = 'UTC';

-- One delivery: a status-update (or another type) for a call, at a time
-- given in ISO form (NULL: no timestamp, so the time received, now).
CREATE FUNCTION pg_temp.ev(call text, type text, status text, ts text, extra jsonb DEFAULT '{}')
RETURNS text LANGUAGE sql AS $$
  SELECT vapi_ingest(jsonb_build_object('message', jsonb_strip_nulls(jsonb_build_object(
    'type', type, 'status', status,
    'timestamp', (extract(epoch FROM ts::timestamptz) * 1000)::bigint,
    'call', jsonb_build_object('id', call, 'type', 'inboundPhoneCall', 'assistantId', 'asst-1'))) || extra))->>'action'
$$;
CREATE VIEW pg_temp.c AS
SELECT vapi_call_id, status, ended_reason, ended_at, status_rank, events_applied, last_change_seq,
       field_versions[10] AS reason_version
  FROM vapi.calls ORDER BY vapi_call_id;

-- call-live is in progress and heard from just now; the others were last
-- heard from in 2024: call-a in progress, call-d ringing, call-done ended.
SELECT pg_temp.ev('call-a', 'status-update', 'in-progress', '2024-07-01 10:00:00+00');
SELECT pg_temp.ev('call-a', 'conversation-update', NULL, '2024-07-01 10:00:30+00');
SELECT pg_temp.ev('call-d', 'status-update', 'ringing', '2024-07-01 11:00:00+00');
SELECT pg_temp.ev('call-done', 'status-update', 'in-progress', '2024-07-01 12:00:00+00');
SELECT pg_temp.ev('call-done', 'status-update', 'ended', '2024-07-01 12:05:00+00',
                  '{"endedReason": "assistant-ended-call"}');
SELECT pg_temp.ev('call-live', 'status-update', 'in-progress', NULL);
SELECT vapi_call_id, status, ended_reason, ended_at, status_rank, events_applied, last_change_seq FROM pg_temp.c;

-- Health before expiring: two stale calls, none expired yet.
SELECT calls_total, calls_ringing, calls_in_progress, calls_completed, calls_failed,
       calls_without_org, calls_stale, calls_expired,
       oldest_open_call_event_at, last_call_event_at > now() - interval '1 minute' AS last_call_event_is_recent,
       events_24h, events_24h_inserted, events_24h_updated, events_24h_error,
       last_received_at > now() - interval '1 minute' AS last_received_is_recent
  FROM vapi.pipeline_health;

-- Expire what has had no event for an hour: call-a and call-d become failed
-- with the extension's own reason; the ended call and the live one are left.
SELECT vapi.expire_stale_calls('1 hour');
SELECT vapi_call_id, status, ended_reason, ended_at, status_rank, events_applied, last_change_seq FROM pg_temp.c;
-- The expiry's version sits just below every terminal version (6 << 58).
SELECT vapi_call_id, reason_version, reason_version = (6::bigint << 58) - 1 AS just_below_terminal
  FROM pg_temp.c WHERE ended_reason LIKE 'vapi_calls.%';
-- The event log says what happened, one synthetic event per call.
SELECT vapi_call_id, type, status, outcome, detail,
       payload->'message'->>'endedReason' AS ended_reason,
       payload->'message'->>'lastEventAt' AS last_event_at,
       event_at = (SELECT last_event_at FROM vapi.calls c WHERE c.vapi_call_id = e.vapi_call_id) AS at_last_event
  FROM vapi.events e WHERE type = 'vapi.expired' ORDER BY vapi_call_id;
-- Running it again expires nothing: the calls are terminal now.
SELECT vapi.expire_stale_calls('1 hour');
SELECT count(*) AS expiry_events FROM vapi.events WHERE type = 'vapi.expired';
-- Health after: two expired, failed, none stale.
SELECT calls_total, calls_ringing, calls_in_progress, calls_completed, calls_failed,
       calls_stale, calls_expired, oldest_open_call_event_at > now() - interval '1 minute' AS oldest_open_is_live,
       events_24h, events_24h_updated
  FROM vapi.pipeline_health;

-- A late non-terminal event still applies its fields but does not reopen
-- the call: the expiry outranks every non-terminal event.
SELECT pg_temp.ev('call-a', 'conversation-update', NULL, '2024-07-01 10:01:00+00',
                  '{"customer": {"number": "+15550100001"}}');
SELECT status, ended_reason, phone_number, last_event_at FROM vapi.calls WHERE vapi_call_id = 'call-a';

-- The real end arrives late (its own time is before the expiry): it wins,
-- with its own reason, classification and ended_at.
SELECT pg_temp.ev('call-a', 'status-update', 'ended', '2024-07-01 10:04:00+00',
                  '{"endedReason": "customer-ended-call"}');
-- call-d's end-of-call report: it never answered, so still failed, but now
-- for Vapi's reason, with Vapi's times.
SELECT pg_temp.ev('call-d', 'end-of-call-report', NULL, '2024-07-01 11:01:00+00',
                  '{"endedReason": "customer-did-not-answer", "startedAt": "2024-07-01T11:00:00Z",
                    "endedAt": "2024-07-01T11:00:40Z"}');
SELECT vapi_call_id, status, ended_reason, ended_at, status_rank, events_applied, last_change_seq FROM pg_temp.c;
-- The same deliveries without the expiry give the same rows: expiring left
-- no trace once the real end came.
SELECT pg_temp.ev('copy-a', 'status-update', 'in-progress', '2024-07-01 10:00:00+00');
SELECT pg_temp.ev('copy-a', 'conversation-update', NULL, '2024-07-01 10:00:30+00');
SELECT pg_temp.ev('copy-a', 'conversation-update', NULL, '2024-07-01 10:01:00+00',
                  '{"customer": {"number": "+15550100001"}}');
SELECT pg_temp.ev('copy-a', 'status-update', 'ended', '2024-07-01 10:04:00+00',
                  '{"endedReason": "customer-ended-call"}');
-- (The versions differ in their content hash, which covers the call id.)
SELECT a.vapi_call_id, (to_jsonb(a) - 'vapi_call_id' - 'id' - 'created_at' - 'updated_at'
                        - 'events_applied' - 'last_change_seq' - 'field_versions')
     = (to_jsonb(b) - 'vapi_call_id' - 'id' - 'created_at' - 'updated_at'
                    - 'events_applied' - 'last_change_seq' - 'field_versions') AS same_row,
       a.field_versions[10] >= 6::bigint << 58 AS reason_from_a_terminal_event
  FROM vapi.calls a, vapi.calls b
 WHERE a.vapi_call_id = 'call-a' AND b.vapi_call_id = 'copy-a';
-- A repeat of the real end is a no-op, as always.
SELECT pg_temp.ev('call-a', 'status-update', 'ended', '2024-07-01 10:04:00+00',
                  '{"endedReason": "customer-ended-call"}');

-- A terminal event with no reason of its own leaves the expiry's reason:
-- the call is known to have ended, and nothing says it ended well.
SELECT pg_temp.ev('call-e', 'status-update', 'in-progress', '2024-07-02 09:00:00+00');
SELECT vapi.expire_stale_calls('1 day');
SELECT pg_temp.ev('call-e', 'status-update', 'ended', '2024-07-02 09:03:00+00');
SELECT vapi_call_id, status, ended_reason, ended_at FROM pg_temp.c WHERE vapi_call_id = 'call-e';

-- With vapi.log_events other than 'all' the expiry is not logged.
SELECT pg_temp.ev('call-f', 'status-update', 'queued', '2024-07-03 09:00:00+00');
SET vapi.log_events = 'errors';
SELECT vapi.expire_stale_calls('1 day');
RESET vapi.log_events;
SELECT c.status, c.ended_reason, count(e.id) AS expiry_events
  FROM vapi.calls c LEFT JOIN vapi.events e ON e.vapi_call_id = c.vapi_call_id AND e.type = 'vapi.expired'
 WHERE c.vapi_call_id = 'call-f' GROUP BY 1, 2;

-- Bad arguments.
SELECT vapi.expire_stale_calls('-1 hour');
SELECT vapi.expire_stale_calls(NULL);
-- Only the owner runs maintenance.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute, p.proconfig
  FROM pg_proc p WHERE p.pronamespace = 'vapi'::regnamespace
   AND p.proname IN ('expire_stale_calls', 'prune_events') ORDER BY 1;
SELECT has_table_privilege('public', 'vapi.pipeline_health', 'SELECT') AS public_may_read_health;

-- Retention: age some deliveries, then prune in batches of 3.
UPDATE vapi.events SET received_at = now() - interval '100 days' WHERE id <= 7;
UPDATE vapi.events SET received_at = now() - interval '40 days' WHERE id BETWEEN 8 AND 9;
SELECT count(*) AS events, count(*) FILTER (WHERE received_at < now() - interval '30 days') AS older_than_30_days
  FROM vapi.events;
CALL vapi.prune_events('90 days', batch_size => 3);
CALL vapi.prune_events('30 days');
CALL vapi.prune_events('30 days');
SELECT min(id) AS oldest_kept, count(*) AS events,
       count(*) FILTER (WHERE received_at < now() - interval '30 days') AS older_than_30_days
  FROM vapi.events;
-- The batches are committed one by one, so it must be called on its own:
-- inside a transaction block it can do only a single batch.
UPDATE vapi.events SET received_at = now() - interval '100 days' WHERE id BETWEEN 10 AND 13;
BEGIN;
CALL vapi.prune_events('90 days', batch_size => 10);
ROLLBACK;
BEGIN;
CALL vapi.prune_events('90 days', batch_size => 2);
ROLLBACK;
CALL vapi.prune_events('-1 day');
CALL vapi.prune_events(NULL);
CALL vapi.prune_events('1 day', batch_size => 0);

-- A call whose deliveries all carry a status the extension does not know
-- has none yet; the health view counts it, so the status counts add up to
-- the total.
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ENDED", "timestamp": 1767225600000,
  "call": {"id": "call-unknown-status"}}}')->>'action' AS action;
SELECT status FROM vapi.calls WHERE vapi_call_id = 'call-unknown-status';
SELECT calls_unknown_status,
       calls_total = calls_scheduled + calls_queued + calls_ringing + calls_in_progress
                     + calls_forwarding + calls_completed + calls_failed + calls_unknown_status AS counts_add_up
  FROM vapi.pipeline_health;
