#!/usr/bin/env bash
# The README's pg_cron section, exactly as written: a server configured with
# its postgresql.conf lines, then its SQL, must leave the two maintenance
# jobs in cron.job, and each job's command must do its work when run as
# pg_cron runs it (one statement per connection, outside a transaction
# block, so that the pruning procedure can commit between batches).
set -euo pipefail
source "$REPO/scripts/lib.sh"
fail() { echo "pg_cron: $*" >&2; exit 1; }

ensure_packages "postgresql-$PG_MAJOR-cron" python3

# The README section "Scheduling with pg_cron": its ini and sql blocks.
section=$(awk '/^### Scheduling with pg_cron/ {on = 1; next} on && /^##/ {exit} on' "$REPO/README.md")
code_blocks() { awk -v lang="$1" '$0 == "```" lang {on = 1; next} on && /^```/ {on = 0} on' <<<"$section"; }
mapfile -t conf < <(code_blocks ini | grep -v '^[[:space:]]*\(#\|$\)')
sql=$(code_blocks sql)
[ ${#conf[@]} -ge 2 ] || fail "no postgresql.conf lines found in the README section"
grep -q 'cron.schedule' <<<"$sql" || fail "no cron.schedule statements found in the README section"

temp_install
start_cluster "${conf[@]}"
psql_q -c "CREATE EXTENSION vapi_calls"
[ "$(psql_q -At -c "SHOW cron.database_name")" = postgres ] || fail "cron.database_name is not postgres"

# Something for each job to do: a call whose end never came, an old delivery.
psql_q -At >/dev/null <<'SQL'
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress",
  "timestamp": "2024-07-01T10:00:00Z", "call": {"id": "call-stale"}}}');
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress", "call": {"id": "call-live"}}}');
UPDATE vapi.events SET received_at = now() - interval '1 year' WHERE vapi_call_id = 'call-stale';
SQL

# The README's statements, twice: scheduling again replaces the jobs.
for round in 1 2; do
	psql_q -f - <<<"$sql" >/dev/null || fail "the README's SQL failed (round $round)"
done
jobs=$(psql_q -At -F ' | ' -c "SELECT jobname, schedule, database, command FROM cron.job ORDER BY jobname")
echo "$jobs"
[ "$(wc -l <<<"$jobs")" -eq 2 ] || fail "expected exactly two jobs in cron.job"
grep -q '^vapi-expire-stale-calls | [^|]* | postgres | SELECT vapi.expire_stale_calls(' <<<"$jobs" ||
	fail "no expire_stale_calls job"
grep -q '^vapi-prune-events | [^|]* | postgres | CALL vapi.prune_events(' <<<"$jobs" ||
	fail "no prune_events job"

# Each job's command, as pg_cron would run it.
while IFS= read -r command; do
	echo "running: $command"
	psql_q -c "$command" || fail "the job command failed: $command"
done < <(psql_q -At -c "SELECT command FROM cron.job ORDER BY jobname")
state=$(psql_q -At -c "SELECT string_agg(vapi_call_id || ' ' || status || ' ' || coalesce(ended_reason, '-'), ', '
                                         ORDER BY vapi_call_id) FROM vapi.calls")
echo "$state"
[ "$state" = "call-live in-progress -, call-stale failed vapi_calls.expired-no-end-of-call-report" ] ||
	fail "the expiry job did not expire exactly the stale call"
[ "$(psql_q -At -c "SELECT count(*) FROM vapi.events WHERE received_at < now() - interval '90 days'")" = 0 ] ||
	fail "the pruning job left old deliveries"

# The README's API jobs (section "Reconciling and backfilling from Vapi's
# API"): scheduled as written, and each command runs as pg_cron would run
# it.  Vapi's API is a closed port here, so each run stops at once, saying
# so; the jobs are unscheduled before pg_cron could run them itself.
api=$(awk '/^### Reconciling and backfilling from Vapi/ {on = 1; next} on && /^##/ {exit} on' "$REPO/README.md")
api_sql=$(awk '$0 == "```sql" {on = 1; block = ""; next} on && /^```/ {on = 0; if (block ~ /cron.schedule/) printf "%s", block; next}
               on {block = block $0 "\n"}' <<<"$api")
grep -q 'cron.schedule' <<<"$api_sql" || fail "no cron.schedule statements in the README's API section"
psql_q -f - <<<"$api_sql" >/dev/null || fail "the README's API jobs failed to schedule"
api_jobs="'vapi-reconcile-calls', 'vapi-sync-recent-calls'"
[ "$(psql_q -At -c "SELECT count(*) FROM cron.job WHERE jobname IN ($api_jobs)")" = 2 ] ||
	fail "the README's API jobs are not in cron.job"
closed=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
psql_q -c "SELECT vapi.set_api_key('pg-cron-test-key')" >/dev/null
psql_q -c "SELECT vapi_ingest('{\"message\": {\"type\": \"status-update\", \"status\": \"in-progress\",
             \"timestamp\": \"2024-07-01T10:00:00Z\", \"call\": {\"id\": \"call-unreconciled\"}}}')" >/dev/null
while IFS= read -r command; do
	echo "running: $command"
	out=$(PGOPTIONS="-c vapi.api_url=http://127.0.0.1:$closed -c vapi.api_retries=0" psql_q -At -c "$command" 2>/dev/null) ||
		fail "the job command failed: $command"
	grep -q "Couldn't connect to server" <<<"$out" || fail "unexpected result of $command: $out"
done < <(psql_q -At -c "SELECT command FROM cron.job WHERE jobname IN ($api_jobs) ORDER BY jobname")
psql_q -c "SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname IN ($api_jobs)" >/dev/null
echo "pg_cron ok"
