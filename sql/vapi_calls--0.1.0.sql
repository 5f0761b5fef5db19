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

-- ==== Operations: stale calls, retention, health (issue 7) ====
--
-- Maintenance lives here, in SQL: set-based statements an operator can read
-- and run by hand or from pg_cron (README, "Operations").  None of it is on
-- the ingest path.

-- A call whose end never came (no ended status-update, no end-of-call
-- report) is expired: it becomes failed with the extension's own ended
-- reason, through the same per-column versions as the merge (src/merge.c),
-- so that a late real end still wins.  The expiry's ended_reason gets the
-- version just below the lowest terminal version (rank 6 << 58): above every
-- non-terminal event, below every real ended or end-of-call-report, whatever
-- their timestamps.  ended_at stays unknown (null) until a real end says.
-- field_versions[10] is ended_reason (VF_ENDED_REASON + 1, src/vapi_calls.h;
-- the order of field_versions never changes).  The interval style is pinned
-- so that the event log's text does not depend on the caller's session.
CREATE FUNCTION vapi.expire_stale_calls(older_than interval) RETURNS integer
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres
AS $$
DECLARE
	reason constant text := 'vapi_calls.expired-no-end-of-call-report';
	expiry_version constant bigint := (6::bigint << 58) - 1;
	log_it constant boolean := coalesce(current_setting('vapi.log_events', true), 'all') = 'all';
	now_at constant timestamptz := now();
	n_expired integer;
BEGIN
	IF older_than < interval '0' THEN
		RAISE EXCEPTION 'older_than must be a non-negative interval'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	WITH expired AS (
		UPDATE vapi.calls c
		   SET status_rank = 6,
			   status = vapi.classify_ended_reason(reason),
			   ended_reason = reason,
			   field_versions[10] = expiry_version,
			   events_applied = c.events_applied + 1,
			   last_change_seq = c.events_applied + 1,
			   updated_at = now_at
		 WHERE c.status_rank < 6
		   AND c.last_event_at < now_at - older_than
		RETURNING c.vapi_call_id, c.last_event_at
	), logged AS (
		INSERT INTO vapi.events (received_at, vapi_call_id, type, status, event_at,
								 payload, outcome, detail)
		SELECT now_at, e.vapi_call_id, 'vapi.expired', 'ended', now_at,
			   jsonb_build_object('message', jsonb_build_object(
				   'type', 'vapi.expired',
				   'call', jsonb_build_object('id', e.vapi_call_id),
				   'endedReason', reason,
				   'lastEventAt', e.last_event_at,
				   'olderThan', older_than::text)),
			   'updated',
			   'expired: no end of call within ' || older_than::text || ' of its last event'
		  FROM expired e
		 WHERE log_it
	)
	SELECT count(*) INTO n_expired FROM expired;
	RETURN n_expired;
END
$$;
COMMENT ON FUNCTION vapi.expire_stale_calls(interval) IS
	'Mark calls with no end whose last event is older than older_than as failed; returns how many';
REVOKE ALL ON FUNCTION vapi.expire_stale_calls(interval) FROM PUBLIC;

-- Retention for the event log, in batches of batch_size rows (oldest first,
-- through events_received_at_idx), each committed on its own so that no
-- transaction runs long, holds many row locks or keeps VACUUM from
-- reclaiming what is already gone.  A procedure, because a function cannot
-- commit: CALL it on its own (not inside BEGIN ... COMMIT once it has more
-- than one batch to do).  It deletes by primary key, not ctid, so the same
-- statement works on Citus.  No SET search_path, because a procedure with
-- one cannot commit; it runs with the caller's rights and names its tables
-- in full, so a caller's search_path can only mislead the caller.
CREATE PROCEDURE vapi.prune_events(older_than interval, batch_size integer DEFAULT 10000,
								   INOUT removed bigint DEFAULT NULL)
	LANGUAGE plpgsql
AS $$
DECLARE
	cutoff timestamptz;
	n bigint;
BEGIN
	IF older_than IS NULL OR older_than < interval '0' THEN
		RAISE EXCEPTION 'older_than must be a non-negative interval'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF batch_size IS NULL OR batch_size < 1 THEN
		RAISE EXCEPTION 'batch_size must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;

	cutoff := now() - older_than;
	removed := 0;
	LOOP
		DELETE FROM vapi.events e
		 WHERE (e.vapi_call_id, e.id) IN (
				SELECT o.vapi_call_id, o.id
				  FROM vapi.events o
				 WHERE o.received_at < cutoff
				 ORDER BY o.received_at
				 LIMIT batch_size);
		GET DIAGNOSTICS n = ROW_COUNT;
		removed := removed + n;
		EXIT WHEN n < batch_size;
		COMMIT;
	END LOOP;
END
$$;
COMMENT ON PROCEDURE vapi.prune_events(interval, integer, bigint) IS
	'Delete vapi.events received before now() - older_than, batch_size rows per transaction';
REVOKE ALL ON PROCEDURE vapi.prune_events(interval, integer, bigint) FROM PUBLIC;

-- One row for a dashboard or an alert: every column a number or a time, so
-- "SELECT calls_stale > 0 OR events_24h_error > 0 FROM vapi.pipeline_health"
-- is the whole alert.  A stale call is one expire_stale_calls('1 hour') would
-- expire; oldest_open_call_event_at lets a query apply any other threshold.
-- It scans vapi.calls once (no index serves these counts without costing
-- the ingest path its HOT updates) and reads the last day of vapi.events
-- through events_received_at_idx.
CREATE VIEW vapi.pipeline_health AS
SELECT c.*, e.*, l.*
  FROM (SELECT count(*) AS calls_total,
			   count(*) FILTER (WHERE status = 'scheduled') AS calls_scheduled,
			   count(*) FILTER (WHERE status = 'queued') AS calls_queued,
			   count(*) FILTER (WHERE status = 'ringing') AS calls_ringing,
			   count(*) FILTER (WHERE status = 'in-progress') AS calls_in_progress,
			   count(*) FILTER (WHERE status = 'forwarding') AS calls_forwarding,
			   count(*) FILTER (WHERE status = 'completed') AS calls_completed,
			   count(*) FILTER (WHERE status = 'failed') AS calls_failed,
			   count(*) FILTER (WHERE org_id IS NULL) AS calls_without_org,
			   count(*) FILTER (WHERE status_rank < 6
								  AND last_event_at < now() - interval '1 hour') AS calls_stale,
			   count(*) FILTER (WHERE ended_reason = 'vapi_calls.expired-no-end-of-call-report') AS calls_expired,
			   min(last_event_at) FILTER (WHERE status_rank < 6) AS oldest_open_call_event_at,
			   max(last_event_at) AS last_call_event_at
		  FROM vapi.calls) c,
	   (SELECT count(*) AS events_24h,
			   count(*) FILTER (WHERE outcome = 'inserted') AS events_24h_inserted,
			   count(*) FILTER (WHERE outcome = 'updated') AS events_24h_updated,
			   count(*) FILTER (WHERE outcome = 'unchanged') AS events_24h_unchanged,
			   count(*) FILTER (WHERE outcome = 'ignored') AS events_24h_ignored,
			   count(*) FILTER (WHERE outcome = 'rejected') AS events_24h_rejected,
			   count(*) FILTER (WHERE outcome = 'error') AS events_24h_error
		  FROM vapi.events
		 WHERE received_at >= now() - interval '24 hours') e,
	   (SELECT max(received_at) AS last_received_at FROM vapi.events) l;
COMMENT ON VIEW vapi.pipeline_health IS
	'One row: calls by status, without org, stale and expired; deliveries by outcome in the last 24 hours; the newest delivery';
REVOKE ALL ON vapi.pipeline_health FROM PUBLIC;

-- ==== Convergence, replay and re-resolution (issue 3) ====
-- Both functions are C (src/replay.c, src/reresolve.c) over the same reader,
-- resolver and merge as vapi_ingest; like it they run as the extension's
-- owner with a pinned search_path, and only the owner may call them until
-- EXECUTE is granted.

CREATE FUNCTION vapi.replay(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
							outcomes text[] DEFAULT NULL, vapi_call_ids text[] DEFAULT NULL)
	RETURNS TABLE (event_id bigint, vapi_call_id text, previous_outcome text,
				   action text, detail text)
	AS 'MODULE_PATHNAME', 'vapi_replay'
	LANGUAGE C VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vapi.replay(timestamptz, timestamptz, text[], text[]) IS
	'Apply stored deliveries again, in id order: those received in [since, until), with one of these outcomes, of these calls (null: any); one row per event';
REVOKE ALL ON FUNCTION vapi.replay(timestamptz, timestamptz, text[], text[]) FROM PUBLIC;

CREATE FUNCTION vapi.reresolve() RETURNS bigint
	AS 'MODULE_PATHNAME', 'vapi_reresolve'
	LANGUAGE C VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION vapi.reresolve() IS
	'Redo org and caller resolution for calls with no org, or a caller name not from a contact; returns the number of calls that changed';
REVOKE ALL ON FUNCTION vapi.reresolve() FROM PUBLIC;
