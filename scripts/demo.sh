#!/usr/bin/env bash
# The main job on a throwaway cluster: installs what it needs, builds,
# installs the extension into a private copy of PostgreSQL, starts a
# cluster, feeds it the example webhooks in examples/ (the last one a late
# duplicate) and shows the resulting calls.  Everything is removed at exit
# (KEEP_WORK=1 keeps the directory, and prints how to reconnect).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_build_deps
build
temp_install
start_cluster

psql_q -c "CREATE EXTENSION vapi_calls" -f "$REPO/examples/seed.sql"
log "ingesting the example webhooks (each result without its call_id, a random uuid)"
for f in "$REPO"/examples/*.json; do
	psql_q -At -v body="$(cat "$f")" <<-'SQL' | sed "s|^|$(basename "$f"): |"
		SELECT vapi_ingest(:'body'::jsonb) - 'call_id';
	SQL
done

log "the resulting calls"
psql_q -x <<-'SQL'
	SELECT vapi_call_id, org_id, direction, status, ended_reason, caller_name, phone_number,
	       is_test_call, started_at, ended_at, duration_seconds, cost, summary, sentiment,
	       recording_url, left(transcript, 60) AS transcript
	  FROM vapi.calls ORDER BY first_event_at;
SQL
log "the event log"
psql_q -c "SELECT id, vapi_call_id, type, status, outcome FROM vapi.events ORDER BY id"
if [ -n "${KEEP_WORK:-}" ]; then
	log "kept $WORK; the cluster is stopped: start it with"
	log "  $(printf '%q' "$BIN/pg_ctl") -D $(printf '%q' "$DATA") start   (as $PGOS_USER)"
fi
