-- vapi_webhook with HMAC credentials.  The signatures are computed here with
-- pgcrypto's hmac(), independently of the extension's C code, over the exact
-- bytes of each body: every algorithm and encoding, a prefix, a custom
-- payload format, seconds and milliseconds, tampering, expiry, rotation.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts,
	vapi.credentials RESTART IDENTITY;
SET timezone = 'UTC';
CREATE ROLE regress_webhook NOLOGIN;
GRANT EXECUTE ON FUNCTION vapi_webhook(json) TO regress_webhook;
PREPARE webhook(text) AS SELECT vapi_webhook($1::json) - 'call_id' AS result;

-- The signature a sender computes: HMAC of message under secret, encoded.
CREATE FUNCTION sign(secret text, message text, algorithm text, encoding text) RETURNS text
	LANGUAGE sql AS $$
	SELECT translate(encode(hmac(message, secret, algorithm), encoding), E'\n', '')
$$;

-- The PostgREST calls, answering "accepted (action)" or the refusal.
CREATE FUNCTION deliver(headers text, body text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.headers', headers, true);
	PERFORM set_config('request.method', 'POST', true);
	RETURN 'accepted (' || (vapi_webhook(body::json) ->> 'action') || ')';
EXCEPTION WHEN sqlstate 'PT401' THEN
	RETURN 'PT401 ' || SQLERRM;
END
$$;

-- Arguments are checked, with messages that say what is wrong.
\set SHOW_CONTEXT never
SELECT vapi.add_hmac_credential(NULL);
SELECT vapi.add_hmac_credential('');
SELECT vapi.add_hmac_credential('s', algorithm => 'md5');
SELECT vapi.add_hmac_credential('s', algorithm => NULL);
SELECT vapi.add_hmac_credential('s', encoding => 'base32');
SELECT vapi.add_hmac_credential('s', prefix => NULL);
SELECT vapi.add_hmac_credential('s', prefix => E'sha256=\n');
SELECT vapi.add_hmac_credential('s', signature_header => 'x signature');
SELECT vapi.add_hmac_credential('s', signature_header => '');
SELECT vapi.add_hmac_credential('s', signature_header => NULL);
SELECT vapi.add_hmac_credential('s', timestamp_header => 'X-Signature');
SELECT vapi.add_hmac_credential('s', timestamp_header => 'x-time:stamp');
SELECT vapi.add_hmac_credential('s', payload_format => NULL);
SELECT vapi.add_hmac_credential('s', payload_format => '{timestamp}');
SELECT vapi.add_hmac_credential('s', payload_format => '{ts}.{body}');
SELECT vapi.add_hmac_credential('s', timestamp_header => NULL);
SELECT vapi.add_hmac_credential('s', tolerance => '0');
SELECT vapi.add_hmac_credential('s', tolerance => '-5 minutes');
SELECT vapi.add_hmac_credential('s', tolerance => NULL);
\set SHOW_CONTEXT errors
SELECT count(*) AS none_added FROM vapi.credentials;

-- The defaults: sha256, hex, no prefix, x-signature over "{timestamp}.{body}"
-- with the x-timestamp header, 5 minutes of tolerance.
SELECT vapi.add_hmac_credential('whsec-5e1f0c3a9b7d') AS first_id \gset
SELECT id, kind, header, prefix, algorithm, encoding, timestamp_header, payload_format, tolerance
  FROM vapi.credential_list;

-- Whitespace and key order that jsonb would not keep, and its jsonb form.
\set body '{ "message":{ "timestamp":1767225600000, "type":"status-update",\n  "status":"in-progress", "call":{"id":"call-h1"} } }'
SELECT :'body'::jsonb::text AS jsonb_form \gset
SELECT extract(epoch FROM now())::bigint AS ts \gset

-- PostgREST's exact sequence: the signature covers the raw body.
SELECT json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex'),
                         'x-timestamp', :'ts')::text AS headers \gset
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT set_config('request.headers', :'headers', true) IS NOT NULL AS headers_set;
SELECT set_config('request.method', 'POST', true);
EXECUTE webhook(:'body');
COMMIT;
SELECT id, vapi_call_id, status, outcome, payload = :'body'::jsonb AS payload_is_body FROM vapi.events;

-- The same JSON in jsonb's form is other bytes: the signature of the raw
-- body does not cover it.
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT set_config('request.headers', :'headers', true) IS NOT NULL AS headers_set;
SELECT set_config('request.method', 'POST', true);
EXECUTE webhook(:'jsonb_form');
\echo :LAST_ERROR_SQLSTATE
COMMIT;

-- Every check, one at a time.
\set tampered '{ "message":{ "timestamp":1767225600000, "type":"status-update",\n  "status":"ended", "call":{"id":"call-h1"} } }'
SELECT extract(epoch FROM now())::bigint AS ts \gset
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(headers::text, body)
  FROM (VALUES
	(1, 'right signature', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', :'ts'), :'body'),
	(2, 'signature in upper-case hex', json_build_object('x-signature', upper(sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex')), 'x-timestamp', :'ts'), :'body'),
	(3, 'header names in capitals (a proxy)', json_build_object('X-Signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex'), 'X-Timestamp', :'ts'), :'body'),
	(4, 'timestamp as a JSON number (a proxy)', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', :ts), :'body'),
	(5, 'tampered body', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', :'ts'), :'tampered'),
	(6, 'tampered timestamp', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', (:ts - 1)::text), :'body'),
	(7, 'wrong secret', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7e', :'ts' || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', :'ts'), :'body'),
	(8, 'signed without the timestamp', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'body', 'sha256', 'hex'), 'x-timestamp', :'ts'), :'body'),
	(9, 'signed 200 s ago', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', (:ts - 200) || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', (:ts - 200)::text), :'body'),
	(10, 'signed 400 s ago (expired)', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', (:ts - 400) || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', (:ts - 400)::text), :'body'),
	(11, 'signed 400 s ahead', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', (:ts + 400) || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', (:ts + 400)::text), :'body'),
	(12, 'timestamp in milliseconds', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', (:ts::bigint * 1000 + 250) || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', (:ts::bigint * 1000 + 250)::text), :'body'),
	(13, 'milliseconds, 400 s ago', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', (:ts::bigint * 1000 - 400000) || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', (:ts::bigint * 1000 - 400000)::text), :'body'),
	(14, 'seconds with a fraction', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.25.' || :'body', 'sha256', 'hex'), 'x-timestamp', :'ts' || '.25'), :'body'),
	(15, 'timestamp not a number', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', 'yesterday.' || :'body', 'sha256', 'hex'), 'x-timestamp', 'yesterday'), :'body'),
	(16, 'negative timestamp', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', '-5.' || :'body', 'sha256', 'hex'), 'x-timestamp', '-5'), :'body'),
	(17, 'ISO timestamp', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', '2026-01-01T00:00:00Z.' || :'body', 'sha256', 'hex'), 'x-timestamp', '2026-01-01T00:00:00Z'), :'body'),
	(18, 'no signature header', json_build_object('x-timestamp', :'ts'), :'body'),
	(19, 'no timestamp header', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex')), :'body'),
	(20, 'base64 signature for a hex credential', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'base64'), 'x-timestamp', :'ts'), :'body'),
	(21, 'sha512 signature for a sha256 credential', json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha512', 'hex'), 'x-timestamp', :'ts'), :'body'),
	(22, 'signature with a prefix it does not have', json_build_object('x-signature', 'sha256=' || sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', :'ts'), :'body'),
	(23, 'empty signature', json_build_object('x-signature', '', 'x-timestamp', :'ts'), :'body'),
	(24, 'a huge signature', json_build_object('x-signature', repeat('ab', 5000), 'x-timestamp', :'ts'), :'body')
  ) AS c(n, label, headers, body)
 ORDER BY n;
COMMIT;

-- Only the accepted deliveries were stored.
SELECT outcome, count(*) FROM vapi.events GROUP BY outcome ORDER BY outcome;

-- Rotation: a second secret is live next to the first, then the first goes.
SELECT vapi.add_hmac_credential('whsec-a2c4e6f8b1d3') AS second_id \gset
SELECT extract(epoch FROM now())::bigint AS ts \gset
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(json_build_object('x-signature', sign(secret, :'ts' || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', :'ts')::text, :'body')
  FROM (VALUES (1, 'first secret', 'whsec-5e1f0c3a9b7d'),
               (2, 'second secret', 'whsec-a2c4e6f8b1d3'),
               (3, 'neither', 'whsec-000000000000')) AS c(n, label, secret)
 ORDER BY n;
COMMIT;
SELECT vapi.remove_credential(:first_id);
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(json_build_object('x-signature', sign(secret, :'ts' || '.' || :'body', 'sha256', 'hex'), 'x-timestamp', :'ts')::text, :'body')
  FROM (VALUES (1, 'first secret, removed', 'whsec-5e1f0c3a9b7d'),
               (2, 'second secret', 'whsec-a2c4e6f8b1d3')) AS c(n, label, secret)
 ORDER BY n;
COMMIT;

-- Every algorithm and encoding, each credential on its own signature header
-- so that only it can accept: the right signature passes; a signature by
-- another algorithm, in the other encoding, or under another secret fails.
TRUNCATE vapi.credentials;
SELECT a AS algorithm, e AS encoding,
       vapi.add_hmac_credential('whsec-' || a || '-' || e, algorithm => upper(a), encoding => e,
                                signature_header => 'x-sig-' || a || '-' || e) > 0 AS added
  FROM unnest(ARRAY['sha256', 'sha512', 'sha1']) a, unnest(ARRAY['hex', 'base64']) e
 ORDER BY 1, 2;
SELECT extract(epoch FROM now())::bigint AS ts \gset
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT a AS algorithm, e AS encoding,
       deliver(json_build_object('x-sig-' || a || '-' || e,
                                 sign('whsec-' || a || '-' || e, :'ts' || '.' || :'body', a, e),
                                 'x-timestamp', :'ts')::text, :'body') AS right_signature,
       deliver(json_build_object('x-sig-' || a || '-' || e,
                                 sign('whsec-' || a || '-' || e, :'ts' || '.' || :'body',
                                      CASE a WHEN 'sha256' THEN 'sha512' ELSE 'sha256' END, e),
                                 'x-timestamp', :'ts')::text, :'body') AS other_algorithm,
       deliver(json_build_object('x-sig-' || a || '-' || e,
                                 sign('whsec-' || a || '-' || e, :'ts' || '.' || :'body', a,
                                      CASE e WHEN 'hex' THEN 'base64' ELSE 'hex' END),
                                 'x-timestamp', :'ts')::text, :'body') AS other_encoding,
       deliver(json_build_object('x-sig-' || a || '-' || e,
                                 sign('whsec-wrong', :'ts' || '.' || :'body', a, e),
                                 'x-timestamp', :'ts')::text, :'body') AS other_secret
  FROM unnest(ARRAY['sha256', 'sha512', 'sha1']) a, unnest(ARRAY['hex', 'base64']) e
 ORDER BY 1, 2;
COMMIT;

-- A prefix (as GitHub's "sha256=") over the body alone, without a timestamp.
TRUNCATE vapi.credentials;
SELECT vapi.add_hmac_credential('whsec-prefixed-77', prefix => 'sha256=',
                                signature_header => 'X-Hub-Signature-256',
                                timestamp_header => NULL, payload_format => '{body}') > 0 AS added;
SELECT header, prefix, timestamp_header, payload_format, tolerance FROM vapi.credential_list;
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(json_build_object('x-hub-signature-256', sig)::text, :'body')
  FROM (VALUES
	(1, 'with the prefix', 'sha256=' || sign('whsec-prefixed-77', :'body', 'sha256', 'hex')),
	(2, 'prefix in capitals', 'SHA256=' || sign('whsec-prefixed-77', :'body', 'sha256', 'hex')),
	(3, 'without the prefix', sign('whsec-prefixed-77', :'body', 'sha256', 'hex')),
	(4, 'another prefix', 'sha1=' || sign('whsec-prefixed-77', :'body', 'sha256', 'hex')),
	(5, 'signed with a timestamp', 'sha256=' || sign('whsec-prefixed-77', :'ts' || '.' || :'body', 'sha256', 'hex'))
  ) AS c(n, label, sig)
 ORDER BY n;
COMMIT;

-- A payload format of one's own, sha512 in base64, a 30 second window.
TRUNCATE vapi.credentials;
SELECT vapi.add_hmac_credential('whsec-fmt-31', algorithm => 'sha512', encoding => 'base64',
                                signature_header => 'x-vapi-signature', timestamp_header => 'x-vapi-timestamp',
                                payload_format => 'v1:{timestamp}:{body}', tolerance => '30 seconds') > 0 AS added;
SELECT extract(epoch FROM now())::bigint AS ts \gset
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(json_build_object('x-vapi-signature', sign('whsec-fmt-31', msg, 'sha512', 'base64'),
                                           'x-vapi-timestamp', ts)::text, :'body')
  FROM (VALUES
	(1, 'the format', 'v1:' || :'ts' || ':' || :'body', :'ts'),
	(2, 'the default format', :'ts' || '.' || :'body', :'ts'),
	(3, 'the format, 10 s ago', 'v1:' || (:ts - 10) || ':' || :'body', (:ts - 10)::text),
	(4, 'the format, 60 s ago', 'v1:' || (:ts - 60) || ':' || :'body', (:ts - 60)::text)
  ) AS c(n, label, msg, ts)
 ORDER BY n;
COMMIT;

-- A stale timestamp's refusal says by how much (masked here: it depends on
-- today's date) and what the tolerance is.
CREATE FUNCTION refusal_detail(headers text, body text) RETURNS text
	LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	PERFORM set_config('request.headers', headers, true);
	PERFORM vapi_webhook(body::json);
	RETURN 'accepted';
EXCEPTION WHEN sqlstate 'PT401' THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN regexp_replace(detail, '^It is \d+ seconds', 'It is N seconds');
END
$$;
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT refusal_detail(json_build_object('x-vapi-signature', 'bm9wZQ==', 'x-vapi-timestamp', '1000000000')::text, :'body') AS in_2001,
       refusal_detail(json_build_object('x-vapi-signature', 'bm9wZQ==', 'x-vapi-timestamp', '9000000000')::text, :'body') AS in_2255;
COMMIT;
DROP FUNCTION refusal_detail(text, text);

-- A body that is JSON but cannot be jsonb is authenticated on its exact
-- bytes and kept as their text; a SQL NULL body is an empty one.
TRUNCATE vapi.credentials;
SELECT vapi.add_hmac_credential('whsec-5e1f0c3a9b7d') > 0 AS added;
\set zbody '{"message": {"type": "transcript", "transcript": "a\\u0000b", "call": {"id": "call-h9"}}}'
SELECT extract(epoch FROM now())::bigint AS ts \gset
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT deliver(json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.' || :'zbody', 'sha256', 'hex'),
                                 'x-timestamp', :'ts')::text, :'zbody') AS nul_escape;
SELECT deliver(json_build_object('x-signature', sign('whsec-5e1f0c3a9b7d', :'ts' || '.', 'sha256', 'hex'),
                                 'x-timestamp', :'ts')::text, NULL) AS sql_null;
COMMIT;
SELECT id, outcome, detail, payload #>> '{}' = :'zbody' AS kept_exact_text
  FROM vapi.events WHERE outcome = 'rejected' ORDER BY id;

SELECT outcome, count(*) FROM vapi.events GROUP BY outcome ORDER BY outcome;
SELECT vapi_call_id, status FROM vapi.calls ORDER BY 1;

DROP FUNCTION deliver(text, text);
DROP FUNCTION sign(text, text, text, text);
DEALLOCATE webhook;
REVOKE EXECUTE ON FUNCTION vapi_webhook(json) FROM regress_webhook;
DROP ROLE regress_webhook;
TRUNCATE vapi.credentials RESTART IDENTITY;
