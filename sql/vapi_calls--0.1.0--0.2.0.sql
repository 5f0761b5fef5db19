/*
 * vapi_calls 0.1.0 -> 0.2.0
 *
 * Every change to the schema and the SQL surface since 0.1.0, in the order
 * it was made.  The result must equal a fresh install from
 * vapi_calls--0.2.0.sql: test/upgrade.sh walks this script and compares the
 * two catalogs.
 */
\echo Use "ALTER EXTENSION vapi_calls UPDATE TO '0.2.0'" to load this file. \quit
