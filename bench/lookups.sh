#!/usr/bin/env bash
# The cost of an event's directory lookups and of the entry point's own
# overhead (bench/README.md, "Directory lookups and search_path"): builds,
# starts a throwaway cluster, fills the directory, and measures the
# cluster's CPU per event (bench/cpu.sh) for
#
#   1. one transaction of EVENTS status-updates through vapi_ingest, each a
#      new call (so every event resolves its org and looks up its caller): a
#      third with a known assistant, a third with an unknown assistant and a
#      known phone number id, a third with neither known (the metadata
#      fallback), every caller's number a contact's in a third of them;
#   2. the same events, one per transaction, from pgbench (1 connection,
#      PGBENCH_SECONDS), so that the cost of entering and leaving the
#      SECURITY DEFINER function is paid once per event.
#
# ROUNDS runs of each; the best is printed.  Environment: EVENTS (20000),
# ROUNDS (3), PGBENCH_SECONDS (10), SOURCES=user to point the three source
# settings at views of the extension's tables (the SQL path).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
source "$REPO/bench/cpu.sh"

EVENTS=${EVENTS:-20000}
ROUNDS=${ROUNDS:-3}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}

ensure_build_deps
build
temp_install
start_cluster "shared_buffers = 256MB" "autovacuum = off" "jit = off" \
	"synchronous_commit = off" "max_wal_size = 4GB"
cd "$REPO"

psql_q -c "CREATE EXTENSION vapi_calls" -c "CREATE EXTENSION pgcrypto"
psql_q <<'SQL'
INSERT INTO vapi.agents (vapi_assistant_id, org_id, name)
SELECT 'asst-' || i, ('00000000-0000-4000-8000-' || lpad((i % 100)::text, 12, '0'))::uuid, 'agent ' || i
  FROM generate_series(1, 2000) i;
INSERT INTO vapi.phone_numbers (vapi_phone_number_id, org_id, number)
SELECT 'pn-' || i, ('00000000-0000-4000-8000-' || lpad((i % 100)::text, 12, '0'))::uuid, '+1415555' || lpad(i::text, 4, '0')
  FROM generate_series(1, 2000) i;
INSERT INTO vapi.contacts (org_id, phone, name)
SELECT ('00000000-0000-4000-8000-' || lpad((i % 100)::text, 12, '0'))::uuid,
       '+1 (650) ' || lpad((i / 10000)::text, 3, '0') || '-' || lpad((i % 10000)::text, 4, '0'), 'contact ' || i
  FROM generate_series(1, 20000) i;
VACUUM ANALYZE vapi.agents, vapi.phone_numbers, vapi.contacts;
CREATE TABLE public.bench_events (n int PRIMARY KEY, payload jsonb NOT NULL);
SQL
if [ "${SOURCES:-}" = user ]; then
	psql_q <<'SQL'
CREATE VIEW public.agents_v AS SELECT * FROM vapi.agents;
CREATE VIEW public.phone_numbers_v AS SELECT * FROM vapi.phone_numbers;
CREATE VIEW public.contacts_v AS SELECT * FROM vapi.contacts;
ALTER DATABASE postgres SET vapi.agents_source = 'public.agents_v';
ALTER DATABASE postgres SET vapi.phone_numbers_source = 'public.phone_numbers_v';
ALTER DATABASE postgres SET vapi.contacts_source = 'public.contacts_v';
SQL
fi

# Event k of round r: a new call; its assistant and number as described above.
psql_q -v events="$EVENTS" -v rounds="$ROUNDS" <<'SQL'
INSERT INTO public.bench_events
SELECT k, jsonb_build_object('message', jsonb_build_object(
		'type', 'status-update', 'status', 'ringing', 'timestamp', 1767225600000 + k,
		'call', jsonb_build_object('id', 'bench-' || k, 'type', 'inboundPhoneCall',
			'assistantId', CASE k % 3 WHEN 0 THEN 'asst-' || (k % 2000 + 1) ELSE 'unknown-' || k END,
			'phoneNumberId', CASE k % 3 WHEN 2 THEN 'pn-unknown-' || k ELSE 'pn-' || (k % 2000 + 1) END,
			'metadata', jsonb_build_object('org_id', '00000000-0000-4000-8000-000000000001'),
			'customer', jsonb_build_object('number',
				CASE WHEN k % 9 < 3 THEN '+1650' || lpad(((k % 20000) / 10000)::text, 3, '0')
										 || lpad((k % 10000)::text, 4, '0')
					 ELSE '+1999' || lpad(k::text, 7, '0') END))))
  FROM generate_series(1, :events * (:rounds + 1) + 300000) k;
SQL

best_txn=
for ((r = 0; r < ROUNDS; r++)); do
	psql_q -c "TRUNCATE vapi.calls, vapi.events" -c "CHECKPOINT"
	lo=$((r * EVENTS + 1)) hi=$(((r + 1) * EVENTS))
	before=$(cluster_cpu_us)
	psql_q -c "SELECT count(*) FILTER (WHERE (vapi_ingest(payload) ->> 'ok')::boolean) FROM public.bench_events WHERE n BETWEEN $lo AND $hi" >/dev/null
	after=$(cluster_cpu_us)
	us=$(((after - before) / EVENTS))
	log "one transaction, round $r: $us us of CPU per event"
	if [ -z "$best_txn" ] || [ "$us" -lt "$best_txn" ]; then best_txn=$us; fi
done

cat >"$WORK/ingest.pgbench" <<EOF
\\set k random($((ROUNDS * EVENTS + EVENTS + 1)), $((ROUNDS * EVENTS + EVENTS + 300000)))
SELECT vapi_ingest(payload) FROM public.bench_events WHERE n = :k;
EOF
best_pgb=
for ((r = 0; r < ROUNDS; r++)); do
	psql_q -c "TRUNCATE vapi.calls, vapi.events" -c "CHECKPOINT"
	before=$(cluster_cpu_us)
	tx=$("$BIN/pgbench" -n -M prepared -c 1 -T "$PGBENCH_SECONDS" -f "$WORK/ingest.pgbench" 2>&1 |
		sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p')
	after=$(cluster_cpu_us)
	us=$(((after - before) / tx))
	log "pgbench, round $r: $tx transactions, $us us of CPU per event"
	if [ -z "$best_pgb" ] || [ "$us" -lt "$best_pgb" ]; then best_pgb=$us; fi
done

echo "one transaction of $EVENTS events: $best_txn us of CPU per event (best of $ROUNDS)"
echo "one event per transaction (pgbench, 1 connection): $best_pgb us of CPU per event (best of $ROUNDS)"
