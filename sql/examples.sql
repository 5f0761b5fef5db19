-- The six real Vapi bodies in test/data/vapi-examples (their provenance is
-- in that folder's README.md), read from the directory VAPI_EXAMPLES_DIR
-- names: scripts/test.sh and the Makefile's installcheck set it.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';
-- The directory they resolve against: example 01's assistant, the inbound
-- number of 02, 05 and 06, and the caller of those three as a contact.
-- Example 04's number is left unknown.
INSERT INTO vapi.agents VALUES ('55a4eaba-766d-41fa-85b3-971168655969', 'e0000000-0000-0000-0000-000000000001', 'Web agent');
INSERT INTO vapi.phone_numbers VALUES ('4a5a04dc-dcbe-45b1-8f64-fd32a253d136', 'e0000000-0000-0000-0000-000000000002', '+14564444444');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES ('e0000000-0000-0000-0000-000000000002', '(456) 683-6490', 'No country code');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES ('e0000000-0000-0000-0000-000000000002', '+1 456 683 6490', 'Known Caller');

\getenv examples VAPI_EXAMPLES_DIR
CREATE TEMP TABLE bodies AS
SELECT f AS file, pg_read_file(:'examples' || '/' || f)::jsonb AS body
  FROM unnest(ARRAY['01-end-of-call-report-2026-02-webcall.json',
                    '02-end-of-call-report-2024-07-inbound-phone.json',
                    '03-status-update-in-progress-2024-09-webcall.json',
                    '04-status-update-ended-2024-07-assistant-request-error.json',
                    '05-assistant-request-2024-07-inbound-phone.json',
                    '06-tool-calls-2024-07-inbound-phone.json']) AS f;
SELECT count(*) AS bodies FROM bodies;

SELECT left(file, 2) AS ex, vapi_ingest(body) - 'call_id' - 'event_id' AS result
  FROM (SELECT * FROM bodies ORDER BY file) b;

\x on
SELECT vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id, call_type, direction,
       status, ended_reason, phone_number, from_number, caller_name, is_test_call,
       started_at, ended_at, duration_seconds, cost, length(transcript) AS transcript_length,
       left(transcript, 50) AS transcript_start, summary, sentiment, recording_url,
       stereo_recording_url, analysis, metadata, first_event_at, last_event_at, events_applied
  FROM vapi.calls ORDER BY first_event_at;
\x off

-- Applied again, every body is a no-op.
SELECT left(file, 2) AS ex, vapi_ingest(body)->>'action' AS again
  FROM (SELECT * FROM bodies ORDER BY file) b;
SELECT left(type, 20) AS type, status, event_at, outcome FROM vapi.events ORDER BY id;
