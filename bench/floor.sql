-- bench/floor.sql: the floors of part 1, from what vapi_ingest produced.
--
-- bench.snapshot_floor(), run after vapi_ingest has replayed bench.events,
-- copies the rows it ended with (bench.floor_calls) and the events it
-- logged (bench.floor_events): the values "extracted beforehand".  The
-- copies are uncompressed (STORAGE EXTERNAL, values rebuilt), so a floor
-- compresses what it stores exactly as vapi_ingest does.
--
-- bench.floor() is the floor of the spec: the final rows upserted
-- set-based, plus the same event-log inserts, in two statements.
--
-- bench.per_event_floor() is not a target, it shows what part of the gap
-- any per-event handler pays: one event at a time, the event-log insert
-- and a bare upsert (each value the event carries, coalesced; no lookups,
-- no merge), driven by a PL/pgSQL loop.  Which values an event carries is
-- approximated from its type: an end-of-call-report carries everything,
-- other events the call snapshot (ids, type, numbers, org, caller,
-- metadata) and their status.
\set ON_ERROR_STOP 1

CREATE FUNCTION bench.snapshot_floor() RETURNS void LANGUAGE plpgsql
SET client_min_messages = warning AS $$
BEGIN
	DROP TABLE IF EXISTS bench.floor_calls, bench.floor_events;
	CREATE TABLE bench.floor_calls (LIKE vapi.calls);
	ALTER TABLE bench.floor_calls ALTER transcript SET STORAGE EXTERNAL,
		ALTER analysis SET STORAGE EXTERNAL, ALTER metadata SET STORAGE EXTERNAL;
	INSERT INTO bench.floor_calls SELECT * FROM vapi.calls;
	UPDATE bench.floor_calls SET transcript = transcript || '', analysis = analysis::text::jsonb,
		metadata = metadata::text::jsonb;
	CREATE TABLE bench.floor_events AS
		SELECT id, received_at, vapi_call_id, type, status, event_at, payload, outcome, detail
		FROM vapi.events WHERE false;
	ALTER TABLE bench.floor_events ALTER payload SET STORAGE EXTERNAL;
	INSERT INTO bench.floor_events
		SELECT id, received_at, vapi_call_id, type, status, event_at, payload::text::jsonb, outcome, detail
		FROM vapi.events;
END
$$;

CREATE FUNCTION bench.floor() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO vapi.calls AS c (vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id,
		call_type, direction, status, ended_reason, phone_number, from_number, caller_name,
		is_test_call, started_at, ended_at, duration_seconds, cost, transcript, summary, sentiment,
		recording_url, stereo_recording_url, analysis, metadata, first_event_at, last_event_at,
		created_at, updated_at, status_rank, field_versions, events_applied, last_change_seq)
	SELECT vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id,
		call_type, direction, status, ended_reason, phone_number, from_number, caller_name,
		is_test_call, started_at, ended_at, duration_seconds, cost, transcript, summary, sentiment,
		recording_url, stereo_recording_url, analysis, metadata, first_event_at, last_event_at,
		created_at, updated_at, status_rank, field_versions, events_applied, last_change_seq
	FROM bench.floor_calls
	ON CONFLICT (vapi_call_id) DO UPDATE SET (org_id, vapi_org_id, assistant_id, phone_number_id,
		call_type, direction, status, ended_reason, phone_number, from_number, caller_name,
		is_test_call, started_at, ended_at, duration_seconds, cost, transcript, summary, sentiment,
		recording_url, stereo_recording_url, analysis, metadata, first_event_at, last_event_at,
		updated_at, status_rank, field_versions, events_applied, last_change_seq)
	= ROW(excluded.org_id, excluded.vapi_org_id, excluded.assistant_id, excluded.phone_number_id,
		excluded.call_type, excluded.direction, excluded.status, excluded.ended_reason,
		excluded.phone_number, excluded.from_number, excluded.caller_name, excluded.is_test_call,
		excluded.started_at, excluded.ended_at, excluded.duration_seconds, excluded.cost,
		excluded.transcript, excluded.summary, excluded.sentiment, excluded.recording_url,
		excluded.stereo_recording_url, excluded.analysis, excluded.metadata,
		excluded.first_event_at, excluded.last_event_at, excluded.updated_at,
		excluded.status_rank, excluded.field_versions, excluded.events_applied,
		excluded.last_change_seq);

	INSERT INTO vapi.events (received_at, vapi_call_id, type, status, event_at, payload, outcome, detail)
	SELECT received_at, vapi_call_id, type, status, event_at, payload, outcome, detail
	FROM bench.floor_events ORDER BY id;
END
$$;

CREATE FUNCTION bench.per_event_floor() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	e record;
BEGIN
	FOR e IN
		SELECT v.received_at, v.vapi_call_id, v.type, v.status AS event_status, v.event_at, v.payload,
			   v.outcome, v.detail, v.type = 'end-of-call-report' AS report,
			   CASE v.status WHEN 'ringing' THEN 3 WHEN 'in-progress' THEN 4 WHEN 'ended' THEN 6 ELSE 0 END AS rank,
			   f.org_id, f.vapi_org_id, f.assistant_id, f.phone_number_id, f.call_type, f.direction,
			   f.status, f.ended_reason, f.phone_number, f.from_number, f.caller_name, f.is_test_call,
			   f.started_at, f.ended_at, f.duration_seconds, f.cost, f.transcript, f.summary,
			   f.sentiment, f.recording_url, f.stereo_recording_url, f.analysis, f.metadata
		FROM bench.floor_events v JOIN bench.floor_calls f USING (vapi_call_id)
		ORDER BY v.id
	LOOP
		INSERT INTO vapi.events (received_at, vapi_call_id, type, status, event_at, payload, outcome, detail)
		VALUES (e.received_at, e.vapi_call_id, e.type, e.event_status, e.event_at, e.payload, e.outcome, e.detail);

		INSERT INTO vapi.calls AS c (vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id,
			call_type, direction, status, ended_reason, phone_number, from_number, caller_name,
			is_test_call, started_at, ended_at, duration_seconds, cost, transcript, summary, sentiment,
			recording_url, stereo_recording_url, analysis, metadata, first_event_at, last_event_at,
			status_rank)
		VALUES (e.vapi_call_id, e.org_id, e.vapi_org_id, e.assistant_id, e.phone_number_id,
			e.call_type, e.direction,
			CASE WHEN e.rank = 6 THEN e.status ELSE e.event_status END,
			CASE WHEN e.rank = 6 THEN e.ended_reason END, e.phone_number, e.from_number, e.caller_name,
			e.is_test_call,
			CASE WHEN e.report THEN e.started_at END, CASE WHEN e.report THEN e.ended_at END,
			CASE WHEN e.report THEN e.duration_seconds END, CASE WHEN e.report THEN e.cost END,
			CASE WHEN e.report THEN e.transcript END, CASE WHEN e.report THEN e.summary END,
			CASE WHEN e.report THEN e.sentiment END, CASE WHEN e.report THEN e.recording_url END,
			CASE WHEN e.report THEN e.stereo_recording_url END, CASE WHEN e.report THEN e.analysis END,
			e.metadata, e.event_at, e.event_at, e.rank)
		ON CONFLICT (vapi_call_id) DO UPDATE SET
			org_id = coalesce(excluded.org_id, c.org_id),
			vapi_org_id = coalesce(excluded.vapi_org_id, c.vapi_org_id),
			assistant_id = coalesce(excluded.assistant_id, c.assistant_id),
			phone_number_id = coalesce(excluded.phone_number_id, c.phone_number_id),
			call_type = coalesce(excluded.call_type, c.call_type),
			direction = coalesce(excluded.direction, c.direction),
			status = CASE WHEN excluded.status_rank >= c.status_rank THEN excluded.status ELSE c.status END,
			ended_reason = coalesce(excluded.ended_reason, c.ended_reason),
			phone_number = coalesce(excluded.phone_number, c.phone_number),
			from_number = coalesce(excluded.from_number, c.from_number),
			caller_name = coalesce(excluded.caller_name, c.caller_name),
			is_test_call = c.is_test_call OR excluded.is_test_call,
			started_at = coalesce(excluded.started_at, c.started_at),
			ended_at = coalesce(excluded.ended_at, c.ended_at),
			duration_seconds = coalesce(excluded.duration_seconds, c.duration_seconds),
			cost = coalesce(excluded.cost, c.cost),
			transcript = coalesce(excluded.transcript, c.transcript),
			summary = coalesce(excluded.summary, c.summary),
			sentiment = coalesce(excluded.sentiment, c.sentiment),
			recording_url = coalesce(excluded.recording_url, c.recording_url),
			stereo_recording_url = coalesce(excluded.stereo_recording_url, c.stereo_recording_url),
			analysis = coalesce(excluded.analysis, c.analysis),
			metadata = coalesce(excluded.metadata, c.metadata),
			first_event_at = least(c.first_event_at, excluded.first_event_at),
			last_event_at = greatest(c.last_event_at, excluded.last_event_at),
			status_rank = greatest(c.status_rank, excluded.status_rank),
			events_applied = c.events_applied + 1,
			updated_at = now();
	END LOOP;
END
$$;
