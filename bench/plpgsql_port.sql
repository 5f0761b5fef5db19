-- bench/plpgsql_port.sql: vapi_ingest() written in PL/pgSQL, as a team
-- would write the same handler without C.  The benchmark's yardstick for
-- "at least 2x faster than a straightforward PL/pgSQL port".
--
-- Same contract as the C function: the same jsonb paths in the same order
-- of preference, the same event version (status rank, timestamp, a content
-- hash: jsonb_hash here, where C hashes the jsonb bytes), the same lookups
-- as separate statements before the upsert, the same read of the locked
-- row from which the caller is derived (src/resolve.c), the same INSERT ... ON
-- CONFLICT DO UPDATE with the per-column "highest version wins" merge
-- written out in SQL, the resolution and merge inside an EXCEPTION block
-- (a subtransaction, as in C), the same event-log insert and the same
-- result object.  It calls the extension's vapi.normalize_phone and
-- vapi.classify_ended_reason (C functions: a port without them would only
-- be slower).  Where it differs is where PL/pgSQL naturally does: a bad
-- timestamp string raises (and the event is an error) instead of being
-- skipped.  bench/run.sh checks that it converges to the same rows.
\set ON_ERROR_STOP 1

-- A non-empty JSON string as text, a non-empty JSON object, a timestamp
-- (ISO-8601 string or epoch milliseconds).  Inlined into the callers.
CREATE FUNCTION bench.j_text(j jsonb) RETURNS text IMMUTABLE LANGUAGE sql
	AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'string' THEN nullif(j #>> '{}', '') END $$;
CREATE FUNCTION bench.j_object(j jsonb) RETURNS jsonb IMMUTABLE LANGUAGE sql
	AS $$ SELECT CASE WHEN jsonb_typeof(j) = 'object' AND j <> '{}' THEN j END $$;
CREATE FUNCTION bench.j_time(j jsonb) RETURNS timestamptz STABLE LANGUAGE sql
	AS $$ SELECT CASE jsonb_typeof(j)
	                 WHEN 'number' THEN to_timestamp((j #>> '{}')::float8 / 1000)
	                 WHEN 'string' THEN (j #>> '{}')::timestamptz END $$;

CREATE FUNCTION bench.plpgsql_ingest(payload jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
	v_now timestamptz := clock_timestamp();
	msg jsonb;
	v_type text;
	v_status_value text;
	v_rank int := 0;
	v_status_name text;
	v_disposition text := 'reject';
	v_detail text;
	v_event_at timestamptz;
	v_row_event_at timestamptz;
	v_ms bigint;
	v_hash bigint;
	v_version bigint;
	v_call_id text;
	v_id_json jsonb;
	v_customer_number text;
	v_customer_name text;
	v_row_found boolean;
	v_row_org uuid;
	v_row_number text;
	v_row_cname text;
	v_row_caller text;
	v_row_versions bigint[];
	v_m_org uuid;
	v_m_number text;
	v_m_cname text;
	v_metadata_org uuid;
	v_is_test_call boolean := false;
	v_org_prio int;
	v_has_org boolean := false;
	v_lookup_org uuid;
	v_contact_name text;
	v_normalized text;
	v_started_explicit boolean;
	v_ended_explicit boolean;
	v_tmp jsonb;
	-- the merged columns, and their versions in field_versions order
	v_org_id uuid;
	v_vapi_org_id text;
	v_assistant_id text;
	v_phone_number_id text;
	v_call_type text;
	v_direction text;
	v_phone_number text;
	v_from_number text;
	v_caller_name text;
	v_ended_reason text;
	v_started_at timestamptz;
	v_ended_at timestamptz;
	v_duration_seconds numeric;
	v_cost numeric;
	v_transcript text;
	v_summary text;
	v_sentiment text;
	v_recording_url text;
	v_stereo_recording_url text;
	v_analysis jsonb;
	v_metadata jsonb;
	v_versions bigint[] := '{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}';
	v_insert_status text;
	-- the outcome
	v_ok boolean := false;
	v_action text;
	v_error text;
	v_call_uuid uuid;
	v_row_status text;
	v_inserted boolean;
	v_changed boolean;
	v_event_id bigint;
	v_result jsonb;
BEGIN
	-- 1. read the delivery
	IF payload IS NULL THEN
		v_detail := 'payload is null';
	ELSIF jsonb_typeof(payload) <> 'object' THEN
		v_detail := 'payload is not a JSON object';
	ELSE
		msg := coalesce(payload -> 'message', payload);
		IF jsonb_typeof(msg) <> 'object' THEN
			v_detail := 'message is not a JSON object';
		ELSE
			v_type := bench.j_text(msg -> 'type');
			IF v_type IS NULL THEN
				v_detail := 'message.type is missing or not a string';
			END IF;
		END IF;
	END IF;

	IF v_type IS NOT NULL THEN
		v_disposition := 'apply';
		IF v_type = 'status-update' THEN
			v_status_value := CASE WHEN jsonb_typeof(msg -> 'status') = 'string' THEN msg ->> 'status' END;
			IF v_status_value IN ('not-found', 'deletion-failed') THEN
				v_disposition := 'ignore';
				v_detail := 'status-update about a call Vapi could not find or delete';
			ELSE
				v_rank := CASE v_status_value WHEN 'scheduled' THEN 1 WHEN 'queued' THEN 2
					WHEN 'ringing' THEN 3 WHEN 'in-progress' THEN 4 WHEN 'forwarding' THEN 5
					WHEN 'ended' THEN 6 ELSE 0 END;
				IF v_rank = 0 THEN
					v_detail := 'status-update without a known status: status left as it was';
				END IF;
			END IF;
		ELSIF v_type = 'end-of-call-report' THEN
			v_rank := 6;
		ELSIF v_type = 'call.started' THEN
			v_rank := 4;
		ELSIF v_type = 'assistant-request' THEN
			v_rank := 3;
		ELSIF v_type IN ('conversation-update', 'speech-update', 'transcript', 'tool-calls',
						 'function-call', 'hang', 'transfer-destination-request',
						 'handoff-destination-request', 'user-interrupted', 'assistant.started',
						 'model-output', 'voice-input', 'transfer-update', 'phone-call-control',
						 'language-change-detected', 'assistant.speechStarted',
						 'knowledge-base-request', 'voice-request', 'call.endpointing.request')
			  OR v_type LIKE 'transcript[%' THEN
			v_rank := 4;
		ELSE
			v_disposition := 'ignore';
			v_detail := CASE WHEN v_type LIKE 'chat.%' OR v_type LIKE 'session.%'
				THEN 'this message type never carries a call'
				ELSE 'this message type does not change a call' END;
		END IF;
		v_status_name := (ARRAY['scheduled', 'queued', 'ringing', 'in-progress', 'forwarding', 'ended'])[v_rank];
		v_event_at := bench.j_time(msg -> 'timestamp');

		-- 2. the call id
		v_id_json := msg #> '{call,id}';
		IF jsonb_typeof(v_id_json) = 'string' AND (v_id_json #>> '{}') <> ''
		   AND octet_length(v_id_json #>> '{}') <= 255 THEN
			v_call_id := v_id_json #>> '{}';
		ELSIF v_disposition = 'apply' THEN
			v_disposition := 'reject';
			v_detail := CASE WHEN v_id_json IS NULL THEN 'message.call.id is missing'
				WHEN jsonb_typeof(v_id_json) <> 'string' THEN 'message.call.id is not a string'
				WHEN (v_id_json #>> '{}') = '' THEN 'message.call.id is empty'
				ELSE 'message.call.id is longer than 255 bytes' END;
		END IF;
	END IF;

	IF v_disposition = 'apply' THEN
		-- the event version: status rank, time, content hash
		v_ms := CASE WHEN v_event_at IS NULL THEN 0
			ELSE least(greatest(floor(extract(epoch FROM v_event_at) * 1000)::bigint, 0), 4398046511103) END;
		v_hash := jsonb_hash(payload) & 65535;
		v_version := greatest((v_rank::bigint << 58) | (v_ms << 16) | v_hash, 1);

		-- the call snapshot
		v_vapi_org_id := bench.j_text(msg #> '{call,orgId}');
		IF v_vapi_org_id IS NOT NULL THEN v_versions[2] := v_version; END IF;
		v_assistant_id := coalesce(bench.j_text(msg #> '{call,assistantId}'), bench.j_text(msg #> '{assistant,id}'));
		IF v_assistant_id IS NOT NULL THEN v_versions[3] := v_version; END IF;
		v_phone_number_id := bench.j_text(msg #> '{call,phoneNumberId}');
		IF v_phone_number_id IS NOT NULL THEN v_versions[4] := v_version; END IF;
		v_customer_number := coalesce(bench.j_text(msg #> '{customer,number}'), bench.j_text(msg #> '{call,customer,number}'));
		v_customer_name := coalesce(bench.j_text(msg #> '{customer,name}'), bench.j_text(msg #> '{call,customer,name}'));
		IF v_customer_name IS NOT NULL THEN v_versions[22] := v_version; END IF;
		IF v_customer_number IS NOT NULL THEN
			v_phone_number := v_customer_number;
			v_versions[7] := v_version;
		END IF;
		v_call_type := bench.j_text(msg #> '{call,type}');
		IF v_call_type IS NOT NULL THEN
			v_versions[5] := v_version;
			IF v_call_type = 'inboundPhoneCall' THEN
				v_direction := 'inbound';
				v_from_number := v_customer_number;
			ELSIF v_call_type = 'outboundPhoneCall' THEN
				v_direction := 'outbound';
				v_from_number := bench.j_text(msg #> '{phoneNumber,number}');
			ELSIF v_call_type IN ('webCall', 'vapi.websocketCall') THEN
				v_direction := 'web';
			END IF;
			IF v_direction IS NOT NULL THEN v_versions[6] := v_version; END IF;
			IF v_from_number IS NOT NULL THEN v_versions[8] := v_version; END IF;
			v_is_test_call := v_call_type = 'webCall';
		END IF;
		v_metadata := coalesce(bench.j_object(msg #> '{call,assistantOverrides,metadata}'),
							   bench.j_object(msg #> '{assistant,metadata}'),
							   bench.j_object(msg #> '{call,metadata}'));
		IF v_metadata IS NOT NULL THEN
			v_versions[21] := v_version;
			v_tmp := v_metadata -> 'is_test_call';
			IF v_tmp = 'true'::jsonb OR v_tmp = '"true"'::jsonb THEN
				v_is_test_call := true;
			END IF;
			IF bench.j_text(v_metadata -> 'org_id') ~* '^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$' THEN
				v_metadata_org := (v_metadata ->> 'org_id')::uuid;
			END IF;
		END IF;

		-- the lifecycle times
		v_started_at := bench.j_time(msg -> 'startedAt');
		v_started_explicit := v_started_at IS NOT NULL;
		v_ended_at := bench.j_time(msg -> 'endedAt');
		v_ended_explicit := v_ended_at IS NOT NULL;
		IF v_started_explicit THEN
			v_versions[11] := v_version | (1::bigint << 61);
		ELSIF v_event_at IS NOT NULL AND v_type IN ('status-update', 'call.started') AND v_rank = 4 THEN
			v_started_at := v_event_at;
			v_versions[11] := greatest((v_rank::bigint << 58) | ((4398046511103 - v_ms) << 16) | v_hash, 1);
		END IF;
		IF v_ended_explicit THEN
			v_versions[12] := v_version | (1::bigint << 61);
		ELSIF v_event_at IS NOT NULL AND v_type IN ('status-update', 'call.started') AND v_rank = 6 THEN
			v_ended_at := v_event_at;
			v_versions[12] := v_version;
		END IF;
		IF jsonb_typeof(msg -> 'durationSeconds') = 'number' THEN
			v_duration_seconds := (msg ->> 'durationSeconds')::numeric;
			v_versions[13] := v_version;
		ELSIF v_started_explicit AND v_ended_explicit AND v_ended_at >= v_started_at THEN
			v_duration_seconds := trunc(extract(epoch FROM v_ended_at - v_started_at), 3);
			v_versions[13] := v_version;
		END IF;

		-- the outcome of the call
		v_ended_reason := bench.j_text(msg -> 'endedReason');
		IF v_ended_reason IS NOT NULL THEN v_versions[10] := v_version; END IF;
		IF jsonb_typeof(msg -> 'cost') = 'number' THEN
			v_cost := (msg ->> 'cost')::numeric;
			v_versions[14] := v_version;
		END IF;
		v_transcript := coalesce(bench.j_text(msg #> '{artifact,transcript}'), bench.j_text(msg -> 'transcript'));
		IF v_transcript IS NOT NULL THEN v_versions[15] := v_version; END IF;
		v_summary := coalesce(bench.j_text(msg #> '{analysis,summary}'), bench.j_text(msg -> 'summary'));
		IF v_summary IS NOT NULL THEN v_versions[16] := v_version; END IF;
		v_sentiment := coalesce(bench.j_text(msg #> '{analysis,structuredData,sentiment}'),
								bench.j_text(msg #> '{analysis,sentiment}'));
		IF v_sentiment IS NOT NULL THEN v_versions[17] := v_version; END IF;
		v_recording_url := coalesce(bench.j_text(msg #> '{artifact,recording,mono,combinedUrl}'),
									bench.j_text(msg #> '{artifact,recordingUrl}'),
									bench.j_text(msg -> 'recordingUrl'));
		IF v_recording_url IS NOT NULL THEN v_versions[18] := v_version; END IF;
		v_stereo_recording_url := coalesce(bench.j_text(msg #> '{artifact,recording,stereoUrl}'),
										   bench.j_text(msg #> '{artifact,stereoRecordingUrl}'),
										   bench.j_text(msg -> 'stereoRecordingUrl'));
		IF v_stereo_recording_url IS NOT NULL THEN v_versions[19] := v_version; END IF;
		v_analysis := bench.j_object(msg -> 'analysis');
		IF v_analysis IS NOT NULL THEN v_versions[20] := v_version; END IF;
		v_metadata := coalesce(v_metadata, '{}');

		v_insert_status := CASE WHEN v_rank < 6 THEN v_status_name
			ELSE coalesce(vapi.classify_ended_reason(v_ended_reason), 'completed') END;
		v_row_event_at := coalesce(v_event_at, v_now);

		BEGIN
			-- 3. resolve the org: assistant, phone number, metadata
			IF v_assistant_id IS NOT NULL THEN
				SELECT a.org_id INTO v_org_id FROM vapi.agents a WHERE a.vapi_assistant_id = v_assistant_id;
				IF v_org_id IS NOT NULL THEN v_org_prio := 3; END IF;
			END IF;
			IF v_org_id IS NULL AND v_phone_number_id IS NOT NULL THEN
				SELECT p.org_id INTO v_org_id FROM vapi.phone_numbers p WHERE p.vapi_phone_number_id = v_phone_number_id;
				IF v_org_id IS NOT NULL THEN v_org_prio := 2; END IF;
			END IF;
			IF v_org_id IS NULL AND v_metadata_org IS NOT NULL
			   AND current_setting('vapi.metadata_org_fallback')::boolean THEN
				v_org_id := v_metadata_org;
				v_org_prio := 1;
			END IF;
			v_has_org := v_org_id IS NOT NULL;
			IF v_has_org THEN
				v_versions[1] := v_version | (v_org_prio::bigint << 61);
			END IF;

			-- 4. the caller, derived from what the row will hold once the event
			-- is merged (src/resolve.c): the row is read and locked first
			SELECT c.org_id, c.phone_number, c.customer_name, c.caller_name, c.field_versions
			  INTO v_row_org, v_row_number, v_row_cname, v_row_caller, v_row_versions
			  FROM vapi.calls c WHERE c.vapi_call_id = v_call_id FOR UPDATE;
			v_row_found := FOUND;
			v_m_org := v_org_id;
			v_m_number := v_phone_number;
			v_m_cname := v_customer_name;
			IF v_row_found THEN
				IF NOT (v_org_id IS NOT NULL AND (v_versions[1] > coalesce(v_row_versions[1], 0)
						OR (v_versions[1] = v_row_versions[1] AND v_org_id > v_row_org))) THEN
					v_m_org := v_row_org;
				END IF;
				IF NOT (v_phone_number IS NOT NULL AND (v_versions[7] > coalesce(v_row_versions[7], 0)
						OR (v_versions[7] = v_row_versions[7] AND v_phone_number > v_row_number))) THEN
					v_m_number := v_row_number;
				END IF;
				IF NOT (v_customer_name IS NOT NULL AND (v_versions[22] > coalesce(v_row_versions[22], 0)
						OR (v_versions[22] = v_row_versions[22] AND v_customer_name > v_row_cname))) THEN
					v_m_cname := v_row_cname;
				END IF;
			END IF;
			IF v_row_found AND v_row_caller IS NOT NULL AND v_m_org IS NOT DISTINCT FROM v_row_org
			   AND v_m_number IS NOT DISTINCT FROM v_row_number AND v_m_cname IS NOT DISTINCT FROM v_row_cname THEN
				v_caller_name := v_row_caller;
				v_versions[9] := coalesce(v_row_versions[9], 0);
			ELSE
				v_normalized := vapi.normalize_phone(v_m_number);
				v_contact_name := NULL;
				IF v_normalized IS NOT NULL AND v_m_org IS NOT NULL THEN
					SELECT k.name INTO v_contact_name FROM vapi.contacts k
					 WHERE k.org_id = v_m_org AND vapi.normalize_phone(k.phone) = v_normalized
					   AND k.name IS NOT NULL AND k.name <> ''
					 ORDER BY k.id LIMIT 1;
				END IF;
				IF v_contact_name IS NOT NULL THEN
					v_caller_name := v_contact_name;
					v_versions[9] := (2::bigint << 61) | 1;
				ELSIF v_m_cname IS NOT NULL THEN
					v_caller_name := v_m_cname;
					v_versions[9] := (1::bigint << 61) | 1;
				ELSE
					v_caller_name := 'Unknown Caller';
					v_versions[9] := 1;
				END IF;
			END IF;

			-- 5. the upsert
	INSERT INTO vapi.calls AS c (vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id, call_type, direction, phone_number, from_number, caller_name, ended_reason, started_at, ended_at, duration_seconds, cost, transcript, summary, sentiment, recording_url, stereo_recording_url, analysis, metadata, customer_name,
		is_test_call, status_rank, status, field_versions, first_event_at, last_event_at, created_at, updated_at)
	VALUES (v_call_id, v_org_id, v_vapi_org_id, v_assistant_id, v_phone_number_id, v_call_type, v_direction, v_phone_number, v_from_number, v_caller_name, v_ended_reason, v_started_at, v_ended_at, v_duration_seconds, v_cost, v_transcript, v_summary, v_sentiment, v_recording_url, v_stereo_recording_url, v_analysis, v_metadata, v_customer_name,
		v_is_test_call, v_rank, v_insert_status, v_versions, v_row_event_at, v_row_event_at, v_now, v_now)
	ON CONFLICT (vapi_call_id) DO UPDATE SET
		org_id = CASE WHEN (excluded.field_versions[1] > coalesce(c.field_versions[1], 0) OR (excluded.field_versions[1] = c.field_versions[1] AND excluded.org_id > c.org_id))
			THEN excluded.org_id ELSE c.org_id END,
		vapi_org_id = CASE WHEN (excluded.field_versions[2] > coalesce(c.field_versions[2], 0) OR (excluded.field_versions[2] = c.field_versions[2] AND excluded.vapi_org_id > c.vapi_org_id))
			THEN excluded.vapi_org_id ELSE c.vapi_org_id END,
		assistant_id = CASE WHEN (excluded.field_versions[3] > coalesce(c.field_versions[3], 0) OR (excluded.field_versions[3] = c.field_versions[3] AND excluded.assistant_id > c.assistant_id))
			THEN excluded.assistant_id ELSE c.assistant_id END,
		phone_number_id = CASE WHEN (excluded.field_versions[4] > coalesce(c.field_versions[4], 0) OR (excluded.field_versions[4] = c.field_versions[4] AND excluded.phone_number_id > c.phone_number_id))
			THEN excluded.phone_number_id ELSE c.phone_number_id END,
		call_type = CASE WHEN (excluded.field_versions[5] > coalesce(c.field_versions[5], 0) OR (excluded.field_versions[5] = c.field_versions[5] AND excluded.call_type > c.call_type))
			THEN excluded.call_type ELSE c.call_type END,
		direction = CASE WHEN (excluded.field_versions[6] > coalesce(c.field_versions[6], 0) OR (excluded.field_versions[6] = c.field_versions[6] AND excluded.direction > c.direction))
			THEN excluded.direction ELSE c.direction END,
		phone_number = CASE WHEN (excluded.field_versions[7] > coalesce(c.field_versions[7], 0) OR (excluded.field_versions[7] = c.field_versions[7] AND excluded.phone_number > c.phone_number))
			THEN excluded.phone_number ELSE c.phone_number END,
		from_number = CASE WHEN (excluded.field_versions[8] > coalesce(c.field_versions[8], 0) OR (excluded.field_versions[8] = c.field_versions[8] AND excluded.from_number > c.from_number))
			THEN excluded.from_number ELSE c.from_number END,
		caller_name = CASE WHEN (excluded.field_versions[9] <> 0 AND (excluded.field_versions[9] IS DISTINCT FROM c.field_versions[9] OR excluded.caller_name IS DISTINCT FROM c.caller_name))
			THEN excluded.caller_name ELSE c.caller_name END,
		ended_reason = CASE WHEN (excluded.field_versions[10] > coalesce(c.field_versions[10], 0) OR (excluded.field_versions[10] = c.field_versions[10] AND excluded.ended_reason > c.ended_reason))
			THEN excluded.ended_reason ELSE c.ended_reason END,
		started_at = CASE WHEN (excluded.field_versions[11] > coalesce(c.field_versions[11], 0) OR (excluded.field_versions[11] = c.field_versions[11] AND excluded.started_at > c.started_at))
			THEN excluded.started_at ELSE c.started_at END,
		ended_at = CASE WHEN (excluded.field_versions[12] > coalesce(c.field_versions[12], 0) OR (excluded.field_versions[12] = c.field_versions[12] AND excluded.ended_at > c.ended_at))
			THEN excluded.ended_at ELSE c.ended_at END,
		duration_seconds = CASE WHEN (excluded.field_versions[13] > coalesce(c.field_versions[13], 0) OR (excluded.field_versions[13] = c.field_versions[13] AND excluded.duration_seconds > c.duration_seconds))
			THEN excluded.duration_seconds ELSE c.duration_seconds END,
		cost = CASE WHEN (excluded.field_versions[14] > coalesce(c.field_versions[14], 0) OR (excluded.field_versions[14] = c.field_versions[14] AND excluded.cost > c.cost))
			THEN excluded.cost ELSE c.cost END,
		transcript = CASE WHEN (excluded.field_versions[15] > coalesce(c.field_versions[15], 0) OR (excluded.field_versions[15] = c.field_versions[15] AND excluded.transcript > c.transcript))
			THEN excluded.transcript ELSE c.transcript END,
		summary = CASE WHEN (excluded.field_versions[16] > coalesce(c.field_versions[16], 0) OR (excluded.field_versions[16] = c.field_versions[16] AND excluded.summary > c.summary))
			THEN excluded.summary ELSE c.summary END,
		sentiment = CASE WHEN (excluded.field_versions[17] > coalesce(c.field_versions[17], 0) OR (excluded.field_versions[17] = c.field_versions[17] AND excluded.sentiment > c.sentiment))
			THEN excluded.sentiment ELSE c.sentiment END,
		recording_url = CASE WHEN (excluded.field_versions[18] > coalesce(c.field_versions[18], 0) OR (excluded.field_versions[18] = c.field_versions[18] AND excluded.recording_url > c.recording_url))
			THEN excluded.recording_url ELSE c.recording_url END,
		stereo_recording_url = CASE WHEN (excluded.field_versions[19] > coalesce(c.field_versions[19], 0) OR (excluded.field_versions[19] = c.field_versions[19] AND excluded.stereo_recording_url > c.stereo_recording_url))
			THEN excluded.stereo_recording_url ELSE c.stereo_recording_url END,
		analysis = CASE WHEN (excluded.field_versions[20] > coalesce(c.field_versions[20], 0) OR (excluded.field_versions[20] = c.field_versions[20] AND excluded.analysis > c.analysis))
			THEN excluded.analysis ELSE c.analysis END,
		metadata = CASE WHEN (excluded.field_versions[21] > coalesce(c.field_versions[21], 0) OR (excluded.field_versions[21] = c.field_versions[21] AND excluded.metadata > c.metadata))
			THEN excluded.metadata ELSE c.metadata END,
		customer_name = CASE WHEN (excluded.field_versions[22] > coalesce(c.field_versions[22], 0) OR (excluded.field_versions[22] = c.field_versions[22] AND excluded.customer_name > c.customer_name))
			THEN excluded.customer_name ELSE c.customer_name END,
		is_test_call = c.is_test_call OR excluded.is_test_call,
		status_rank = greatest(c.status_rank, excluded.status_rank),
		status = CASE WHEN greatest(c.status_rank, excluded.status_rank) = 6
			THEN coalesce(vapi.classify_ended_reason(CASE WHEN (excluded.field_versions[10] > coalesce(c.field_versions[10], 0) OR (excluded.field_versions[10] = c.field_versions[10] AND excluded.ended_reason > c.ended_reason))
			THEN excluded.ended_reason ELSE c.ended_reason END), 'completed')
			ELSE ('{scheduled,queued,ringing,in-progress,forwarding}'::text[])[greatest(c.status_rank, excluded.status_rank)] END,
		field_versions = ARRAY[greatest(coalesce(c.field_versions[1], 0), excluded.field_versions[1]),
			greatest(coalesce(c.field_versions[2], 0), excluded.field_versions[2]),
			greatest(coalesce(c.field_versions[3], 0), excluded.field_versions[3]),
			greatest(coalesce(c.field_versions[4], 0), excluded.field_versions[4]),
			greatest(coalesce(c.field_versions[5], 0), excluded.field_versions[5]),
			greatest(coalesce(c.field_versions[6], 0), excluded.field_versions[6]),
			greatest(coalesce(c.field_versions[7], 0), excluded.field_versions[7]),
			greatest(coalesce(c.field_versions[8], 0), excluded.field_versions[8]),
			CASE WHEN excluded.field_versions[9] <> 0 THEN excluded.field_versions[9] ELSE coalesce(c.field_versions[9], 0) END,
			greatest(coalesce(c.field_versions[10], 0), excluded.field_versions[10]),
			greatest(coalesce(c.field_versions[11], 0), excluded.field_versions[11]),
			greatest(coalesce(c.field_versions[12], 0), excluded.field_versions[12]),
			greatest(coalesce(c.field_versions[13], 0), excluded.field_versions[13]),
			greatest(coalesce(c.field_versions[14], 0), excluded.field_versions[14]),
			greatest(coalesce(c.field_versions[15], 0), excluded.field_versions[15]),
			greatest(coalesce(c.field_versions[16], 0), excluded.field_versions[16]),
			greatest(coalesce(c.field_versions[17], 0), excluded.field_versions[17]),
			greatest(coalesce(c.field_versions[18], 0), excluded.field_versions[18]),
			greatest(coalesce(c.field_versions[19], 0), excluded.field_versions[19]),
			greatest(coalesce(c.field_versions[20], 0), excluded.field_versions[20]),
			greatest(coalesce(c.field_versions[21], 0), excluded.field_versions[21]),
			greatest(coalesce(c.field_versions[22], 0), excluded.field_versions[22])],
		first_event_at = least(c.first_event_at, excluded.first_event_at),
		last_event_at = greatest(c.last_event_at, excluded.last_event_at),
		events_applied = c.events_applied + 1,
		last_change_seq = CASE WHEN (excluded.status_rank > c.status_rank OR (excluded.is_test_call AND NOT c.is_test_call)
			OR ((excluded.field_versions[1] > coalesce(c.field_versions[1], 0) OR (excluded.field_versions[1] = c.field_versions[1] AND excluded.org_id > c.org_id)) AND excluded.org_id IS DISTINCT FROM c.org_id)
			OR ((excluded.field_versions[2] > coalesce(c.field_versions[2], 0) OR (excluded.field_versions[2] = c.field_versions[2] AND excluded.vapi_org_id > c.vapi_org_id)) AND excluded.vapi_org_id IS DISTINCT FROM c.vapi_org_id)
			OR ((excluded.field_versions[3] > coalesce(c.field_versions[3], 0) OR (excluded.field_versions[3] = c.field_versions[3] AND excluded.assistant_id > c.assistant_id)) AND excluded.assistant_id IS DISTINCT FROM c.assistant_id)
			OR ((excluded.field_versions[4] > coalesce(c.field_versions[4], 0) OR (excluded.field_versions[4] = c.field_versions[4] AND excluded.phone_number_id > c.phone_number_id)) AND excluded.phone_number_id IS DISTINCT FROM c.phone_number_id)
			OR ((excluded.field_versions[5] > coalesce(c.field_versions[5], 0) OR (excluded.field_versions[5] = c.field_versions[5] AND excluded.call_type > c.call_type)) AND excluded.call_type IS DISTINCT FROM c.call_type)
			OR ((excluded.field_versions[6] > coalesce(c.field_versions[6], 0) OR (excluded.field_versions[6] = c.field_versions[6] AND excluded.direction > c.direction)) AND excluded.direction IS DISTINCT FROM c.direction)
			OR ((excluded.field_versions[7] > coalesce(c.field_versions[7], 0) OR (excluded.field_versions[7] = c.field_versions[7] AND excluded.phone_number > c.phone_number)) AND excluded.phone_number IS DISTINCT FROM c.phone_number)
			OR ((excluded.field_versions[8] > coalesce(c.field_versions[8], 0) OR (excluded.field_versions[8] = c.field_versions[8] AND excluded.from_number > c.from_number)) AND excluded.from_number IS DISTINCT FROM c.from_number)
			OR ((excluded.field_versions[9] <> 0 AND (excluded.field_versions[9] IS DISTINCT FROM c.field_versions[9] OR excluded.caller_name IS DISTINCT FROM c.caller_name)) AND excluded.caller_name IS DISTINCT FROM c.caller_name)
			OR ((excluded.field_versions[10] > coalesce(c.field_versions[10], 0) OR (excluded.field_versions[10] = c.field_versions[10] AND excluded.ended_reason > c.ended_reason)) AND excluded.ended_reason IS DISTINCT FROM c.ended_reason)
			OR ((excluded.field_versions[11] > coalesce(c.field_versions[11], 0) OR (excluded.field_versions[11] = c.field_versions[11] AND excluded.started_at > c.started_at)) AND excluded.started_at IS DISTINCT FROM c.started_at)
			OR ((excluded.field_versions[12] > coalesce(c.field_versions[12], 0) OR (excluded.field_versions[12] = c.field_versions[12] AND excluded.ended_at > c.ended_at)) AND excluded.ended_at IS DISTINCT FROM c.ended_at)
			OR ((excluded.field_versions[13] > coalesce(c.field_versions[13], 0) OR (excluded.field_versions[13] = c.field_versions[13] AND excluded.duration_seconds > c.duration_seconds)) AND excluded.duration_seconds IS DISTINCT FROM c.duration_seconds)
			OR ((excluded.field_versions[14] > coalesce(c.field_versions[14], 0) OR (excluded.field_versions[14] = c.field_versions[14] AND excluded.cost > c.cost)) AND excluded.cost IS DISTINCT FROM c.cost)
			OR ((excluded.field_versions[15] > coalesce(c.field_versions[15], 0) OR (excluded.field_versions[15] = c.field_versions[15] AND excluded.transcript > c.transcript)) AND excluded.transcript IS DISTINCT FROM c.transcript)
			OR ((excluded.field_versions[16] > coalesce(c.field_versions[16], 0) OR (excluded.field_versions[16] = c.field_versions[16] AND excluded.summary > c.summary)) AND excluded.summary IS DISTINCT FROM c.summary)
			OR ((excluded.field_versions[17] > coalesce(c.field_versions[17], 0) OR (excluded.field_versions[17] = c.field_versions[17] AND excluded.sentiment > c.sentiment)) AND excluded.sentiment IS DISTINCT FROM c.sentiment)
			OR ((excluded.field_versions[18] > coalesce(c.field_versions[18], 0) OR (excluded.field_versions[18] = c.field_versions[18] AND excluded.recording_url > c.recording_url)) AND excluded.recording_url IS DISTINCT FROM c.recording_url)
			OR ((excluded.field_versions[19] > coalesce(c.field_versions[19], 0) OR (excluded.field_versions[19] = c.field_versions[19] AND excluded.stereo_recording_url > c.stereo_recording_url)) AND excluded.stereo_recording_url IS DISTINCT FROM c.stereo_recording_url)
			OR ((excluded.field_versions[20] > coalesce(c.field_versions[20], 0) OR (excluded.field_versions[20] = c.field_versions[20] AND excluded.analysis > c.analysis)) AND excluded.analysis IS DISTINCT FROM c.analysis)
			OR ((excluded.field_versions[21] > coalesce(c.field_versions[21], 0) OR (excluded.field_versions[21] = c.field_versions[21] AND excluded.metadata > c.metadata)) AND excluded.metadata IS DISTINCT FROM c.metadata)
			OR ((excluded.field_versions[22] > coalesce(c.field_versions[22], 0) OR (excluded.field_versions[22] = c.field_versions[22] AND excluded.customer_name > c.customer_name)) AND excluded.customer_name IS DISTINCT FROM c.customer_name))
			THEN c.events_applied + 1 ELSE c.last_change_seq END,
		updated_at = CASE WHEN (excluded.status_rank > c.status_rank OR (excluded.is_test_call AND NOT c.is_test_call)
			OR ((excluded.field_versions[1] > coalesce(c.field_versions[1], 0) OR (excluded.field_versions[1] = c.field_versions[1] AND excluded.org_id > c.org_id)) AND excluded.org_id IS DISTINCT FROM c.org_id)
			OR ((excluded.field_versions[2] > coalesce(c.field_versions[2], 0) OR (excluded.field_versions[2] = c.field_versions[2] AND excluded.vapi_org_id > c.vapi_org_id)) AND excluded.vapi_org_id IS DISTINCT FROM c.vapi_org_id)
			OR ((excluded.field_versions[3] > coalesce(c.field_versions[3], 0) OR (excluded.field_versions[3] = c.field_versions[3] AND excluded.assistant_id > c.assistant_id)) AND excluded.assistant_id IS DISTINCT FROM c.assistant_id)
			OR ((excluded.field_versions[4] > coalesce(c.field_versions[4], 0) OR (excluded.field_versions[4] = c.field_versions[4] AND excluded.phone_number_id > c.phone_number_id)) AND excluded.phone_number_id IS DISTINCT FROM c.phone_number_id)
			OR ((excluded.field_versions[5] > coalesce(c.field_versions[5], 0) OR (excluded.field_versions[5] = c.field_versions[5] AND excluded.call_type > c.call_type)) AND excluded.call_type IS DISTINCT FROM c.call_type)
			OR ((excluded.field_versions[6] > coalesce(c.field_versions[6], 0) OR (excluded.field_versions[6] = c.field_versions[6] AND excluded.direction > c.direction)) AND excluded.direction IS DISTINCT FROM c.direction)
			OR ((excluded.field_versions[7] > coalesce(c.field_versions[7], 0) OR (excluded.field_versions[7] = c.field_versions[7] AND excluded.phone_number > c.phone_number)) AND excluded.phone_number IS DISTINCT FROM c.phone_number)
			OR ((excluded.field_versions[8] > coalesce(c.field_versions[8], 0) OR (excluded.field_versions[8] = c.field_versions[8] AND excluded.from_number > c.from_number)) AND excluded.from_number IS DISTINCT FROM c.from_number)
			OR ((excluded.field_versions[9] <> 0 AND (excluded.field_versions[9] IS DISTINCT FROM c.field_versions[9] OR excluded.caller_name IS DISTINCT FROM c.caller_name)) AND excluded.caller_name IS DISTINCT FROM c.caller_name)
			OR ((excluded.field_versions[10] > coalesce(c.field_versions[10], 0) OR (excluded.field_versions[10] = c.field_versions[10] AND excluded.ended_reason > c.ended_reason)) AND excluded.ended_reason IS DISTINCT FROM c.ended_reason)
			OR ((excluded.field_versions[11] > coalesce(c.field_versions[11], 0) OR (excluded.field_versions[11] = c.field_versions[11] AND excluded.started_at > c.started_at)) AND excluded.started_at IS DISTINCT FROM c.started_at)
			OR ((excluded.field_versions[12] > coalesce(c.field_versions[12], 0) OR (excluded.field_versions[12] = c.field_versions[12] AND excluded.ended_at > c.ended_at)) AND excluded.ended_at IS DISTINCT FROM c.ended_at)
			OR ((excluded.field_versions[13] > coalesce(c.field_versions[13], 0) OR (excluded.field_versions[13] = c.field_versions[13] AND excluded.duration_seconds > c.duration_seconds)) AND excluded.duration_seconds IS DISTINCT FROM c.duration_seconds)
			OR ((excluded.field_versions[14] > coalesce(c.field_versions[14], 0) OR (excluded.field_versions[14] = c.field_versions[14] AND excluded.cost > c.cost)) AND excluded.cost IS DISTINCT FROM c.cost)
			OR ((excluded.field_versions[15] > coalesce(c.field_versions[15], 0) OR (excluded.field_versions[15] = c.field_versions[15] AND excluded.transcript > c.transcript)) AND excluded.transcript IS DISTINCT FROM c.transcript)
			OR ((excluded.field_versions[16] > coalesce(c.field_versions[16], 0) OR (excluded.field_versions[16] = c.field_versions[16] AND excluded.summary > c.summary)) AND excluded.summary IS DISTINCT FROM c.summary)
			OR ((excluded.field_versions[17] > coalesce(c.field_versions[17], 0) OR (excluded.field_versions[17] = c.field_versions[17] AND excluded.sentiment > c.sentiment)) AND excluded.sentiment IS DISTINCT FROM c.sentiment)
			OR ((excluded.field_versions[18] > coalesce(c.field_versions[18], 0) OR (excluded.field_versions[18] = c.field_versions[18] AND excluded.recording_url > c.recording_url)) AND excluded.recording_url IS DISTINCT FROM c.recording_url)
			OR ((excluded.field_versions[19] > coalesce(c.field_versions[19], 0) OR (excluded.field_versions[19] = c.field_versions[19] AND excluded.stereo_recording_url > c.stereo_recording_url)) AND excluded.stereo_recording_url IS DISTINCT FROM c.stereo_recording_url)
			OR ((excluded.field_versions[20] > coalesce(c.field_versions[20], 0) OR (excluded.field_versions[20] = c.field_versions[20] AND excluded.analysis > c.analysis)) AND excluded.analysis IS DISTINCT FROM c.analysis)
			OR ((excluded.field_versions[21] > coalesce(c.field_versions[21], 0) OR (excluded.field_versions[21] = c.field_versions[21] AND excluded.metadata > c.metadata)) AND excluded.metadata IS DISTINCT FROM c.metadata)
			OR ((excluded.field_versions[22] > coalesce(c.field_versions[22], 0) OR (excluded.field_versions[22] = c.field_versions[22] AND excluded.customer_name > c.customer_name)) AND excluded.customer_name IS DISTINCT FROM c.customer_name))
			THEN excluded.updated_at ELSE c.updated_at END
	WHERE excluded.status_rank > c.status_rank OR (excluded.is_test_call AND NOT c.is_test_call)
		OR excluded.first_event_at < c.first_event_at OR excluded.last_event_at > c.last_event_at
		OR (excluded.field_versions[1] > coalesce(c.field_versions[1], 0) OR (excluded.field_versions[1] = c.field_versions[1] AND excluded.org_id > c.org_id))
		OR (excluded.field_versions[2] > coalesce(c.field_versions[2], 0) OR (excluded.field_versions[2] = c.field_versions[2] AND excluded.vapi_org_id > c.vapi_org_id))
		OR (excluded.field_versions[3] > coalesce(c.field_versions[3], 0) OR (excluded.field_versions[3] = c.field_versions[3] AND excluded.assistant_id > c.assistant_id))
		OR (excluded.field_versions[4] > coalesce(c.field_versions[4], 0) OR (excluded.field_versions[4] = c.field_versions[4] AND excluded.phone_number_id > c.phone_number_id))
		OR (excluded.field_versions[5] > coalesce(c.field_versions[5], 0) OR (excluded.field_versions[5] = c.field_versions[5] AND excluded.call_type > c.call_type))
		OR (excluded.field_versions[6] > coalesce(c.field_versions[6], 0) OR (excluded.field_versions[6] = c.field_versions[6] AND excluded.direction > c.direction))
		OR (excluded.field_versions[7] > coalesce(c.field_versions[7], 0) OR (excluded.field_versions[7] = c.field_versions[7] AND excluded.phone_number > c.phone_number))
		OR (excluded.field_versions[8] > coalesce(c.field_versions[8], 0) OR (excluded.field_versions[8] = c.field_versions[8] AND excluded.from_number > c.from_number))
		OR (excluded.field_versions[9] <> 0 AND (excluded.field_versions[9] IS DISTINCT FROM c.field_versions[9] OR excluded.caller_name IS DISTINCT FROM c.caller_name))
		OR (excluded.field_versions[10] > coalesce(c.field_versions[10], 0) OR (excluded.field_versions[10] = c.field_versions[10] AND excluded.ended_reason > c.ended_reason))
		OR (excluded.field_versions[11] > coalesce(c.field_versions[11], 0) OR (excluded.field_versions[11] = c.field_versions[11] AND excluded.started_at > c.started_at))
		OR (excluded.field_versions[12] > coalesce(c.field_versions[12], 0) OR (excluded.field_versions[12] = c.field_versions[12] AND excluded.ended_at > c.ended_at))
		OR (excluded.field_versions[13] > coalesce(c.field_versions[13], 0) OR (excluded.field_versions[13] = c.field_versions[13] AND excluded.duration_seconds > c.duration_seconds))
		OR (excluded.field_versions[14] > coalesce(c.field_versions[14], 0) OR (excluded.field_versions[14] = c.field_versions[14] AND excluded.cost > c.cost))
		OR (excluded.field_versions[15] > coalesce(c.field_versions[15], 0) OR (excluded.field_versions[15] = c.field_versions[15] AND excluded.transcript > c.transcript))
		OR (excluded.field_versions[16] > coalesce(c.field_versions[16], 0) OR (excluded.field_versions[16] = c.field_versions[16] AND excluded.summary > c.summary))
		OR (excluded.field_versions[17] > coalesce(c.field_versions[17], 0) OR (excluded.field_versions[17] = c.field_versions[17] AND excluded.sentiment > c.sentiment))
		OR (excluded.field_versions[18] > coalesce(c.field_versions[18], 0) OR (excluded.field_versions[18] = c.field_versions[18] AND excluded.recording_url > c.recording_url))
		OR (excluded.field_versions[19] > coalesce(c.field_versions[19], 0) OR (excluded.field_versions[19] = c.field_versions[19] AND excluded.stereo_recording_url > c.stereo_recording_url))
		OR (excluded.field_versions[20] > coalesce(c.field_versions[20], 0) OR (excluded.field_versions[20] = c.field_versions[20] AND excluded.analysis > c.analysis))
		OR (excluded.field_versions[21] > coalesce(c.field_versions[21], 0) OR (excluded.field_versions[21] = c.field_versions[21] AND excluded.metadata > c.metadata))
		OR (excluded.field_versions[22] > coalesce(c.field_versions[22], 0) OR (excluded.field_versions[22] = c.field_versions[22] AND excluded.customer_name > c.customer_name))
	RETURNING id, status, events_applied = 1, last_change_seq = events_applied
	INTO v_call_uuid, v_row_status, v_inserted, v_changed;

			IF NOT FOUND THEN
				-- nothing new: an exact repeat, or an older copy of what we have
				SELECT c.id, c.status INTO v_call_uuid, v_row_status FROM vapi.calls c WHERE c.vapi_call_id = v_call_id;
				v_inserted := false;
				v_changed := false;
			END IF;
			v_ok := true;
			v_action := CASE WHEN v_inserted THEN 'inserted' WHEN v_changed THEN 'updated' ELSE 'unchanged' END;
		EXCEPTION WHEN OTHERS THEN
			v_ok := false;
			v_action := 'error';
			v_error := SQLERRM;
			v_call_uuid := NULL;
			v_row_status := NULL;
		END;
	ELSIF v_disposition = 'ignore' THEN
		v_ok := true;
		v_action := 'ignored';
	ELSE
		v_action := 'rejected';
		v_error := v_detail;
	END IF;

	-- 6. the event log
	IF current_setting('vapi.log_events') = 'all'
	   OR (current_setting('vapi.log_events') = 'errors' AND v_action IN ('error', 'rejected')) THEN
		INSERT INTO vapi.events (received_at, vapi_call_id, type, status, event_at, payload, outcome, detail)
		VALUES (v_now, coalesce(v_call_id, ''), v_type, v_status_name, v_event_at, payload, v_action,
				CASE WHEN v_ok THEN v_detail ELSE v_error END)
		RETURNING id INTO v_event_id;
	END IF;

	v_result := jsonb_build_object('ok', v_ok, 'action', v_action, 'call_id', v_call_uuid,
								   'vapi_call_id', v_call_id, 'status', v_row_status);
	IF v_event_id IS NOT NULL THEN
		v_result := v_result || jsonb_build_object('event_id', v_event_id);
	END IF;
	IF NOT v_ok THEN
		v_result := v_result || jsonb_build_object('error', coalesce(v_error, 'unknown error'));
	END IF;
	RETURN v_result;
END
$fn$;
