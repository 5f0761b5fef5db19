#!/usr/bin/env bash
# The README's logical replication feed, as written ("Live changes"): a
# server with its postgresql.conf lines and its publication statement,
# consumed by pg_recvlogical through pgoutput and through wal2json, must
# carry a call's insert and its updates, nothing of vapi.events, nothing of
# a rolled-back ingest and nothing for a duplicate delivery; after pg_dump
# and a restore, the README's statement puts vapi.calls back into the
# publication (pg_dump does not keep the membership of an extension's table).
set -euo pipefail
source "$REPO/scripts/lib.sh"
fail() { echo "logical_feed: $*" >&2; exit 1; }

ensure_packages "postgresql-$PG_MAJOR-wal2json" jq

# The README section: its ini lines and its sql blocks (the publication,
# then the statement for after a restore).
section=$(awk '/^### The logical replication feed/ {on = 1; next} on && /^##/ {exit} on' "$REPO/README.md")
code_blocks() { awk -v lang="$1" '$0 == "```" lang {on = 1; n++; next} on && /^```/ {on = 0} on { print n "\t" $0 }' <<<"$section"; }
mapfile -t conf < <(code_blocks ini | cut -f 2- | grep -v '^[[:space:]]*\(#\|$\)')
publication_sql=$(code_blocks sql | awk -F '\t' '$1 == 1' | cut -f 2-)
restore_sql=$(code_blocks sql | awk -F '\t' '$1 == 2' | cut -f 2-)
grep -q 'CREATE PUBLICATION vapi_calls FOR TABLE vapi.calls' <<<"$publication_sql" ||
	fail "no CREATE PUBLICATION in the README section"
grep -q 'ALTER PUBLICATION vapi_calls ADD TABLE vapi.calls' <<<"$restore_sql" ||
	fail "no ALTER PUBLICATION for after a restore in the README section"
printf '%s\n' "${conf[@]}" | grep -q '^wal_level = logical$' || fail "no wal_level = logical in the README section"

temp_install
# Recent minor releases let a slot use only the output plugins listed in
# output_plugin_libraries (pgoutput and test_decoding by default); the
# README says so for wal2json.  Older ones do not know the setting.
extra=()
settings=$("$BIN/postgres" --describe-config 2>/dev/null | cut -f 1)
grep -qx output_plugin_libraries <<<"$settings" && extra+=("output_plugin_libraries = 'pgoutput, wal2json'")
start_cluster "fsync = off" "${conf[@]}" ${extra[@]+"${extra[@]}"}
psql_q -c "CREATE EXTENSION vapi_calls"
psql_q -f - <<<"$publication_sql" >/dev/null || fail "the README's publication statement failed"

ingest() { psql_q -At -c "SELECT vapi_ingest('$1')->>'action'"; }

# Two consumers, each on a slot of its own, started before the first ingest.
pids=()
stop_consumers() {
	local pid
	for pid in ${pids[@]+"${pids[@]}"}; do kill "$pid" 2>/dev/null || true; done
	for pid in ${pids[@]+"${pids[@]}"}; do wait "$pid" 2>/dev/null || true; done
	pids=()
}
trap 'stop_consumers; stop_cluster' EXIT
recv=("$BIN/pg_recvlogical" -d postgres --no-loop --slot)
"${recv[@]}" feed_pgoutput --create-slot --plugin pgoutput
"${recv[@]}" feed_wal2json --create-slot --plugin wal2json
"${recv[@]}" feed_pgoutput --start -o proto_version=1 -o publication_names=vapi_calls -f "$WORK/pgoutput.bin" &
pids+=($!)
"${recv[@]}" feed_wal2json --start -o format-version=2 -o add-tables=vapi.calls -f "$WORK/wal2json.json" &
pids+=($!)

call='"call": {"id": "call-feed-1", "type": "inboundPhoneCall", "customer": {"number": "+15550104242"}}'
first='{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225600000,
  "only_in_the_event_log": "marker-events-only", '"$call"'}}'
[ "$(ingest "$first")" = inserted ] || fail "first ingest"
[ "$(ingest "$first")" = unchanged ] || fail "duplicate ingest"
[ "$(ingest '{"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
  "timestamp": 1767225660000, "summary": "Moved the appointment.", '"$call"'}}')" = updated ] || fail "report ingest"
psql_q -At >/dev/null <<'SQL'
BEGIN;
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225600000,
  "call": {"id": "call-feed-rolled-back"}}}');
ROLLBACK;
SQL
# The last change of the test, to know when the consumers have it all.
[ "$(ingest '{"message": {"type": "status-update", "status": "queued", "timestamp": 1767225600000,
  "call": {"id": "call-feed-last"}}}')" = inserted ] || fail "last ingest"

for ((i = 0; i < 200; i++)); do
	grep -q 'call-feed-last' "$WORK/wal2json.json" 2>/dev/null && grep -aq 'call-feed-last' "$WORK/pgoutput.bin" 2>/dev/null && break
	sleep 0.05
done
stop_consumers

# wal2json: one JSON object per change; the call's insert, its update to
# completed, and the last call; nothing else.
changes=$(grep '"action":"[IUD]"' "$WORK/wal2json.json" | jq -r \
	'[.action, .table, (.columns | map({(.name): .value}) | add | .vapi_call_id, .status, (.summary // "-"))] | join(" ")') ||
	fail "wal2json output is not JSON: $(cat "$WORK/wal2json.json")"
echo "wal2json changes:"
echo "$changes"
[ "$changes" = "I calls call-feed-1 ringing -
U calls call-feed-1 completed Moved the appointment.
I calls call-feed-last queued -" ] || fail "wal2json did not carry exactly the call's insert, its update and the last call"

# pgoutput (binary protocol, text values): the same rows, through the
# publication, which holds vapi.calls only.
for s in call-feed-1 completed 'Moved the appointment.' call-feed-last; do
	grep -aqF "$s" "$WORK/pgoutput.bin" || fail "pgoutput did not carry '$s'"
done
for f in "$WORK/pgoutput.bin" "$WORK/wal2json.json"; do
	! grep -aq 'marker-events-only' "$f" || fail "$(basename "$f") carried a change of vapi.events"
	! grep -aq 'call-feed-rolled-back' "$f" || fail "$(basename "$f") carried a rolled-back ingest"
done
echo "pgoutput: the call's changes, nothing of vapi.events, nothing rolled back"

# A dump and restore keeps the publication but not vapi.calls in it; the
# README's statement puts it back.
"$BIN/pg_dump" -d postgres -f "$WORK/dump.sql"
psql_q -c "CREATE DATABASE feed_restored"
psql_q -d feed_restored -f "$WORK/dump.sql" >/dev/null 2>&1 || fail "restore failed"
members() { psql_q -d feed_restored -At -c "SELECT string_agg(schemaname || '.' || tablename, ',') FROM pg_publication_tables WHERE pubname = 'vapi_calls'"; }
[ "$(psql_q -d feed_restored -At -c "SELECT count(*) FROM pg_publication WHERE pubname = 'vapi_calls'")" = 1 ] ||
	fail "the restore lost the publication"
[ -z "$(members)" ] || echo "note: pg_dump now keeps the publication's tables ($(members)); the README can say so"
psql_q -d feed_restored -f - <<<"$restore_sql" >/dev/null || fail "the README's statement after a restore failed"
[ "$(members)" = vapi.calls ] || fail "after the README's statement the publication holds '$(members)', not vapi.calls"
echo "logical_feed ok"
