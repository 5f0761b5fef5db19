-- Nothing that runs outside the processing subtransaction may raise: the
-- payload reader's computations on payload values (times, durations,
-- numbers) and the reading of request.headers and request.jwt.claims.  A
-- bad value is skipped, a malformed header object is a refusal (PT401),
-- malformed claims see no rows; never an exception, never a lost delivery.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials RESTART IDENTITY;
SET timezone = 'UTC';

-- Time pairs: the duration is endedAt - startedAt when the message has no
-- durationSeconds, and only when it is a real one.
CREATE TEMP TABLE pairs (n serial, label text, started jsonb, ended jsonb, duration jsonb);
INSERT INTO pairs (label, started, ended, duration) VALUES
  ('the issue''s pair: 0 and 9223372036855000', '0', '9223372036855000', NULL),
  ('4714 BC to the year 294000: wider than int64 microseconds', '-210866803200000', '9224000000000000', NULL),
  ('the year 1 to the year 9999', '"0001-01-01T00:00:00Z"', '"9999-12-31T23:59:59.999Z"', NULL),
  ('int64 edges in ms', '-9223372036854775808', '9223372036854775807', NULL),
  ('beyond int64', '-1e30', '1e30', NULL),
  ('ended before started', '"2026-01-01T00:01:00Z"', '"2026-01-01T00:00:00Z"', NULL),
  ('the same instant', '1767225600000', '1767225600000', NULL),
  ('fractional milliseconds', '1767225600000.25', '1767225661234.75', NULL),
  ('ISO and ms mixed', '"2026-01-01T00:00:00Z"', '1767225690500', NULL),
  ('a string of digits', '"1767225600000"', '"1767225660000"', NULL),
  ('negative ms', '-1000', '0', NULL),
  ('durationSeconds negative', '1767225600000', '1767225660000', '-5'),
  ('durationSeconds huge', '1767225600000', '1767225660000', '1e300'),
  ('durationSeconds zero', '1767225600000', '1767225600000', '0'),
  ('durationSeconds a string', '1767225600000', '1767225660000', '"60"');

SELECT n, label,
       vapi_ingest(jsonb_build_object('message', jsonb_strip_nulls(jsonb_build_object(
         'type', 'end-of-call-report', 'endedReason', 'customer-ended-call',
         'startedAt', started, 'endedAt', ended, 'durationSeconds', duration,
         'call', jsonb_build_object('id', 'pair-' || n))))) ->> 'action' AS action
  FROM pairs ORDER BY n;

SELECT p.n, p.label, c.status, c.started_at, c.ended_at, left(c.duration_seconds::text, 20) AS duration_seconds
  FROM pairs p JOIN vapi.calls c ON c.vapi_call_id = 'pair-' || p.n
 ORDER BY p.n;

-- Every one of them was kept, and none failed.
SELECT count(*) AS kept, count(*) FILTER (WHERE outcome IN ('error', 'rejected')) AS failed
  FROM vapi.events WHERE vapi_call_id LIKE 'pair-%';

-- request.headers nested deeper than the reader parses (256 levels) is a
-- refusal like any malformed header object, however deep, not "stack depth
-- limit exceeded".  Up to the limit, nesting beside the header is harmless.
SELECT vapi.add_bearer_credential('tok-never-raises') AS credential;
CREATE FUNCTION pg_temp.deliver(headers text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.headers', headers, true);
	RETURN vapi_webhook('{"message": {"type": "hang", "call": {"id": "deep-headers"}}}'::json) ->> 'action';
EXCEPTION WHEN sqlstate 'PT401' THEN
	RETURN 'PT401 ' || SQLERRM;
END
$$;
SELECT depth, pg_temp.deliver('{"authorization": "Bearer tok-never-raises", "x": '
                              || repeat(open, depth - 1) || repeat(close, depth - 1) || '}') AS result
  FROM (VALUES (256, '[', ']'), (257, '[', ']'), (20000, '[', ']'), (20000, '{"a":', '}'),
               (100000, '[', ']')) AS d(depth, open, close)
 ORDER BY depth, open;
-- brackets inside strings are not nesting
SELECT pg_temp.deliver('{"authorization": "Bearer tok-never-raises", "x": "' || repeat('[{', 20000) || '"}') AS in_a_string;
-- a deep header object that is also not JSON
SELECT pg_temp.deliver(repeat('[', 30000)) AS unclosed;

-- request.jwt.claims nested too deep: vapi.current_org() is NULL, and a
-- reader under row level security sees no rows, without an error.
INSERT INTO vapi.agents VALUES ('asst-nr', 'aaaaaaaa-0000-0000-0000-00000000000a', 'Org A');
SELECT vapi_ingest('{"message": {"type": "hang", "call": {"id": "org-a-call", "assistantId": "asst-nr"}}}') ->> 'action' AS action;
CREATE ROLE regress_deep_reader NOLOGIN;
GRANT USAGE ON SCHEMA vapi TO regress_deep_reader;
GRANT SELECT ON vapi.calls TO regress_deep_reader;
CREATE FUNCTION pg_temp.visible(claims text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.jwt.claims', claims, true);
	RETURN (SELECT coalesce(string_agg(vapi_call_id, ', ' ORDER BY vapi_call_id), '(none)')
			  FROM vapi.calls);
END
$$;
BEGIN;
SET LOCAL ROLE regress_deep_reader;
SELECT label, pg_temp.visible(claims)
  FROM (VALUES
	(1, 'org A, a nested claim beside it', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a", "app": ' || repeat('[', 255) || repeat(']', 255) || '}'),
	(2, 'org A, 20,000-deep claim beside it', '{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a", "app": ' || repeat('{"a":', 20000) || '1' || repeat('}', 20000) || '}'),
	(3, 'claims 20,000 deep', repeat('[', 20000) || repeat(']', 20000))
  ) AS c(n, label, claims)
 ORDER BY n;
COMMIT;
SELECT set_config('request.jwt.claims', repeat('{"org_id":', 20000) || '"x"' || repeat('}', 20000), false) IS NOT NULL AS set,
       vapi.current_org() IS NULL AS no_org;
RESET request.jwt.claims;
REVOKE ALL ON vapi.calls FROM regress_deep_reader;
REVOKE ALL ON SCHEMA vapi FROM regress_deep_reader;
DROP ROLE regress_deep_reader;
TRUNCATE vapi.credentials RESTART IDENTITY;

-- A \u escape is converted to the database encoding while the JSON is
-- parsed, which raised when the character has none there (\u4e00 in
-- LATIN1): in a LATIN1 database such headers are now a refusal and such
-- claims no org.
CREATE DATABASE regress_vapi_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
\c regress_vapi_latin1
SET client_min_messages = warning;
CREATE EXTENSION vapi_calls;
SELECT vapi.add_bearer_credential('tok-latin1') AS credential;
CREATE FUNCTION pg_temp.deliver(headers text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.headers', headers, true);
	RETURN vapi_webhook('{"message": {"type": "hang", "call": {"id": "latin1"}}}'::json) ->> 'action';
EXCEPTION WHEN sqlstate 'PT401' THEN
	RETURN 'PT401 ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.org(claims text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.jwt.claims', claims, true);
	RETURN coalesce(vapi.current_org()::text, '(none)');
END
$$;
SELECT label, pg_temp.deliver(headers) AS webhook,
       pg_temp.org('{"org_id": "aaaaaaaa-0000-0000-0000-00000000000a", "name": "' || escape || '"}') AS current_org
  FROM (VALUES
	(1, 'ASCII escape', '{"authorization": "Bearer tok-latin1", "x-name": "\u0041"}', '\u0041'),
	(2, 'an escape LATIN1 has', '{"authorization": "Bearer tok-latin1", "x-name": "caf\u00e9"}', 'caf\u00e9'),
	(3, 'an escape LATIN1 lacks', '{"authorization": "Bearer tok-latin1", "x-name": "\u4e00"}', '\u4e00'),
	(4, 'a surrogate pair LATIN1 lacks', '{"authorization": "Bearer tok-latin1", "x-name": "\ud83d\ude00"}', '\ud83d\ude00'),
	(5, 'an escaped backslash, not an escape', '{"authorization": "Bearer tok-latin1", "x-name": "\\u4e00"}', '\\u4e00'),
	(6, 'a lone surrogate: malformed', '{"authorization": "Bearer tok-latin1", "x-name": "\ud800"}', '\ud800')
  ) AS c(n, label, headers, escape)
 ORDER BY n;
\c contrib_regression
DROP DATABASE regress_vapi_latin1;
