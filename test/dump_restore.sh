#!/usr/bin/env bash
# Backup and restore: a database with calls, deliveries (every outcome,
# an expiry among them), a directory and a per-database setting goes
# through pg_dump --create and pg_restore --create, as a real restore
# would, and comes back whole: the same rows (counts and content hashes of
# every table), the same setting, the same catalog, and an event log whose
# identity sequence continues without collision.
set -euo pipefail

: "${REPO:?}" "${BIN:?}" "${WORK:?}"
psql_db() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$@"; }
fail() { echo "dump_restore: $*" >&2; exit 1; }

db=vapi_dump
dir=$WORK/dump_restore
mkdir -p "$dir"
psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP DATABASE IF EXISTS ${db}_before" \
	-c "CREATE DATABASE $db"
psql_db $db -c "CREATE EXTENSION vapi_calls" \
	-c "ALTER DATABASE $db SET vapi.metadata_org_fallback = off"

# The setting applies to new sessions, such as the next one.
psql_db $db <<'SQL'
INSERT INTO vapi.agents VALUES ('asst-1', '33333333-3333-3333-3333-333333333333', 'Front desk');
INSERT INTO vapi.phone_numbers VALUES ('pn-1', '33333333-3333-3333-3333-333333333333', '+15550009999');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES
  ('33333333-3333-3333-3333-333333333333', '+15550102000', 'Ada Lovelace'),
  ('33333333-3333-3333-3333-333333333333', '+15550103000', 'Alan Turing');
-- inserted, updated, unchanged
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225601000,
  "call": {"id": "call-1", "type": "inboundPhoneCall", "assistantId": "asst-1"}, "customer": {"number": "+15550102000"}}}');
SELECT vapi_ingest('{"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call", "timestamp": 1767225660000,
  "call": {"id": "call-1", "type": "inboundPhoneCall", "assistantId": "asst-1"}, "customer": {"number": "+15550102000"},
  "analysis": {"summary": "Booked a table"}, "cost": 0.12, "startedAt": "2026-01-01T00:00:01Z", "endedAt": "2026-01-01T00:01:00Z"}}');
SELECT vapi_ingest('{"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call", "timestamp": 1767225660000,
  "call": {"id": "call-1", "type": "inboundPhoneCall", "assistantId": "asst-1"}, "customer": {"number": "+15550102000"},
  "analysis": {"summary": "Booked a table"}, "cost": 0.12, "startedAt": "2026-01-01T00:00:01Z", "endedAt": "2026-01-01T00:01:00Z"}}');
-- the phone number resolves the org; metadata alone would not (fallback off)
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225700000,
  "call": {"id": "call-2", "type": "inboundPhoneCall", "phoneNumberId": "pn-1"}, "customer": {"number": "+15550103000"}}}');
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225800000,
  "call": {"id": "call-3", "metadata": {"org_id": "33333333-3333-3333-3333-333333333333"}}}}');
-- ignored, rejected
SELECT vapi_ingest('{"message": {"type": "call.deleted", "call": {"id": "call-2"}}}');
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ended"}}');
-- error: processing fails (a constraint added for the purpose), the delivery is kept
ALTER TABLE vapi.calls ADD CONSTRAINT no_boom CHECK (vapi_call_id <> 'call-boom');
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "queued", "call": {"id": "call-boom"}}}');
ALTER TABLE vapi.calls DROP CONSTRAINT no_boom;
-- an expiry, with its synthetic event
SELECT vapi.expire_stale_calls('1 hour');
-- a handler of the application's, and a number's assistant (issue 13)
CREATE FUNCTION public.route(message jsonb) RETURNS jsonb
	LANGUAGE sql AS $$ SELECT jsonb_build_object('assistantId', 'asst-1') $$;
SELECT vapi.set_handler('assistant-request', 'public.route(jsonb)');
UPDATE vapi.phone_numbers SET assistant_id = 'asst-1';
SQL

# Everything that must survive, as text.
state() {
	psql_db "$1" <<'SQL'
SET timezone = 'UTC';
SELECT 'calls', count(*), md5(coalesce(string_agg(t::text, E'\n' ORDER BY vapi_call_id), '')) FROM vapi.calls t;
SELECT 'events', count(*), md5(coalesce(string_agg(t::text, E'\n' ORDER BY id), '')) FROM vapi.events t;
SELECT 'agents', count(*), md5(coalesce(string_agg(t::text, E'\n' ORDER BY vapi_assistant_id), '')) FROM vapi.agents t;
SELECT 'phone_numbers', count(*), md5(coalesce(string_agg(t::text, E'\n' ORDER BY vapi_phone_number_id), '')) FROM vapi.phone_numbers t;
SELECT 'contacts', count(*), md5(coalesce(string_agg(t::text, E'\n' ORDER BY id), '')) FROM vapi.contacts t;
SELECT 'handlers', string_agg(format('%s %s resolves=%s', message_type, handler,
		pg_catalog.to_regprocedure(handler) IS NOT NULL), ', ' ORDER BY message_type) FROM vapi.handlers;
SELECT 'outcomes', string_agg(outcome || '=' || n, ' ' ORDER BY outcome)
  FROM (SELECT outcome, count(*) AS n FROM vapi.events GROUP BY 1) o;
SELECT 'setting vapi.metadata_org_fallback', current_setting('vapi.metadata_org_fallback', true);
SELECT 'database settings', array_agg(s ORDER BY s) FROM pg_db_role_setting d, unnest(d.setconfig) s
 WHERE d.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND d.setrole = 0;
SQL
}
before=$(state $db)
echo "$before"
grep -q 'outcomes|error=1 ignored=1 inserted=3 rejected=1 unchanged=1 updated=3' <<<"$before" ||
	fail "the source database does not have the deliveries the test expects"
grep -q 'handlers|assistant-request public.route(jsonb) resolves=t' <<<"$before" ||
	fail "the source database does not have the handler the test expects"
grep -q 'setting vapi.metadata_org_fallback|off' <<<"$before" || fail "the setting is not in effect before the dump"
psql_db $db -f "$REPO/test/catalog_snapshot.sql" >"$dir/catalog_before.txt"
max_id=$(psql_db $db -c "SELECT max(id) FROM vapi.events")

# Dump, set the original aside, restore under the original name.
"$BIN/pg_dump" -Fc --create -f "$dir/vapi.dump" $db
psql_db postgres -c "ALTER DATABASE $db RENAME TO ${db}_before"
"$BIN/pg_restore" --create --exit-on-error -d postgres "$dir/vapi.dump"

after=$(state $db)
if [ "$after" != "$before" ]; then
	diff <(echo "$before") <(echo "$after") || true
	fail "the restored database differs from the original (<) in its data or settings"
fi
psql_db $db -f "$REPO/test/catalog_snapshot.sql" >"$dir/catalog_after.txt"
diff -u "$dir/catalog_before.txt" "$dir/catalog_after.txt" || fail "the restored catalog differs"

# Ingestion goes on: a new call, a new delivery for a restored one, and the
# event ids continue after the restored ones.
result=$(psql_db $db <<'SQL'
SELECT (vapi_ingest('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225900000,
  "call": {"id": "call-4", "assistantId": "asst-1"}, "customer": {"number": "+15550103000"}}}') - 'call_id')::text;
SELECT (vapi_ingest('{"message": {"type": "status-update", "status": "ended", "endedReason": "customer-busy",
  "timestamp": 1767225960000, "call": {"id": "call-2"}}}') - 'call_id')::text;
SELECT caller_name || ' ' || org_id FROM vapi.calls WHERE vapi_call_id = 'call-4';
SELECT coalesce(org_id::text, 'no org') FROM vapi.calls WHERE vapi_call_id = 'call-3';
SQL
)
echo "$result"
expected="{\"ok\": true, \"action\": \"inserted\", \"status\": \"in-progress\", \"event_id\": $((max_id + 1)), \"vapi_call_id\": \"call-4\"}
{\"ok\": true, \"action\": \"updated\", \"status\": \"failed\", \"event_id\": $((max_id + 2)), \"vapi_call_id\": \"call-2\"}
Alan Turing 33333333-3333-3333-3333-333333333333
no org"
[ "$result" = "$expected" ] || fail "ingestion after the restore is not as expected"

psql_db postgres -c "DROP DATABASE $db" -c "DROP DATABASE ${db}_before"
echo "dump and restore ok"
