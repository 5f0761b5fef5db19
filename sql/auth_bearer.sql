-- vapi_webhook with Bearer credentials, called as PostgREST calls it: the
-- default Authorization header, the legacy X-Vapi-Secret, rotation, and every
-- way a delivery is refused (SQLSTATE PT401, nothing stored).
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials RESTART IDENTITY;
SET timezone = 'UTC';
CREATE ROLE regress_webhook NOLOGIN;
GRANT EXECUTE ON FUNCTION vapi_webhook(json) TO regress_webhook;

-- PostgREST sends the body as a text parameter cast to json.  call_id is a
-- random uuid: left out.
PREPARE webhook(text) AS SELECT vapi_webhook($1::json) - 'call_id' AS result;

-- Whitespace and key order that jsonb would not keep.
\set body '{ "message" : {"call":{ "id":"call-b1"},  "type" : "status-update",\n "status":"ringing", "timestamp": 1767225600000 } }'

-- No credential configured: secure by default, every delivery is refused.
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT set_config('request.headers', '{"authorization": "Bearer anything"}', true);
SELECT set_config('request.method', 'POST', true);
EXECUTE webhook(:'body');
\echo :LAST_ERROR_SQLSTATE
COMMIT;

-- Arguments are checked, with messages that say what is wrong.
\set SHOW_CONTEXT never
SELECT vapi.add_bearer_credential(NULL);
SELECT vapi.add_bearer_credential('');
SELECT vapi.add_bearer_credential(' tok-3f9a1c7e5b2d');
SELECT vapi.add_bearer_credential(E'tok-3f9a1c7e5b2d\n');
SELECT vapi.add_bearer_credential('tok-3f9a1c7e5b2d', header => 'x vapi secret');
SELECT vapi.add_bearer_credential('tok-3f9a1c7e5b2d', header => 'x-vapi-secret:');
SELECT vapi.add_bearer_credential('tok-3f9a1c7e5b2d', header => NULL);
SELECT vapi.add_bearer_credential('tok-3f9a1c7e5b2d', prefix => NULL);
SELECT vapi.add_bearer_credential('tok-3f9a1c7e5b2d', prefix => E'Bearer\t\r');
\set SHOW_CONTEXT errors
SELECT count(*) AS none_added FROM vapi.credentials;

SELECT vapi.add_bearer_credential('tok-3f9a1c7e5b2d') AS bearer_id \gset
\echo :bearer_id

-- The exact PostgREST sequence with the right token.
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT set_config('request.headers', '{"user-agent": "Vapi", "content-type": "application/json", "authorization": "Bearer tok-3f9a1c7e5b2d"}', true);
SELECT set_config('request.method', 'POST', true);
EXECUTE webhook(:'body');
COMMIT;

-- The event kept is the body as jsonb.
SELECT id, vapi_call_id, type, status, outcome, payload = :'body'::jsonb AS payload_is_body
  FROM vapi.events;

-- A wrong token, in the same sequence: refused, PT401, nothing stored.
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT set_config('request.headers', '{"authorization": "Bearer tok-3f9a1c7e5b2e"}', true);
SELECT set_config('request.method', 'POST', true);
EXECUTE webhook(:'body');
\echo :LAST_ERROR_SQLSTATE
COMMIT;

-- The rest of the cases through a helper that runs the same calls and
-- returns the result, or the SQLSTATE and message of a refusal.
CREATE FUNCTION deliver(headers text, body text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.headers', headers, true);
	PERFORM set_config('request.method', 'POST', true);
	RETURN (vapi_webhook(body::json) - 'call_id')::text;
EXCEPTION WHEN sqlstate 'PT401' THEN
	RETURN 'PT401 ' || SQLERRM;
END
$$;

BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(headers, :'body')
  FROM (VALUES
	(1, 'right token', '{"authorization": "Bearer tok-3f9a1c7e5b2d"}'),
	(2, 'scheme in any case, white space around', '{"authorization": "  bearer tok-3f9a1c7e5b2d\t"}'),
	(3, 'header name in capitals (a proxy)', '{"Authorization": "Bearer tok-3f9a1c7e5b2d"}'),
	(4, 'token without the scheme', '{"authorization": "tok-3f9a1c7e5b2d"}'),
	(5, 'other scheme', '{"authorization": "Basic tok-3f9a1c7e5b2d"}'),
	(6, 'token cut short', '{"authorization": "Bearer tok-3f9a1c7e5b2"}'),
	(7, 'token too long', '{"authorization": "Bearer tok-3f9a1c7e5b2dd"}'),
	(8, 'token with another case', '{"authorization": "Bearer TOK-3F9A1C7E5B2D"}'),
	(9, 'empty token', '{"authorization": "Bearer "}'),
	(10, 'empty header', '{"authorization": ""}'),
	(11, 'no authorization header', '{"x-vapi-secret": "tok-3f9a1c7e5b2d"}'),
	(12, 'header value is null', '{"authorization": null}'),
	(13, 'header value is an object', '{"authorization": {"Bearer": "tok-3f9a1c7e5b2d"}}'),
	(14, 'token inside a nested object only', '{"h": {"authorization": "Bearer tok-3f9a1c7e5b2d"}}'),
	(15, 'repeated header: the last one counts', '{"authorization": "Bearer nope", "authorization": "Bearer tok-3f9a1c7e5b2d"}'),
	(16, 'repeated header, wrong last', '{"authorization": "Bearer tok-3f9a1c7e5b2d", "authorization": "Bearer nope"}'),
	(17, 'request.headers empty', ''),
	(18, 'request.headers not JSON', '{"authorization": "Bearer tok-3f9a1c7e5b2d"'),
	(19, 'request.headers an array', '[{"authorization": "Bearer tok-3f9a1c7e5b2d"}]'),
	(20, 'request.headers a string', '"Bearer tok-3f9a1c7e5b2d"'),
	(21, 'request.headers with a \u0000 escape', '{"authorization": "Bearer tok-3f9a1c7e5b2d\u0000"}'),
	(22, 'escaped token equal to the secret', '{"authorization": "Bearer tok-3f9a1c7e5b\u0032d"}')
  ) AS c(n, label, headers)
 ORDER BY n;
COMMIT;

-- request.headers not set in the transaction: the hint says what is missing.
BEGIN;
SET LOCAL ROLE regress_webhook;
EXECUTE webhook(:'body');
COMMIT;

-- Only the accepted deliveries were stored.
SELECT outcome, count(*) FROM vapi.events GROUP BY outcome ORDER BY outcome;

-- The legacy server secret: X-Vapi-Secret with the raw secret, no prefix.
-- Rotation: both credentials are live at once.
SELECT vapi.add_bearer_credential('legacy-8d0e4b6a2f91', header => 'X-Vapi-Secret', prefix => '') AS legacy_id \gset
\echo :legacy_id
SELECT id, kind, header, prefix FROM vapi.credential_list ORDER BY id;

BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(headers, :'body')
  FROM (VALUES
	(1, 'legacy secret', '{"x-vapi-secret": "legacy-8d0e4b6a2f91"}'),
	(2, 'legacy secret, wrong', '{"x-vapi-secret": "legacy-8d0e4b6a2f90"}'),
	(3, 'legacy secret with a prefix', '{"x-vapi-secret": "Bearer legacy-8d0e4b6a2f91"}'),
	(4, 'bearer still accepted', '{"authorization": "Bearer tok-3f9a1c7e5b2d"}'),
	(5, 'legacy secret in the authorization header', '{"authorization": "Bearer legacy-8d0e4b6a2f91"}'),
	(6, 'bearer token in the legacy header', '{"x-vapi-secret": "tok-3f9a1c7e5b2d"}'),
	(7, 'neither header', '{"content-type": "application/json"}')
  ) AS c(n, label, headers)
 ORDER BY n;
COMMIT;

-- Removing the first credential ends it; the other stays.
SELECT vapi.remove_credential(:bearer_id);
SELECT vapi.remove_credential(:bearer_id);
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(headers, :'body')
  FROM (VALUES
	(1, 'removed bearer', '{"authorization": "Bearer tok-3f9a1c7e5b2d"}'),
	(2, 'legacy secret', '{"x-vapi-secret": "legacy-8d0e4b6a2f91"}')
  ) AS c(n, label, headers)
 ORDER BY n;
COMMIT;

-- Removing the last one warns: every delivery is refused again.
SELECT vapi.remove_credential(:legacy_id);
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT deliver('{"x-vapi-secret": "legacy-8d0e4b6a2f91"}', :'body');
COMMIT;

-- After authentication, vapi_webhook behaves as vapi_ingest: bad bodies are
-- results, not errors, and are kept.  A body that is JSON but cannot be
-- jsonb (a \u0000 escape, a number beyond numeric) is kept as the string of
-- its exact text.
SELECT vapi.add_bearer_credential('tok-3f9a1c7e5b2d') IS NOT NULL AS added;
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver('{"authorization": "Bearer tok-3f9a1c7e5b2d"}', body)
  FROM (VALUES
	(1, 'not an object', '[1, 2, 3]'),
	(2, 'no call id', '{"message": {"type": "status-update", "status": "ringing"}}'),
	(3, 'ignored type', '{"message": {"type": "chat.created"}}'),
	(4, 'duplicate', '{"message":{"type":"status-update","status":"ringing","timestamp":1767225600000,"call":{"id":"call-b1"}}}'),
	(5, 'a \u0000 escape', '{"message": {"type": "transcript", "transcript": "a\u0000b", "call": {"id": "call-b2"}}}'),
	(6, 'a huge exponent', '{"message": {"type": "hang", "cost": 1e1000000, "call": {"id": "call-b3"}}}')
  ) AS c(n, label, body)
 ORDER BY n;
SELECT deliver('{"authorization": "Bearer tok-3f9a1c7e5b2d"}', NULL) AS sql_null;
COMMIT;
SELECT id, outcome, detail, jsonb_typeof(payload) AS payload_type,
       CASE WHEN jsonb_typeof(payload) = 'string' THEN payload #>> '{}' END AS kept_text
  FROM vapi.events WHERE outcome <> 'inserted' AND outcome <> 'unchanged' ORDER BY id;

SELECT vapi_call_id, status, events_applied FROM vapi.calls ORDER BY 1;
DROP FUNCTION deliver(text, text);
DEALLOCATE webhook;
REVOKE EXECUTE ON FUNCTION vapi_webhook(json) FROM regress_webhook;
DROP ROLE regress_webhook;
TRUNCATE vapi.credentials RESTART IDENTITY;
