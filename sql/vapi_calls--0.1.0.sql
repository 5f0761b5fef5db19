/*
 * vapi_calls 0.1.0
 *
 * What lives here: the schema (tables, indexes, grants) and the small SQL
 * surface around the C hot path.  What lives in C (src/): reading a
 * delivery, resolving org and caller, the merge, the event log.
 */
\echo Use "CREATE EXTENSION vapi_calls" to load this file. \quit

CREATE SCHEMA vapi;
COMMENT ON SCHEMA vapi IS 'vapi_calls: Vapi call webhooks, one row per call';
REVOKE ALL ON SCHEMA vapi FROM PUBLIC;

-- Directory: which org owns which Vapi assistant and phone number, and the
-- org's address book.

CREATE TABLE vapi.agents (
	vapi_assistant_id text PRIMARY KEY,
	org_id uuid NOT NULL,
	name text
);
COMMENT ON TABLE vapi.agents IS 'Which org owns which Vapi assistant';

CREATE TABLE vapi.phone_numbers (
	vapi_phone_number_id text PRIMARY KEY,
	org_id uuid NOT NULL,
	number text
);
COMMENT ON TABLE vapi.phone_numbers IS 'Which org owns which Vapi phone number';

CREATE FUNCTION vapi.normalize_phone(text) RETURNS text
	AS 'MODULE_PATHNAME', 'vapi_normalize_phone_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vapi.normalize_phone(text) IS
	'Digits of a phone number, with a leading + when international (+ or 00); NULL without digits';

CREATE FUNCTION vapi.classify_ended_reason(text) RETURNS text
	AS 'MODULE_PATHNAME', 'vapi_classify_ended_reason_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vapi.classify_ended_reason(text) IS
	'completed or failed, for any Vapi endedReason';

CREATE TABLE vapi.contacts (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	org_id uuid NOT NULL,
	phone text NOT NULL,
	name text,
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vapi.contacts IS 'Each org''s address book; callers are matched on vapi.normalize_phone(phone)';
CREATE INDEX contacts_org_phone_idx ON vapi.contacts (org_id, vapi.normalize_phone(phone));

-- One row per Vapi call.

CREATE TABLE vapi.calls (
	vapi_call_id text PRIMARY KEY,
	id uuid NOT NULL DEFAULT gen_random_uuid() UNIQUE,
	org_id uuid,
	vapi_org_id text,
	assistant_id text,
	phone_number_id text,
	call_type text,
	direction text CHECK (direction IN ('inbound', 'outbound', 'web')),
	status text CHECK (status IN ('scheduled', 'queued', 'ringing', 'in-progress',
								  'forwarding', 'completed', 'failed')),
	ended_reason text,
	phone_number text,
	from_number text,
	caller_name text,
	is_test_call boolean NOT NULL DEFAULT false,
	started_at timestamptz,
	ended_at timestamptz,
	duration_seconds numeric,
	cost numeric,
	transcript text,
	summary text,
	sentiment text,
	recording_url text,
	stereo_recording_url text,
	analysis jsonb,
	metadata jsonb NOT NULL DEFAULT '{}',
	first_event_at timestamptz NOT NULL,
	last_event_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now(),
	-- bookkeeping of the merge (see README, "Ordering model")
	status_rank smallint NOT NULL DEFAULT 0,
	field_versions bigint[] NOT NULL DEFAULT '{}',
	events_applied integer NOT NULL DEFAULT 1,
	last_change_seq integer NOT NULL DEFAULT 1
) WITH (fillfactor = 90);
COMMENT ON TABLE vapi.calls IS 'One row per Vapi call, converged from every delivery about it';
CREATE INDEX calls_org_idx ON vapi.calls (org_id, first_event_at);

-- Every delivery, as received.

CREATE TABLE vapi.events (
	id bigint GENERATED ALWAYS AS IDENTITY,
	received_at timestamptz NOT NULL DEFAULT now(),
	vapi_call_id text NOT NULL DEFAULT '',
	type text,
	status text,
	event_at timestamptz,
	payload jsonb,
	outcome text NOT NULL CHECK (outcome IN ('inserted', 'updated', 'unchanged',
											 'ignored', 'rejected', 'error')),
	detail text,
	PRIMARY KEY (vapi_call_id, id)
);
COMMENT ON TABLE vapi.events IS 'Every delivery as received, with its outcome; replayable';
CREATE INDEX events_received_at_idx ON vapi.events (received_at);

SELECT pg_catalog.pg_extension_config_dump('vapi.agents', '');
SELECT pg_catalog.pg_extension_config_dump('vapi.phone_numbers', '');
SELECT pg_catalog.pg_extension_config_dump('vapi.contacts', '');
SELECT pg_catalog.pg_extension_config_dump('vapi.calls', '');
SELECT pg_catalog.pg_extension_config_dump('vapi.events', '');
SELECT pg_catalog.pg_extension_config_dump('vapi.events_id_seq', '');

-- Entry points, in the schema the extension is created in.

CREATE FUNCTION @extschema@.vapi_ingest(payload jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'vapi_ingest'
	LANGUAGE C VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.vapi_ingest(jsonb) IS
	'Ingest one Vapi webhook body (trusted callers: no signature check)';
REVOKE ALL ON FUNCTION @extschema@.vapi_ingest(jsonb) FROM PUBLIC;

-- ==== HTTP endpoint, credentials and tenants (issue 4) ====
--
-- vapi_webhook(json) is the endpoint PostgREST or a thin proxy calls: it
-- authenticates the delivery from request.headers against vapi.credentials
-- (in C, src/auth.c) and then ingests it as vapi_ingest does.  The
-- credentials are managed here, in SQL, by the extension's owner; nobody
-- else can read them.  Tenants read vapi.calls under row level security,
-- their org taken from the JWT claims PostgREST sets (src/request.c).

CREATE TABLE vapi.credentials (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('bearer', 'hmac')),
	secret text NOT NULL CHECK (secret <> ''),
	header text NOT NULL CHECK (header ~ '^[-!#$%&''*+.^_`|~0-9a-z]+$'),
	prefix text NOT NULL DEFAULT '',
	algorithm text CHECK (algorithm IN ('sha256', 'sha512', 'sha1')),
	encoding text CHECK (encoding IN ('hex', 'base64')),
	timestamp_header text CHECK (timestamp_header ~ '^[-!#$%&''*+.^_`|~0-9a-z]+$'),
	payload_format text CHECK (strpos(payload_format, '{body}') > 0),
	tolerance interval CHECK (tolerance > interval '0'),
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK (CASE kind
		   WHEN 'bearer' THEN algorithm IS NULL AND encoding IS NULL AND timestamp_header IS NULL
							 AND payload_format IS NULL AND tolerance IS NULL
		   ELSE algorithm IS NOT NULL AND encoding IS NOT NULL AND payload_format IS NOT NULL
				AND (timestamp_header IS NULL) = (tolerance IS NULL)
				AND (timestamp_header IS NOT NULL OR strpos(payload_format, '{timestamp}') = 0)
		   END)
);
COMMENT ON TABLE vapi.credentials IS
	'Webhook credentials (secrets): readable by the extension owner and superusers only';
REVOKE ALL ON vapi.credentials FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('vapi.credentials', '');
SELECT pg_catalog.pg_extension_config_dump('vapi.credentials_id_seq', '');

CREATE VIEW vapi.credential_list AS
	SELECT id, kind, header, prefix, algorithm, encoding, timestamp_header,
		   payload_format, tolerance, created_at
	  FROM vapi.credentials;
COMMENT ON VIEW vapi.credential_list IS 'The webhook credentials, without their secrets';
REVOKE ALL ON vapi.credential_list FROM PUBLIC;

-- Raise invalid_parameter_value unless name is an HTTP header name; return it lower-cased.
CREATE FUNCTION vapi._check_header_name(name text, what text) RETURNS text
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF name IS NULL OR name !~ '^[-!#$%&''*+.^_`|~0-9A-Za-z]+$' THEN
		RAISE EXCEPTION '% % is not an HTTP header name', what, quote_nullable(name)
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN lower(name);
END
$$;
REVOKE ALL ON FUNCTION vapi._check_header_name(text, text) FROM PUBLIC;

-- Raise invalid_parameter_value unless value can sit in an HTTP header.
CREATE FUNCTION vapi._check_header_text(value text, what text, may_be_empty boolean) RETURNS void
	LANGUAGE plpgsql IMMUTABLE
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF value IS NULL OR (value = '' AND NOT may_be_empty) THEN
		RAISE EXCEPTION '% must not be %', what, CASE WHEN value IS NULL THEN 'null' ELSE 'empty' END
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF value ~ '[\x01-\x1f\x7f]' THEN
		RAISE EXCEPTION '% must not contain control characters', what
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
END
$$;
REVOKE ALL ON FUNCTION vapi._check_header_text(text, text, boolean) FROM PUBLIC;

CREATE FUNCTION vapi.add_bearer_credential(secret text,
										   header text DEFAULT 'authorization',
										   prefix text DEFAULT 'Bearer ')
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	header_name text;
	new_id bigint;
BEGIN
	PERFORM vapi._check_header_text(secret, 'secret', false);
	IF secret ~ '^[ \t]|[ \t]$' THEN
		RAISE EXCEPTION 'secret must not begin or end with white space'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'HTTP drops white space around a header value, so such a secret could never match.';
	END IF;
	PERFORM vapi._check_header_text(prefix, 'prefix', true);
	header_name := vapi._check_header_name(header, 'header');
	INSERT INTO vapi.credentials (kind, secret, header, prefix)
	VALUES ('bearer', add_bearer_credential.secret, header_name, add_bearer_credential.prefix)
	RETURNING id INTO new_id;
	RETURN new_id;
END
$$;
COMMENT ON FUNCTION vapi.add_bearer_credential(text, text, text) IS
	'Accept webhooks whose header carries prefix || secret; returns the credential id';
REVOKE ALL ON FUNCTION vapi.add_bearer_credential(text, text, text) FROM PUBLIC;

CREATE FUNCTION vapi.add_hmac_credential(secret text,
										 algorithm text DEFAULT 'sha256',
										 encoding text DEFAULT 'hex',
										 prefix text DEFAULT '',
										 signature_header text DEFAULT 'x-signature',
										 timestamp_header text DEFAULT 'x-timestamp',
										 payload_format text DEFAULT '{timestamp}.{body}',
										 tolerance interval DEFAULT '5 minutes')
	RETURNS bigint
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	alg text := lower(algorithm);
	enc text := lower(encoding);
	sig_header text;
	ts_header text;
	new_id bigint;
BEGIN
	IF secret IS NULL OR secret = '' THEN
		RAISE EXCEPTION 'secret must not be %', CASE WHEN secret IS NULL THEN 'null' ELSE 'empty' END
			USING ERRCODE = 'invalid_parameter_value';
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
	IF regexp_replace(payload_format, '\{(timestamp|body)\}', '', 'g') ~ '\{[A-Za-z_]*\}' THEN
		RAISE EXCEPTION 'payload_format has a placeholder other than {timestamp} and {body}'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
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
	INSERT INTO vapi.credentials (kind, secret, header, prefix, algorithm, encoding,
								  timestamp_header, payload_format, tolerance)
	VALUES ('hmac', add_hmac_credential.secret, sig_header, add_hmac_credential.prefix,
			alg, enc, ts_header, add_hmac_credential.payload_format,
			CASE WHEN ts_header IS NOT NULL THEN add_hmac_credential.tolerance END)
	RETURNING id INTO new_id;
	RETURN new_id;
END
$$;
COMMENT ON FUNCTION vapi.add_hmac_credential(text, text, text, text, text, text, text, interval) IS
	'Accept webhooks signed with HMAC over payload_format; returns the credential id';
REVOKE ALL ON FUNCTION vapi.add_hmac_credential(text, text, text, text, text, text, text, interval) FROM PUBLIC;

CREATE FUNCTION vapi.remove_credential(id bigint) RETURNS boolean
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
DECLARE
	found_one boolean;
BEGIN
	DELETE FROM vapi.credentials c WHERE c.id = remove_credential.id;
	found_one := FOUND;
	IF found_one AND NOT EXISTS (SELECT FROM vapi.credentials) THEN
		RAISE WARNING 'no webhook credential is left: vapi_webhook() refuses every delivery';
	END IF;
	RETURN found_one;
END
$$;
COMMENT ON FUNCTION vapi.remove_credential(bigint) IS
	'Remove a webhook credential; false if there was none with this id';
REVOKE ALL ON FUNCTION vapi.remove_credential(bigint) FROM PUBLIC;

CREATE FUNCTION @extschema@.vapi_webhook(json) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'vapi_webhook'
	LANGUAGE C VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.vapi_webhook(json) IS
	'HTTP endpoint: authenticate a Vapi webhook from request.headers, then ingest it';
REVOKE ALL ON FUNCTION @extschema@.vapi_webhook(json) FROM PUBLIC;

-- Tenants: a role that is not the owner sees only the calls of the org in
-- its JWT claims.  The owner and superusers bypass row level security, so
-- the entry points (SECURITY DEFINER) are not affected.

CREATE FUNCTION vapi.current_org() RETURNS uuid
	AS 'MODULE_PATHNAME', 'vapi_current_org'
	LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.current_org() IS
	'The org claim (vapi.jwt_org_claim) of request.jwt.claims when it is a uuid, else NULL';

ALTER TABLE vapi.calls ENABLE ROW LEVEL SECURITY;
CREATE POLICY calls_org_read ON vapi.calls FOR SELECT
	USING (org_id = (SELECT vapi.current_org()));
