/*
 * vapi_calls 0.1.0 -> 0.2.0
 *
 * Every change to the schema and the SQL surface since 0.1.0, in the order
 * it was made.  The result must equal a fresh install from
 * vapi_calls--0.2.0.sql: test/upgrade.sh walks this script and compares the
 * two catalogs.
 */
\echo Use "ALTER EXTENSION vapi_calls UPDATE TO '0.2.0'" to load this file. \quit

-- Issue 15: scale-out on Citus

DROP POLICY calls_org_read ON vapi.calls;
CREATE POLICY calls_org_read ON vapi.calls FOR SELECT
	USING (org_id = vapi.current_org());

-- ==== Scale-out on Citus (issue 15) ====
--
-- vapi.distribute() turns a single-node install into the layout of the
-- spec's "Scale-out" section, on the coordinator of a Citus cluster:
-- vapi.calls and vapi.events hash-distributed on vapi_call_id and
-- co-located (every statement of one delivery goes to the one worker that
-- holds its call), the directory (agents, phone numbers, contacts) as
-- reference tables, which every node holds whole, so the lookups are local.
-- The credentials and the other settings tables stay on the coordinator,
-- where vapi_webhook reads them.  It drops the uniqueness of vapi.calls.id
-- (Citus allows no unique constraint without the distribution column; the
-- id is still a random uuid, and nothing in the extension looks a call up
-- by it), and copies to the workers what Citus does not propagate for an
-- extension's schema: the USAGE grants on schema vapi.  Every step is
-- skipped when already done, so calling it again is harmless.  Returns
-- what it did, a line per step.
CREATE FUNCTION vapi.distribute() RETURNS SETOF text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text;
	grantee text;
	n_workers integer;
	r record;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'vapi.distribute() needs the citus extension in this database'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Run it on the coordinator of a Citus cluster, after CREATE EXTENSION citus.';
	END IF;
	IF NOT citus_is_coordinator() THEN
		RAISE EXCEPTION 'vapi.distribute() must run on the coordinator of the Citus cluster'
			USING ERRCODE = 'feature_not_supported';
	END IF;
	SELECT count(*) INTO n_workers FROM citus_get_active_worker_nodes();
	IF n_workers = 0 THEN
		RAISE EXCEPTION 'the Citus cluster has no active worker node'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Add the workers with citus_add_node() first.';
	END IF;
	-- Several calls of one transaction touch several workers: Citus commits
	-- them with two-phase commit, which needs prepared transactions.
	FOR r IN SELECT nodename, nodeport, result
			   FROM run_command_on_workers('SHOW max_prepared_transactions')
			  WHERE NOT success OR result = '0'
	LOOP
		RAISE EXCEPTION 'max_prepared_transactions is 0 (or unreadable) on worker %:%', r.nodename, r.nodeport
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Citus commits transactions that write to several workers with two-phase commit: set max_prepared_transactions on every node.';
	END LOOP;

	FOREACH t IN ARRAY ARRAY['vapi.agents', 'vapi.phone_numbers', 'vapi.contacts'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = t::regclass) THEN
			-- Citus distributes no table with triggers, and the directory
			-- cache's (issue 11) serve nothing here: with Citus installed the
			-- lookups run as SQL and cache nothing (src/dircache.c).
			IF t = 'vapi.agents' THEN
				DROP TRIGGER IF EXISTS agents_changed ON vapi.agents;
			ELSIF t = 'vapi.phone_numbers' THEN
				DROP TRIGGER IF EXISTS phone_numbers_changed ON vapi.phone_numbers;
			END IF;
			PERFORM create_reference_table(t);
			RETURN NEXT t || ': reference table';
		END IF;
	END LOOP;

	IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
				WHERE conrelid = 'vapi.calls'::regclass AND conname = 'calls_id_key') THEN
		ALTER TABLE vapi.calls DROP CONSTRAINT calls_id_key;
		RETURN NEXT 'vapi.calls: dropped UNIQUE (id)';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'vapi.calls'::regclass) THEN
		PERFORM create_distributed_table('vapi.calls', 'vapi_call_id');
		RETURN NEXT 'vapi.calls: distributed on vapi_call_id';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'vapi.events'::regclass) THEN
		PERFORM create_distributed_table('vapi.events', 'vapi_call_id', colocate_with => 'vapi.calls');
		RETURN NEXT 'vapi.events: distributed on vapi_call_id, co-located with vapi.calls';
	END IF;

	-- Citus pushes a query on a view down to the shards and loses the
	-- view's ORDER BY; LIMIT ALL makes it sort on the coordinator, so the
	-- sorted views keep their order (a dashboard that pages says ORDER BY
	-- ... LIMIT on vapi.call_log_rows, which each worker answers with its
	-- own first rows).
	IF pg_catalog.strpos(pg_catalog.pg_get_viewdef('vapi.call_log'::regclass), 'LIMIT ALL') = 0 THEN
		CREATE OR REPLACE VIEW vapi.call_log WITH (security_invoker = true) AS
		SELECT * FROM vapi.call_log_rows WHERE NOT is_test_call
		 ORDER BY first_seen_at DESC, vapi_call_id DESC LIMIT ALL;
		CREATE OR REPLACE VIEW vapi.call_log_all WITH (security_invoker = true) AS
		SELECT * FROM vapi.call_log_rows
		 ORDER BY first_seen_at DESC, vapi_call_id DESC LIMIT ALL;
		RETURN NEXT 'vapi.call_log, vapi.call_log_all: sorted on the coordinator';
	END IF;

	-- Readers query the shards on the workers as themselves.
	FOR grantee IN
		SELECT a.grantee::regrole::text
		  FROM pg_catalog.pg_namespace n, aclexplode(n.nspacl) a
		 WHERE n.nspname = 'vapi' AND a.privilege_type = 'USAGE' AND a.grantee <> 0
		   AND a.grantee <> n.nspowner
	LOOP
		IF EXISTS (SELECT 1 FROM run_command_on_workers(format(
						'SELECT has_schema_privilege(%L, ''vapi'', ''USAGE'')', grantee))
					WHERE result IS DISTINCT FROM 't') THEN
			PERFORM run_command_on_workers(format('GRANT USAGE ON SCHEMA vapi TO %s', grantee));
			RETURN NEXT 'schema vapi: USAGE for ' || grantee || ' on the workers';
		END IF;
	END LOOP;
	RETURN;
END
$$;
COMMENT ON FUNCTION vapi.distribute() IS
	'On a Citus coordinator: distribute vapi.calls and vapi.events on vapi_call_id, the directory as reference tables; idempotent';
REVOKE ALL ON FUNCTION vapi.distribute() FROM PUBLIC;

-- PostgREST's db-pre-request function for tenant reads on Citus.  The row
-- level security policy on vapi.calls is evaluated where the rows are: on
-- Citus, in the workers' sessions, which never see the claims PostgREST
-- sets with set_config() on the coordinator.  Citus propagates SET LOCAL
-- (with citus.propagate_set_commands = 'local') to every worker connection
-- of the transaction, so this sets the claims again that way.  Without
-- Citus it does nothing.  No SET clause: a function's own settings would
-- undo the SET LOCAL on return.  It runs with its caller's rights and sets
-- only the caller's own claims, so anyone may run it.
CREATE FUNCTION vapi.pre_request() RETURNS void
	LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	IF pg_catalog.current_setting('citus.propagate_set_commands', true) IS NOT NULL THEN
		SET LOCAL citus.propagate_set_commands = 'local';
		EXECUTE pg_catalog.format('SET LOCAL request.jwt.claims = %L',
			COALESCE(pg_catalog.current_setting('request.jwt.claims', true), ''));
	END IF;
END
$$;
COMMENT ON FUNCTION vapi.pre_request() IS
	'PostgREST db-pre-request: on Citus, make the request''s JWT claims visible on the workers; else nothing';
GRANT EXECUTE ON FUNCTION vapi.pre_request() TO PUBLIC;

-- What a tenant reader needs, on one node or on Citus: USAGE on schema
-- vapi (also on the workers, where Citus does not propagate grants on an
-- extension's schema), SELECT on vapi.calls and the call log views.  Rows
-- are still those of the reader's org only (row level security).
CREATE FUNCTION vapi.grant_reader(reader regrole) RETURNS void
	LANGUAGE plpgsql VOLATILE STRICT
	SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	EXECUTE format('GRANT USAGE ON SCHEMA vapi TO %s', reader);
	EXECUTE format('GRANT SELECT ON vapi.calls, vapi.call_log_rows, vapi.call_log, vapi.call_log_all TO %s', reader);
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')
	   AND EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'vapi.calls'::regclass) THEN
		PERFORM run_command_on_workers(format('GRANT USAGE ON SCHEMA vapi TO %s', reader));
	END IF;
END
$$;
COMMENT ON FUNCTION vapi.grant_reader(regrole) IS
	'Let a role read its org''s calls: USAGE on schema vapi (on every node), SELECT on vapi.calls and the call log views';
REVOKE ALL ON FUNCTION vapi.grant_reader(regrole) FROM PUBLIC;

-- vapi.check(): on Citus, the index of a distributed or reference source is
-- looked for in the catalog (its lookup runs on a shard, planned without
-- check()'s settings).
CREATE OR REPLACE FUNCTION vapi.check(OUT severity text, OUT item text, OUT detail text)
	RETURNS SETOF record
	LANGUAGE plpgsql VOLATILE
	SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp
AS $check$
DECLARE
	-- a value no real id has: the index check looks for it in the plan
	probe constant text := 'vapi.check probe';
	ingest_owner oid;
	src record;
	cls record;
	col record;
	s record;
	value text;
	rel oid;
	q text;
	plan jsonb;
	problems integer;
	unreadable text;
	seq text;
	idx text;
	ncred bigint;
	citus_table boolean;
BEGIN
	SELECT p.proowner INTO ingest_owner
	  FROM pg_catalog.pg_proc p
	  JOIN pg_catalog.pg_depend d
	    ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
	   AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
	  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
	 WHERE e.extname = 'vapi_calls' AND p.proname = 'vapi_ingest';

	-- Each source: exists, has the columns, is readable, has its index.
	FOR src IN
		SELECT * FROM (VALUES
			(1, 'vapi.agents_source', ARRAY['vapi_assistant_id', 'org_id'],
			 ARRAY['text', 'uuid'], '(vapi_assistant_id)'),
			(2, 'vapi.phone_numbers_source', ARRAY['vapi_phone_number_id', 'org_id'],
			 ARRAY['text', 'uuid'], '(vapi_phone_number_id)'),
			(3, 'vapi.contacts_source', ARRAY['id', 'org_id', 'phone', 'name'],
			 ARRAY['any', 'uuid', 'text', 'text'], '(org_id, vapi.normalize_phone(phone))')
		) AS v (ord, setting, columns, types, index_keys)
		ORDER BY ord
	LOOP
		-- (a C function: this also loads the module, so the settings exist)
		q := vapi.source_query(src.setting);
		SELECT ps.setting, CASE ps.source WHEN 'default' THEN 'default' ELSE 'set in ' || ps.source END AS origin
		  INTO s FROM pg_catalog.pg_settings ps WHERE ps.name = src.setting;
		value := s.setting;
		rel := pg_catalog.to_regclass(value);
		IF rel IS NULL THEN
			RETURN QUERY VALUES ('error', src.setting, pg_catalog.format(
				'relation %s does not exist (%s): every lookup fails and deliveries are stored with outcome error',
				value, s.origin));
			CONTINUE;
		END IF;
		SELECT c.relkind, c.relowner, c.relnamespace, c.relrowsecurity, c.relforcerowsecurity,
		       r.rolsuper AS owner_is_super
		  INTO cls
		  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
		 WHERE c.oid = rel;
		IF cls.relkind NOT IN ('r', 'p', 'v', 'm', 'f') THEN
			RETURN QUERY VALUES ('error', src.setting, pg_catalog.format(
				'%s is not a table or view (%s)', rel::pg_catalog.regclass, s.origin));
			CONTINUE;
		END IF;
		RETURN QUERY VALUES ('ok', src.setting, pg_catalog.format('%s, a %s (%s)',
			rel::pg_catalog.regclass,
			CASE cls.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
			     WHEN 'f' THEN 'foreign table' ELSE 'table' END,
			s.origin));

		-- The columns, by name, with a type the lookup can use.
		problems := 0;
		FOR col IN
			SELECT u.name, u.want, a.atttypid IS NOT NULL AS present,
			       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
			       pg_catalog.format_type(CASE t.typtype WHEN 'd' THEN t.typbasetype ELSE t.oid END, NULL) AS base
			  FROM ROWS FROM (pg_catalog.unnest(src.columns), pg_catalog.unnest(src.types))
			       WITH ORDINALITY AS u (name, want, n)
			  LEFT JOIN pg_catalog.pg_attribute a
			    ON a.attrelid = rel AND a.attname = u.name AND a.attnum > 0 AND NOT a.attisdropped
			  LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
			 ORDER BY u.n
		LOOP
			IF NOT col.present THEN
				RETURN QUERY VALUES ('error', src.setting, pg_catalog.format(
					'column %s is missing from %s', col.name, rel::pg_catalog.regclass));
			ELSIF col.want = 'uuid' AND col.base <> 'uuid' THEN
				RETURN QUERY VALUES ('error', src.setting, pg_catalog.format(
					'column %s is of type %s; it must be uuid', col.name, col.type));
			ELSIF col.want = 'text' AND col.base NOT IN ('text', 'character varying') THEN
				RETURN QUERY VALUES ('error', src.setting, pg_catalog.format(
					'column %s is of type %s; it must be text or varchar', col.name, col.type));
			ELSE
				CONTINUE;
			END IF;
			problems := problems + 1;
		END LOOP;
		IF problems > 0 THEN
			CONTINUE;
		END IF;
		RETURN QUERY VALUES ('ok', src.setting, 'has the columns ' || pg_catalog.array_to_string(src.columns, ', '));
		-- A number's assistant, which answers assistant-requests: optional.
		IF src.ord = 2 THEN
			SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
			       pg_catalog.format_type(CASE t.typtype WHEN 'd' THEN t.typbasetype ELSE t.oid END, NULL) AS base
			  INTO col
			  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
			 WHERE a.attrelid = rel AND a.attname = 'assistant_id' AND a.attnum > 0 AND NOT a.attisdropped;
			IF NOT FOUND THEN
				RETURN QUERY VALUES ('warning', src.setting, pg_catalog.format(
					'%s has no column assistant_id: an assistant-request for its numbers gets the fallback reply',
					rel::pg_catalog.regclass));
			ELSIF col.base NOT IN ('text', 'character varying') THEN
				RETURN QUERY VALUES ('warning', src.setting, pg_catalog.format(
					'column assistant_id is of type %s; it must be text or varchar for vapi_webhook to answer assistant-requests',
					col.type));
			END IF;
		END IF;

		-- Readable by the role vapi_ingest runs as.
		SELECT pg_catalog.string_agg(c, ', ') INTO unreadable
		  FROM pg_catalog.unnest(src.columns) AS c
		 WHERE NOT pg_catalog.has_column_privilege(ingest_owner, rel, c, 'SELECT');
		IF NOT pg_catalog.has_schema_privilege(ingest_owner, cls.relnamespace, 'USAGE') THEN
			RETURN QUERY VALUES ('error', src.setting, pg_catalog.format(
				'role %I, which vapi_ingest runs as, has no USAGE on schema %I',
				pg_catalog.pg_get_userbyid(ingest_owner), pg_catalog.parse_ident(value)[1]));
			CONTINUE;
		ELSIF unreadable IS NOT NULL THEN
			RETURN QUERY VALUES ('error', src.setting, pg_catalog.format(
				'role %I, which vapi_ingest runs as, cannot read %s of %s',
				pg_catalog.pg_get_userbyid(ingest_owner), unreadable, rel::pg_catalog.regclass));
			CONTINUE;
		END IF;
		IF cls.relrowsecurity AND cls.relkind IN ('r', 'p')
		   AND NOT (cls.relowner = ingest_owner AND NOT cls.relforcerowsecurity)
		   AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
		                    WHERE r.oid = ingest_owner AND (r.rolsuper OR r.rolbypassrls)) THEN
			RETURN QUERY VALUES ('warning', src.setting, pg_catalog.format(
				'row-level security is enabled on %s: rows that role %I cannot see are never found',
				rel::pg_catalog.regclass, pg_catalog.pg_get_userbyid(ingest_owner)));
		END IF;
		IF cls.relkind = 'v' AND cls.relowner <> ingest_owner AND NOT cls.owner_is_super THEN
			RETURN QUERY VALUES ('warning', src.setting, pg_catalog.format(
				'view %s is owned by role %I: functions it calls run with the privileges of vapi_ingest''s owner, so its owner must be trusted',
				rel::pg_catalog.regclass, pg_catalog.pg_get_userbyid(cls.relowner)));
		END IF;

		-- The index: plan the lookup itself with bitmap scans as the only
		-- cheap way in, so that whatever the table's size the plan either
		-- uses an index whose condition holds the probe value, or reads the
		-- whole relation (a disabled sequential scan, or an ordered index
		-- scan that filters every row).
		-- On Citus the lookup of a distributed or reference table runs on
		-- a shard, planned without the settings below: the index is looked
		-- for in the catalog instead.
		IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
			EXECUTE 'SELECT pg_catalog.count(*) > 0 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = $1'
			   INTO citus_table USING rel;
			IF citus_table THEN
				SELECT c.relname INTO idx
				  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
				 WHERE i.indrelid = rel AND i.indisvalid
				   AND pg_catalog.strpos(pg_catalog.pg_get_indexdef(i.indexrelid),
				                         ' USING btree ' || pg_catalog.rtrim(src.index_keys, ')')) > 0
				 LIMIT 1;
				IF idx IS NOT NULL THEN
					RETURN QUERY VALUES ('ok', src.setting, pg_catalog.format('the lookup uses index %I', idx));
				ELSE
					RETURN QUERY VALUES ('warning', src.setting, pg_catalog.format(
						'no index serves the lookup: create one on %s %s', rel::pg_catalog.regclass, src.index_keys));
				END IF;
				CONTINUE;
			END IF;
		END IF;

		BEGIN
			PERFORM pg_catalog.set_config('enable_seqscan', 'off', true);
			PERFORM pg_catalog.set_config('enable_indexscan', 'off', true);
			PERFORM pg_catalog.set_config('enable_indexonlyscan', 'off', true);
			IF src.ord = 3 THEN
				EXECUTE 'EXPLAIN (FORMAT JSON, VERBOSE) ' || q INTO plan
				  USING '00000000-0000-0000-0000-000000000000'::uuid, probe;
			ELSE
				EXECUTE 'EXPLAIN (FORMAT JSON, VERBOSE) ' || q INTO plan USING probe;
			END IF;
			PERFORM pg_catalog.set_config('enable_seqscan', 'on', true);
			PERFORM pg_catalog.set_config('enable_indexscan', 'on', true);
			PERFORM pg_catalog.set_config('enable_indexonlyscan', 'on', true);
		EXCEPTION WHEN OTHERS THEN
			RETURN QUERY VALUES ('error', src.setting, 'the lookup fails: ' || SQLERRM);
			CONTINUE;
		END;
		SELECT n #>> '{Index Name}' INTO idx
		  FROM pg_catalog.jsonb_path_query(plan, 'strict $.** ? (exists (@."Index Cond"))') AS n
		 WHERE pg_catalog.strpos(n #>> '{Index Cond}', probe) > 0
		 LIMIT 1;
		IF idx IS NOT NULL THEN
			RETURN QUERY VALUES ('ok', src.setting, pg_catalog.format('the lookup uses index %I', idx));
		ELSE
			SELECT pg_catalog.string_agg(DISTINCT pg_catalog.quote_ident(n #>> '{Schema}') || '.'
			                                      || pg_catalog.quote_ident(n #>> '{Relation Name}'), ', ')
			  INTO seq
			  FROM pg_catalog.jsonb_path_query(plan, 'strict $.** ? (@."Node Type" == "Seq Scan")') AS n;
			RETURN QUERY VALUES ('warning', src.setting, pg_catalog.format(
				'no index serves the lookup%s: create one on %s',
				CASE WHEN seq IS NOT NULL THEN ' (it reads all of ' || seq || ')' ELSE '' END,
				CASE WHEN cls.relkind = 'v'
				     THEN 'the table behind view ' || rel::pg_catalog.regclass::text || ', on what it shows as ' || src.index_keys
				     ELSE rel::pg_catalog.regclass::text || ' ' || src.index_keys END));
		END IF;
	END LOOP;

	-- Credentials (vapi.credentials, when this version has it).
	IF pg_catalog.to_regclass('vapi.credentials') IS NULL THEN
		RETURN QUERY VALUES ('warning', 'credentials',
			'no credential configured: this version has no vapi.credentials; grant vapi_ingest only to trusted roles');
	ELSE
		EXECUTE 'SELECT pg_catalog.count(*) FROM vapi.credentials' INTO ncred;
		IF ncred = 0 THEN
			RETURN QUERY VALUES ('warning', 'credentials',
				'no credential configured: webhooks cannot authenticate');
		ELSE
			RETURN QUERY VALUES ('ok', 'credentials', pg_catalog.format('%s credential(s) configured', ncred));
		END IF;
	END IF;

	-- The event-log policy, then the other settings in force.
	RETURN QUERY
		SELECT CASE ps.setting WHEN 'none' THEN 'warning' ELSE 'ok' END, 'vapi.log_events',
		       CASE ps.setting
		            WHEN 'all' THEN 'every delivery is kept in vapi.events'
		            WHEN 'errors' THEN 'only rejected and failed deliveries are kept in vapi.events'
		            ELSE 'no delivery is kept: one that fails cannot be replayed' END
		       || CASE ps.source WHEN 'default' THEN ' (default)' ELSE ' (set in ' || ps.source || ')' END
		  FROM pg_catalog.pg_settings ps WHERE ps.name = 'vapi.log_events';
	RETURN QUERY
		SELECT 'ok', ps.name::text,
		       ps.setting || CASE ps.source WHEN 'default' THEN ' (default)' ELSE ' (set in ' || ps.source || ')' END
		  FROM pg_catalog.pg_settings ps
		 WHERE ps.name LIKE 'vapi.%'
		   AND ps.name NOT IN ('vapi.agents_source', 'vapi.phone_numbers_source',
		                       'vapi.contacts_source', 'vapi.log_events')
		 ORDER BY ps.name;
END
$check$;
-- Issue 11: lz4 on the large columns
--
-- New values are compressed with lz4; the values already stored keep pglz
-- until they are rewritten (both read the same).
DO $$
BEGIN
	ALTER TABLE vapi.calls ALTER COLUMN transcript SET COMPRESSION lz4,
		ALTER COLUMN analysis SET COMPRESSION lz4, ALTER COLUMN metadata SET COMPRESSION lz4;
	ALTER TABLE vapi.events ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
	RAISE NOTICE 'this server is built without lz4: vapi.calls and vapi.events keep the default compression';
END
$$;
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
	LANGUAGE C VOLATILE CALLED ON NULL INPUT
	SET search_path = pg_catalog, pg_temp
	SET intervalstyle = postgres;

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
-- Issue 12: vapi.default_country, national numbers in E.164
CREATE FUNCTION vapi.normalize_phone(phone text, country text) RETURNS text
	AS 'MODULE_PATHNAME', 'vapi_normalize_phone_country_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.normalize_phone(text, text) IS
	'E.164 for a phone number, a national one read as of country (ISO 3166 alpha-2, trunk prefix dropped); NULL or empty country: as normalize_phone(phone)';
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

-- vapi.pipeline_health counts the calls that have no status yet (a first
-- delivery whose status is unknown): the status counts add up to
-- calls_total.  A new column in the middle: the view is made anew, and the
-- grants operators gave on it (a monitoring role's SELECT) carried over.
CREATE TEMPORARY TABLE vapi_calls_health_grants AS
	SELECT CASE a.grantee WHEN 0 THEN 'PUBLIC' ELSE a.grantee::pg_catalog.regrole::text END AS grantee,
		   a.privilege_type, a.is_grantable
	  FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
	 WHERE c.oid = 'vapi.pipeline_health'::pg_catalog.regclass AND a.grantee <> c.relowner;
DROP VIEW vapi.pipeline_health;
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
			   count(*) FILTER (WHERE status IS NULL) AS calls_unknown_status,
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
COMMENT ON VIEW vapi.pipeline_health IS
	'One row: calls by status (and with none yet), without org, stale and expired; deliveries by outcome in the last 24 hours; the newest delivery';
REVOKE ALL ON vapi.pipeline_health FROM PUBLIC;
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM pg_temp.vapi_calls_health_grants LOOP
		EXECUTE pg_catalog.format('GRANT %s ON vapi.pipeline_health TO %s%s', g.privilege_type,
								  g.grantee, CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
	END LOOP;
END
$$;
DROP TABLE pg_temp.vapi_calls_health_grants;

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

-- vapi.normalize_phone reads a digit of any script as that digit (before,
-- "+971 ５５５ 0100" lost its fullwidth digits and became "+0100"): the
-- contacts index is built again with the new answers.  An index of your own
-- on vapi.normalize_phone (a vapi.contacts_source) needs REINDEX too when
-- its phones hold such digits.
REINDEX INDEX vapi.contacts_org_phone_idx;

-- Issue 11: a batch entry point

-- Many deliveries in one call (a proxy that batches, a backfill): each
-- call's deliveries merged together and its row written once; one result
-- per delivery, in the order given (src/batch.c).
CREATE FUNCTION @extschema@.vapi_ingest_batch(payloads jsonb[]) RETURNS SETOF jsonb
	AS 'MODULE_PATHNAME', 'vapi_ingest_batch'
	LANGUAGE C VOLATILE
	SECURITY DEFINER;
COMMENT ON FUNCTION @extschema@.vapi_ingest_batch(jsonb[]) IS
	'Ingest many Vapi webhook bodies at once, as vapi_ingest would one after the other (trusted callers)';
REVOKE ALL ON FUNCTION @extschema@.vapi_ingest_batch(jsonb[]) FROM PUBLIC;
-- Issue 15: the delegated entry point, event ids distinct across nodes

-- vapi_ingest_call(vapi_call_id, payload) is vapi_ingest(payload) with the
-- call's Vapi id as an argument of its own (src/ingest_call.c), so that
-- Citus can run the whole call on the worker that holds the call (see
-- vapi.distribute below).  A delivery whose argument is not its
-- message.call.id is not applied: it is kept as rejected and answered with
-- ok=false.  Like vapi_ingest, for trusted callers only (no signature
-- check).  Unlike it, strict: Citus 13.2's coordinator crashes delegating
-- a call of a non-strict function whose distribution argument is null.
CREATE FUNCTION @extschema@.vapi_ingest_call(vapi_call_id text, payload jsonb) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'vapi_ingest_call'
	LANGUAGE C VOLATILE STRICT
	SECURITY DEFINER;
COMMENT ON FUNCTION @extschema@.vapi_ingest_call(text, jsonb) IS
	'vapi_ingest(payload) for the call vapi_call_id, which must be the payload''s message.call.id; on Citus run whole on the call''s worker';
REVOKE ALL ON FUNCTION @extschema@.vapi_ingest_call(text, jsonb) FROM PUBLIC;

-- vapi.distribute() also gives each worker its range of event ids and
-- registers vapi_ingest_call for delegation.
CREATE OR REPLACE FUNCTION vapi.distribute() RETURNS SETOF text
	LANGUAGE plpgsql VOLATILE
	SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text;
	grantee text;
	n_workers integer;
	r record;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') THEN
		RAISE EXCEPTION 'vapi.distribute() needs the citus extension in this database'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Run it on the coordinator of a Citus cluster, after CREATE EXTENSION citus.';
	END IF;
	IF NOT citus_is_coordinator() THEN
		RAISE EXCEPTION 'vapi.distribute() must run on the coordinator of the Citus cluster'
			USING ERRCODE = 'feature_not_supported';
	END IF;
	SELECT count(*) INTO n_workers FROM citus_get_active_worker_nodes();
	IF n_workers = 0 THEN
		RAISE EXCEPTION 'the Citus cluster has no active worker node'
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Add the workers with citus_add_node() first.';
	END IF;
	-- Several calls of one transaction touch several workers: Citus commits
	-- them with two-phase commit, which needs prepared transactions.
	FOR r IN SELECT nodename, nodeport, result
			   FROM run_command_on_workers('SHOW max_prepared_transactions')
			  WHERE NOT success OR result = '0'
	LOOP
		RAISE EXCEPTION 'max_prepared_transactions is 0 (or unreadable) on worker %:%', r.nodename, r.nodeport
			USING ERRCODE = 'feature_not_supported',
				  HINT = 'Citus commits transactions that write to several workers with two-phase commit: set max_prepared_transactions on every node.';
	END LOOP;

	FOREACH t IN ARRAY ARRAY['vapi.agents', 'vapi.phone_numbers', 'vapi.contacts'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = t::regclass) THEN
			-- Citus distributes no table with triggers, and the directory
			-- cache's (issue 11) serve nothing here: with Citus installed the
			-- lookups run as SQL and cache nothing (src/dircache.c).
			IF t = 'vapi.agents' THEN
				DROP TRIGGER IF EXISTS agents_changed ON vapi.agents;
			ELSIF t = 'vapi.phone_numbers' THEN
				DROP TRIGGER IF EXISTS phone_numbers_changed ON vapi.phone_numbers;
			END IF;
			PERFORM create_reference_table(t);
			RETURN NEXT t || ': reference table';
		END IF;
	END LOOP;

	IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
				WHERE conrelid = 'vapi.calls'::regclass AND conname = 'calls_id_key') THEN
		ALTER TABLE vapi.calls DROP CONSTRAINT calls_id_key;
		RETURN NEXT 'vapi.calls: dropped UNIQUE (id)';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'vapi.calls'::regclass) THEN
		PERFORM create_distributed_table('vapi.calls', 'vapi_call_id');
		RETURN NEXT 'vapi.calls: distributed on vapi_call_id';
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = 'vapi.events'::regclass) THEN
		PERFORM create_distributed_table('vapi.events', 'vapi_call_id', colocate_with => 'vapi.calls');
		RETURN NEXT 'vapi.events: distributed on vapi_call_id, co-located with vapi.calls';
	END IF;

	-- Event ids distinct across nodes.  Citus gives the identity sequence
	-- of a distributed table a range of its own on each worker (from
	-- group id << 48), but not for a table an extension owns: vapi.events
	-- would number its rows from 1 on every node that inserts them (a
	-- worker running vapi_ingest_call).  Citus's own adjustment, applied
	-- here; a worker added later gets it from vapi.distribute() again.
	-- Without DDL propagation: Citus refuses to alter a sequence it has
	-- distributed.
	IF EXISTS (SELECT 1 FROM run_command_on_workers(
					'SELECT s.seqmin = ((SELECT groupid FROM pg_catalog.pg_dist_local_group)::bigint << 48) + 1'
					' FROM pg_catalog.pg_sequence s'
					' WHERE s.seqrelid = pg_catalog.pg_get_serial_sequence(''vapi.events'', ''id'')::regclass')
				WHERE result IS DISTINCT FROM 't') THEN
		FOR r IN SELECT nodename, nodeport, result
				   FROM run_command_on_workers('SET LOCAL citus.enable_ddl_propagation TO off;'
											   ' SELECT pg_catalog.worker_adjust_identity_column_seq_ranges(''vapi.events'')')
				  WHERE NOT success
		LOOP
			RAISE EXCEPTION 'could not give vapi.events its range of ids on worker %:%: %', r.nodename, r.nodeport, r.result;
		END LOOP;
		RETURN NEXT 'vapi.events: ids from a range of their own on each worker';
	END IF;

	-- The delegated entry point: Citus runs vapi_ingest_call(vapi_call_id,
	-- payload) whole on the worker that holds the call.
	IF NOT EXISTS (SELECT 1 FROM pg_dist_object o, pg_dist_partition p
					WHERE o.classid = 'pg_catalog.pg_proc'::regclass
					  AND o.objid = '@extschema@.vapi_ingest_call(text, jsonb)'::regprocedure
					  AND o.distribution_argument_index = 0
					  AND p.logicalrelid = 'vapi.calls'::regclass AND o.colocationid = p.colocationid) THEN
		PERFORM create_distributed_function('@extschema@.vapi_ingest_call(text, jsonb)', 'vapi_call_id',
											colocate_with => 'vapi.calls');
		RETURN NEXT 'vapi_ingest_call: delegated to the worker that holds the call';
	END IF;

	-- vapi.replay and vapi.reresolve apply each event in a subtransaction,
	-- whose SAVEPOINT and RELEASE (or ROLLBACK TO) Citus sends to every
	-- worker connection of the transaction; their own scan of vapi.events
	-- or vapi.calls opens up to citus.max_adaptive_executor_pool_size
	-- connections per worker, all of which stay in it.  One per worker is
	-- enough, and a replay then sends half the commands.
	FOR r IN SELECT p.oid::regprocedure AS fn
			   FROM pg_catalog.pg_proc p
			  WHERE p.pronamespace = 'vapi'::regnamespace AND p.proname IN ('replay', 'reresolve')
				AND NOT coalesce('citus.max_adaptive_executor_pool_size=1' = ANY (p.proconfig), false)
			  ORDER BY p.proname
	LOOP
		EXECUTE format('ALTER FUNCTION %s SET citus.max_adaptive_executor_pool_size = 1', r.fn);
		RETURN NEXT r.fn::text || ': one connection per worker';
	END LOOP;

	-- Citus pushes a query on a view down to the shards and loses the
	-- view's ORDER BY; LIMIT ALL makes it sort on the coordinator, so the
	-- sorted views keep their order (a dashboard that pages says ORDER BY
	-- ... LIMIT on vapi.call_log_rows, which each worker answers with its
	-- own first rows).
	IF pg_catalog.strpos(pg_catalog.pg_get_viewdef('vapi.call_log'::regclass), 'LIMIT ALL') = 0 THEN
		CREATE OR REPLACE VIEW vapi.call_log WITH (security_invoker = true) AS
		SELECT * FROM vapi.call_log_rows WHERE NOT is_test_call
		 ORDER BY first_seen_at DESC, vapi_call_id DESC LIMIT ALL;
		CREATE OR REPLACE VIEW vapi.call_log_all WITH (security_invoker = true) AS
		SELECT * FROM vapi.call_log_rows
		 ORDER BY first_seen_at DESC, vapi_call_id DESC LIMIT ALL;
		RETURN NEXT 'vapi.call_log, vapi.call_log_all: sorted on the coordinator';
	END IF;

	-- Readers query the shards on the workers as themselves.
	FOR grantee IN
		SELECT a.grantee::regrole::text
		  FROM pg_catalog.pg_namespace n, aclexplode(n.nspacl) a
		 WHERE n.nspname = 'vapi' AND a.privilege_type = 'USAGE' AND a.grantee <> 0
		   AND a.grantee <> n.nspowner
	LOOP
		IF EXISTS (SELECT 1 FROM run_command_on_workers(format(
						'SELECT has_schema_privilege(%L, ''vapi'', ''USAGE'')', grantee))
					WHERE result IS DISTINCT FROM 't') THEN
			PERFORM run_command_on_workers(format('GRANT USAGE ON SCHEMA vapi TO %s', grantee));
			RETURN NEXT 'schema vapi: USAGE for ' || grantee || ' on the workers';
		END IF;
	END LOOP;
	RETURN;
END
$$;
-- Issue 11: directory lookups in C with per-backend caches; no SET
-- search_path on the hot entry points

-- The resolver reads the directory by index scans from C and keeps, per
-- backend, the org of each assistant and phone number id it looked up, and
-- which it found none for (src/dircache.c).  Ordinary writes send no cache
-- invalidation, so these triggers send one for the table at the end of
-- every statement that writes it: every backend drops its answers for the
-- table when the change commits (and this one at once, and again if it
-- rolls back).  ENABLE ALWAYS: they fire under session_replication_role =
-- replica too.
CREATE FUNCTION vapi.directory_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'vapi_directory_changed'
	LANGUAGE C;
COMMENT ON FUNCTION vapi.directory_changed() IS
	'AFTER trigger of the directory tables: every backend drops its cached lookups of the table';
REVOKE ALL ON FUNCTION vapi.directory_changed() FROM PUBLIC;
CREATE TRIGGER agents_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON vapi.agents
	FOR EACH STATEMENT EXECUTE FUNCTION vapi.directory_changed();
CREATE TRIGGER phone_numbers_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON vapi.phone_numbers
	FOR EACH STATEMENT EXECUTE FUNCTION vapi.directory_changed();
ALTER TABLE vapi.agents ENABLE ALWAYS TRIGGER agents_changed;
ALTER TABLE vapi.phone_numbers ENABLE ALWAYS TRIGGER phone_numbers_changed;

ALTER FUNCTION @extschema@.vapi_ingest(jsonb) RESET search_path;
ALTER FUNCTION @extschema@.vapi_webhook(json) RESET search_path;
