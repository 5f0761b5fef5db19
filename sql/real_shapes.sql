-- Message shapes from Vapi's server SDK (@vapi-ai/server-sdk) that the
-- reader used to read wrong: a transcript message's one utterance, metadata
-- of squads and inline assistants, our number on a transient outbound
-- number, a tool-calls message without its optional type.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';

-- 1. A transcript message carries one utterance (ServerMessageTranscript:
-- transcriptType partial or final), never the call's transcript: it does
-- not fill the column, whatever the order.  Its artifact.transcript, the
-- live whole-call transcript, does; so do the report's and a forwarding
-- status-update's.
CREATE FUNCTION pg_temp.tr(id text, ts bigint, utterance text, kind text, artifact text) RETURNS jsonb
	LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_strip_nulls(jsonb_build_object(
    'type', kind, 'role', 'user', 'transcriptType', 'partial', 'transcript', utterance,
    'timestamp', ts, 'artifact', CASE WHEN artifact IS NOT NULL THEN jsonb_build_object('transcript', artifact) END,
    'call', jsonb_build_object('id', id))))
$$;
SELECT label, vapi_ingest(payload) ->> 'action' AS action
  FROM (VALUES
	(1, 'partial utterance alone', pg_temp.tr('tr-1', 1767225601000, 'Su', 'transcript', NULL)),
	(2, 'final utterance alone', pg_temp.tr('tr-2', 1767225601000, 'Sure, let me check.', 'transcript[transcriptType="final"]', NULL)),
	(3, 'live artifact, then a later partial', pg_temp.tr('tr-3', 1767225601000, NULL, 'conversation-update', 'AI: Hello.' || chr(10) || 'User: Hi.')),
	(4, '', pg_temp.tr('tr-3', 1767225602000, 'Sure, let me', 'transcript', NULL)),
	(5, 'a transcript message with the live artifact', pg_temp.tr('tr-4', 1767225601000, 'Sure', 'transcript', 'AI: Hello.' || chr(10) || 'User: Sure')),
	(6, 'a 2024 report''s top-level transcript', jsonb_build_object('message', jsonb_build_object(
	    'type', 'end-of-call-report', 'endedReason', 'customer-ended-call', 'timestamp', '2024-07-13T21:28:01Z',
	    'transcript', 'AI: Hello.' || chr(10) || 'User: Bye.', 'call', jsonb_build_object('id', 'tr-5')))),
	(7, 'a forwarding status-update''s transcript', jsonb_build_object('message', jsonb_build_object(
	    'type', 'status-update', 'status', 'forwarding', 'timestamp', 1767225601000,
	    'transcript', 'AI: Transferring you.', 'call', jsonb_build_object('id', 'tr-6'))))
  ) AS c(n, label, payload)
 ORDER BY n;
SELECT vapi_call_id, status, transcript FROM vapi.calls WHERE vapi_call_id LIKE 'tr-%' ORDER BY 1;

-- 2. Metadata lives in five places.  Every object present is read, merged
-- key by key: call.assistantOverrides, call.squadOverrides, the message's
-- assistant, the call's inline assistant, the legacy call.metadata, the
-- first to have a key winning.  The org fallback and the test-call flag
-- read the merged object, so they agree with what is stored.
CREATE FUNCTION pg_temp.md(id text, overrides jsonb, squad jsonb, assistant jsonb, inline jsonb, legacy jsonb)
	RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_strip_nulls(jsonb_build_object(
    'type', 'status-update', 'status', 'in-progress', 'timestamp', 1767225600000,
    'assistant', CASE WHEN assistant IS NOT NULL THEN jsonb_build_object('metadata', assistant) END,
    'call', jsonb_build_object('id', id, 'type', 'inboundPhoneCall',
      'assistantOverrides', CASE WHEN overrides IS NOT NULL THEN jsonb_build_object('metadata', overrides) END,
      'squadOverrides', CASE WHEN squad IS NOT NULL THEN jsonb_build_object('metadata', squad) END,
      'assistant', CASE WHEN inline IS NOT NULL THEN jsonb_build_object('metadata', inline) END,
      'metadata', legacy))))
$$;
CREATE TEMP TABLE md_cases (n int, label text, payload jsonb);
INSERT INTO md_cases VALUES
  (1, 'squad call: squadOverrides only', pg_temp.md('md-1', NULL, '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a", "crm": "s"}', NULL, NULL, NULL)),
  (2, 'transient assistant: call.assistant only', pg_temp.md('md-2', NULL, NULL, NULL, '{"org_id": "bbbbbbbb-0000-0000-0000-00000000000b", "is_test_call": true}', NULL)),
  (3, 'all five, each key from the first that has it', pg_temp.md('md-3',
      '{"k1": "overrides"}',
      '{"k1": "squad", "k2": "squad"}',
      '{"k1": "assistant", "k2": "assistant", "k3": "assistant"}',
      '{"k1": "inline", "k2": "inline", "k3": "inline", "k4": "inline"}',
      '{"k1": "legacy", "k2": "legacy", "k3": "legacy", "k4": "legacy", "k5": "legacy", "org_id": "cccccccc-0000-0000-0000-00000000000c"}')),
  (4, 'a bad org_id earlier shadows a good one later', pg_temp.md('md-4',
      '{"org_id": "not-a-uuid"}', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', NULL, NULL, NULL)),
  (5, 'overrides beat the squad on the org', pg_temp.md('md-5',
      '{"org_id": "bbbbbbbb-0000-0000-0000-00000000000b"}', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', NULL, NULL, NULL)),
  (6, 'empty and wrong-typed objects count as absent', pg_temp.md('md-6', '{}', '[1]', '"x"', '{"from": "inline"}', NULL)),
  (7, 'is_test_call from the legacy object only', pg_temp.md('md-7', '{"a": 1}', NULL, NULL, NULL, '{"is_test_call": "true"}')),
  (8, 'nested values are kept whole', pg_temp.md('md-8', '{"crm": {"id": 1}}', '{"crm": {"id": 2, "x": 1}, "tags": ["a", {"b": [1]}]}', NULL, NULL, NULL)),
  (9, 'a value too deep to rebuild: the first object alone', pg_temp.md('md-9',
      jsonb_build_object('deep', (repeat('[', 300) || repeat(']', 300))::jsonb),
      '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', NULL, NULL, NULL)),
  (10, 'a 10,000-deep value in one of two: no error', pg_temp.md('md-10',
      '{"a": 1}', jsonb_build_object('deep', (repeat('{"a":', 10000) || '1' || repeat('}', 10000))::jsonb), NULL, NULL, NULL));
SELECT n, label, vapi_ingest(payload) ->> 'action' AS action FROM md_cases ORDER BY n;
SELECT c.vapi_call_id, c.org_id, c.is_test_call,
       CASE WHEN length(c.metadata::text) > 200 THEN left(c.metadata::text, 60) || '...' ELSE c.metadata::text END AS metadata
  FROM vapi.calls c WHERE c.vapi_call_id LIKE 'md-%'
 ORDER BY length(c.vapi_call_id), c.vapi_call_id;
-- the fallback setting still rules the merged org
SET vapi.metadata_org_fallback = off;
SELECT vapi_ingest(pg_temp.md('md-off', NULL, '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', NULL, NULL, NULL)) ->> 'action' AS action;
SELECT vapi_call_id, org_id, metadata FROM vapi.calls WHERE vapi_call_id = 'md-off';
RESET vapi.metadata_org_fallback;

-- 3. An outbound call from a transient number (no phoneNumberId) has our
-- number only in call.phoneNumber, in the field of its provider's DTO.
CREATE FUNCTION pg_temp.ob(id text, message_number jsonb, call_number jsonb) RETURNS jsonb
	LANGUAGE sql AS $$
  SELECT jsonb_build_object('message', jsonb_strip_nulls(jsonb_build_object(
    'type', 'status-update', 'status', 'ringing', 'timestamp', 1767225600000,
    'phoneNumber', message_number, 'customer', jsonb_build_object('number', '+15550102000'),
    'call', jsonb_build_object('id', id, 'type', 'outboundPhoneCall', 'phoneNumber', call_number))))
$$;
SELECT label, vapi_ingest(payload) ->> 'action' AS action
  FROM (VALUES
	(1, 'imported Twilio number', pg_temp.ob('ob-1', NULL, '{"twilioPhoneNumber": "+15550001001", "twilioAccountSid": "AC1"}')),
	(2, 'imported Vonage number', pg_temp.ob('ob-2', NULL, '{"vonagePhoneNumber": "+15550001002"}')),
	(3, 'Telnyx, BYO, created Twilio or Vonage: number', pg_temp.ob('ob-3', NULL, '{"provider": "telnyx", "number": "+15550001003"}')),
	(4, 'the message''s phone number first', pg_temp.ob('ob-4', '{"number": "+15550001004"}', '{"twilioPhoneNumber": "+15550009999"}')),
	(5, 'wrong types: none', pg_temp.ob('ob-5', '"+15550009999"', '{"twilioPhoneNumber": 15550009999, "number": ""}')),
	(6, 'an inbound call: the customer''s number, not ours', jsonb_set(pg_temp.ob('ob-6', NULL, '{"twilioPhoneNumber": "+15550001006"}'),
	    '{message,call,type}', '"inboundPhoneCall"'))
  ) AS c(n, label, payload)
 ORDER BY n;
SELECT vapi_call_id, direction, phone_number, from_number FROM vapi.calls WHERE vapi_call_id LIKE 'ob-%' ORDER BY 1;

-- 4. A message without a type is filed under its call id, not under ''.
-- One with a toolCallList is a tool-calls message (whose type the SDK
-- makes optional) and applies as one; any other is rejected.
SELECT label, vapi_ingest(payload) - 'call_id' - 'event_id' AS result
  FROM (VALUES
	(1, 'tool-calls without type', '{"message": {"call": {"id": "nt-1"}, "timestamp": 1767225600000, "toolCallList": [{"id": "tc", "type": "function", "function": {"name": "f", "arguments": {}}}]}}'::jsonb),
	(2, 'toolWithToolCallList only', '{"message": {"call": {"id": "nt-2"}, "toolWithToolCallList": []}}'),
	(3, 'no type, nothing to go on', '{"message": {"call": {"id": "nt-3"}, "status": "ended"}}'),
	(4, 'type null', '{"message": {"type": null, "call": {"id": "nt-4"}, "toolCallList": []}}'),
	(5, 'type a number', '{"message": {"type": 7, "call": {"id": "nt-5"}}}'),
	(6, 'toolCallList not an array', '{"message": {"call": {"id": "nt-6"}, "toolCallList": {"id": "tc"}}}'),
	(7, 'no type, no call id', '{"message": {"toolCallList": []}}')
  ) AS c(n, label, payload)
 ORDER BY n;
SELECT id, vapi_call_id, type, outcome, detail FROM vapi.events
 WHERE vapi_call_id LIKE 'nt-%' OR (vapi_call_id = '' AND payload @> '{"message": {"toolCallList": []}}')
 ORDER BY id;
SELECT vapi_call_id, status FROM vapi.calls WHERE vapi_call_id LIKE 'nt-%' ORDER BY 1;
