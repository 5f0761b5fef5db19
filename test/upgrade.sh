#!/usr/bin/env bash
# The upgrade path: install the oldest version that has a full install
# script, ALTER EXTENSION ... UPDATE TO each next version in turn (through
# the sql/vapi_calls--A--B.sql scripts) up to default_version, with data in
# the tables all the way, then compare the catalog with a fresh install of
# the newest version (test/catalog_snapshot.sql) and check that the data
# survived and ingestion still works.
#
# Every vapi_calls--A--B.sql is walked and compared automatically: today
# 0.1.0 (the released script) to 0.2.0.  A change made to the full script
# of 0.2.0 and not to the update script (or the other way round) fails the
# comparison; to be sure the comparison can fail, it is also shown a column
# and a routine body that only one side has.
set -euo pipefail

: "${REPO:?}" "${BIN:?}" "${WORK:?}"
psql_db() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$@"; }
fail() { echo "upgrade: $*" >&2; exit 1; }

default_version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$REPO/vapi_calls.control")
[ -n "$default_version" ] || fail "no default_version in vapi_calls.control"

# Versions from the script names: vapi_calls--V.sql installs V,
# vapi_calls--A--B.sql updates A to B.
full_versions=()
updates=()
for f in "$REPO"/sql/vapi_calls--*.sql; do
	v=${f##*/vapi_calls--}
	v=${v%.sql}
	case $v in
	*--*) updates+=("$v") ;;
	*) full_versions+=("$v") ;;
	esac
done
[ ${#full_versions[@]} -gt 0 ] || fail "no full install script in sql/"
oldest=$(printf '%s\n' "${full_versions[@]}" | sort -V | head -n 1)
echo "oldest full script: $oldest; newest: $default_version; update scripts: ${updates[*]:-none}"

# The next version after $1: the lowest B of the scripts $1--B.
next_version() {
	local u
	for u in ${updates[@]+"${updates[@]}"}; do
		[ "${u%%--*}" = "$1" ] && echo "${u#*--}"
	done | sort -V | head -n 1
}

db_upgraded=vapi_upgrade_path
db_fresh=vapi_upgrade_fresh
for db in $db_upgraded $db_fresh; do
	psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
done

# The oldest version, with data in every table.
psql_db $db_upgraded -c "CREATE EXTENSION vapi_calls VERSION '$oldest'"
psql_db $db_upgraded <<'SQL'
INSERT INTO vapi.agents VALUES ('asst-up', '22222222-2222-2222-2222-222222222222', 'Upgrade desk');
INSERT INTO vapi.phone_numbers VALUES ('pn-up', '22222222-2222-2222-2222-222222222222', '+15550001111');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES ('22222222-2222-2222-2222-222222222222', '+15550102020', 'Grace Hopper');
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225601000,
  "call": {"id": "call-up-1", "type": "inboundPhoneCall", "assistantId": "asst-up"},
  "customer": {"number": "+15550102020"}}}');
SELECT vapi_ingest('{"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
  "timestamp": 1767225660000, "call": {"id": "call-up-1"}, "summary": "Asked about hours"}}');
-- A row as 0.1.0 left it, whose caller name is Vapi's (source 1 in bits 61-62).
INSERT INTO vapi.calls (vapi_call_id, caller_name, field_versions, first_event_at, last_event_at)
VALUES ('call-up-legacy', 'Name From Vapi',
        array_fill(0::bigint, ARRAY[8]) || ((1::bigint << 61) | 12345) || array_fill(0::bigint, ARRAY[12]),
        '2026-01-01', '2026-01-01');
SQL
snapshot_data() {
	psql_db "$1" <<'SQL'
SELECT 'calls ' || string_agg(format('%s %s %s %s %s %s', vapi_call_id, org_id, status, ended_reason, caller_name, summary), '; ' ORDER BY vapi_call_id) FROM vapi.calls;
SELECT 'events ' || string_agg(format('%s %s %s %s', id, vapi_call_id, type, outcome), '; ' ORDER BY id) FROM vapi.events;
SELECT 'directory ' || (SELECT count(*) FROM vapi.agents) || ' ' || (SELECT count(*) FROM vapi.phone_numbers) || ' ' || (SELECT count(*) FROM vapi.contacts);
SQL
}
data_before=$(snapshot_data $db_upgraded)

# Walk: one ALTER EXTENSION ... UPDATE TO per step.
current=$oldest
steps=0
while [ "$current" != "$default_version" ]; do
	next=$(next_version "$current")
	[ -n "$next" ] || fail "no upgrade script from $current towards $default_version"
	echo "ALTER EXTENSION vapi_calls UPDATE TO '$next'  (from $current)"
	psql_db $db_upgraded -c "ALTER EXTENSION vapi_calls UPDATE TO '$next'"
	got=$(psql_db $db_upgraded -c "SELECT extversion FROM pg_extension WHERE extname = 'vapi_calls'")
	[ "$got" = "$next" ] || fail "after UPDATE TO '$next' the version is '$got'"
	current=$next
	steps=$((steps + 1))
	[ $steps -le 1000 ] || fail "the upgrade scripts form a cycle"
done
echo "walked $steps step(s) from $oldest to $default_version"

# PostgreSQL itself must find a path from every full script to the newest.
for v in "${full_versions[@]}"; do
	[ "$v" = "$default_version" ] && continue
	path=$(psql_db $db_upgraded -c "SELECT path FROM pg_extension_update_paths('vapi_calls')
		WHERE source = '$v' AND target = '$default_version'")
	[ -n "$path" ] || fail "PostgreSQL finds no update path from $v to $default_version"
done

# A fresh install of the newest version, and the two catalogs compared.
psql_db $db_fresh -c "CREATE EXTENSION vapi_calls"
mkdir -p "$WORK/upgrade"
psql_db $db_upgraded -f "$REPO/test/catalog_snapshot.sql" >"$WORK/upgrade/upgraded.txt"
psql_db $db_fresh -f "$REPO/test/catalog_snapshot.sql" >"$WORK/upgrade/fresh.txt"
[ "$(wc -l <"$WORK/upgrade/fresh.txt")" -gt 50 ] || fail "the catalog snapshot is suspiciously small"
if ! diff -u "$WORK/upgrade/fresh.txt" "$WORK/upgrade/upgraded.txt"; then
	fail "the upgraded catalog (+) differs from a fresh install of $default_version (-)"
fi
echo "catalogs match: $(wc -l <"$WORK/upgrade/fresh.txt") facts"

# The comparison sees a change that only one side has: a column, and a
# routine's body (what an update script that missed part of a change would
# leave behind).  Made in the fresh database, which is dropped below.
psql_db $db_fresh <<'SQL'
ALTER TABLE vapi.agents ADD COLUMN probe_only_in_one text;
CREATE OR REPLACE FUNCTION vapi._check_header_name(name text, what text) RETURNS text
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS 'SELECT name';
SQL
psql_db $db_fresh -f "$REPO/test/catalog_snapshot.sql" >"$WORK/upgrade/probe.txt"
diff "$WORK/upgrade/upgraded.txt" "$WORK/upgrade/probe.txt" >"$WORK/upgrade/probe.diff" || true
for probe in 'column vapi.agents.probe_only_in_one ' 'routine vapi._check_header_name(text,text) arguments'; do
	grep -qF "> $probe" "$WORK/upgrade/probe.diff" ||
		fail "the catalog comparison does not see a change to: $probe"
done
echo "the comparison sees a column or a routine body that one side lacks"

# The data came through, and the upgraded database still ingests.
[ "$(snapshot_data $db_upgraded)" = "$data_before" ] || fail "data changed during the upgrade"
action=$(psql_db $db_upgraded -c "SELECT vapi_ingest('{\"message\": {\"type\": \"status-update\", \"status\": \"ended\",
  \"endedReason\": \"customer-ended-call\", \"timestamp\": 1767225700000, \"call\": {\"id\": \"call-up-2\"}}}')->>'action'")
[ "$action" = inserted ] || fail "ingest after the upgrade gave '$action'"

# The 0.1.0 row whose caller name was Vapi's has it as customer_name too, at
# the version it came from.
legacy=$(psql_db $db_upgraded -c "SELECT customer_name || ' ' || field_versions[22] FROM vapi.calls WHERE vapi_call_id = 'call-up-legacy'")
[ "$legacy" = "Name From Vapi 12345" ] || fail "the 0.1.0 row's customer_name after the upgrade: '$legacy'"
# Deliveries ingested by the new library before the update may fail (it
# reads what the new SQL creates); they are kept, and a replay applies them.
psql_db $db_upgraded -c "SELECT count(*) FROM vapi.replay(outcomes => '{error}')" >/dev/null
caller=$(psql_db $db_upgraded -c "SELECT caller_name || ' ' || status FROM vapi.calls WHERE vapi_call_id = 'call-up-1'")
[ "$caller" = "Grace Hopper completed" ] || fail "call-up-1 after the replay: '$caller'"
# The upgrade drops and recreates vapi.add_hmac_credential (new parameters)
# and vapi.pipeline_health (a new column):
# an EXECUTE grant on the old one is carried over, the old eight-argument
# call still works, and a credential added before the upgrade still accepts.
db_grants=vapi_upgrade_grants
psql_db postgres -c "DROP DATABASE IF EXISTS $db_grants" -c "CREATE DATABASE $db_grants"
psql_db $db_grants <<'SQL'
CREATE EXTENSION vapi_calls VERSION '0.1.0';
DROP ROLE IF EXISTS vapi_upgrade_admin;
CREATE ROLE vapi_upgrade_admin;
GRANT EXECUTE ON FUNCTION vapi.add_hmac_credential(text, text, text, text, text, text, text, interval)
	TO vapi_upgrade_admin WITH GRANT OPTION;
GRANT USAGE ON SCHEMA vapi TO vapi_upgrade_admin;
GRANT SELECT ON vapi.pipeline_health TO vapi_upgrade_admin;
SELECT vapi.add_hmac_credential('up-secret', timestamp_header => NULL, payload_format => '{body}');
ALTER EXTENSION vapi_calls UPDATE;
SQL
# The health view is made anew by the upgrade: a monitoring role's SELECT stays.
got=$(psql_db $db_grants -c "SELECT has_table_privilege('vapi_upgrade_admin', 'vapi.pipeline_health', 'SELECT')")
[ "$got" = t ] || fail "the SELECT grant on vapi.pipeline_health was lost in the upgrade"
got=$(psql_db $db_grants -c "SELECT has_function_privilege('vapi_upgrade_admin',
	'vapi.add_hmac_credential(text, text, text, text, text, text, text, interval, text, boolean)', 'EXECUTE WITH GRANT OPTION')")
[ "$got" = t ] || fail "the EXECUTE grant on vapi.add_hmac_credential was lost in the upgrade"
got=$(psql_db $db_grants -c "SELECT vapi.add_hmac_credential('s2', 'sha1', 'base64', '', 'x-sig-2', 'x-ts-2', '{timestamp}.{body}', '1 minute') > 0")
[ "$got" = t ] || fail "the old eight-argument call of vapi.add_hmac_credential fails after the upgrade"
body='{"message": {"type": "status-update", "status": "ringing", "call": {"id": "call-up-3"}}}'
sig=$(psql_db $db_grants -c "CREATE EXTENSION pgcrypto" -c "SELECT encode(hmac('$body', 'up-secret', 'sha256'), 'hex')")
got=$(psql_db $db_grants -c "BEGIN" -c "SELECT set_config('request.headers', '{\"x-signature\": \"$sig\"}', true) IS NULL" \
	-c "SELECT vapi_webhook('$body')->>'action'" -c "COMMIT" | tail -n 1)
[ "$got" = inserted ] || fail "a credential added before the upgrade no longer accepts: '$got'"
psql_db postgres -c "DROP DATABASE $db_grants" -c "DROP ROLE vapi_upgrade_admin"

for db in $db_upgraded $db_fresh; do
	psql_db postgres -c "DROP DATABASE $db"
done
echo "upgrade path ok"
