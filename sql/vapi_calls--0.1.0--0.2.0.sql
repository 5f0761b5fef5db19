/*
 * vapi_calls 0.1.0 -> 0.2.0
 *
 * Every change to the schema and the SQL surface since 0.1.0, in the order
 * it was made.  The result must equal a fresh install from
 * vapi_calls--0.2.0.sql: test/upgrade.sh walks this script and compares the
 * two catalogs.
 */
\echo Use "ALTER EXTENSION vapi_calls UPDATE TO '0.2.0'" to load this file. \quit

-- Issue 12: vapi.default_country, national numbers in E.164
CREATE FUNCTION vapi.normalize_phone(phone text, country text) RETURNS text
	AS 'MODULE_PATHNAME', 'vapi_normalize_phone_country_sql'
	LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION vapi.normalize_phone(text, text) IS
	'E.164 for a phone number, a national one read as of country (ISO 3166 alpha-2, trunk prefix dropped); NULL or empty country: as normalize_phone(phone)';
