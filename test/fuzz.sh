#!/usr/bin/env bash
# A fuzz loop over ugly payloads, bounded in time (well under a minute):
# every path vapi/PROTOCOL.md lists (and the SDK's own) set to values of
# every wrong type, time pairs (0, negative, huge, fractional, strings,
# int64 and timestamptz edges), huge numbers, deep nesting in bodies, in
# request.headers and in request.jwt.claims.  It asserts that vapi_ingest
# and vapi_webhook never raise (a webhook with malformed headers is refused
# with PT401, as designed, and stores nothing), that every delivery is in
# vapi.events under the id its result names, that vapi.replay() of them
# all raises nothing either, and that the server is still alive.
#
# Deterministic: FUZZ_SEED (default 0.42) seeds it; FUZZ_N (default 3000)
# is the number of random payloads.
set -euo pipefail

: "${REPO:?}" "${BIN:?}" "${WORK:?}"
SEED=${FUZZ_SEED:-0.42}
N=${FUZZ_N:-3000}
fail() { echo "fuzz: $*" >&2; exit 1; }
psql_fz() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d fuzz "$@"; }

"$BIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS fuzz" -c "CREATE DATABASE fuzz"
psql_fz -c "CREATE EXTENSION vapi_calls" -c "SET client_min_messages = warning" \
	-c "SELECT vapi.add_bearer_credential('tok-fuzz')" >/dev/null

psql_fz -v seed="$SEED" -v n="$N" >"$WORK/fuzz.summary" <<'SQL'
SET client_min_messages = warning;
SELECT setseed(:seed);

-- Values of every kind, the ugly ones first.
CREATE TABLE ugly (i serial, v jsonb);
INSERT INTO ugly (v)
SELECT unnest(ARRAY[
	'0', '-1', '1', '0.5', '-0.0', '1e-300', '1e300', '-1e300', '1e1000', '-1e1000', '1e-1000',
	'9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809',
	'9223372036855000', '9224318016000000', '-210866803200000', '-210866803200001',
	'1767225600000', '1767225600000.999', '18446744073709551616', '123456789012345678901234567890',
	'true', 'false', 'null', '""', '" "', '"x"', '"0"', '"-1"', '"1e300"', '"NaN"', '"Infinity"',
	'"2026-01-01T00:00:00Z"', '"2026-01-01T00:00:00.123456789+14:00"', '"0000-00-00T00:00:00Z"',
	'"9999-12-31T23:59:60Z"', '"0001-01-01"', '"2026-02-29T00:00:00Z"', '"2024-02-29T24:00:00Z"',
	'"294277-01-01T00:00:00Z"', '"2026-01-01T00:00:00-99:99"', '"2026-01-01T00:00"', '"2026"',
	'"customer-ended-call"', '"pipeline-error-openai-llm-failed"', '"in-progress"', '"ended"',
	'"+14155550100"', '"(415) 555-0100"', '"00"', '"+"', '"aaaaaaaa-0000-0000-0000-00000000000a"',
	'"{aaaaaaaa-0000-0000-0000-00000000000a}"', '"☎ ünï 山田 👋"', '"\\u0001\\u001f"',
	'[]', '[1]', '[null]', '["x", {"a": 1}]', '{}', '{"a": 1}', '{"id": "x"}', '{"number": 5}',
	'{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a", "is_test_call": "true"}',
	'{"transcript": 7, "recording": [], "messages": "x"}'
]::jsonb[]);
INSERT INTO ugly (v) VALUES
	(to_jsonb(repeat('x', 100000))),
	(to_jsonb(repeat('€', 50000))),
	(to_jsonb(repeat('9', 5000))),
	((repeat('9', 2000) || '.' || repeat('9', 2000))::jsonb),
	((repeat('[', 2000) || repeat(']', 2000))::jsonb),
	((repeat('{"a":', 2000) || '1' || repeat('}', 2000))::jsonb),
	((repeat('{"metadata":', 300) || '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}' || repeat('}', 300))::jsonb),
	((SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 5000) g));

-- Every path the reader reads, and the containers above them.
CREATE TABLE paths (i serial, p text[]);
INSERT INTO paths (p) VALUES
	('{}'), ('{type}'), ('{status}'), ('{timestamp}'), ('{call}'), ('{call,id}'), ('{call,orgId}'),
	('{call,assistantId}'), ('{assistant}'), ('{assistant,id}'), ('{call,phoneNumberId}'),
	('{phoneNumber}'), ('{phoneNumber,number}'), ('{phoneNumber,twilioPhoneNumber}'),
	('{call,phoneNumber}'), ('{call,phoneNumber,number}'), ('{call,phoneNumber,twilioPhoneNumber}'),
	('{call,phoneNumber,vonagePhoneNumber}'), ('{customer}'), ('{customer,number}'), ('{customer,name}'),
	('{call,customer}'), ('{call,customer,number}'), ('{call,customer,name}'), ('{call,type}'),
	('{call,assistantOverrides}'), ('{call,assistantOverrides,metadata}'),
	('{call,assistantOverrides,metadata,org_id}'), ('{call,assistantOverrides,metadata,is_test_call}'),
	('{call,squadOverrides,metadata}'), ('{call,squadOverrides,metadata,org_id}'),
	('{assistant,metadata}'), ('{assistant,metadata,org_id}'), ('{call,assistant}'),
	('{call,assistant,metadata}'), ('{call,metadata}'), ('{call,metadata,org_id}'),
	('{startedAt}'), ('{endedAt}'), ('{durationSeconds}'), ('{artifact}'), ('{artifact,transcript}'),
	('{transcript}'), ('{transcriptType}'), ('{artifact,recording}'), ('{artifact,recording,mono}'),
	('{artifact,recording,mono,combinedUrl}'), ('{artifact,recordingUrl}'), ('{recordingUrl}'),
	('{artifact,recording,stereoUrl}'), ('{artifact,stereoRecordingUrl}'), ('{stereoRecordingUrl}'),
	('{analysis}'), ('{analysis,summary}'), ('{summary}'), ('{analysis,structuredData}'),
	('{analysis,structuredData,sentiment}'), ('{analysis,sentiment}'), ('{analysis,successEvaluation}'),
	('{cost}'), ('{costBreakdown}'), ('{endedReason}'), ('{toolCallList}'), ('{toolWithToolCallList}'),
	('{messages}');

-- Set path p in j, creating (or replacing) the objects above it.
CREATE FUNCTION fz_set(j jsonb, p text[], v jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	IF cardinality(p) = 0 THEN
		RETURN v;
	END IF;
	IF jsonb_typeof(j) IS DISTINCT FROM 'object' THEN
		j := '{}';
	END IF;
	RETURN j || jsonb_build_object(p[1], fz_set(j -> p[1], p[2:], v));
END
$$;

-- Realistic bases of every kind of message, for a small pool of calls so
-- that the ugly deliveries also merge into each other's rows.
CREATE TABLE bases (i serial, b jsonb);
INSERT INTO bases (b) VALUES
	('{"type": "status-update", "status": "in-progress", "timestamp": 1767225600000,
	   "call": {"id": "c", "type": "inboundPhoneCall", "assistantId": "asst-1", "phoneNumberId": "pn-1"},
	   "customer": {"number": "+14155550100", "name": "Ann"}}'),
	('{"type": "end-of-call-report", "endedReason": "customer-ended-call", "timestamp": 1767225900000,
	   "startedAt": "2026-01-01T00:00:00Z", "endedAt": "2026-01-01T00:05:00Z", "cost": 0.12,
	   "artifact": {"transcript": "AI: Hi", "recording": {"mono": {"combinedUrl": "https://r/x.wav"}}},
	   "analysis": {"summary": "ok", "structuredData": {"sentiment": "positive"}},
	   "call": {"id": "c", "type": "outboundPhoneCall", "phoneNumber": {"twilioPhoneNumber": "+15550001111"},
	            "squadOverrides": {"metadata": {"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}}}}'),
	('{"type": "transcript", "transcriptType": "partial", "role": "user", "transcript": "Su",
	   "timestamp": 1767225700000, "call": {"id": "c"}}'),
	('{"toolCallList": [{"id": "t1"}], "timestamp": 1767225650000, "call": {"id": "c"}}'),
	('{"type": "assistant-request", "timestamp": 1767225500000, "call": {"id": "c", "type": "inboundPhoneCall"},
	   "phoneNumber": {"number": "+15550002222"}, "customer": {"number": "020 7946 0958"}}'),
	('{"type": "status-update", "status": "ended", "endedReason": "silence-timed-out", "call": {"id": "c"}}'),
	('{"type": "hang", "call": {"id": "c", "assistant": {"metadata": {"is_test_call": true}}}}'),
	('{"type": "chat.created", "chat": {"id": "x"}}'),
	('{"type": "no-such-type", "call": {"id": "c"}}');

INSERT INTO vapi.agents VALUES ('asst-1', 'aaaaaaaa-0000-0000-0000-00000000000a', 'a');
INSERT INTO vapi.phone_numbers VALUES ('pn-1', 'bbbbbbbb-0000-0000-0000-00000000000b', '+15550002222');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES
	('aaaaaaaa-0000-0000-0000-00000000000a', '(415) 555-0100', 'Contact A'),
	('bbbbbbbb-0000-0000-0000-00000000000b', '+1 415 555 0100', 'Contact B');

-- The payloads: each a base for one of 20 calls, with 1 to 4 paths set to
-- ugly values, wrapped in "message" or bare.
CREATE TABLE payloads (i serial, payload jsonb);
INSERT INTO payloads (payload)
SELECT CASE WHEN random() < 0.9 THEN jsonb_build_object('message', m) ELSE m END
  FROM (SELECT g, (SELECT b FROM bases ORDER BY random() + g * 0 LIMIT 1) AS b
          FROM generate_series(1, :n) g) s,
       LATERAL (SELECT fz_set(s.b, '{call,id}', to_jsonb('fz-' || (g % 20)))) c(base),
       LATERAL (SELECT m FROM (
			WITH RECURSIVE steps(k, m) AS (
				SELECT 0, c.base
				UNION ALL
				SELECT k + 1, fz_set(m, (SELECT p FROM paths ORDER BY random() + k * 0 + g * 0 LIMIT 1),
				                     (SELECT v FROM ugly ORDER BY random() + k * 0 + g * 0 LIMIT 1))
				  FROM steps WHERE k < 1 + (g % 4))
			SELECT m FROM steps ORDER BY k DESC LIMIT 1) last) x(m);

-- Time pairs, each against each, on an end-of-call report.
INSERT INTO payloads (payload)
SELECT jsonb_build_object('message', jsonb_build_object('type', 'end-of-call-report',
	'endedReason', 'customer-ended-call', 'startedAt', a.v, 'endedAt', b.v,
	'call', jsonb_build_object('id', 'fz-pair-' || a.i || '-' || b.i)))
  FROM ugly a, ugly b
 WHERE jsonb_typeof(a.v) IN ('number', 'string') AND jsonb_typeof(b.v) IN ('number', 'string')
   AND length(a.v::text) < 100 AND length(b.v::text) < 100
   AND (a.i + b.i) % 3 = 0;

-- Whole bodies nested deep, and SQL NULL.
INSERT INTO payloads (payload) VALUES
	((repeat('{"message":', 5000) || '{"type": "hang", "call": {"id": "fz-deep"}}' || repeat('}', 5000))::jsonb),
	(jsonb_build_object('message', jsonb_build_object('type', 'end-of-call-report', 'call', jsonb_build_object('id', 'fz-deep'),
		'analysis', (repeat('[', 10000) || repeat(']', 10000))::jsonb,
		'artifact', (repeat('{"transcript":', 8000) || '"t"' || repeat('}', 8000))::jsonb))),
	(NULL);

-- Ingest every payload; an exception is recorded, not raised, so that all
-- of them are listed.
CREATE TABLE results (i int, via text, result jsonb, error text);
DO $$
DECLARE
	r record;
	res jsonb;
BEGIN
	FOR r IN SELECT i, payload FROM payloads ORDER BY i LOOP
		BEGIN
			res := vapi_ingest(r.payload);
			INSERT INTO results VALUES (r.i, 'ingest', res, NULL);
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO results VALUES (r.i, 'ingest', NULL, SQLSTATE || ' ' || SQLERRM);
		END;
	END LOOP;
END
$$;

-- The same bodies through vapi_webhook (as their JSON text), under headers
-- that are right, deep, malformed; and then claims of every shape.
CREATE TABLE header_cases (i serial, headers text, accepted boolean);
INSERT INTO header_cases (headers, accepted) VALUES
	('{"authorization": "Bearer tok-fuzz"}', true),
	('{"authorization": "Bearer tok-fuzz", "x": ' || repeat('[', 255) || repeat(']', 255) || '}', true),
	('{"authorization": "Bearer tok-fuzz", "x": ' || repeat('[', 20000) || repeat(']', 20000) || '}', false),
	('{"authorization": "Bearer tok-fuzz", "x": ' || repeat('{"a":', 20000) || '1' || repeat('}', 20000) || '}', false),
	(repeat('[', 50000), false),
	('{"authorization": "Bearer tok-fuzz"', false),
	('{"authorization": 1e400}', false),
	('{"authorization": "Bearer tok-fuzz", "authorization": ' || repeat('[', 300) || '"x"' || repeat(']', 300) || '}', false),
	('', false);
-- A request-type message (assistant-request, tool-calls, ...) is answered
-- with its reply instead of the result object: it is kept all the same, as
-- the newest event, which the check below looks for.
DO $$
DECLARE
	r record;
	h record;
	res jsonb;
	last_id bigint;
BEGIN
	FOR r IN SELECT i, payload FROM payloads WHERE i % 7 = 0 OR payload IS NULL ORDER BY i LOOP
		FOR h IN SELECT * FROM header_cases ORDER BY i LOOP
			BEGIN
				PERFORM set_config('request.headers', h.headers, true);
				last_id := coalesce((SELECT max(id) FROM vapi.events), 0);
				res := vapi_webhook(r.payload::text::json);
				IF h.accepted AND NOT (jsonb_typeof(res) = 'object' AND res ? 'ok' AND res ? 'action') THEN
					INSERT INTO results VALUES (r.i, 'webhook-reply',
						jsonb_build_object('reply', res, 'event_id', (SELECT max(id) FROM vapi.events WHERE id > last_id)), NULL);
				ELSE
					INSERT INTO results VALUES (r.i, CASE WHEN h.accepted THEN 'webhook' ELSE 'webhook-should-refuse' END, res, NULL);
				END IF;
			EXCEPTION WHEN sqlstate 'PT401' THEN
				INSERT INTO results VALUES (r.i, CASE WHEN h.accepted THEN 'webhook-refused-wrongly' ELSE 'refused' END, NULL, SQLERRM);
			WHEN OTHERS THEN
				INSERT INTO results VALUES (r.i, 'webhook', NULL, SQLSTATE || ' ' || SQLERRM);
			END;
		END LOOP;
	END LOOP;
END
$$;
CREATE TABLE claim_errors (claims text, error text);
DO $$
DECLARE
	c text;
	o uuid;
BEGIN
	FOR c IN SELECT unnest(ARRAY[
		'{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a"}', '', '{', '[]', '"x"', 'null',
		'{"org_id": ' || repeat('[', 30000) || repeat(']', 30000) || '}',
		repeat('{"org_id":', 30000) || '"aaaaaaaa-0000-0000-0000-00000000000a"' || repeat('}', 30000),
		'{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a", "app": ' || repeat('{"a":', 256) || '1' || repeat('}', 256) || '}',
		'{"org_id": 1e400}', '{"org_id": "' || repeat('a', 100000) || '"}'])
	LOOP
		BEGIN
			PERFORM set_config('request.jwt.claims', c, true);
			o := vapi.current_org();
			PERFORM count(*) FROM vapi.calls WHERE org_id = (SELECT vapi.current_org());
		EXCEPTION WHEN OTHERS THEN
			INSERT INTO claim_errors VALUES (left(c, 60), SQLSTATE || ' ' || SQLERRM);
		END;
	END LOOP;
END
$$;

-- Replaying every stored delivery raises nothing either.
CREATE TABLE replay_error (error text);
DO $$
BEGIN
	PERFORM count(*) FROM vapi.replay();
EXCEPTION WHEN OTHERS THEN
	INSERT INTO replay_error VALUES (SQLSTATE || ' ' || SQLERRM);
END
$$;

SELECT 'payloads', count(*) FROM payloads;
SELECT 'calls', count(*) FROM results;
SELECT 'by action', string_agg(a || '=' || n, ' ' ORDER BY a)
  FROM (SELECT CASE WHEN via = 'webhook-reply' THEN via ELSE coalesce(result ->> 'action', via) END AS a,
               count(*) AS n FROM results GROUP BY 1) s;
SELECT 'exceptions', count(*) FROM results WHERE via IN ('ingest', 'webhook') AND error IS NOT NULL;
SELECT 'refused wrongly', count(*) FROM results WHERE via IN ('webhook-refused-wrongly', 'webhook-should-refuse');
SELECT 'results without ok or action', count(*) FROM results
 WHERE result IS NOT NULL AND via <> 'webhook-reply' AND (jsonb_typeof(result -> 'ok') <> 'boolean'
       OR result ->> 'action' NOT IN ('inserted', 'updated', 'unchanged', 'ignored', 'rejected', 'error'));
SELECT 'not in vapi.events', count(*) FROM results r
 WHERE r.result IS NOT NULL AND NOT EXISTS (
       SELECT FROM vapi.events e WHERE e.id = (r.result ->> 'event_id')::bigint);
SELECT 'events stored', (SELECT count(*) FROM vapi.events) - (SELECT count(*) FROM results WHERE result IS NOT NULL);
SELECT 'claims errors', count(*) FROM claim_errors;
SELECT 'replay errors', count(*) FROM replay_error;
SELECT 'error', 'payload ' || i || ' via ' || via || ': ' || left(error, 200) FROM results
 WHERE error IS NOT NULL AND via NOT IN ('refused') ORDER BY i LIMIT 20;
SELECT 'error', 'claims ' || claims || ': ' || error FROM claim_errors;
SELECT 'error', 'replay: ' || error FROM replay_error;
SQL
cat "$WORK/fuzz.summary"

value() { awk -F'|' -v k="$1" '$1 == k { print $2 }' "$WORK/fuzz.summary"; }
[ "$(value exceptions)" = 0 ] || fail "vapi_ingest or vapi_webhook raised (see the error lines above)"
[ "$(value 'refused wrongly')" = 0 ] || fail "a webhook was refused, or accepted, against its headers"
[ "$(value 'results without ok or action')" = 0 ] || fail "a result without ok or a known action"
[ "$(value 'not in vapi.events')" = 0 ] || fail "a delivery is missing from vapi.events"
[ "$(value 'events stored')" = 0 ] || fail "vapi.events does not hold exactly one row per delivery"
[ "$(value 'claims errors')" = 0 ] || fail "vapi.current_org() raised"
[ "$(value 'replay errors')" = 0 ] || fail "vapi.replay() raised"
[ "$(value calls)" -gt "$N" ] || fail "fewer calls than payloads: the loop did not run"
! grep -E "terminated by signal|PANIC|TRAP:" "$WORK/server.log" || fail "the server crashed"
"$BIN/psql" -X -At -d fuzz -c "SELECT 'alive'" | grep -qx alive || fail "the server is not answering"
echo "fuzz: ok"
