-- The extension's objects: the entry point in the schema it was created in,
-- everything else in the schema vapi, nothing generic in public.
SELECT e.extversion, n.nspname AS entry_point_schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE e.extname = 'vapi_calls';
\dx+ vapi_calls

-- Nothing in public but the entry points.
SELECT pg_describe_object(classid, objid, 0) AS member
  FROM pg_depend d
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vapi_calls')
   AND deptype = 'e'
   AND pg_describe_object(classid, objid, 0) NOT LIKE '%vapi.%'
 ORDER BY 1;

-- The columns of the contract.
SELECT column_name, data_type, is_nullable, column_default IS NOT NULL AS has_default
  FROM information_schema.columns
 WHERE table_schema = 'vapi' AND table_name = 'calls'
 ORDER BY ordinal_position;
SELECT column_name, data_type, is_nullable
  FROM information_schema.columns
 WHERE table_schema = 'vapi' AND table_name = 'events'
 ORDER BY ordinal_position;
SELECT table_name, column_name, data_type, is_nullable
  FROM information_schema.columns
 WHERE table_schema = 'vapi' AND table_name IN ('agents', 'phone_numbers', 'contacts')
 ORDER BY table_name, ordinal_position;

-- Data tables are dumped by pg_dump.
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'vapi_calls' ORDER BY 1;

-- The entry point is not executable by PUBLIC, and runs as its owner, with
-- no SET search_path (its C code runs its statements with pg_catalog alone:
-- privileges.sql and search_path.sql attack that).
SELECT proname, prosecdef, proconfig, proacl IS NOT NULL AND NOT EXISTS (
         SELECT 1 FROM aclexplode(proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_revoked
  FROM pg_proc WHERE proname = 'vapi_ingest';
SELECT p.proname, p.provolatile, p.proisstrict
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = 'vapi' AND p.proname IN ('normalize_phone', 'classify_ended_reason')
 ORDER BY 1;

-- The contact lookup is an index scan on (org, normalized phone).
INSERT INTO vapi.contacts (org_id, phone, name)
SELECT ('00000000-0000-0000-0000-' || lpad((g % 50)::text, 12, '0'))::uuid,
       '+1 (555) ' || lpad(g::text, 7, '0'), 'Contact ' || g
  FROM generate_series(1, 2000) g;
ANALYZE vapi.contacts;
EXPLAIN (COSTS OFF)
SELECT name FROM vapi.contacts
 WHERE org_id = '00000000-0000-0000-0000-000000000007'
   AND vapi.normalize_phone(phone) = '+15550000007';
TRUNCATE vapi.contacts;

-- The settings exist, with their defaults.
SHOW vapi.log_events;
SHOW vapi.metadata_org_fallback;
SET vapi.no_such_setting = 1;
