-- bench/pgbench.sql: the webhook templates of the pgbench parts (2 and 3).
--
-- One call of the data set (inbound, 2026 shape, four conversation-updates)
-- gives eight deliveries; each becomes a template in which the call id,
-- the assistant, the phone number and the customer's number are pgbench
-- variables, so every pgbench call is a new call of a random org, with a
-- random assistant of that org, and a caller who is one of the org's
-- contacts one time in five.  bench.pgbench_script(variant) writes a whole
-- script; run.sh saves it to a file.  Variants:
--
--   ingest  one round trip: vapi_ingest('<body>')
--   floor   one round trip: the event-log insert and a bare upsert of the
--           values the event carries (resolved beforehand), in one statement
--   app     three round trips, as an application handler does it: look up
--           the assistant's org, look up the contact, then the floor's
--           statement with what the lookups found
-- All three use prepared statements.
\set ON_ERROR_STOP 1

-- The template call and its eight deliveries, e = 0..7.
CREATE TABLE bench.pgb_events AS
SELECT (row_number() OVER (ORDER BY e.kind) - 1)::int AS e, e.kind, e.payload, c.*
FROM bench.events e
JOIN bench.calls c USING (call_no)
WHERE c.call_no = (
	SELECT c2.call_no FROM bench.calls c2
	WHERE c2.mix = 'large' AND c2.call_type = 'inboundPhoneCall' AND NOT c2.shape_2024 AND c2.n_conv = 4
	  AND c2.assistant_id LIKE 'a5515a00-%' AND c2.customer_name IS NULL
	  AND (SELECT count(*) FROM bench.events e2 WHERE e2.call_no = c2.call_no) = 8
	ORDER BY c2.call_no LIMIT 1);

-- The row each delivery makes on its own: what a handler that had already
-- extracted and resolved the values would upsert.
SELECT count(vapi_ingest(jsonb_set(payload, '{message,call,id}', to_jsonb('pgb-template-' || e))))
FROM bench.pgb_events;
CREATE TABLE bench.pgb_rows AS
SELECT p.e, c.*, v.type AS event_type, v.status AS event_status
FROM bench.pgb_events p
JOIN vapi.calls c ON c.vapi_call_id = 'pgb-template-' || p.e
JOIN vapi.events v ON v.vapi_call_id = c.vapi_call_id;
DELETE FROM vapi.events WHERE vapi_call_id LIKE 'pgb-template-%';
DELETE FROM vapi.calls WHERE vapi_call_id LIKE 'pgb-template-%';

-- A value of the template call as it appears in a script: its ids become
-- pgbench variables, and it is quoted as an SQL literal.
CREATE FUNCTION bench.pgb_literal(v text) RETURNS text STABLE LANGUAGE sql AS $$
	SELECT CASE WHEN v IS NULL THEN 'NULL' ELSE quote_literal(
		replace(replace(replace(replace(v,
			t.call_id, 'pgb-:vk_run-:client_id-:vk_n'),
			t.assistant_id, 'a5515a00-0000-4000-8000-:vk_asst'),
			t.phone_number_id, 'b0e00000-0000-4000-8000-:vk_pn'),
			t.customer_number, '+1650:vk_num')) END
	FROM (SELECT * FROM bench.pgb_events LIMIT 1) t
$$;

-- The merged columns of vapi.calls.
CREATE TABLE bench.pgb_columns (n int, name text, type text);
INSERT INTO bench.pgb_columns VALUES
	(1, 'org_id', 'uuid'), (2, 'vapi_org_id', 'text'), (3, 'assistant_id', 'text'),
	(4, 'phone_number_id', 'text'), (5, 'call_type', 'text'), (6, 'direction', 'text'),
	(7, 'phone_number', 'text'), (8, 'from_number', 'text'), (9, 'caller_name', 'text'),
	(10, 'ended_reason', 'text'), (11, 'started_at', 'timestamptz'), (12, 'ended_at', 'timestamptz'),
	(13, 'duration_seconds', 'numeric'), (14, 'cost', 'numeric'), (15, 'transcript', 'text'),
	(16, 'summary', 'text'), (17, 'sentiment', 'text'), (18, 'recording_url', 'text'),
	(19, 'stereo_recording_url', 'text'), (20, 'analysis', 'jsonb'), (21, 'metadata', 'jsonb');

-- The floor's statement, prepared once per connection: the event-log
-- insert and a bare upsert (a value the event does not carry never erases
-- one) in one statement.
CREATE FUNCTION bench.pgb_prepare_floor() RETURNS text STABLE LANGUAGE sql AS $$
	SELECT 'PREPARE vk_floor (text, uuid, text, text, text, text, text, text, text, text, text,'
		' timestamptz, timestamptz, numeric, numeric, text, text, text, text, text, jsonb, jsonb,'
		' boolean, smallint, text, timestamptz, timestamptz, text, text, jsonb) AS'
		' WITH e AS (INSERT INTO vapi.events (received_at, vapi_call_id, type, status, event_at, payload, outcome)'
		' VALUES (now(), $1, $28, $29, $26, $30, ''updated''))'
		' INSERT INTO vapi.calls AS c (vapi_call_id, org_id, vapi_org_id, assistant_id, phone_number_id,'
		' call_type, direction, phone_number, from_number, caller_name, ended_reason, started_at, ended_at,'
		' duration_seconds, cost, transcript, summary, sentiment, recording_url, stereo_recording_url,'
		' analysis, metadata, is_test_call, status_rank, status, first_event_at, last_event_at)'
		' VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,'
		' $20, $21, coalesce($22, ''{}''), $23, $24, $25, $26, $27)'
		' ON CONFLICT (vapi_call_id) DO UPDATE SET '
		|| (SELECT string_agg(format('%I = coalesce(excluded.%I, c.%I)', name, name, name), ', ' ORDER BY n)
			FROM bench.pgb_columns)
		|| ', is_test_call = c.is_test_call OR excluded.is_test_call,'
		' status = CASE WHEN excluded.status_rank >= c.status_rank THEN excluded.status ELSE c.status END,'
		' status_rank = greatest(c.status_rank, excluded.status_rank),'
		' first_event_at = least(c.first_event_at, excluded.first_event_at),'
		' last_event_at = greatest(c.last_event_at, excluded.last_event_at),'
		' events_applied = c.events_applied + 1, updated_at = now();'
$$;

-- The EXECUTE of the floor's statement for delivery e, with the values
-- the delivery carries; for the app variant, org and caller are what the
-- lookups found (pgbench variables).
CREATE FUNCTION bench.pgb_execute_floor(p_e int, app boolean) RETURNS text STABLE LANGUAGE plpgsql AS $$
DECLARE
	r jsonb;
	ev record;
	args text := '';
	col record;
BEGIN
	SELECT to_jsonb(x) INTO r FROM bench.pgb_rows x WHERE x.e = p_e;
	SELECT * INTO ev FROM bench.pgb_events WHERE e = p_e;
	FOR col IN SELECT * FROM bench.pgb_columns ORDER BY n LOOP
		args := args || ', ' || CASE
			WHEN app AND col.name = 'org_id' THEN 'nullif('':vk_org'', '''')::uuid'
			WHEN app AND col.name = 'caller_name' THEN
				'coalesce(nullif('':vk_contact'', ''''), ' || quote_literal(r ->> 'caller_name') || ')'
			ELSE bench.pgb_literal(r ->> col.name) END;
	END LOOP;
	RETURN format('EXECUTE vk_floor(%s%s, %L, %s, %s, %L, %L, %L, %s, %s);',
		bench.pgb_literal(ev.call_id), args, r ->> 'is_test_call', r ->> 'status_rank',
		quote_nullable(r ->> 'status'), r ->> 'first_event_at', r ->> 'last_event_at',
		r ->> 'event_type', quote_nullable(r ->> 'event_status'), bench.pgb_literal(ev.payload::text));
END
$$;

-- A whole pgbench script.  Simple protocol, so that the ids inside the
-- bodies can be pgbench variables; each client prepares its statements in
-- its first transaction, as an application with prepared statements does,
-- and then sends each delivery's values with EXECUTE.  Client variables:
-- vk_k counts the client's deliveries (-D vk_k=0); every 8th starts a new
-- call vk_n with its own org, assistant, number and caller.  -D orgs, apo
-- (assistants per org), cpo (contacts per org) and vk_run (a run number)
-- come from run.sh.
CREATE FUNCTION bench.pgbench_script(variant text) RETURNS text STABLE LANGUAGE plpgsql AS $$
DECLARE
	s text;
	ev record;
BEGIN
	s := E'\\if :vk_k = 0\n'
		|| CASE variant
			WHEN 'ingest' THEN E'PREPARE vk_ingest (jsonb) AS SELECT public.vapi_ingest($1);\n'
			WHEN 'floor' THEN bench.pgb_prepare_floor() || E'\n'
			ELSE bench.pgb_prepare_floor() || E'\n'
				|| 'PREPARE vk_agent (text) AS SELECT coalesce((SELECT org_id::text FROM vapi.agents'
				|| E' WHERE vapi_assistant_id = $1), \'\') AS vk_org;\n'
				|| 'PREPARE vk_contact (uuid, text) AS SELECT coalesce((SELECT name FROM vapi.contacts'
				|| ' WHERE org_id = $1 AND vapi.normalize_phone(phone) = vapi.normalize_phone($2)'
				|| E' AND name <> \'\' ORDER BY id LIMIT 1), \'\') AS vk_contact;\n'
			END
		|| E'\\endif\n'
		|| E'\\set vk_e :vk_k % 8\n'
		|| E'\\if :vk_e = 0\n'
		|| E'\\set vk_n :vk_k / 8\n'
		|| E'\\set vk_o random(1, :orgs)\n'
		|| E'\\set vk_asst 100000000000 + :vk_o + :orgs * random(0, :apo - 1)\n'
		|| E'\\set vk_pn 100000000000 + :vk_o\n'
		|| E'\\if random(1, 100) <= 20\n'
		|| E'\\set vk_num 1000000 + :vk_o + :orgs * random(0, :cpo - 1)\n'
		|| E'\\else\n'
		|| E'\\set vk_num 3000000 + random(1, 4000000)\n'
		|| E'\\endif\n'
		|| E'\\endif\n'
		|| E'\\set vk_k :vk_k + 1\n';
	FOR ev IN SELECT * FROM bench.pgb_events ORDER BY e LOOP
		s := s || CASE WHEN ev.e = 0 THEN E'\\if :vk_e = 0\n' ELSE format(E'\\elif :vk_e = %s\n', ev.e) END;
		IF variant = 'ingest' THEN
			s := s || 'EXECUTE vk_ingest(' || bench.pgb_literal(ev.payload::text) || E');\n';
		ELSIF variant = 'floor' THEN
			s := s || bench.pgb_execute_floor(ev.e, false) || E'\n';
		ELSE
			s := s || 'EXECUTE vk_agent(' || bench.pgb_literal(ev.assistant_id) || E') \\gset\n'
				   || 'EXECUTE vk_contact(nullif('':vk_org'', '''')::uuid, '
				   || bench.pgb_literal(ev.customer_number) || E') \\gset\n'
				   || bench.pgb_execute_floor(ev.e, true) || E'\n';
		END IF;
	END LOOP;
	RETURN s || E'\\endif\n';
END
$$;
