-- bench/data.sql: the benchmark's data set, generated in the database.
--
-- psql variables: orgs, assistants, contacts, events, small_events (sizes;
-- see run.sh).
--
--   :orgs orgs, each with :assistants/:orgs assistants in vapi.agents, two
--   phone numbers in vapi.phone_numbers and :contacts/:orgs contacts in
--   vapi.contacts (stored formatted, "+1 (415) 555-0123", so matching goes
--   through vapi.normalize_phone).
--
--   Calls spread over a day, overlapping.  In the large mix each call
--   delivers status-update ringing, status-update in-progress, 3 to 6
--   conversation-updates, status-update ended and an end-of-call-report
--   with a 5 to 20 KB transcript; in the small mix, status-heavy, the same
--   with one conversation-update and a 2 to 3 KB transcript (a report of
--   about 5 KB).  Deliveries are ordered by their time plus up to 2 s of
--   network jitter, so neighbours are sometimes swapped (an
--   end-of-call-report before the ended status, say).  bench.events keeps
--   the first :events of them, in delivery order (mix 'large'), and the
--   first :small_events of the small mix's calls (mix 'small', below).
--
--   70% inbound phone calls, 25% outbound, 5% web calls; 80% in the 2026
--   shape (epoch-ms timestamps, artifact.*, analysis.summary, assistant
--   metadata), 20% in the 2024 shape (ISO timestamps, top-level transcript,
--   summary and recordingUrl, call.metadata).  90% of calls name an
--   assistant in vapi.agents, 5% only a phone number in vapi.phone_numbers,
--   5% only an org_id in their metadata.  20% of callers are in the org's
--   contacts.
--
-- Payload columns are STORAGE EXTERNAL (out of line, uncompressed), so every
-- contender reads them without decompressing and pays the compression of
-- what it stores itself, as it would with a body that came off the wire.
\set ON_ERROR_STOP 1
SELECT setseed(0.42);

SET client_min_messages = warning;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;
TRUNCATE vapi.agents, vapi.phone_numbers, vapi.contacts, vapi.calls, vapi.events RESTART IDENTITY;

CREATE TABLE bench.orgs AS
SELECT o AS org_no, md5('org' || o)::uuid AS org_id
FROM generate_series(1, :orgs) o;

-- Vapi ids are uuids; ours end in a number so that the pgbench scripts of
-- run.sh, which can only count, can make them too.
CREATE FUNCTION bench.asst_id(n bigint) RETURNS text IMMUTABLE LANGUAGE sql
  AS $$ SELECT 'a5515a00-0000-4000-8000-' || (100000000000 + n) $$;
CREATE FUNCTION bench.pn_id(n bigint) RETURNS text IMMUTABLE LANGUAGE sql
  AS $$ SELECT 'b0e00000-0000-4000-8000-' || (100000000000 + n) $$;

-- Assistant a and phone number p belong to org 1 + (a - 1) % orgs.
INSERT INTO vapi.agents (vapi_assistant_id, org_id, name)
SELECT bench.asst_id(a), md5('org' || (1 + (a - 1) % :orgs))::uuid, 'Assistant ' || a
FROM generate_series(1, :assistants) a;

INSERT INTO vapi.phone_numbers (vapi_phone_number_id, org_id, number)
SELECT bench.pn_id(p), md5('org' || (1 + (p - 1) % :orgs))::uuid,
       '+1415' || (2000000 + p)
FROM generate_series(1, 2 * :orgs) p;

-- Contact k belongs to org 1 + (k - 1) % orgs; its number is
-- +1 650 <1000000 + k>, stored formatted.
INSERT INTO vapi.contacts (id, org_id, phone, name, created_at)
SELECT md5('contact' || k)::uuid, md5('org' || (1 + (k - 1) % :orgs))::uuid,
       '+1 (650) ' || substr((1000000 + k)::text, 1, 3) || '-' || substr((1000000 + k)::text, 4),
       (ARRAY['Dana', 'Sam', 'Alex', 'Robin', 'Kim', 'Lee', 'Jordan', 'Avery'])[1 + k % 8] || ' ' ||
       (ARRAY['Whitfield', 'Okafor', 'Nguyen', 'Silva', 'Kowalski', 'Haddad', 'Moreau'])[1 + k % 7],
       timestamptz '2025-06-01' + k * interval '1 minute'
FROM generate_series(1, :contacts) k;

-- Lines a transcript is made of.
CREATE TABLE bench.lines (n int PRIMARY KEY, line text);
INSERT INTO bench.lines
SELECT row_number() OVER (), l FROM unnest(ARRAY[
 'AI: Thanks for calling, this is the front desk. How can I help you today?',
 'User: Hi, I''d like to move my appointment to later this week if that''s possible.',
 'AI: Of course. Could you give me the name the appointment is under?',
 'User: Sure, it should be under my last name, I booked it about two weeks ago.',
 'AI: I found it. You''re booked for Tuesday at ten in the morning. What day works better?',
 'User: Friday would be ideal, ideally before noon because I work in the afternoon.',
 'AI: I have Friday at nine thirty or at eleven fifteen. Which would you prefer?',
 'User: Eleven fifteen is perfect, thank you.',
 'AI: Done. I''ve moved you to Friday at eleven fifteen and sent a confirmation by text.',
 'User: Great. Also, do I need to bring anything with me?',
 'AI: Please bring a photo ID and your insurance card, and arrive ten minutes early.',
 'User: Okay. And what''s the address again? I''m coming from the north side of town.',
 'AI: We''re at 400 Market Street, second floor, across from the public library.',
 'User: Is there parking nearby or should I take the bus?',
 'AI: There''s a garage on Fifth Street; we validate parking for the first two hours.',
 'User: Perfect. Can you also tell me what the cancellation policy is?',
 'AI: You can cancel or reschedule up to twenty four hours before without any fee.',
 'User: Understood. I think that covers everything, thanks for your help.',
 'AI: You''re welcome. Is there anything else I can help you with today?',
 'User: Actually yes, my daughter also needs a check-up. Can I book her as well?',
 'AI: Certainly. What''s her name and date of birth, so I can look up her record?',
 'User: Her name is Maya, she was born on the third of March, twenty fifteen.',
 'AI: Thank you. I can offer Friday at eleven forty five, right after your appointment.',
 'User: That works really well, we''ll come together then.',
 'AI: Booked. You''ll both get a reminder the day before. Have a great week!',
 'User: Sorry, I didn''t catch that, could you repeat the last part?',
 'AI: No problem. I said you will both receive a reminder message the day before.',
 'User: Hmm, let me check my calendar quickly, one second please.',
 'AI: Take your time, I''m here.',
 'User: Okay, I''m back. Everything looks fine on my side.'
]) l;

-- One row per call.  n_conv conversation-updates; target transcript size.
-- Two mixes: "large" (:events deliveries, 7 to 10 per call, 5 to 20 KB
-- transcripts) and "small" (:small_events deliveries, 5 per call: three
-- status-updates, one conversation-update and a report of about 5 KB).
-- Small calls are numbered from 10,000,001 on.
CREATE TABLE bench.calls AS
SELECT c AS call_no,
       mix,
       md5('call' || c)::uuid::text AS call_id,
       o AS org_no,
       md5('org' || o)::uuid AS org_id,
       -- an assistant of the org (90%), an unknown one (5%), none (5%)
       CASE WHEN r1 < 0.90 THEN bench.asst_id(o + :orgs * floor(r2 * (:assistants / :orgs))::int)
            WHEN r1 < 0.95 THEN md5('unknown-asst' || c)::uuid::text END AS assistant_id,
       CASE WHEN r1 < 0.95 THEN bench.pn_id(o + :orgs * floor(r3 * 2)::int)
            ELSE md5('unknown-pn' || c)::uuid::text END AS phone_number_id,
       r1 >= 0.95 AS metadata_org,
       CASE WHEN r4 < 0.70 THEN 'inboundPhoneCall' WHEN r4 < 0.95 THEN 'outboundPhoneCall'
            ELSE 'webCall' END AS call_type,
       -- 20% of callers are one of the org's contacts (sent unformatted)
       CASE WHEN r5 < 0.20 THEN '+1650' || (1000000 + o + :orgs * floor(r6 * (:contacts / :orgs))::int)
            ELSE '+1212' || (1000000 + c) END AS customer_number,
       CASE WHEN r7 < 0.3 THEN 'Caller ' || c END AS customer_name,
       r8 < 0.2 AS shape_2024,
       timestamptz '2026-01-01 08:00:00+00' + i * (interval '86400 s' / greatest(events / per_call, 1))
           + r9 * interval '5 s' AS rings_at,
       30 + floor(r10 * 570)::int AS seconds,
       CASE mix WHEN 'large' THEN 3 + floor(r11 * 4)::int ELSE 1 END AS n_conv,
       CASE mix WHEN 'large' THEN 5000 + floor(r12 * 15000)::int ELSE 2000 + floor(r12 * 1000)::int END
           AS transcript_bytes,
       (ARRAY['customer-ended-call', 'assistant-ended-call', 'silence-timed-out',
              'customer-ended-call', 'customer-did-not-answer', 'exceeded-max-duration',
              'customer-ended-call', 'pipeline-error-openai-llm-failed'])[1 + floor(r13 * 8)::int] AS ended_reason
FROM (SELECT m.mix, m.events, m.per_call, i, m.first + i AS c, 1 + floor(random() * :orgs)::int AS o,
             random() r1, random() r2, random() r3, random() r4, random() r5, random() r6,
             random() r7, random() r8, random() r9, random() r10, random() r11, random() r12,
             random() r13
      FROM (VALUES ('large', :events, 8, 0), ('small', :small_events, 5, 10000000)) m(mix, events, per_call, first)
      CROSS JOIN LATERAL generate_series(1, m.events / m.per_call + 100) i) s;
ALTER TABLE bench.calls ADD PRIMARY KEY (call_no);

-- Transcripts: lines drawn at random until the target size.
CREATE TABLE bench.transcripts (call_no int PRIMARY KEY, transcript text, lines text[]);
ALTER TABLE bench.transcripts ALTER transcript SET STORAGE EXTERNAL, ALTER lines SET STORAGE EXTERNAL;
INSERT INTO bench.transcripts
SELECT c.call_no, string_agg(l.line, E'\n' ORDER BY g.i), array_agg(l.line ORDER BY g.i)
FROM bench.calls c
CROSS JOIN LATERAL generate_series(1, c.transcript_bytes / 62) g(i)
JOIN bench.lines l ON l.n = 1 + ((g.i * 7 + c.call_no + floor(random() * 3)::int) % 30)
GROUP BY c.call_no;

-- The call object Vapi repeats in every message (a snapshot from creation).
CREATE TABLE bench.call_objects AS
SELECT c.call_no,
       jsonb_strip_nulls(jsonb_build_object(
         'id', c.call_id,
         'orgId', 'vapi-org-' || md5('vorg' || c.org_no),
         'createdAt', to_char(c.rings_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'updatedAt', to_char(c.rings_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
         'type', c.call_type,
         'status', CASE WHEN c.call_type = 'outboundPhoneCall' THEN 'queued' ELSE 'ringing' END,
         'assistantId', c.assistant_id,
         'phoneNumberId', CASE WHEN c.call_type <> 'webCall' THEN c.phone_number_id END,
         'customer', CASE WHEN c.call_type <> 'webCall' THEN
                       jsonb_strip_nulls(jsonb_build_object('number', c.customer_number, 'name', c.customer_name)) END,
         'phoneCallProvider', CASE WHEN c.call_type <> 'webCall' THEN 'twilio' END,
         'phoneCallTransport', CASE WHEN c.call_type <> 'webCall' THEN 'pstn' END,
         'phoneCallProviderId', CASE WHEN c.call_type <> 'webCall' THEN 'CA' || md5('sid' || c.call_no) END,
         'webCallUrl', CASE WHEN c.call_type = 'webCall' THEN 'https://vapi.daily.co/' || left(md5('room' || c.call_no), 20) END,
         'metadata', CASE WHEN c.shape_2024 THEN metadata END,
         'assistantOverrides', CASE WHEN NOT c.shape_2024 THEN
                       jsonb_build_object('metadata', metadata,
                                          'variableValues', jsonb_build_object('clinic', 'Market Street'))
                     END)) AS call,
       jsonb_build_object('id', coalesce(c.assistant_id, md5('noasst' || c.call_no)::uuid::text),
                          'name', 'Reception', 'model', jsonb_build_object('provider', 'openai', 'model', 'gpt-4o'),
                          'voice', jsonb_build_object('provider', '11labs', 'voiceId', 'burt'),
                          'firstMessage', 'Thanks for calling, this is the front desk. How can I help you today?',
                          'metadata', metadata) AS assistant,
       jsonb_build_object('id', c.phone_number_id, 'number', '+1415' || (2000000 + c.org_no),
                          'provider', 'twilio', 'name', 'Main line') AS phone_number,
       CASE WHEN c.call_type <> 'webCall' THEN
         jsonb_strip_nulls(jsonb_build_object('number', c.customer_number, 'name', c.customer_name)) END AS customer
FROM bench.calls c
CROSS JOIN LATERAL (SELECT jsonb_strip_nulls(jsonb_build_object(
         'org_id', CASE WHEN c.metadata_org THEN c.org_id::text END,
         'campaign', 'spring-' || (c.org_no % 12),
         'crm_ref', 'CRM-' || c.call_no)) AS metadata) m;
ALTER TABLE bench.call_objects ADD PRIMARY KEY (call_no);

-- Every delivery of every call, with the time it happened (at) and the
-- time it was delivered (delivered); kind orders a call's events.
CREATE TABLE bench.all_events AS
SELECT c.call_no, e.kind, e.at, e.at + random() * interval '2 s' AS delivered
FROM bench.calls c
CROSS JOIN LATERAL (
  SELECT 1 AS kind, c.rings_at AS at
  UNION ALL SELECT 2, c.rings_at + interval '4 s'
  UNION ALL SELECT 10 + k, c.rings_at + interval '4 s' + (k * c.seconds / (c.n_conv + 1)) * interval '1 s'
            FROM generate_series(1, c.n_conv) k
  UNION ALL SELECT 90, c.rings_at + (4 + c.seconds) * interval '1 s'
  UNION ALL SELECT 91, c.rings_at + (6 + c.seconds) * interval '1 s') e;

CREATE TABLE bench.events (mix text, seq int, call_no int NOT NULL, kind int NOT NULL, payload jsonb NOT NULL,
	PRIMARY KEY (mix, seq));
ALTER TABLE bench.events ALTER payload SET STORAGE EXTERNAL;

-- ms since 1970 of a timestamptz, and its ISO form.
CREATE FUNCTION bench.ms(timestamptz) RETURNS bigint IMMUTABLE LANGUAGE sql
  AS $$ SELECT (extract(epoch FROM $1) * 1000)::bigint $$;
CREATE FUNCTION bench.iso(timestamptz) RETURNS text IMMUTABLE LANGUAGE sql
  AS $$ SELECT to_char($1 AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

INSERT INTO bench.events
SELECT mix, seq, call_no, kind, payload FROM (
SELECT c.mix, row_number() OVER (PARTITION BY c.mix ORDER BY e.delivered, e.call_no, e.kind) AS seq,
  CASE c.mix WHEN 'large' THEN :events ELSE :small_events END AS events, e.call_no, e.kind,
  jsonb_build_object('message', jsonb_strip_nulls(
    jsonb_build_object(
      'type', CASE WHEN e.kind IN (1, 2, 90) THEN 'status-update'
                   WHEN e.kind = 91 THEN 'end-of-call-report' ELSE 'conversation-update' END,
      'status', CASE e.kind WHEN 1 THEN 'ringing' WHEN 2 THEN 'in-progress' WHEN 90 THEN 'ended' END,
      'timestamp', CASE WHEN c.shape_2024 THEN to_jsonb(bench.iso(e.at)) ELSE to_jsonb(bench.ms(e.at)) END,
      'call', o.call,
      'assistant', CASE WHEN NOT c.shape_2024 THEN o.assistant END,
      'phoneNumber', CASE WHEN c.call_type <> 'webCall' THEN o.phone_number END,
      'customer', o.customer,
      'endedReason', CASE WHEN e.kind IN (90, 91) THEN c.ended_reason END)
    -- the conversation so far (its last 12 turns) in conversation-updates
    || CASE WHEN e.kind BETWEEN 11 AND 89 THEN
         (SELECT jsonb_build_object(
                   'messages', jsonb_agg(jsonb_build_object(
                      'role', CASE WHEN line LIKE 'AI:%' THEN 'bot' ELSE 'user' END,
                      'message', substr(line, strpos(line, ':') + 2),
                      'time', bench.ms(c.rings_at) + 4000 + i * 5000,
                      'secondsFromStart', 4 + i * 5) ORDER BY i),
                   'conversation', jsonb_agg(jsonb_build_object(
                      'role', CASE WHEN line LIKE 'AI:%' THEN 'assistant' ELSE 'user' END,
                      'content', substr(line, strpos(line, ':') + 2)) ORDER BY i))
          FROM unnest(t.lines[greatest(1, (e.kind - 10) * array_length(t.lines, 1) / (c.n_conv + 1) - 11):
                              (e.kind - 10) * array_length(t.lines, 1) / (c.n_conv + 1)])
               WITH ORDINALITY AS u(line, i))
       ELSE '{}' END
    -- the report: times, cost, transcript, recordings, analysis
    || CASE WHEN e.kind = 91 AND NOT c.shape_2024 THEN jsonb_build_object(
         'startedAt', bench.iso(c.rings_at + interval '4 s'),
         'endedAt', bench.iso(c.rings_at + (4 + c.seconds) * interval '1 s'),
         'durationSeconds', c.seconds,
         'cost', round((c.seconds * 0.0012)::numeric, 4),
         'costBreakdown', jsonb_build_object('stt', 0.01, 'llm', 0.02, 'tts', 0.015, 'vapi', 0.05, 'total', round((c.seconds * 0.0012)::numeric, 4)),
         'artifact', jsonb_build_object(
            'transcript', t.transcript,
            'recording', jsonb_build_object(
               'mono', jsonb_build_object('combinedUrl', 'https://storage.vapi.ai/' || c.call_id || '-mono.wav'),
               'stereoUrl', 'https://storage.vapi.ai/' || c.call_id || '-stereo.wav')),
         'analysis', jsonb_build_object(
            'summary', 'The caller rescheduled an appointment to Friday and booked a check-up for a family member.',
            'structuredData', jsonb_build_object('sentiment', (ARRAY['positive', 'neutral', 'negative'])[1 + c.call_no % 3]),
            'successEvaluation', 'true'))
       WHEN e.kind = 91 THEN jsonb_build_object(
         'startedAt', bench.iso(c.rings_at + interval '4 s'),
         'endedAt', bench.iso(c.rings_at + (4 + c.seconds) * interval '1 s'),
         'cost', round((c.seconds * 0.0012)::numeric, 4),
         'transcript', t.transcript,
         'summary', 'The caller rescheduled an appointment to Friday.',
         'recordingUrl', 'https://auth.vapi.ai/' || c.call_id || '-mono.wav',
         'stereoRecordingUrl', 'https://auth.vapi.ai/' || c.call_id || '-stereo.wav',
         'analysis', jsonb_build_object('summary', 'The caller rescheduled an appointment to Friday.',
                                        'successEvaluation', 'true'))
       ELSE '{}' END)) AS payload
FROM bench.all_events e
JOIN bench.calls c USING (call_no)
JOIN bench.call_objects o USING (call_no)
JOIN bench.transcripts t USING (call_no)) d
WHERE seq <= events;

DROP TABLE bench.all_events;
VACUUM ANALYZE vapi.agents, vapi.phone_numbers, vapi.contacts;
VACUUM ANALYZE bench.events;
