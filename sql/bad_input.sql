-- Bad input of any shape gives a result, never an exception; a bad field is
-- skipped and the rest of the event still applies.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';
CREATE TEMP TABLE cases (n serial, label text, payload jsonb);
INSERT INTO cases (label, payload) VALUES
  ('SQL NULL', NULL),
  ('JSON null', 'null'),
  ('a string', '"hello"'),
  ('a number', '42'),
  ('true', 'true'),
  ('an array', '[{"message": {"type": "status-update"}}]'),
  ('an empty object', '{}'),
  ('message is null', '{"message": null}'),
  ('message is a string', '{"message": "status-update"}'),
  ('message is a number', '{"message": 1}'),
  ('message is an array', '{"message": [1, 2]}'),
  ('message is true', '{"message": true}'),
  ('message is empty', '{"message": {}}'),
  ('type is a number', '{"message": {"type": 7, "call": {"id": "x"}}}'),
  ('type is an object', '{"message": {"type": {"a": 1}, "call": {"id": "x"}}}'),
  ('type is empty', '{"message": {"type": "", "call": {"id": "x"}}}'),
  ('no call', '{"message": {"type": "status-update", "status": "ringing"}}'),
  ('call is a string', '{"message": {"type": "status-update", "status": "ringing", "call": "c"}}'),
  ('call is an array', '{"message": {"type": "status-update", "status": "ringing", "call": ["c"]}}'),
  ('call.id is a number', '{"message": {"type": "status-update", "status": "ringing", "call": {"id": 12}}}'),
  ('call.id is an object', '{"message": {"type": "status-update", "status": "ringing", "call": {"id": {"id": "c"}}}}'),
  ('call.id is empty', '{"message": {"type": "status-update", "status": "ringing", "call": {"id": ""}}}'),
  ('call.id is null', '{"message": {"type": "status-update", "status": "ringing", "call": {"id": null}}}'),
  ('call.id is 300 bytes', jsonb_build_object('message', jsonb_build_object('type', 'hang', 'call', jsonb_build_object('id', repeat('x', 300))))),
  ('status is a number', '{"message": {"type": "status-update", "status": 3, "timestamp": 1, "call": {"id": "bad-status"}}}'),
  ('unparseable timestamp', '{"message": {"type": "status-update", "status": "ringing", "timestamp": "yesterday", "call": {"id": "bad-ts-1"}}}'),
  ('timestamp is an object', '{"message": {"type": "status-update", "status": "ringing", "timestamp": {"ms": 1}, "call": {"id": "bad-ts-2"}}}'),
  ('absurd timestamp (1e300 ms)', '{"message": {"type": "status-update", "status": "ringing", "timestamp": 1e300, "call": {"id": "bad-ts-3"}}}'),
  ('negative timestamp', '{"message": {"type": "status-update", "status": "ringing", "timestamp": -99999999999999999, "call": {"id": "bad-ts-4"}}}'),
  ('year 99999 timestamp', '{"message": {"type": "status-update", "status": "ringing", "timestamp": "99999-01-01T00:00:00Z", "call": {"id": "bad-ts-5"}}}'),
  ('February 30th', '{"message": {"type": "end-of-call-report", "startedAt": "2024-02-30T00:00:00Z", "endedAt": "2024-13-01T00:00:00Z", "call": {"id": "bad-ts-6"}}}'),
  ('timezone names are not ISO', '{"message": {"type": "status-update", "status": "ringing", "timestamp": "2024-07-13 21:28:01 America/Nowhere", "call": {"id": "bad-ts-7"}}}'),
  ('wrong types everywhere, endedReason good', '{"message": {"type": "end-of-call-report", "timestamp": 1767225600000,
     "endedReason": "customer-ended-call", "cost": "0.5", "durationSeconds": "60", "transcript": {"t": 1},
     "summary": 12, "recordingUrl": ["u"], "analysis": "good", "startedAt": 5, "endedAt": true,
     "artifact": "none", "customer": "me", "assistant": [1], "phoneNumber": 5,
     "call": {"id": "wrong-types", "type": 3, "orgId": {"x": 1}, "assistantId": 9, "phoneNumberId": [],
              "customer": {"number": 15550102000, "name": false}, "metadata": "meta",
              "assistantOverrides": {"metadata": [1]}}}}'),
  ('huge numbers', '{"message": {"type": "end-of-call-report", "timestamp": 1767225600000, "cost": 1e400,
     "durationSeconds": -1e-400, "call": {"id": "huge-numbers"}}}'),
  ('a 1 MB transcript', jsonb_build_object('message', jsonb_build_object('type', 'end-of-call-report',
     'timestamp', 1767225600000, 'endedReason', 'silence-timed-out',
     'artifact', jsonb_build_object('transcript', repeat('AI: hello. ', 100000)),
     'call', jsonb_build_object('id', 'big-transcript')))),
  ('10,000-deep nesting', jsonb_build_object('message', jsonb_build_object('type', 'conversation-update',
     'timestamp', 1767225600000, 'deep', (repeat('{"a":', 10000) || '1' || repeat('}', 10000))::jsonb,
     'call', jsonb_build_object('id', 'deep-nesting')))),
  ('deep nesting where a field is expected', jsonb_build_object('message', jsonb_build_object('type', 'end-of-call-report',
     'timestamp', 1767225600000, 'analysis', (repeat('{"a":', 10000) || '1' || repeat('}', 10000))::jsonb,
     'artifact', (repeat('[', 5000) || repeat(']', 5000))::jsonb,
     'call', jsonb_build_object('id', 'deep-field')))),
  ('unicode in every string field', '{"message": {"type": "end-of-call-report", "timestamp": "2026-01-01T00:00:00+02:00",
     "endedReason": "customer-ended-call", "summary": "Résumé 📞 — 通话摘要", "transcript": "AI: Grüß Gott 👋\nUser: שלום",
     "artifact": {"recording": {"mono": {"combinedUrl": "https://rec.example/é.wav"}}},
     "analysis": {"structuredData": {"sentiment": "😊"}},
     "customer": {"number": "+١٢ 555 0102", "name": "Zoë Ångström-Łukasiewicz 山田"},
     "call": {"id": "unicode-☎", "orgId": "org-✓", "type": "inboundPhoneCall", "assistantId": "asst-ü",
              "metadata": {"note": "ünïcödé"}}}}'),
  ('duplicate keys (last wins in jsonb)', '{"message": {"type": "hang", "type": "status-update", "status": "ringing", "call": {"id": "dup-keys"}}}'),
  ('bare message with extra envelope keys', '{"type": "status-update", "status": "queued", "call": {"id": "bare"}, "message2": 1}');

SELECT n, label, vapi_ingest(payload) - 'call_id' - 'event_id' AS result FROM cases ORDER BY n;

-- The rows the good parts of bad events made.
SELECT vapi_call_id, status, ended_reason, call_type, direction, vapi_org_id, assistant_id,
       phone_number, caller_name, started_at, ended_at, left(cost::text, 12) AS cost,
       left(duration_seconds::text, 12) AS duration_seconds,
       length(transcript) AS transcript_length, summary, sentiment, recording_url,
       analysis IS NOT NULL AS has_analysis, metadata,
       CASE WHEN first_event_at > now() - interval '1 hour' THEN 'time received'
            ELSE first_event_at::text END AS first_event_at
  FROM vapi.calls ORDER BY vapi_call_id;

-- Every delivery was kept, the SQL NULL one too.
SELECT outcome, count(*) FROM vapi.events GROUP BY 1 ORDER BY 1;
SELECT count(*) = (SELECT count(*) FROM cases) AS every_delivery_kept FROM vapi.events;
