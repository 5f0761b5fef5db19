/*
 * vapi_calls 0.1.0 -> 0.2.0
 *
 * Every change to the schema and the SQL surface since 0.1.0, in the order
 * it was made.  The result must equal a fresh install from
 * vapi_calls--0.2.0.sql: test/upgrade.sh walks this script and compares the
 * two catalogs.
 */
\echo Use "ALTER EXTENSION vapi_calls UPDATE TO '0.2.0'" to load this file. \quit

-- Issue 13: every option of Vapi's HmacAuthenticationPlan
--
-- messageIdHeader ({svix-id}) and secretIsBase64 become credential columns,
-- and vapi.add_hmac_credential() two defaulted parameters.  CREATE OR
-- REPLACE cannot add parameters, so the function is dropped and created
-- again; the EXECUTE grants on the old one are carried over, so existing
-- callers keep working.
ALTER TABLE vapi.credentials
	ADD COLUMN message_id_header text CHECK (message_id_header ~ '^[-!#$%&''*+.^_`|~0-9a-z]+$'),
	ADD COLUMN secret_is_base64 boolean NOT NULL DEFAULT false,
	ADD CONSTRAINT credentials_hmac_options_check CHECK (CASE kind
		   WHEN 'bearer' THEN message_id_header IS NULL AND NOT secret_is_base64
		   ELSE message_id_header IS NOT NULL OR strpos(payload_format, '{svix-id}') = 0
		   END);

CREATE OR REPLACE VIEW vapi.credential_list AS
	SELECT id, kind, header, prefix, algorithm, encoding, timestamp_header,
		   payload_format, tolerance, created_at, message_id_header, secret_is_base64
	  FROM vapi.credentials;

CREATE TEMPORARY TABLE vapi_calls_13_grants AS
	SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::pg_catalog.regrole::text END AS grantee,
		   a.is_grantable
	  FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
	 WHERE p.oid = 'vapi.add_hmac_credential(text, text, text, text, text, text, text, interval)'::pg_catalog.regprocedure
	   AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner;
DROP FUNCTION vapi.add_hmac_credential(text, text, text, text, text, text, text, interval);
CREATE FUNCTION vapi.add_hmac_credential(secret text,
										 algorithm text DEFAULT 'sha256',
										 encoding text DEFAULT 'hex',
										 prefix text DEFAULT '',
										 signature_header text DEFAULT 'x-signature',
										 timestamp_header text DEFAULT 'x-timestamp',
										 payload_format text DEFAULT '{timestamp}.{body}',
										 tolerance interval DEFAULT '5 minutes',
										 message_id_header text DEFAULT NULL,
										 secret_is_base64 boolean DEFAULT false)
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	alg text := lower(algorithm);
	enc text := lower(encoding);
	sig_header text;
	ts_header text;
	id_header text;
	placeholder text;
	new_id bigint;
BEGIN
	IF secret IS NULL OR secret = '' THEN
		RAISE EXCEPTION 'secret must not be %', CASE WHEN secret IS NULL THEN 'null' ELSE 'empty' END
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF secret_is_base64 IS NULL THEN
		RAISE EXCEPTION 'secret_is_base64 must not be null'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF secret_is_base64 THEN
		BEGIN
			-- (white space too: PostgreSQL's C decoder, which checks deliveries, refuses it)
			IF secret ~ '[[:space:]]' OR length(decode(secret, 'base64')) = 0 THEN
				RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value';
			END IF;
		EXCEPTION WHEN invalid_parameter_value THEN
			RAISE EXCEPTION 'secret is not base64, but secret_is_base64 is true'
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Pass the secret exactly as Vapi''s secretKey, or secret_is_base64 => false.';
		END;
	END IF;
	IF alg IS NULL OR alg NOT IN ('sha256', 'sha512', 'sha1') THEN
		RAISE EXCEPTION 'unsupported HMAC algorithm %', coalesce(quote_literal(algorithm), 'null')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use sha256, sha512 or sha1.';
	END IF;
	IF enc IS NULL OR enc NOT IN ('hex', 'base64') THEN
		RAISE EXCEPTION 'unsupported signature encoding %', coalesce(quote_literal(encoding), 'null')
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Use hex or base64.';
	END IF;
	PERFORM vapi._check_header_text(prefix, 'prefix', true);
	sig_header := vapi._check_header_name(signature_header, 'signature_header');
	IF payload_format IS NULL OR strpos(payload_format, '{body}') = 0 THEN
		RAISE EXCEPTION 'payload_format must contain {body}'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A signature that does not cover the body does not authenticate it.';
	END IF;
	-- Every placeholder must be one the database can fill.
	FOR placeholder IN SELECT m[1] FROM regexp_matches(payload_format, '(\{[^{}]*\})', 'g') AS m LOOP
		IF placeholder = '{url}' THEN
			RAISE EXCEPTION 'payload_format placeholder {url} cannot be filled'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'The database does not see the URL Vapi signed: a proxy or PostgREST in front of it may change its scheme, host and path.';
		ELSIF placeholder NOT IN ('{timestamp}', '{body}', '{svix-id}', '{method}') THEN
			RAISE EXCEPTION 'payload_format placeholder % cannot be filled', placeholder
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'The placeholders are {body}, {timestamp}, {svix-id} and {method}.';
		END IF;
	END LOOP;
	IF timestamp_header IS NOT NULL THEN
		ts_header := vapi._check_header_name(timestamp_header, 'timestamp_header');
		IF ts_header = sig_header THEN
			RAISE EXCEPTION 'timestamp_header and signature_header must differ'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		IF tolerance IS NULL OR tolerance <= interval '0' THEN
			RAISE EXCEPTION 'tolerance must be a positive interval'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	ELSIF strpos(payload_format, '{timestamp}') > 0 THEN
		RAISE EXCEPTION 'payload_format contains {timestamp} but there is no timestamp_header'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF message_id_header IS NOT NULL THEN
		id_header := vapi._check_header_name(message_id_header, 'message_id_header');
		IF id_header IN (sig_header, ts_header) THEN
			RAISE EXCEPTION 'message_id_header must differ from signature_header and timestamp_header'
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
	ELSIF strpos(payload_format, '{svix-id}') > 0 THEN
		RAISE EXCEPTION 'payload_format contains {svix-id} but there is no message_id_header'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the messageIdHeader of Vapi''s HMAC credential as message_id_header.';
	END IF;
	INSERT INTO vapi.credentials (kind, secret, header, prefix, algorithm, encoding,
								  timestamp_header, payload_format, tolerance,
								  message_id_header, secret_is_base64)
	VALUES ('hmac', add_hmac_credential.secret, sig_header, add_hmac_credential.prefix,
			alg, enc, ts_header, add_hmac_credential.payload_format,
			CASE WHEN ts_header IS NOT NULL THEN add_hmac_credential.tolerance END,
			id_header, add_hmac_credential.secret_is_base64)
	RETURNING id INTO new_id;
	RETURN new_id;
END
$$;
COMMENT ON FUNCTION vapi.add_hmac_credential(text, text, text, text, text, text, text, interval, text, boolean) IS
	'Accept webhooks signed with HMAC over payload_format; returns the credential id';
REVOKE ALL ON FUNCTION vapi.add_hmac_credential(text, text, text, text, text, text, text, interval, text, boolean) FROM PUBLIC;
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM pg_temp.vapi_calls_13_grants LOOP
		EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION vapi.add_hmac_credential(text, text, text, text, text, text, text, interval, text, boolean) TO %s%s',
								  g.grantee, CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;
DROP TABLE pg_temp.vapi_calls_13_grants;

-- Issue 13: replies to request-type messages
ALTER TABLE vapi.phone_numbers ADD COLUMN assistant_id text;
COMMENT ON COLUMN vapi.phone_numbers.assistant_id IS
	'The Vapi assistant vapi_webhook names in reply to an assistant-request for this number';
COMMENT ON FUNCTION @extschema@.vapi_webhook(json) IS
	'HTTP endpoint: authenticate a Vapi webhook from request.headers, ingest it, answer a request with its reply';


CREATE FUNCTION vapi.expects_reply(message_type text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'vapi_expects_reply_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vapi.expects_reply(text) IS
	'true for the message types Vapi waits for a JSON reply to, which vapi.set_handler accepts';

CREATE TABLE vapi.handlers (
	message_type text PRIMARY KEY CHECK (vapi.expects_reply(message_type)),
	handler text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vapi.handlers IS
	'The SQL function (message jsonb) returns jsonb whose result vapi_webhook returns for each request type';
COMMENT ON COLUMN vapi.handlers.handler IS
	'The function, as regprocedure text (schema-qualified); resolved on each delivery';
REVOKE ALL ON vapi.handlers FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('vapi.handlers', '');

CREATE FUNCTION vapi.set_handler(message_type text, handler regprocedure) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	fn record;
BEGIN
	IF message_type IS NULL OR NOT vapi.expects_reply(message_type) THEN
		RAISE EXCEPTION 'message type % expects no reply', coalesce(quote_literal(message_type), 'null')
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = CASE WHEN message_type = 'voice-request'
						   THEN 'Vapi expects raw PCM audio in reply to a voice-request, which a jsonb function cannot give.'
						   ELSE 'Vapi ignores the reply body of every message but assistant-request, tool-calls, transfer-destination-request, handoff-destination-request, knowledge-base-request, call.endpointing.request and campaign.predial.' END;
	END IF;
	IF handler IS NULL THEN
		RAISE EXCEPTION 'handler must not be null'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'vapi.remove_handler(message_type) removes a handler.';
	END IF;
	SELECT p.prokind, p.proretset, p.pronargs, p.proargtypes[0] AS argtype, p.prorettype
	  INTO fn FROM pg_catalog.pg_proc p WHERE p.oid = handler;
	IF fn.prokind <> 'f' OR fn.proretset OR fn.pronargs <> 1
	   OR fn.argtype <> 'jsonb'::regtype OR fn.prorettype <> 'jsonb'::regtype THEN
		RAISE EXCEPTION '% cannot be a handler', handler
			USING ERRCODE = 'invalid_function_definition',
				  DETAIL = 'A handler is a function (message jsonb) returns jsonb.';
	END IF;
	INSERT INTO vapi.handlers AS h (message_type, handler)
	VALUES (set_handler.message_type, set_handler.handler::text)
	ON CONFLICT ON CONSTRAINT handlers_pkey
	DO UPDATE SET handler = excluded.handler, created_at = now();
END
$$;
COMMENT ON FUNCTION vapi.set_handler(text, regprocedure) IS
	'Answer every message_type delivery to vapi_webhook with handler(message), run as its owner';
REVOKE ALL ON FUNCTION vapi.set_handler(text, regprocedure) FROM PUBLIC;

CREATE FUNCTION vapi.remove_handler(message_type text) RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	DELETE FROM vapi.handlers h WHERE h.message_type = remove_handler.message_type;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION vapi.remove_handler(text) IS
	'Stop answering message_type with a handler; false if it had none';
REVOKE ALL ON FUNCTION vapi.remove_handler(text) FROM PUBLIC;
