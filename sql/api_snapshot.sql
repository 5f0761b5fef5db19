-- API snapshots: a Call object from Vapi's REST API, wrapped by
-- vapi.reconcile_calls / vapi.sync_calls (src/api.c) as
-- {"message": {"type": "api.call", "timestamp": <updatedAt>, "call": <Call>}},
-- is read and merged as any event: its status, times and outcome come from
-- the Call, its version from its status and updatedAt.  (The HTTP side is
-- test/api_sync.sh's.)
TRUNCATE vapi.calls, vapi.events;
SET vapi.log_events = 'all';
\set ended_call '{"id": "snap-1", "orgId": "org-9", "type": "outboundPhoneCall", "status": "ended", "endedReason": "customer-ended-call", "createdAt": "2026-01-11T08:59:58.000Z", "updatedAt": "2026-01-11T09:05:00.000Z", "startedAt": "2026-01-11T09:00:02.000Z", "endedAt": "2026-01-11T09:04:30.250Z", "cost": 0.42, "assistantId": "asst-9", "phoneNumberId": "pn-9", "phoneNumber": {"number": "+15559990000"}, "customer": {"number": "+15550104444", "name": "Grace"}, "assistantOverrides": {"metadata": {"crm": "c-9"}}, "artifact": {"transcript": "AI: Hi", "recording": {"stereoUrl": "https://r.example/s.wav", "mono": {"combinedUrl": "https://r.example/m.wav"}}}, "analysis": {"summary": "Booked", "structuredData": {"sentiment": "positive"}}, "messages": [{"role": "bot"}]}'
CREATE TEMP VIEW snap AS
SELECT vapi_call_id, status, ended_reason, vapi_org_id, assistant_id, phone_number_id, call_type,
       direction, phone_number, from_number, caller_name, is_test_call, started_at, ended_at,
       duration_seconds, cost, transcript, summary, sentiment, recording_url, stereo_recording_url,
       analysis, metadata, first_event_at, last_event_at
  FROM vapi.calls;

-- An open call, then Vapi's snapshot saying it ended: the call completes
-- with every field of the Call.
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress",
  "timestamp": "2026-01-11T09:00:01Z", "call": {"id": "snap-1"}}}') ->> 'action' AS action;
SELECT r ->> 'action' AS action, r ->> 'status' AS status
  FROM vapi_ingest(jsonb_build_object('message', jsonb_build_object('type', 'api.call',
       'timestamp', '2026-01-11T09:05:00.000Z', 'call', :'ended_call'::jsonb))) r;
\x on
SELECT * FROM snap WHERE vapi_call_id = 'snap-1';
\x off
SELECT type, status, event_at, outcome FROM vapi.events WHERE vapi_call_id = 'snap-1' ORDER BY id;

-- The same snapshot again changes nothing; an in-progress snapshot, even a
-- later one, does not reopen the call; a late webhook of the call's life
-- does not either.
SELECT vapi_ingest(jsonb_build_object('message', jsonb_build_object('type', 'api.call',
       'timestamp', '2026-01-11T09:05:00.000Z', 'call', :'ended_call'::jsonb))) ->> 'action' AS again;
SELECT r ->> 'action' AS action, r ->> 'status' AS status
  FROM vapi_ingest('{"message": {"type": "api.call", "timestamp": "2026-01-11T09:06:00.000Z",
       "call": {"id": "snap-1", "status": "in-progress", "endedReason": "assistant-error"}}}') r;
SELECT r ->> 'action' AS action, r ->> 'status' AS status
  FROM vapi_ingest('{"message": {"type": "status-update", "status": "ringing",
       "timestamp": "2026-01-11T09:00:00Z", "call": {"id": "snap-1"}}}') r;
SELECT status, ended_reason, cost, summary FROM vapi.calls WHERE vapi_call_id = 'snap-1';

-- Order does not matter: a report and a snapshot of the same call, in
-- both orders, give the same row.  The snapshot is newer (updatedAt after
-- the report's timestamp), so its values win where both have one; the
-- report fills in what the snapshot lacks (its summary).
SELECT vapi_ingest('{"message": {"type": "end-of-call-report", "timestamp": "2026-01-11T09:04:40Z",
  "endedReason": "customer-ended-call", "cost": 0.40, "summary": "From the report",
  "call": {"id": "snap-2", "type": "inboundPhoneCall"}, "customer": {"number": "+15550105555"}}}') ->> 'action' AS a1;
SELECT vapi_ingest('{"message": {"type": "api.call", "timestamp": "2026-01-11T09:05:00.000Z",
  "call": {"id": "snap-2", "type": "inboundPhoneCall", "status": "ended", "endedReason": "customer-ended-call",
           "cost": 0.41, "customer": {"number": "+15550105555"}, "updatedAt": "2026-01-11T09:05:00.000Z"}}}') ->> 'action' AS a2;
SELECT vapi_ingest('{"message": {"type": "api.call", "timestamp": "2026-01-11T09:05:00.000Z",
  "call": {"id": "snap-3", "type": "inboundPhoneCall", "status": "ended", "endedReason": "customer-ended-call",
           "cost": 0.41, "customer": {"number": "+15550105555"}, "updatedAt": "2026-01-11T09:05:00.000Z"}}}') ->> 'action' AS b1;
SELECT vapi_ingest('{"message": {"type": "end-of-call-report", "timestamp": "2026-01-11T09:04:40Z",
  "endedReason": "customer-ended-call", "cost": 0.40, "summary": "From the report",
  "call": {"id": "snap-3", "type": "inboundPhoneCall"}, "customer": {"number": "+15550105555"}}}') ->> 'action' AS b2;
SELECT vapi_call_id, status, cost, summary, phone_number, first_event_at, last_event_at
  FROM vapi.calls WHERE vapi_call_id IN ('snap-2', 'snap-3') ORDER BY 1;

-- A snapshot without updatedAt counts from when it was received, as any
-- message without a timestamp; a status Vapi could not find is ignored; an
-- unknown status leaves the status as it was and applies the rest; a call
-- without an id is rejected.
SELECT vapi_ingest('{"message": {"type": "api.call", "call": {"id": "snap-4", "status": "queued"}}}') ->> 'status' AS queued;
SELECT last_event_at > now() - interval '1 minute' AS counted_from_now FROM vapi.calls WHERE vapi_call_id = 'snap-4';
SELECT r ->> 'action' AS action, r ->> 'status' AS status
  FROM vapi_ingest('{"message": {"type": "api.call", "call": {"id": "snap-4", "status": "not-found"}}}') r;
SELECT r ->> 'action' AS action, r ->> 'status' AS status
  FROM vapi_ingest('{"message": {"type": "api.call", "call": {"id": "snap-4", "status": "paused", "cost": 1}}}') r;
SELECT outcome, status, detail FROM vapi.events WHERE vapi_call_id = 'snap-4' ORDER BY id;
SELECT status, cost FROM vapi.calls WHERE vapi_call_id = 'snap-4';
SELECT vapi_ingest('{"message": {"type": "api.call", "call": {"status": "ended"}}}') - 'event_id' AS no_id;

-- Replaying the snapshots is a no-op.
SELECT action, count(*) FROM vapi.replay(vapi_call_ids => '{snap-1,snap-2,snap-3}') GROUP BY 1;
