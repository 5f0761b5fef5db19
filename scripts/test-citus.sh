#!/usr/bin/env bash
# vapi_calls on a Citus cluster: a coordinator and two workers on
# 127.0.0.1, the extension distributed with vapi.distribute(), then
#   - the layout: distributed, co-located, reference tables, idempotence;
#   - convergence: the same shuffled, duplicated deliveries fed from four
#     connections to the cluster and to a single-node database, and the two
#     vapi.calls compared column by column;
#   - the tenant-read recipe of the README (PostgREST's transaction, with
#     vapi.pre_request as db-pre-request), the call log's order;
#   - replay, reresolve, expiry, pruning, the health view and vapi.check().
# Ends with "N passed, N failed".  Citus is not a Debian package: without it
# installed in the system's PostgreSQL this says so and exits 0 (see the
# README, "Scale-out on Citus", for how to build it).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$REPO/scripts/citus-lib.sh"

if ! citus_installed; then
	echo "test-citus: Citus is not installed in $("$PG_CONFIG" --sharedir): nothing was run"
	echo "test-citus: build it with shared/tools/citus/build.sh (README, \"Scale-out on Citus\")"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

ensure_build_deps postgresql-contrib
build
temp_install
start_citus_cluster

passed=0
failed=0
ok() { printf 'ok   %s\n' "$1"; passed=$((passed + 1)); }
not_ok() { printf 'FAIL %s\n' "$1"; shift; printf '     %s\n' "$@"; failed=$((failed + 1)); }
# expect NAME EXPECTED ACTUAL
expect() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "got:      $3"; fi; }
q() { local db=$1; shift; psql_q -At -d "$db" "$@"; }

# ---- the layout -----------------------------------------------------------
q postgres -c "CREATE EXTENSION vapi_calls" >/dev/null
expect "vapi.distribute() without data" \
	"vapi.agents: reference table|vapi.phone_numbers: reference table|vapi.contacts: reference table|vapi.calls: dropped UNIQUE (id)|vapi.calls: distributed on vapi_call_id|vapi.events: distributed on vapi_call_id, co-located with vapi.calls|vapi.events: ids from a range of their own on each worker|vapi_ingest_call: delegated to the worker that holds the call|vapi.replay(timestamp with time zone,timestamp with time zone,text[],text[]): one connection per worker|vapi.reresolve(): one connection per worker|vapi.call_log, vapi.call_log_all: sorted on the coordinator" \
	"$(q postgres -c "SELECT string_agg(d, '|') FROM vapi.distribute() d")"
expect "vapi.distribute() again does nothing" "0" \
	"$(q postgres -c "SELECT count(*) FROM vapi.distribute()")"
expect "distribution: calls and events hash on vapi_call_id, co-located; the directory replicated" \
	"vapi.agents n|vapi.calls h vapi_call_id|vapi.contacts n|vapi.events h vapi_call_id|vapi.phone_numbers n|colocated true" \
	"$(q postgres -c "SELECT string_agg(format('%s %s%s', logicalrelid, partmethod,
	                   coalesce(' ' || column_to_column_name(logicalrelid, partkey), '')), '|' ORDER BY logicalrelid::text)
	                   || '|colocated ' || (SELECT count(DISTINCT colocationid) = 1 FROM pg_dist_partition
	                                         WHERE logicalrelid IN ('vapi.calls'::regclass, 'vapi.events'::regclass))
	                    FROM pg_dist_partition WHERE logicalrelid::text LIKE 'vapi.%'")"
q postgres -c "CREATE DATABASE plain TEMPLATE template0" 2>/dev/null
q plain -c "CREATE EXTENSION vapi_calls" >/dev/null
expect "vapi.distribute() without Citus: a clear error" \
	"ERROR:  vapi.distribute() needs the citus extension in this database" \
	"$(psql_q -At -d plain -c "SELECT vapi.distribute()" 2>&1 | head -n 1)"

# ---- convergence with a single node ---------------------------------------
# 200 calls of four orgs, each with ringing, in-progress, a conversation
# update, an ended status and an end-of-call report; half of them with the
# org only on the assistant, the customer's number only on another delivery.
corpus_sql() {
	cat <<'SQL'
INSERT INTO vapi.agents SELECT 'asst-' || o, ('0000000' || o || '-0000-4000-8000-000000000000')::uuid, 'Desk ' || o
  FROM generate_series(1, 4) o;
INSERT INTO vapi.phone_numbers SELECT 'pn-' || o, ('0000000' || o || '-0000-4000-8000-000000000000')::uuid, '+1555000000' || o
  FROM generate_series(1, 4) o;
INSERT INTO vapi.contacts (org_id, phone, name)
SELECT ('0000000' || (1 + c % 4) || '-0000-4000-8000-000000000000')::uuid, '+1415555' || lpad(c::text, 4, '0'), 'Contact ' || c
  FROM generate_series(1, 200, 2) c;
CREATE TABLE public.corpus AS
SELECT row_number() OVER () AS n, payload FROM (
SELECT c, k, jsonb_build_object('message', jsonb_strip_nulls(jsonb_build_object(
	'type', CASE WHEN k = 5 THEN 'end-of-call-report' WHEN k = 3 THEN 'conversation-update' ELSE 'status-update' END,
	'status', CASE k WHEN 1 THEN 'ringing' WHEN 2 THEN 'in-progress' WHEN 4 THEN 'ended' END,
	'endedReason', CASE WHEN k >= 4 THEN CASE WHEN c % 7 = 0 THEN 'customer-busy' ELSE 'customer-ended-call' END END,
	'timestamp', 1767225600000 + c * 60000 + k * 1000,
	'summary', CASE WHEN k = 5 THEN 'Call ' || c || ' summary' END,
	'transcript', CASE WHEN k = 5 THEN 'AI: Hello ' || c END,
	'cost', CASE WHEN k = 5 THEN round(c / 100.0, 2) END,
	'call', jsonb_strip_nulls(jsonb_build_object('id', 'conv-' || c, 'type', 'inboundPhoneCall',
		'assistantId', CASE WHEN k = 2 OR c % 2 = 0 THEN 'asst-' || (1 + c % 4) END,
		'phoneNumberId', CASE WHEN k = 1 THEN 'pn-' || (1 + (c + 1) % 4) END)),
	'customer', CASE WHEN k = 1 OR k = 5 THEN jsonb_build_object('number', '+1415555' || lpad(c::text, 4, '0')) END
))) AS payload
  FROM generate_series(1, 200) c, generate_series(1, 5) k) e;
SQL
}
for db in postgres plain; do
	corpus_sql | q "$db" >/dev/null
done
# The deliveries, each twice, in an order given by a hash, one statement per
# delivery (so per transaction), dealt to four files for four connections.
mkdir -p "$WORK/feed"
q plain -c "SELECT format('SELECT vapi_ingest(%L::jsonb) IS NOT NULL;', payload)
              FROM corpus, generate_series(1, 2) r ORDER BY md5(n || '/' || r)" >"$WORK/feed/all.sql"
split -n r/4 "$WORK/feed/all.sql" "$WORK/feed/part."
for db in postgres plain; do
	for f in "$WORK"/feed/part.*; do
		psql_q -At -d "$db" -f "$f" >/dev/null &
	done
	wait
done
snapshot_calls() {
	q "$1" -c "SELECT vapi_call_id, org_id, assistant_id, phone_number_id, call_type, direction, status, ended_reason,
	                  phone_number, from_number, caller_name, is_test_call, started_at, ended_at, duration_seconds,
	                  cost, transcript, summary, recording_url, analysis, metadata, first_event_at, last_event_at,
	                  status_rank, field_versions
	             FROM vapi.calls ORDER BY vapi_call_id"
}
snapshot_calls postgres >"$WORK/calls.citus"
snapshot_calls plain >"$WORK/calls.single"
if [ "$(wc -l <"$WORK/calls.single")" -eq 200 ] && diff -q "$WORK/calls.single" "$WORK/calls.citus" >/dev/null; then
	ok "convergence: 2,000 shuffled deliveries from 4 connections give the same 200 rows on Citus as on one node"
else
	not_ok "convergence: Citus and one node differ" "$(diff "$WORK/calls.single" "$WORK/calls.citus" | head -n 10)"
fi
expect "every delivery is in vapi.events on Citus" "2000 0" \
	"$(q postgres -c "SELECT count(*) || ' ' || count(*) FILTER (WHERE outcome IN ('error', 'rejected')) FROM vapi.events")"
expect "contacts found on Citus as on one node" \
	"$(q plain -c "SELECT count(*) FROM vapi.calls WHERE caller_name LIKE 'Contact %'")" \
	"$(q postgres -c "SELECT count(*) FROM vapi.calls WHERE caller_name LIKE 'Contact %'")"

# ---- the delegated entry point ---------------------------------------------
# The same deliveries again, each by vapi_ingest_call(id, payload), which
# Citus runs whole on the worker of the call, into an empty vapi.calls; the
# events of the first feed stay, so that the ids of both are compared.
# (Citus delegates a statement that is the function call alone.)
q plain -c "SELECT format('SELECT vapi_ingest_call(%L, %L::jsonb);', payload->'message'->'call'->>'id', payload)
              FROM corpus, generate_series(1, 2) r ORDER BY md5(r || '/' || n)" >"$WORK/feed/delegated.sql"
rm -f "$WORK"/feed/part.*
split -n r/4 "$WORK/feed/delegated.sql" "$WORK/feed/part."
q postgres -c "TRUNCATE vapi.calls" >/dev/null
for f in "$WORK"/feed/part.*; do
	psql_q -At -d postgres -f "$f" >/dev/null &
done
wait
snapshot_calls postgres >"$WORK/calls.delegated"
if diff -q "$WORK/calls.single" "$WORK/calls.delegated" >/dev/null; then
	ok "vapi_ingest_call converges: the same 200 rows as vapi_ingest on one node"
else
	not_ok "vapi_ingest_call on Citus and vapi_ingest on one node differ" "$(diff "$WORK/calls.single" "$WORK/calls.delegated" | head -n 10)"
fi
# The coordinator numbers from 1; each worker from its group id << 48, so
# an id of 2^48 or more was given on a worker: the call was delegated.
expect "vapi_ingest_call ran on the workers: every one of its events has a worker's id, on both workers" \
	"2000 2000 2" \
	"$(q postgres -c "SELECT count(*) FILTER (WHERE id < 1::bigint << 48) || ' ' || count(*) FILTER (WHERE id >= 1::bigint << 48)
	                  || ' ' || count(DISTINCT id >> 48) FILTER (WHERE id >= 1::bigint << 48) FROM vapi.events")"
expect "event ids distinct across the coordinator and the workers" "4000 4000" \
	"$(q postgres -c "SELECT count(*) || ' ' || count(DISTINCT id) FROM vapi.events")"
# The first feed's events go: what follows works on one copy of each.
q postgres -c "DELETE FROM vapi.events WHERE id < 1::bigint << 48" >/dev/null

# ---- tenants ----------------------------------------------------------------
# The README's recipe: reader roles with LOGIN (Citus opens the workers'
# connections as the current role), vapi.grant_reader, and PostgREST's
# transaction with vapi.pre_request as its db-pre-request function.
q postgres >/dev/null <<'SQL'
CREATE ROLE authenticator LOGIN NOINHERIT;
CREATE ROLE app_reader LOGIN;
GRANT app_reader TO authenticator;
SELECT vapi.grant_reader('app_reader');
SQL
org1=00000001-0000-4000-8000-000000000000
as_reader() {
	"$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$COORD_PORT" -U authenticator -d postgres "$@"
}
reader_tx() {
	cat <<SQL
BEGIN;
SELECT set_config('request.jwt.claims', '{"role": "app_reader", "org_id": "$org1"}', true) IS NULL;
SET LOCAL ROLE app_reader;
$1
$2
COMMIT;
SQL
}
expect "a reader sees its org's calls through vapi.pre_request" \
	"f|$(q postgres -c "SELECT count(*) FROM vapi.calls WHERE org_id = '$org1'")" \
	"$(reader_tx "SELECT vapi.pre_request();" "SELECT count(*) FROM vapi.calls;" | as_reader | tr '\n' '|' | sed 's/|$//; s/^f||/f|/')"
expect "a reader sees only its org's calls" "1" \
	"$(reader_tx "SELECT vapi.pre_request();" "SELECT count(DISTINCT org_id) FROM vapi.calls;" | as_reader | tail -n 1)"
expect "without vapi.pre_request the workers see no claims: no rows" "0" \
	"$(reader_tx "" "SELECT count(*) FROM vapi.calls;" | as_reader | tail -n 1)"
expect "vapi.call_log is newest first on Citus" \
	"$(q postgres -c "SELECT string_agg(vapi_call_id, ' ' ORDER BY first_event_at DESC, vapi_call_id DESC) FROM vapi.calls WHERE org_id = '$org1'")" \
	"$(reader_tx "SELECT vapi.pre_request();" "SELECT string_agg(vapi_call_id, ' ') FROM (SELECT vapi_call_id FROM vapi.call_log) l;" | as_reader | tail -n 1)"
expect "a page of vapi.call_log_rows, ordered by the reader" \
	"$(q postgres -c "SELECT string_agg(vapi_call_id, ' ') FROM (SELECT vapi_call_id FROM vapi.calls WHERE org_id = '$org1' ORDER BY first_event_at DESC, vapi_call_id DESC LIMIT 5) p")" \
	"$(reader_tx "SELECT vapi.pre_request();" "SELECT string_agg(vapi_call_id, ' ') FROM (SELECT vapi_call_id FROM vapi.call_log_rows ORDER BY first_seen_at DESC, vapi_call_id DESC LIMIT 5) p;" | as_reader | tail -n 1)"

# ---- operations -------------------------------------------------------------
expect "vapi.replay() on Citus: every event unchanged" "2000 unchanged" \
	"$(q postgres -c "SELECT count(*) || ' ' || string_agg(DISTINCT action, ',') FROM vapi.replay()")"
snapshot_calls postgres >"$WORK/calls.citus.replayed"
if diff -q "$WORK/calls.citus" "$WORK/calls.citus.replayed" >/dev/null; then
	ok "vapi.replay() on Citus changes no row"
else
	not_ok "vapi.replay() on Citus changed rows" "$(diff "$WORK/calls.citus" "$WORK/calls.citus.replayed" | head -n 6)"
fi
q postgres -c "INSERT INTO vapi.contacts (org_id, phone, name) VALUES ('$org1', '+14155550004', 'Added later')" >/dev/null
expect "vapi.reresolve() on Citus finds the contact added later, as on one node" \
	"$(q plain -c "INSERT INTO vapi.contacts (org_id, phone, name) VALUES ('$org1', '+14155550004', 'Added later')" >/dev/null
	   q plain -c "SELECT vapi.reresolve()") Added later" \
	"$(q postgres -c "SELECT vapi.reresolve()") $(q postgres -c "SELECT caller_name FROM vapi.calls WHERE vapi_call_id = 'conv-4'")"
q postgres -c "SELECT vapi_ingest('{\"message\": {\"type\": \"status-update\", \"status\": \"in-progress\", \"timestamp\": 1767225600000, \"call\": {\"id\": \"conv-stale\"}}}')" >/dev/null
expect "vapi.expire_stale_calls() on Citus" "1 failed" \
	"$(q postgres -c "SELECT vapi.expire_stale_calls('1 hour')") $(q postgres -c "SELECT status FROM vapi.calls WHERE vapi_call_id = 'conv-stale'")"
expect "vapi.pipeline_health on Citus" "201 0 1" \
	"$(q postgres -c "SELECT calls_total || ' ' || calls_in_progress || ' ' || calls_without_org FROM vapi.pipeline_health")"
expect "vapi.check() on Citus: no false warning" "warning credentials" \
	"$(q postgres -c "SELECT string_agg(severity || ' ' || item, '|') FROM vapi.check() WHERE severity <> 'ok'")"
expect "vapi.prune_events() on Citus" "2002 0" \
	"$(q postgres -c "CALL vapi.prune_events('0 seconds')") $(q postgres -c "SELECT count(*) FROM vapi.events")"

# ---- vapi_ingest_call: what it does apart from converging ------------------
# The worker that holds the shards of a call.
worker_of() {
	q postgres -c "SELECT n.nodeport FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid)
	                WHERE p.shardid = get_shard_id_for_distribution_column('vapi.calls', '$1')"
}
delivery() {
	echo "{\"message\": {\"type\": \"status-update\", \"status\": \"$2\", \"timestamp\": 1767225600000, \"call\": {\"id\": \"$1\"}}}"
}
# conv-a and conv-b on different workers, so that a mismatch is routed to
# the wrong one.
for b in $(seq 1 50); do [ "$(worker_of "conv-b$b")" != "$(worker_of conv-a)" ] && break; done
expect "vapi_ingest_call with another call's id: not applied, kept as rejected under the payload's call" \
	"false rejected the vapi_call_id argument of vapi_ingest_call is not the payload's message.call.id|conv-b$b|rejected|0" \
	"$(q postgres -c "SELECT r->>'ok', r->>'action', r->>'error' FROM vapi_ingest_call('conv-a', '$(delivery "conv-b$b" ringing)') r" | tr '|' ' ')|$(
	   q postgres -c "SELECT vapi_call_id, outcome FROM vapi.events")|$(q postgres -c "SELECT count(*) FROM vapi.calls WHERE vapi_call_id IN ('conv-a', 'conv-b$b')")"
expect "vapi_ingest_call is strict: a null call id gives null and keeps nothing" "t 1" \
	"$(q postgres -c "SELECT vapi_ingest_call(NULL, '$(delivery conv-a ringing)') IS NULL") $(q postgres -c "SELECT count(*) FROM vapi.events")"
# Notifications: the worker that ran the call sends them, so listeners
# listen on every worker; vapi.notify set for the database on the
# coordinator (Citus propagates ALTER DATABASE ... SET).
q postgres -c "ALTER DATABASE postgres SET vapi.notify = on" >/dev/null
listen_on() {
	printf 'LISTEN vapi_calls;\nSELECT pg_sleep(5);\nSELECT 1;\n' | psql_q -At -d postgres -p "$1" 2>&1 |
		grep -c 'Asynchronous notification "vapi_calls"' || true
}
# listening: its session waits in the pg_sleep that follows its LISTEN
listening() {
	q postgres -p "$1" -c "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(5);'"
}
listen_on "$(worker_of conv-n)" >"$WORK/listen.worker" &
listen_on "$COORD_PORT" >"$WORK/listen.coordinator" &
for i in $(seq 1 50); do
	[ "$(listening "$(worker_of conv-n)")" = 1 ] && [ "$(listening "$COORD_PORT")" = 1 ] && break
	sleep 0.1
done
q postgres -c "SELECT vapi_ingest_call('conv-n', '$(delivery conv-n ringing)')" >/dev/null
wait
expect "vapi_ingest_call notifies on the worker that holds the call, not on the coordinator" "1 0" \
	"$(cat "$WORK/listen.worker") $(cat "$WORK/listen.coordinator")"
q postgres -c "ALTER DATABASE postgres RESET vapi.notify" >/dev/null
# A statement that is the call alone is delegated; its worker has the
# database's settings, not those of the coordinator's session.
expect "a session's SET on the coordinator does not reach the worker of vapi_ingest_call (README)" "1 0" \
	"$(q postgres -c "SET vapi.log_events = 'none'" -c "SELECT vapi_ingest_call('conv-s', '$(delivery conv-s ringing)')" | grep -c event_id) $(
	   q postgres -c "SET vapi.log_events = 'none'" -c "SELECT vapi_ingest('$(delivery conv-t ringing)')" | grep -c event_id || true)"

# Who may call it: EXECUTE granted on the coordinator reaches the workers,
# where the delegated call runs as the caller (then as the extension's
# owner, SECURITY DEFINER); a role without it is refused.
q postgres >/dev/null <<'SQL'
CREATE ROLE ingester LOGIN;
CREATE ROLE stranger LOGIN;
GRANT EXECUTE ON FUNCTION vapi_ingest_call(text, jsonb) TO ingester;
SQL
as_role() { local role=$1; shift; "$BIN/psql" -X -q -At -h 127.0.0.1 -p "$COORD_PORT" -U "$role" -d postgres "$@"; }
result=$(as_role ingester -c "SELECT vapi_ingest_call('conv-g', '$(delivery conv-g ringing)')")
expect "a role granted EXECUTE on the coordinator ingests through vapi_ingest_call, on the worker" "inserted true" \
	"$(q postgres -c "SELECT ('$result'::jsonb ->> 'action') || ' ' || (('$result'::jsonb ->> 'event_id')::bigint >= 1::bigint << 48)")"
expect "a role without EXECUTE is refused, and nothing is kept" "ERROR:  permission denied for function vapi_ingest_call|0" \
	"$(as_role stranger -c "SELECT vapi_ingest_call('conv-h', '$(delivery conv-h ringing)')" 2>&1 | head -n 1)|$(
	   q postgres -c "SELECT count(*) FROM vapi.events WHERE vapi_call_id = 'conv-h'")"

# A worker added later has its sequence from CREATE EXTENSION, numbering
# from 1: the same state made by hand on both workers, then repaired by
# vapi.distribute() again.
q postgres -c "SELECT bool_and(success) FROM run_command_on_workers(\$\$SET LOCAL citus.enable_ddl_propagation TO off;
                 ALTER SEQUENCE vapi.events_id_seq MINVALUE 1 MAXVALUE 9223372036854775807 RESTART 1\$\$)" >/dev/null
repaired=$(q postgres -c "SELECT string_agg(d, '|') FROM vapi.distribute() d")
result=$(q postgres -c "SELECT vapi_ingest_call('conv-r', '$(delivery conv-r ringing)')")
expect "vapi.distribute() again gives a worker numbering from 1 its range of event ids" \
	"vapi.events: ids from a range of their own on each worker|t" \
	"$repaired|$(q postgres -c "SELECT ('$result'::jsonb ->> 'event_id')::bigint >= 1::bigint << 48")"

# ---- the regression tests that hold on a distributed install unchanged ----
# (the others create triggers, temporary views or NOLOGIN roles, read
# plans, or change settings per database: Citus refuses or changes those).
# DDL propagation off: the tests' temporary functions stay on the
# coordinator, without Citus's warning about each.
PGXS_DIR=$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")
for t in normalize_phone classify_ended_reason examples convergence; do
	# each on empty tables, as it expects
	q postgres -c "TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts" >/dev/null
	if (cd "$REPO" && PGOPTIONS="-c citus.enable_ddl_propagation=off" \
		VAPI_EXAMPLES_DIR=$REPO/test/data/vapi-examples \
		"$PGXS_DIR/test/regress/pg_regress" --inputdir=. --outputdir="$WORK/regress-$t" --bindir="$SYS_BIN" \
		--use-existing --dbname=postgres "$t") >"$WORK/regress-$t.out" 2>&1; then
		ok "pg_regress $t on the distributed install"
	else
		not_ok "pg_regress $t on the distributed install" "$(head -n 30 "$WORK/regress-$t/regression.diffs" 2>/dev/null)"
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
