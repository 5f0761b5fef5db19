/*
 * vapi_calls 0.1.0 -> 0.2.0
 *
 * Every change to the schema and the SQL surface since 0.1.0, in the order
 * it was made.  The result must equal a fresh install from
 * vapi_calls--0.2.0.sql: test/upgrade.sh walks this script and compares the
 * two catalogs.
 */
\echo Use "ALTER EXTENSION vapi_calls UPDATE TO '0.2.0'" to load this file. \quit

-- Issue 14: reconcile and backfill from Vapi's REST API
-- ==== Vapi's REST API: reconcile and backfill (issue 14) ====
--
-- vapi.reconcile_calls() and vapi.sync_calls() are C (src/api.c over
-- src/http.c, libcurl): they fetch Call objects from Vapi's API
-- (vapi.api_url) and merge each one as an event of type api.call, through
-- the same reader, resolver, merge and event log as vapi_ingest.  Like
-- vapi.replay they run as the extension's owner with a pinned search_path,
-- and only the owner may call them until EXECUTE is granted.  The API key
-- is a secret, kept as the webhook credentials are: only the owner and
-- superusers can read or set it, and pg_dump keeps it.

CREATE TABLE vapi.api_key (
	id boolean PRIMARY KEY DEFAULT true CHECK (id),
	secret text NOT NULL CHECK (secret <> ''),
	created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vapi.api_key IS
	'Vapi''s private API key, for reconcile_calls and sync_calls (a secret): readable by the extension owner and superusers only';
REVOKE ALL ON vapi.api_key FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('vapi.api_key', '');

-- NULL removes the key.  The error messages never quote it.
CREATE FUNCTION vapi.set_api_key(key text) RETURNS void
	LANGUAGE plpgsql
	SET search_path = pg_catalog, pg_temp
	AS $$
BEGIN
	IF key IS NULL THEN
		DELETE FROM vapi.api_key;
		RETURN;
	END IF;
	PERFORM vapi._check_header_text(key, 'key', false);
	IF key ~ '\s' THEN
		RAISE EXCEPTION 'key must not contain white space'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO vapi.api_key (id, secret, created_at) VALUES (true, set_api_key.key, now())
	ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at;
END
$$;
COMMENT ON FUNCTION vapi.set_api_key(text) IS
	'Set Vapi''s private API key for reconcile_calls and sync_calls (NULL removes it)';
REVOKE ALL ON FUNCTION vapi.set_api_key(text) FROM PUBLIC;

CREATE FUNCTION vapi.reconcile_calls(older_than interval DEFAULT '15 minutes') RETURNS jsonb
	AS 'MODULE_PATHNAME', 'vapi_reconcile_calls'
	LANGUAGE C VOLATILE STRICT
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vapi.reconcile_calls(interval) IS
	'GET /call/{id} from Vapi''s API for every call not ended whose last event is older than older_than, and merge the answer; returns what it did';
REVOKE ALL ON FUNCTION vapi.reconcile_calls(interval) FROM PUBLIC;

CREATE FUNCTION vapi.sync_calls(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL)
	RETURNS jsonb
	AS 'MODULE_PATHNAME', 'vapi_sync_calls'
	LANGUAGE C VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vapi.sync_calls(timestamptz, timestamptz) IS
	'Fetch every call created in [since, until) (null: unbounded) from Vapi''s API, page by page, and merge each; returns what it did';
REVOKE ALL ON FUNCTION vapi.sync_calls(timestamptz, timestamptz) FROM PUBLIC;
