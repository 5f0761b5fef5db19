-- bench/simple_handler.sql: the simple PL/pgSQL handler, the seed's logic
-- as a team would first write it: read the fields, look up the org and the
-- caller, one coalescing upsert (INSERT ... ON CONFLICT DO UPDATE SET x =
-- COALESCE(EXCLUDED.x, calls.x): a value the event does not carry never
-- erases one), one event-log insert.  No convergence machinery: no event
-- version, no per-column merge, no subtransaction; the status only moves
-- forward by its rank, the last event's values win otherwise.  The
-- benchmark's yardstick for "at least 1.5x faster than a simple PL/pgSQL
-- handler"; it does not converge to vapi_ingest's rows when deliveries
-- arrive out of order (bench/run.sh says how many rows agree).
--
-- It reads the same fields from the same paths as vapi_ingest (both
-- shapes), with bench.j_text and bench.j_time of bench/plpgsql_port.sql
-- (loaded first), and calls the extension's vapi.normalize_phone and
-- vapi.classify_ended_reason, as the PL/pgSQL port does.
\set ON_ERROR_STOP 1

CREATE FUNCTION bench.simple_ingest(payload jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	msg jsonb := coalesce(payload -> 'message', payload);
	call jsonb := msg -> 'call';
	v_type text := bench.j_text(msg -> 'type');
	v_call_id text := bench.j_text(call -> 'id');
	v_at timestamptz := coalesce(bench.j_time(msg -> 'timestamp'), now());
	v_status text;
	v_rank smallint;
	v_org uuid;
	v_number text := coalesce(bench.j_text(msg #> '{customer,number}'), bench.j_text(call #> '{customer,number}'));
	v_name text;
	v_metadata jsonb := coalesce(call #> '{assistantOverrides,metadata}', call -> 'metadata');
	v_call_uuid uuid;
	v_inserted boolean;
BEGIN
	IF v_call_id IS NULL THEN
		INSERT INTO vapi.events (type, payload, outcome, detail)
		VALUES (v_type, payload, 'rejected', 'no call id');
		RETURN jsonb_build_object('ok', false, 'action', 'rejected');
	END IF;

	v_status := CASE
		WHEN v_type IN ('end-of-call-report') OR bench.j_text(msg -> 'status') = 'ended'
			THEN vapi.classify_ended_reason(bench.j_text(msg -> 'endedReason'))
		WHEN v_type = 'status-update' THEN bench.j_text(msg -> 'status')
		ELSE 'in-progress' END;
	v_rank := CASE v_status WHEN 'scheduled' THEN 1 WHEN 'queued' THEN 2 WHEN 'ringing' THEN 3
		WHEN 'in-progress' THEN 4 WHEN 'forwarding' THEN 5 WHEN 'completed' THEN 6 WHEN 'failed' THEN 6 ELSE 0 END;

	SELECT a.org_id INTO v_org FROM vapi.agents a WHERE a.vapi_assistant_id = bench.j_text(call -> 'assistantId');
	IF v_org IS NULL THEN
		SELECT p.org_id INTO v_org FROM vapi.phone_numbers p
		WHERE p.vapi_phone_number_id = bench.j_text(call -> 'phoneNumberId');
	END IF;
	IF v_org IS NULL AND v_metadata ->> 'org_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
		v_org := (v_metadata ->> 'org_id')::uuid;
	END IF;
	IF v_org IS NOT NULL AND v_number IS NOT NULL THEN
		SELECT c.name INTO v_name FROM vapi.contacts c
		WHERE c.org_id = v_org AND vapi.normalize_phone(c.phone) = vapi.normalize_phone(v_number)
		  AND c.name <> '' ORDER BY c.id LIMIT 1;
	END IF;

	INSERT INTO vapi.calls AS c (vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id,
		call_type, direction, status, status_rank, ended_reason, phone_number, from_number, caller_name,
		is_test_call, started_at, ended_at, duration_seconds, cost, transcript, summary,
		recording_url, stereo_recording_url, analysis, metadata, first_event_at, last_event_at)
	VALUES (v_call_id, v_org, bench.j_text(call -> 'orgId'), bench.j_text(call -> 'assistantId'),
		bench.j_text(call -> 'phoneNumberId'), bench.j_text(call -> 'type'),
		CASE bench.j_text(call -> 'type') WHEN 'inboundPhoneCall' THEN 'inbound'
			WHEN 'outboundPhoneCall' THEN 'outbound' WHEN 'webCall' THEN 'web' END,
		v_status, v_rank, bench.j_text(msg -> 'endedReason'), v_number, v_number,
		coalesce(v_name, bench.j_text(msg #> '{customer,name}'), bench.j_text(call #> '{customer,name}')),
		bench.j_text(call -> 'type') = 'webCall' OR coalesce(v_metadata ->> 'is_test_call', '') = 'true',
		bench.j_time(msg -> 'startedAt'), bench.j_time(msg -> 'endedAt'),
		(msg ->> 'durationSeconds')::numeric, (msg ->> 'cost')::numeric,
		coalesce(bench.j_text(msg #> '{artifact,transcript}'), bench.j_text(msg -> 'transcript')),
		coalesce(bench.j_text(msg #> '{analysis,summary}'), bench.j_text(msg -> 'summary')),
		coalesce(bench.j_text(msg #> '{artifact,recording,mono,combinedUrl}'), bench.j_text(msg -> 'recordingUrl')),
		coalesce(bench.j_text(msg #> '{artifact,recording,stereoUrl}'), bench.j_text(msg -> 'stereoRecordingUrl')),
		msg -> 'analysis', coalesce(v_metadata, '{}'), v_at, v_at)
	ON CONFLICT (vapi_call_id) DO UPDATE SET
		org_id = COALESCE(EXCLUDED.org_id, c.org_id),
		vapi_org_id = COALESCE(EXCLUDED.vapi_org_id, c.vapi_org_id),
		assistant_id = COALESCE(EXCLUDED.assistant_id, c.assistant_id),
		phone_number_id = COALESCE(EXCLUDED.phone_number_id, c.phone_number_id),
		call_type = COALESCE(EXCLUDED.call_type, c.call_type),
		direction = COALESCE(EXCLUDED.direction, c.direction),
		status = CASE WHEN EXCLUDED.status_rank >= c.status_rank THEN EXCLUDED.status ELSE c.status END,
		status_rank = greatest(EXCLUDED.status_rank, c.status_rank),
		ended_reason = COALESCE(EXCLUDED.ended_reason, c.ended_reason),
		phone_number = COALESCE(EXCLUDED.phone_number, c.phone_number),
		from_number = COALESCE(EXCLUDED.from_number, c.from_number),
		caller_name = COALESCE(EXCLUDED.caller_name, c.caller_name),
		is_test_call = c.is_test_call OR EXCLUDED.is_test_call,
		started_at = COALESCE(EXCLUDED.started_at, c.started_at),
		ended_at = COALESCE(EXCLUDED.ended_at, c.ended_at),
		duration_seconds = COALESCE(EXCLUDED.duration_seconds, c.duration_seconds),
		cost = COALESCE(EXCLUDED.cost, c.cost),
		transcript = COALESCE(EXCLUDED.transcript, c.transcript),
		summary = COALESCE(EXCLUDED.summary, c.summary),
		recording_url = COALESCE(EXCLUDED.recording_url, c.recording_url),
		stereo_recording_url = COALESCE(EXCLUDED.stereo_recording_url, c.stereo_recording_url),
		analysis = COALESCE(EXCLUDED.analysis, c.analysis),
		metadata = COALESCE(EXCLUDED.metadata, c.metadata),
		first_event_at = least(EXCLUDED.first_event_at, c.first_event_at),
		last_event_at = greatest(EXCLUDED.last_event_at, c.last_event_at),
		events_applied = c.events_applied + 1,
		updated_at = now()
	RETURNING c.id, c.xmax = 0 INTO v_call_uuid, v_inserted;

	INSERT INTO vapi.events (vapi_call_id, type, status, event_at, payload, outcome)
	VALUES (v_call_id, v_type, CASE WHEN v_rank = 6 THEN 'ended' ELSE v_status END, v_at, payload,
		CASE WHEN v_inserted THEN 'inserted' ELSE 'updated' END);

	RETURN jsonb_build_object('ok', true, 'action', CASE WHEN v_inserted THEN 'inserted' ELSE 'updated' END,
		'call_id', v_call_uuid, 'vapi_call_id', v_call_id, 'status', v_status);
END
$fn$;
