-- The options of Vapi's HmacAuthenticationPlan beyond auth_hmac's:
-- payloadFormat with {svix-id} filled from messageIdHeader, {method}, and
-- secretIsBase64.  Each signature is computed here with pgcrypto, as the
-- SDK documents Vapi's signing: the payload format with {timestamp},
-- {svix-id}, {method} and {body} replaced, HMAC under the secret key
-- (base64-decoded first when secretIsBase64), in signatureEncoding, after
-- signaturePrefix.
TRUNCATE vapi.calls, vapi.events, vapi.credentials RESTART IDENTITY;
CREATE ROLE regress_webhook NOLOGIN;
GRANT EXECUTE ON FUNCTION vapi_webhook(json) TO regress_webhook;

-- The signature, over the UTF-8 bytes of message, under the key's bytes.
CREATE FUNCTION sign(key bytea, message text, algorithm text, encoding text) RETURNS text
	LANGUAGE sql AS $$
	SELECT translate(encode(hmac(convert_to(message, 'UTF8'), key, algorithm), encoding), E'\n', '')
$$;
CREATE FUNCTION deliver(headers json, body text) RETURNS text
	LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('request.headers', headers::text, true);
	RETURN 'accepted (' || (vapi_webhook(body::json) ->> 'action') || ')';
EXCEPTION WHEN sqlstate 'PT401' THEN
	RETURN 'PT401 ' || SQLERRM;
END
$$;

-- Registration refuses what could never be checked.
\set SHOW_CONTEXT never
SELECT vapi.add_hmac_credential('s', payload_format => '{svix-id}.{timestamp}.{body}');
SELECT vapi.add_hmac_credential('s', payload_format => '{url}.{body}');
SELECT vapi.add_hmac_credential('s', payload_format => '{ts}.{body}');
SELECT vapi.add_hmac_credential('s', payload_format => '{timestamp}.{Body}.{body}');
SELECT vapi.add_hmac_credential('s', message_id_header => 'svix id');
SELECT vapi.add_hmac_credential('s', message_id_header => 'X-Signature');
SELECT vapi.add_hmac_credential('s', message_id_header => 'x-timestamp');
SELECT vapi.add_hmac_credential('not base64!', secret_is_base64 => true);
SELECT vapi.add_hmac_credential('====', secret_is_base64 => true);
SELECT vapi.add_hmac_credential('c2Vj cmV0', secret_is_base64 => true);
SELECT vapi.add_hmac_credential('s', secret_is_base64 => NULL);
\set SHOW_CONTEXT errors
-- the table refuses a {svix-id} format without its header, whatever inserts it
\set VERBOSITY terse
INSERT INTO vapi.credentials (kind, secret, header, algorithm, encoding, payload_format)
VALUES ('hmac', 's', 'x-signature', 'sha256', 'hex', '{svix-id}.{body}');
INSERT INTO vapi.credentials (kind, secret, header, secret_is_base64)
VALUES ('bearer', 's', 'authorization', true);
\set VERBOSITY default
SELECT count(*) AS none_added FROM vapi.credentials;

-- The old eight-argument call still works, positionally too.
SELECT vapi.add_hmac_credential('old-style', 'sha256', 'hex', '', 'x-sig-old', 'x-ts-old',
                                '{timestamp}.{body}', '5 minutes') > 0 AS added;

-- Svix style, as Vapi signs it: {svix-id}.{timestamp}.{body} with the
-- message id header, a base64 secret, base64 signatures after "v1,".
SELECT vapi.add_hmac_credential('c2VjcmV0LWtleS1mb3ItdmFwaS0xMw==', encoding => 'base64', prefix => 'v1,',
                                signature_header => 'svix-signature', timestamp_header => 'svix-timestamp',
                                message_id_header => 'Svix-Id', payload_format => '{svix-id}.{timestamp}.{body}',
                                secret_is_base64 => true) > 0 AS added;
SELECT header, prefix, encoding, timestamp_header, message_id_header, payload_format, secret_is_base64
  FROM vapi.credential_list ORDER BY id;
SELECT vapi.remove_credential(id) FROM vapi.credential_list WHERE header = 'x-sig-old';

\set body '{"message": {"type": "status-update", "status": "in-progress", "call": {"id": "call-o1"}, "customer": {"name": "Zoë Ångström 日本"}}}'
SELECT extract(epoch FROM now())::bigint AS ts \gset
\set key '''\\x7365637265742d6b65792d666f722d766170692d3133''::bytea'
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(headers, :'body')
  FROM (VALUES
	(1, 'signed as documented', json_build_object('svix-signature', 'v1,' || sign(:key, 'msg_2Hq7.' || :'ts' || '.' || :'body', 'sha256', 'base64'),
	                                              'svix-timestamp', :'ts', 'svix-id', 'msg_2Hq7')),
	(2, 'another message id in the header', json_build_object('svix-signature', 'v1,' || sign(:key, 'msg_2Hq7.' || :'ts' || '.' || :'body', 'sha256', 'base64'),
	                                                          'svix-timestamp', :'ts', 'svix-id', 'msg_2Hq8')),
	(3, 'no message id header', json_build_object('svix-signature', 'v1,' || sign(:key, 'msg_2Hq7.' || :'ts' || '.' || :'body', 'sha256', 'base64'),
	                                              'svix-timestamp', :'ts')),
	(4, 'an empty message id, signed as such', json_build_object('svix-signature', 'v1,' || sign(:key, '.' || :'ts' || '.' || :'body', 'sha256', 'base64'),
	                                                       'svix-timestamp', :'ts', 'svix-id', '')),
	(5, 'signed with the base64 text as the key', json_build_object('svix-signature', 'v1,' || sign(convert_to('c2VjcmV0LWtleS1mb3ItdmFwaS0xMw==', 'UTF8'), 'msg_2Hq7.' || :'ts' || '.' || :'body', 'sha256', 'base64'),
	                                                                'svix-timestamp', :'ts', 'svix-id', 'msg_2Hq7')),
	(6, 'a body that differs in one non-ASCII byte', json_build_object('svix-signature', 'v1,' || sign(:key, 'msg_2Hq7.' || :'ts' || '.' || replace(:'body', 'Zoë', 'Zoe'), 'sha256', 'base64'),
	                                                                  'svix-timestamp', :'ts', 'svix-id', 'msg_2Hq7'))
  ) AS c(n, label, headers)
 ORDER BY n;
COMMIT;

-- {method} is POST; a message id header without {svix-id} in the format is
-- still required; a secret not marked base64 is used as its own bytes even
-- when it looks like base64.
TRUNCATE vapi.credentials;
SELECT vapi.add_hmac_credential('aGVsbG8=', algorithm => 'sha512', payload_format => '{method} {timestamp} {body}',
                                message_id_header => 'x-message-id') > 0 AS added;
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(headers, :'body')
  FROM (VALUES
	(1, 'POST, with the id header', json_build_object('x-signature', sign(convert_to('aGVsbG8=', 'UTF8'), 'POST ' || :'ts' || ' ' || :'body', 'sha512', 'hex'),
	                                                  'x-timestamp', :'ts', 'x-message-id', 'm1')),
	(2, 'GET', json_build_object('x-signature', sign(convert_to('aGVsbG8=', 'UTF8'), 'GET ' || :'ts' || ' ' || :'body', 'sha512', 'hex'),
	                             'x-timestamp', :'ts', 'x-message-id', 'm1')),
	(3, 'decoded key', json_build_object('x-signature', sign('\x68656c6c6f'::bytea, 'POST ' || :'ts' || ' ' || :'body', 'sha512', 'hex'),
	                                     'x-timestamp', :'ts', 'x-message-id', 'm1')),
	(4, 'no id header', json_build_object('x-signature', sign(convert_to('aGVsbG8=', 'UTF8'), 'POST ' || :'ts' || ' ' || :'body', 'sha512', 'hex'),
	                                      'x-timestamp', :'ts'))
  ) AS c(n, label, headers)
 ORDER BY n;
COMMIT;

-- Without a timestamp: the message id alone, sha1 in hex, includeTimestamp false.
TRUNCATE vapi.credentials;
SELECT vapi.add_hmac_credential('k-13', algorithm => 'sha1', timestamp_header => NULL,
                                message_id_header => 'webhook-id', payload_format => '{svix-id}.{body}') > 0 AS added;
BEGIN;
SET LOCAL ROLE regress_webhook;
SELECT n, label, deliver(headers, :'body')
  FROM (VALUES
	(1, 'right', json_build_object('x-signature', sign(convert_to('k-13', 'UTF8'), 'evt-9.' || :'body', 'sha1', 'hex'), 'webhook-id', 'evt-9')),
	(2, 'wrong id', json_build_object('x-signature', sign(convert_to('k-13', 'UTF8'), 'evt-9.' || :'body', 'sha1', 'hex'), 'webhook-id', 'evt-10'))
  ) AS c(n, label, headers)
 ORDER BY n;
COMMIT;

SELECT outcome, count(*) FROM vapi.events GROUP BY outcome ORDER BY outcome;
SELECT payload #>> '{message,customer,name}' AS name FROM vapi.events ORDER BY id LIMIT 1;

DROP FUNCTION deliver(json, text);
DROP FUNCTION sign(bytea, text, text, text);
REVOKE EXECUTE ON FUNCTION vapi_webhook(json) FROM regress_webhook;
DROP ROLE regress_webhook;
TRUNCATE vapi.calls, vapi.events, vapi.credentials RESTART IDENTITY;
