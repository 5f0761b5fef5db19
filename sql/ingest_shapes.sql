-- vapi_ingest on every event type, in the 2024 and the 2026 shapes.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
INSERT INTO vapi.agents VALUES ('asst-1', '11111111-1111-1111-1111-111111111111', 'Front desk');
INSERT INTO vapi.phone_numbers VALUES ('pn-1', '11111111-1111-1111-1111-111111111111', '+15550009999');
INSERT INTO vapi.contacts (org_id, phone, name)
VALUES ('11111111-1111-1111-1111-111111111111', '+1 (555) 010-2000', 'Ada Lovelace');

-- The result, with call_id checked against the row rather than printed.
CREATE FUNCTION pg_temp.ingest(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r jsonb;
BEGIN
  r := vapi_ingest(p);
  RETURN r - 'call_id' || jsonb_build_object('call_id_is_row',
    CASE WHEN r->'call_id' = 'null' THEN NULL
         ELSE (r->>'call_id')::uuid = (SELECT id FROM vapi.calls WHERE vapi_call_id = r->>'vapi_call_id') END);
END $$;
CREATE VIEW pg_temp.c AS
SELECT vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id, call_type, direction,
       status, ended_reason, phone_number, from_number, caller_name, is_test_call,
       started_at, ended_at, duration_seconds, cost, replace(left(transcript, 60), E'\n', ' / ') AS transcript,
       summary, sentiment, recording_url, stereo_recording_url, analysis, metadata,
       first_event_at, last_event_at
  FROM vapi.calls;
SET timezone = 'UTC';
\x on

-- Call A, 2026 shape (epoch-millisecond timestamps), inbound phone call.
-- assistant-request: ringing; no assistant yet, the phone number resolves the org.
SELECT pg_temp.ingest('{"message": {"type": "assistant-request", "timestamp": 1767225600000,
  "call": {"id": "call-a", "orgId": "vapi-org", "type": "inboundPhoneCall", "phoneNumberId": "pn-1",
           "customer": {"number": "+15550102000"}},
  "phoneNumber": {"number": "+15550009999"}, "customer": {"number": "+15550102000"}}}');
SELECT * FROM pg_temp.c;
-- status-update ringing: adds the assistant, which now resolves the org.
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225600500,
  "call": {"id": "call-a", "orgId": "vapi-org", "type": "inboundPhoneCall", "phoneNumberId": "pn-1",
           "assistantId": "asst-1", "customer": {"number": "+15550102000"}},
  "customer": {"number": "+15550102000"}}}');
-- status-update in-progress: the call has started, at the message's time.
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225601000,
  "call": {"id": "call-a", "orgId": "vapi-org", "type": "inboundPhoneCall", "phoneNumberId": "pn-1",
           "assistantId": "asst-1", "status": "ringing"},
  "assistant": {"id": "asst-1", "metadata": {"is_test_call": false, "campaign": "spring"}}}}');
SELECT status, started_at, assistant_id, metadata FROM vapi.calls;
-- The in-call messages imply in-progress and change nothing else.
SELECT pg_temp.ingest(jsonb_build_object('message', jsonb_build_object('type', t, 'timestamp', 1767225602000,
  'call', '{"id": "call-a", "type": "inboundPhoneCall", "assistantId": "asst-1"}'::jsonb)))->>'action' AS action, t AS type
  FROM unnest(ARRAY['conversation-update', 'speech-update', 'transcript', 'transcript[transcriptType="final"]',
                    'tool-calls', 'function-call', 'hang', 'user-interrupted', 'assistant.started',
                    'model-output', 'voice-input', 'transfer-update', 'transfer-destination-request',
                    'handoff-destination-request', 'phone-call-control', 'language-change-detected',
                    'assistant.speechStarted', 'knowledge-base-request', 'voice-request',
                    'call.endpointing.request']) AS t;
-- forwarding carries a partial transcript and summary at the message level.
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "forwarding", "timestamp": 1767225630000,
  "transcript": "AI: Hello\nUser: Put me through", "summary": "Caller asked to be forwarded",
  "call": {"id": "call-a", "type": "inboundPhoneCall", "assistantId": "asst-1"}}}');
SELECT status, transcript, summary FROM pg_temp.c;
-- status-update ended: terminal, classified by its ended reason.
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "ended", "endedReason": "customer-ended-call",
  "timestamp": 1767225660000, "call": {"id": "call-a", "type": "inboundPhoneCall", "assistantId": "asst-1"}}}');
-- end-of-call-report, 2026 shape: artifact.*, analysis.*, startedAt/endedAt, cost.
SELECT pg_temp.ingest('{"message": {"type": "end-of-call-report", "timestamp": 1767225665000,
  "endedReason": "customer-ended-call",
  "startedAt": "2026-01-01T00:00:01.000Z", "endedAt": "2026-01-01T00:01:00.250Z",
  "cost": 0.1234, "costBreakdown": {"llm": 0.1},
  "artifact": {"transcript": "AI: Hello\nUser: Put me through\nAI: Done",
               "recording": {"mono": {"combinedUrl": "https://rec.example/a-mono.wav"},
                             "stereoUrl": "https://rec.example/a-stereo.wav"}},
  "analysis": {"summary": "Forwarded to the front desk", "structuredData": {"sentiment": "positive"},
               "successEvaluation": "true"},
  "call": {"id": "call-a", "orgId": "vapi-org", "type": "inboundPhoneCall", "phoneNumberId": "pn-1",
           "assistantId": "asst-1", "status": "queued"},
  "customer": {"number": "+15550102000"}}}');
SELECT * FROM pg_temp.c;

-- Call B, 2024 shape (ISO timestamps, top-level transcript/summary/recordingUrl,
-- legacy call.metadata), outbound; the customer is not in the contacts.
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "queued", "timestamp": "2024-07-27T21:20:00.000Z",
  "call": {"id": "call-b", "type": "outboundPhoneCall", "assistantId": "asst-unknown",
           "metadata": {"org_id": "22222222-2222-2222-2222-222222222222"},
           "customer": {"number": "+44 20 7946 0958", "name": "Grace Hopper"}},
  "phoneNumber": {"number": "+15550009999"}}}');
SELECT pg_temp.ingest('{"message": {"type": "end-of-call-report", "timestamp": "2024-07-27T21:24:05.712Z",
  "endedReason": "customer-did-not-answer", "transcript": "", "summary": "No answer",
  "recordingUrl": "https://rec.example/b.wav", "stereoRecordingUrl": "https://rec.example/b-st.wav",
  "analysis": {"summary": "No answer (analysis)", "successEvaluation": "false"},
  "call": {"id": "call-b", "type": "outboundPhoneCall", "assistantId": "asst-unknown",
           "metadata": {"org_id": "22222222-2222-2222-2222-222222222222"},
           "customer": {"number": "+44 20 7946 0958", "name": "Grace Hopper"}},
  "phoneNumber": {"number": "+15550009999"}}}');
SELECT * FROM pg_temp.c WHERE vapi_call_id = 'call-b';

-- Call C: a web call, started with the call.started synonym; a test call.
SELECT pg_temp.ingest('{"type": "call.started", "timestamp": 1767225700000,
  "call": {"id": "call-c", "type": "webCall", "assistantId": "asst-1"}}');
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225700100,
  "call": {"id": "call-d", "type": "vapi.websocketCall",
           "assistantOverrides": {"metadata": {"is_test_call": "true"}}}}}');
SELECT vapi_call_id, direction, is_test_call, status, started_at, caller_name, org_id FROM vapi.calls
 WHERE vapi_call_id IN ('call-c', 'call-d') ORDER BY 1;

-- Call E: scheduled, then queued.
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "scheduled", "timestamp": 1767225800000,
  "call": {"id": "call-e", "type": "outboundPhoneCall"}}}');
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "queued", "timestamp": 1767225800001,
  "call": {"id": "call-e", "type": "outboundPhoneCall"}}}');
SELECT status FROM vapi.calls WHERE vapi_call_id = 'call-e';

-- What is not applied.
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "not-found", "call": {"id": "call-a"}}}');
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "deletion-failed", "call": {"id": "call-a"}}}');
SELECT pg_temp.ingest('{"message": {"type": "call.deleted", "call": {"id": "call-a"}}}');
SELECT pg_temp.ingest('{"message": {"type": "some-future-type", "call": {"id": "call-a"}}}');
SELECT pg_temp.ingest('{"message": {"type": "chat.created", "chat": {"id": "chat-1"}}}');
SELECT pg_temp.ingest('{"message": {"type": "session.created"}}');
SELECT pg_temp.ingest('{"message": {"type": "end-of-call-report"}}');
-- A status-update with a status we do not know applies its other fields.
SELECT pg_temp.ingest('{"message": {"type": "status-update", "status": "paused", "timestamp": 1767225900000,
  "call": {"id": "call-f", "type": "webCall"}}}');
SELECT vapi_call_id, status, direction FROM vapi.calls WHERE vapi_call_id = 'call-f';
\x off

-- Every delivery is in the event log with its outcome.
SELECT id, vapi_call_id, type, status, event_at, outcome, detail, payload IS NOT NULL AS has_payload
  FROM vapi.events ORDER BY id;
