/*
 * vapi_calls 0.1.0 -> 0.2.0
 *
 * Every change to the schema and the SQL surface since 0.1.0, in the order
 * it was made.  The result must equal a fresh install from
 * vapi_calls--0.2.0.sql: test/upgrade.sh walks this script and compares the
 * two catalogs.
 */
\echo Use "ALTER EXTENSION vapi_calls UPDATE TO '0.2.0'" to load this file. \quit

-- Issue 12: one home for the ordering model; the caller derived from the
-- row's final org; expiry through the merge

CREATE FUNCTION vapi.status_rank(status text) RETURNS smallint
	AS 'MODULE_PATHNAME', 'vapi_status_rank_sql'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vapi.status_rank(text) IS
	'The rank of a status (scheduled 1 ... forwarding 5; ended, completed, failed: the terminal rank); NULL for anything else';
CREATE FUNCTION vapi.terminal_rank() RETURNS smallint
	AS 'MODULE_PATHNAME', 'vapi_terminal_rank_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.terminal_rank() IS
	'The status rank of an ended call: vapi.calls.status_rank < vapi.terminal_rank() means not ended';
CREATE FUNCTION vapi.call_statuses() RETURNS text[]
	AS 'MODULE_PATHNAME', 'vapi_call_statuses_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.call_statuses() IS
	'Every value of vapi.calls.status, in rank order';
CREATE FUNCTION vapi.event_outcomes() RETURNS text[]
	AS 'MODULE_PATHNAME', 'vapi_event_outcomes_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.event_outcomes() IS
	'Every value of vapi.events.outcome (the action of a result)';

ALTER DOMAIN vapi.call_status DROP CONSTRAINT call_status_check;
ALTER DOMAIN vapi.call_status
	ADD CONSTRAINT call_status_check CHECK (VALUE = ANY (vapi.call_statuses()));
ALTER DOMAIN vapi.event_outcome DROP CONSTRAINT event_outcome_check;
ALTER DOMAIN vapi.event_outcome
	ADD CONSTRAINT event_outcome_check CHECK (VALUE = ANY (vapi.event_outcomes()));

-- The customer's name as Vapi sent it (field 22 of field_versions), an
-- input of the caller name.  Rows whose caller name is Vapi's get it back,
-- at the version of the event it came from (the source bits dropped).
ALTER TABLE vapi.calls ADD COLUMN customer_name text;
UPDATE vapi.calls
   SET customer_name = caller_name,
	   field_versions = field_versions[1:21]
						|| array_fill(0::bigint, ARRAY[greatest(21 - cardinality(field_versions), 0)])
						|| (field_versions[9] & ~(3::bigint << 61))
 WHERE field_versions[9] >> 61 = 1;

CREATE OR REPLACE FUNCTION vapi.expire_stale_calls(older_than interval) RETURNS integer
	AS 'MODULE_PATHNAME', 'vapi_expire_stale_calls'
	LANGUAGE C VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres;

CREATE OR REPLACE VIEW vapi.pipeline_health AS
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
			   count(*) FILTER (WHERE status_rank < vapi.terminal_rank()
								  AND last_event_at < now() - interval '1 hour') AS calls_stale,
			   count(*) FILTER (WHERE ended_reason = 'vapi_calls.expired-no-end-of-call-report') AS calls_expired,
			   min(last_event_at) FILTER (WHERE status_rank < vapi.terminal_rank()) AS oldest_open_call_event_at,
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

CREATE FUNCTION vapi.merge_status(rank smallint, ended_reason text)
	RETURNS text
	AS 'MODULE_PATHNAME', 'vapi_merge_status'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.merge_status(smallint, text) IS
	'the status a call of this merged rank and ended reason stores';
REVOKE ALL ON FUNCTION vapi.merge_status(smallint, text) FROM PUBLIC;

-- vapi.replay for a large repair: the same selection, replayed one call at
-- a time, each call committed on its own, so that a call the replay changes
-- is held for the work of its own events, not until the whole repair ends
-- (vapi.replay, a function, cannot commit).  Calls in vapi_call_id order,
-- each call's events in id order (the merge does not depend on the order
-- across calls).  A procedure, so no SET search_path (a procedure with one
-- cannot commit); it names everything in full and calls vapi.replay, which
-- runs as the extension's owner.  CALL it on its own, not inside BEGIN ...
-- COMMIT once it has more than one call to do.
CREATE PROCEDURE vapi.replay_by_call(since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
									 outcomes text[] DEFAULT NULL, vapi_call_ids text[] DEFAULT NULL,
									 INOUT events bigint DEFAULT NULL, INOUT changed bigint DEFAULT NULL)
	LANGUAGE plpgsql
AS $$
DECLARE
	call_id text;
	n bigint;
	n_changed bigint;
BEGIN
	events := 0;
	changed := 0;
	FOR call_id IN
		SELECT DISTINCT e.vapi_call_id
		  FROM vapi.events e
		 WHERE (replay_by_call.since IS NULL OR e.received_at >= replay_by_call.since)
		   AND (replay_by_call.until IS NULL OR e.received_at < replay_by_call.until)
		   AND (replay_by_call.outcomes IS NULL OR e.outcome = ANY (replay_by_call.outcomes))
		   AND (replay_by_call.vapi_call_ids IS NULL OR e.vapi_call_id = ANY (replay_by_call.vapi_call_ids))
		 ORDER BY 1
	LOOP
		SELECT count(*), count(*) FILTER (WHERE r.action IN ('inserted', 'updated'))
		  INTO n, n_changed
		  FROM vapi.replay(replay_by_call.since, replay_by_call.until, replay_by_call.outcomes,
						   ARRAY[call_id]) r;
		events := events + n;
		changed := changed + n_changed;
		COMMIT;
	END LOOP;
END
$$;
COMMENT ON PROCEDURE vapi.replay_by_call(timestamptz, timestamptz, text[], text[], bigint, bigint) IS
	'vapi.replay one call at a time, committing after each call; returns the events replayed and how many changed a row';
REVOKE ALL ON PROCEDURE vapi.replay_by_call(timestamptz, timestamptz, text[], text[], bigint, bigint) FROM PUBLIC;
