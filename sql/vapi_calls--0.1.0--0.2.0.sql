/*
 * vapi_calls 0.1.0 -> 0.2.0
 *
 * Every change to the schema and the SQL surface since 0.1.0, in the order
 * it was made.  The result must equal a fresh install from
 * vapi_calls--0.2.0.sql: test/upgrade.sh walks this script and compares the
 * two catalogs.
 */
\echo Use "ALTER EXTENSION vapi_calls UPDATE TO '0.2.0'" to load this file. \quit

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
