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

-- ==== Performance: the merge rule in C (issue 5) ====
-- The upsert's DO UPDATE calls these instead of spelling the per-column
-- rule out in SQL (src/merge_fn.c says why).  Internal: only the
-- extension's own statement uses them.

CREATE FUNCTION vapi.merge_value(stored anyelement, incoming anyelement,
		stored_versions bigint[], incoming_versions bigint[], field integer)
	RETURNS anyelement
	AS 'MODULE_PATHNAME', 'vapi_merge_value'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.merge_value(anyelement, anyelement, bigint[], bigint[], integer) IS
	'incoming if its version (or, on a tie, its value) is higher, else stored';

CREATE FUNCTION vapi.merge_versions(stored bigint[], incoming bigint[])
	RETURNS bigint[]
	AS 'MODULE_PATHNAME', 'vapi_merge_versions'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.merge_versions(bigint[], bigint[]) IS
	'element by element, the higher of the stored and incoming versions';

CREATE FUNCTION vapi.merge_wins(stored_versions bigint[], incoming_versions bigint[],
		VARIADIC pairs "any")
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'vapi_merge_wins'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.merge_wins(bigint[], bigint[], "any") IS
	'true when the incoming value of any field, given as (field number, stored, incoming) triples, wins';

CREATE FUNCTION vapi.merge_changed(stored_versions bigint[], incoming_versions bigint[],
		VARIADIC pairs "any")
	RETURNS boolean
	AS 'MODULE_PATHNAME', 'vapi_merge_changed'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.merge_changed(bigint[], bigint[], "any") IS
	'true when a winning incoming value is distinct from the stored one';

-- The CHECK constraints of vapi.calls (status, direction) and vapi.events
-- (outcome), as domains.  The executor reads a table's CHECK constraints
-- back from their stored text and plans them again on every statement
-- that writes the table (ExecRelCheck), and vapi_ingest runs two such
-- statements per event: that was 6% of its time.  A domain's constraint is
-- compiled once per backend and kept in the type cache.  Same values
-- allowed; the columns are still text to every reader.
CREATE DOMAIN vapi.call_status AS text
	CHECK (VALUE IN ('scheduled', 'queued', 'ringing', 'in-progress', 'forwarding', 'completed', 'failed'));
CREATE DOMAIN vapi.call_direction AS text
	CHECK (VALUE IN ('inbound', 'outbound', 'web'));
CREATE DOMAIN vapi.event_outcome AS text
	CHECK (VALUE IN ('inserted', 'updated', 'unchanged', 'ignored', 'rejected', 'error'));
ALTER TABLE vapi.calls
	DROP CONSTRAINT calls_status_check,
	DROP CONSTRAINT calls_direction_check,
	ALTER status TYPE vapi.call_status,
	ALTER direction TYPE vapi.call_direction;
ALTER TABLE vapi.events
	DROP CONSTRAINT events_outcome_check,
	ALTER outcome TYPE vapi.event_outcome;
