#!/usr/bin/env bash
# Where vapi_ingest's time goes (bench/README.md, "Where the time goes"):
# builds, starts a throwaway cluster with bench/run.sh's settings, generates
# the data set (bench/run.sh --quick's sizes unless overridden), and for each
# mix replays its deliveries through vapi_ingest in one transaction twice:
# once to measure the backend's CPU per event, once under perf record (call
# graphs from DWARF) to attribute it.  Prints, per mix, the share of the
# backend's samples spent under each phase and what that is in us per event.
#
#   bench/profile.sh                  both mixes
#   MIXES=small bench/profile.sh      one
#
# Environment: ORGS ASSISTANTS CONTACTS EVENTS SMALL_EVENTS (as bench/run.sh
# --quick), MIXES, TOAST_COMPRESSION (lz4, the extension's, or pglz), FREQ
# (perf samples per second, 2000), KEEP_PERF=dir (keep the perf.data files
# there for perf report).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

ORGS=${ORGS:-100}
ASSISTANTS=${ASSISTANTS:-500}
CONTACTS=${CONTACTS:-20000}
EVENTS=${EVENTS:-10000}
SMALL_EVENTS=${SMALL_EVENTS:-20000}
MIXES=${MIXES:-large small}
FREQ=${FREQ:-2000}

ensure_build_deps linux-perf
build
temp_install
start_cluster "shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
	"autovacuum = off" "jit = off" "max_connections = 50" "fsync = on" "synchronous_commit = on"
export PGDATABASE=postgres
cd "$REPO"

log "generating the data set"
psql_q -c "CREATE EXTENSION vapi_calls"
if [ "${TOAST_COMPRESSION:-lz4}" = pglz ]; then
	psql_q -c "ALTER TABLE vapi.calls ALTER transcript SET COMPRESSION pglz,
		ALTER analysis SET COMPRESSION pglz, ALTER metadata SET COMPRESSION pglz" \
		-c "ALTER TABLE vapi.events ALTER payload SET COMPRESSION pglz"
fi
psql_q -v orgs="$ORGS" -v assistants="$ASSISTANTS" -v contacts="$CONTACTS" -v events="$EVENTS" \
	-v small_events="$SMALL_EVENTS" -f bench/data.sql >/dev/null

# The phases: a label and the functions whose inclusive samples ("children")
# make it up.  Nested phases are listed under the ones that contain them.
PHASES=(
	"vapi_ingest, all of it (fmgr_security_definer)|fmgr_security_definer"
	"  reading the payload (vapi_read_event)|vapi_read_event"
	"  the org lookups (vapi_resolve_org)|vapi_resolve_org"
	"  the merge (vapi_merge)|vapi_merge"
	"    the caller and its contact (vapi_resolve_caller)|vapi_resolve_caller"
	"      the contact lookup (vapi_find_contact)|vapi_find_contact"
	"  the event-log insert (vapi_log_event)|vapi_log_event"
	"  the result object (vapi_result_jsonb)|vapi_result_jsonb"
	"  SET search_path (ProcessGUCArray, AtEOXact_GUC)|ProcessGUCArray AtEOXact_GUC"
	"  the capture subtransaction (begin and end)|BeginInternalSubTransaction ReleaseCurrentSubTransaction RollbackAndReleaseCurrentSubTransaction"
	"  NOTIFY (off by default)|Async_Notify"
	"SQL statements through SPI (SPI_execute_plan)|SPI_execute_plan"
	"executor start-up (standard_ExecutorStart)|standard_ExecutorStart"
	"plan revalidation (GetCachedPlan)|GetCachedPlan"
	"compression (LZ4_compress_fast, pglz_compress)|LZ4_compress_fast pglz_compress"
	"out-of-line storage (toast_save_datum)|toast_save_datum"
	"heap insert, update, row lock|heap_insert heap_update heap_lock_tuple"
	"index inserts and conflict checks|ExecInsertIndexTuples ExecCheckIndexConstraints"
	"multixacts (MultiXactIdCreateFromMembers)|MultiXactIdCreateFromMembers"
	"the id default of a new row (gen_random_uuid)|gen_random_uuid"
	"relation extension (mdextend)|mdextend"
	"WAL records (XLogInsert)|XLogInsert"
	"detoasting (detoast_attr)|detoast_attr"
)

# replay MIX: the whole mix through vapi_ingest, in one statement; the
# backend first prints its pid and waits a second, so perf can attach.
replay_sql() {
	cat <<-EOF
		\\o $WORK/pid
		SELECT pg_backend_pid();
		\\o
		SELECT pg_sleep(1);
		SELECT count(public.vapi_ingest(payload))
		  FROM (SELECT payload FROM bench.events WHERE mix = '$1' ORDER BY seq OFFSET 0) e;
	EOF
}

# Start the replay of mix $1 on empty tables, in the background: sets client
# (psql's pid) and pid (the backend's).
start_replay() {
	psql_q -c "TRUNCATE vapi.calls, vapi.events RESTART IDENTITY" -c "CHECKPOINT"
	rm -f "$WORK/pid"
	replay_sql "$1" | psql_q -At >/dev/null &
	client=$!
	until [ -s "$WORK/pid" ]; do sleep 0.05; done
	pid=$(grep -o '[0-9]\+' "$WORK/pid")
}

for mix in $MIXES; do
	n=$(psql_q -At -c "SELECT count(*) FROM bench.events WHERE mix = '$mix'")
	log "$mix mix: $n events, unprofiled"
	start_replay "$mix"
	# The backend's own CPU time, read just before it exits: poll it.
	cpu=0
	while kill -0 "$pid" 2>/dev/null; do
		stat=$(cut -d ' ' -f 14,15 "/proc/$pid/stat" 2>/dev/null) || break
		cpu=$((${stat% *} + ${stat#* }))
		sleep 0.02
	done
	wait "$client"
	cpu_us=$((cpu * 1000000 / $(getconf CLK_TCK)))

	log "$mix mix: under perf record"
	start_replay "$mix"
	perf record -q -F "$FREQ" --call-graph dwarf,16384 -p "$pid" -o "$WORK/perf.$mix.data" >/dev/null 2>&1
	wait "$client"
	perf report -i "$WORK/perf.$mix.data" --children --stdio --sort symbol -g none --no-inline 2>/dev/null |
		awk '/^ +[0-9.]+% +[0-9.]+% / { sub(/%/, "", $1)
			for (i = 3; i < NF; i++) if ($i == "[.]" || $i == "[k]") { print $1, $(i + 1); break } }' \
		>"$WORK/children.$mix"
	[ -z "${KEEP_PERF:-}" ] || cp "$WORK/perf.$mix.data" "$KEEP_PERF/"

	echo
	echo "$mix mix: $n events in one transaction; the backend's CPU $(awk "BEGIN { printf \"%.1f\", $cpu_us / $n }") us per event (unprofiled run)"
	printf '   %-52s %9s %12s\n' "" "samples" "us/event"
	for phase in "${PHASES[@]}"; do
		label=${phase%%|*}
		share=0
		for fn in ${phase#*|}; do
			s=$(awk -v fn="$fn" '$2 == fn { print $1; exit }' "$WORK/children.$mix")
			share=$(awk "BEGIN { print $share + ${s:-0} }")
		done
		printf '   %-52s %8.1f%% %12.1f\n' "$label" "$share" "$(awk "BEGIN { print $share * $cpu_us / 100 / $n }")"
	done
	echo "   (inclusive shares of the backend's samples, which overlap: an indented phase is inside"
	echo "   vapi_ingest; the others are summed over every statement, the benchmark's own reading"
	echo "   of bench.events included)"
done
