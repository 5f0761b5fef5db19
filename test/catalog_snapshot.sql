-- The catalog of the vapi_calls extension as sorted text lines, one fact per
-- line, for test/upgrade.sh (an upgraded database against a fresh install)
-- and test/dump_restore.sh (a restored database against the original).
-- Covers the extension's members and everything in schema vapi: functions
-- and procedures with their signatures and properties, tables, columns
-- (position, type, default, not-null, identity, storage, compression),
-- indexes, constraints,
-- policies, triggers, views, sequences, types, grants, comments, and the
-- tables pg_dump keeps.  Names of internal oids never appear; neither do
-- per-column planner options (attoptions), which are not the extension's.
WITH ext AS (
	SELECT * FROM pg_extension WHERE extname = 'vapi_calls'
), members AS (
	SELECT d.classid, d.objid
	  FROM pg_depend d, ext
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
), nsp AS (
	SELECT oid FROM pg_namespace WHERE nspname = 'vapi'
), rels AS (
	SELECT c.* FROM pg_class c
	 WHERE c.relnamespace IN (SELECT oid FROM nsp)
		OR c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
), procs AS (
	SELECT p.* FROM pg_proc p
	 WHERE p.pronamespace IN (SELECT oid FROM nsp)
		OR p.oid IN (SELECT objid FROM members WHERE classid = 'pg_proc'::regclass)
)
SELECT line FROM (
	SELECT format('extension version=%s schema=%s relocatable=%s', extversion,
				  extnamespace::regnamespace, extrelocatable)
	  FROM ext
	UNION ALL
	SELECT format('extension dumps %s where %L', cfg::regclass, cond)
	  FROM ext, unnest(extconfig, extcondition) AS u(cfg, cond)
	UNION ALL
	SELECT 'member ' || pg_describe_object(classid, objid, 0) FROM members
	UNION ALL
	SELECT format('schema %s owner=%s acl=%s comment=%L', n.nspname, n.nspowner::regrole,
				  array(SELECT a::text FROM unnest(n.nspacl) a ORDER BY 1),
				  obj_description(n.oid, 'pg_namespace'))
	  FROM pg_namespace n WHERE n.oid IN (SELECT oid FROM nsp)
	UNION ALL
	SELECT format('relation %s kind=%s persistence=%s options=%s rls=%s force_rls=%s owner=%s acl=%s comment=%L',
				  c.oid::regclass, c.relkind, c.relpersistence, c.reloptions, c.relrowsecurity,
				  c.relforcerowsecurity, c.relowner::regrole,
				  array(SELECT a::text FROM unnest(c.relacl) a ORDER BY 1),
				  obj_description(c.oid, 'pg_class'))
	  FROM rels c
	UNION ALL
	SELECT format('column %s.%s position=%s type=%s not_null=%s default=%s identity=%L generated=%L collation=%s storage=%s compression=%L acl=%s comment=%L',
				  c.oid::regclass, a.attname,
				  row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
				  format_type(a.atttypid, a.atttypmod), a.attnotnull,
				  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated,
				  nullif(a.attcollation, 0)::regcollation, a.attstorage, a.attcompression,
				  array(SELECT x::text FROM unnest(a.attacl) x ORDER BY 1),
				  col_description(c.oid, a.attnum))
	  FROM rels c
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')
	UNION ALL
	SELECT format('index %s', pg_get_indexdef(i.indexrelid))
	  FROM pg_index i WHERE i.indrelid IN (SELECT oid FROM rels)
	UNION ALL
	SELECT format('constraint %s on %s: %s deferrable=%s deferred=%s valid=%s',
				  co.conname, co.conrelid::regclass, pg_get_constraintdef(co.oid),
				  co.condeferrable, co.condeferred, co.convalidated)
	  FROM pg_constraint co WHERE co.conrelid IN (SELECT oid FROM rels)
	UNION ALL
	SELECT format('policy %s on %s cmd=%s permissive=%s roles=%s using=%s check=%s',
				  p.polname, p.polrelid::regclass, p.polcmd, p.polpermissive,
				  array(SELECT r::regrole::text FROM unnest(p.polroles) r ORDER BY 1),
				  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
	  FROM pg_policy p WHERE p.polrelid IN (SELECT oid FROM rels)
	UNION ALL
	SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
	  FROM pg_trigger t WHERE t.tgrelid IN (SELECT oid FROM rels) AND NOT t.tgisinternal
	UNION ALL
	SELECT format('view %s: %s', c.oid::regclass, pg_get_viewdef(c.oid, true))
	  FROM rels c WHERE c.relkind IN ('v', 'm')
	UNION ALL
	SELECT format('sequence %s type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s',
				  s.seqrelid::regclass, s.seqtypid::regtype, s.seqstart, s.seqincrement,
				  s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
	  FROM pg_sequence s WHERE s.seqrelid IN (SELECT oid FROM rels)
	UNION ALL
	SELECT format('type %s kind=%s', t.oid::regtype, t.typtype)
	  FROM pg_type t
	 WHERE t.typnamespace IN (SELECT oid FROM nsp)
	   AND t.typrelid NOT IN (SELECT oid FROM rels WHERE relkind <> 'c')
	   AND t.typelem = 0
	UNION ALL
	SELECT format('routine %s kind=%s returns=%s language=%s volatility=%s strict=%s security_definer=%s leakproof=%s parallel=%s cost=%s rows=%s config=%s owner=%s acl=%s comment=%L',
				  p.oid::regprocedure, p.prokind, pg_get_function_result(p.oid), l.lanname,
				  p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof, p.proparallel,
				  p.procost, p.prorows, p.proconfig, p.proowner::regrole,
				  array(SELECT a::text FROM unnest(p.proacl) a ORDER BY 1),
				  obj_description(p.oid, 'pg_proc'))
	  FROM procs p JOIN pg_language l ON l.oid = p.prolang
	UNION ALL
	SELECT format('routine %s arguments=%s body=%s library=%s', p.oid::regprocedure,
				  pg_get_function_arguments(p.oid), md5(p.prosrc), p.probin)
	  FROM procs p
) facts(line)
ORDER BY line COLLATE "C";
