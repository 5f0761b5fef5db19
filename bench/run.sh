#!/usr/bin/env bash
# The performance benchmark (README, "Performance"): builds the extension,
# starts a throwaway cluster configured for benchmarking, generates the
# data set and measures, side by side in one run:
#
#   1. per-event cost, on two mixes (large reports: EVENTS deliveries of
#      calls with 5-20 KB transcripts; small status-heavy calls:
#      SMALL_EVENTS deliveries, 5 per call, one ~5 KB report), all of a mix
#      in one transaction: vapi_ingest vs the floor (the same final rows
#      upserted set-based from values extracted beforehand, plus the same
#      event-log inserts), vapi_ingest_batch (all of the mix in one call),
#      the per-event floor (the event insert and a bare
#      coalescing upsert, one event at a time), a simple PL/pgSQL handler
#      (the seed's logic) and the full PL/pgSQL port;
#   2. the application-handler architecture: three round trips per webhook
#      vs one SELECT vapi_ingest(...), with pgbench;
#   3. durable throughput: one event per transaction, 8 connections,
#      synchronous_commit on, vapi_ingest vs the bare upsert, and
#      vapi_ingest with vapi.notify on;
#   4. memory: one backend ingesting MEMORY_EVENTS events, through vapi_ingest
#      and through vapi_ingest_batch;
#   5. live changes: part 3's vapi_ingest again after a restart with
#      wal_level = logical, without and with a consumer of the logical
#      feed (pg_recvlogical, pgoutput), and with NOTIFY instead.
#
# Every contender writes vapi.calls and vapi.events themselves, so all run
# on the same storage settings (lz4 on the large columns, the extension's
# default; TOAST_COMPRESSION=pglz sets those columns back to pglz, to
# measure what lz4 buys).
#
# Prints every figure and ratio; exits non-zero when a target is missed.
#
#   bench/run.sh            the spec's sizes (20 minutes or more on 2 cores)
#   bench/run.sh --quick    small sizes, for development (about 3 minutes)
#
# Environment overrides: ORGS ASSISTANTS CONTACTS EVENTS SMALL_EVENTS
# MEMORY_EVENTS PGBENCH_SECONDS ROUNDS (each contender runs ROUNDS times,
# alternating; the best run counts), PARTS (e.g. "1 3"), MIXES (e.g.
# "small") and TOAST_COMPRESSION (lz4 or pglz).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

quick=
for arg in "$@"; do
	case $arg in
		--quick) quick=1 ;;
		-h | --help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) echo "bench/run.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
	esac
done
if [ -n "$quick" ]; then
	: "${ORGS:=100}" "${ASSISTANTS:=500}" "${CONTACTS:=20000}" "${EVENTS:=10000}"
	: "${MEMORY_EVENTS:=50000}" "${PGBENCH_SECONDS:=5}" "${ROUNDS:=1}"
fi
ORGS=${ORGS:-1000}
ASSISTANTS=${ASSISTANTS:-5000}
CONTACTS=${CONTACTS:-200000}
EVENTS=${EVENTS:-100000}
MEMORY_EVENTS=${MEMORY_EVENTS:-1000000}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-30}
ROUNDS=${ROUNDS:-2}
SMALL_EVENTS=${SMALL_EVENTS:-20000}
PARTS=${PARTS:-1 2 3 4 5}
MIXES=${MIXES:-large small}
TOAST_COMPRESSION=${TOAST_COMPRESSION:-lz4}
CLIENTS=8

# Targets: the project's performance contract (README, "Performance").
MAX_FLOOR_RATIO=1.5
MAX_BATCH_RATIO=1.25
MAX_PER_EVENT_FLOOR_RATIO=1.1
MIN_SIMPLE_RATIO=1.5
MIN_PLPGSQL_RATIO=2
MIN_DURABLE_RATIO=0.95
MIN_APP_RATIO=1.3
MAX_MEMORY_GROWTH=$((1024 * 1024))

ensure_build_deps
build
temp_install
# Benchmark settings: durable commits as in production (fsync and
# synchronous_commit stay on), enough shared_buffers to hold the data set,
# no checkpoint inside a measurement (each one starts after a CHECKPOINT),
# no autovacuum or JIT to add noise.
start_cluster "shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
	"autovacuum = off" "jit = off" "max_connections = 50" "fsync = on" "synchronous_commit = on"
export PGDATABASE=postgres

cd "$REPO"
failed=0
now_us() { echo $(($(date +%s%N) / 1000)); }

source "$REPO/bench/cpu.sh"
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# A ratio against its target: "max" means the ratio must not exceed it.
check() {
	local name=$1 value=$2 kind=$3 target=$4 verdict
	if awk "BEGIN { exit !($value $([ "$kind" = max ] && echo '<=' || echo '>=') $target) }"; then
		verdict=ok
	else
		verdict=MISSED
		failed=1
	fi
	printf '   %-44s %8sx   target %s %sx   %s\n' "$name" "$value" \
		"$([ "$kind" = max ] && echo '<=' || echo '>=')" "$target" "$verdict"
}

reset_tables() {
	psql_q -c "TRUNCATE vapi.calls, vapi.events RESTART IDENTITY" -c "CHECKPOINT"
}

log "generating the data set: $ORGS orgs, $ASSISTANTS assistants, $CONTACTS contacts, $EVENTS + $SMALL_EVENTS events"
t0=$(now_us)
psql_q -c "CREATE EXTENSION vapi_calls"
case $TOAST_COMPRESSION in
	lz4) ;;
	pglz) psql_q -c "ALTER TABLE vapi.calls ALTER transcript SET COMPRESSION pglz,
			ALTER analysis SET COMPRESSION pglz, ALTER metadata SET COMPRESSION pglz" \
		-c "ALTER TABLE vapi.events ALTER payload SET COMPRESSION pglz" ;;
	*) echo "bench/run.sh: TOAST_COMPRESSION is lz4 or pglz" >&2; exit 2 ;;
esac
storage=$(psql_q -At -c "SELECT string_agg(attrelid::regclass || '.' || attname || ' ' ||
	CASE attcompression WHEN 'l' THEN 'lz4' WHEN 'p' THEN 'pglz' ELSE 'default (' || current_setting('default_toast_compression') || ')' END,
	', ' ORDER BY attrelid::regclass::text, attname) FROM pg_attribute
	WHERE attrelid IN ('vapi.calls'::regclass, 'vapi.events'::regclass)
	  AND attname IN ('transcript', 'analysis', 'metadata', 'payload')")
psql_q -v orgs="$ORGS" -v assistants="$ASSISTANTS" -v contacts="$CONTACTS" -v events="$EVENTS" \
	-v small_events="$SMALL_EVENTS" -f bench/data.sql >/dev/null
psql_q -f bench/plpgsql_port.sql -f bench/simple_handler.sql -f bench/floor.sql -f bench/pgbench.sql >/dev/null
for variant in ingest floor app; do
	psql_q -At -c "SELECT bench.pgbench_script('$variant')" >"$WORK/$variant.pgb"
done
data_seconds=$(calc "($(now_us) - $t0) / 1e6" 0)

cat <<EOF

== vapi_calls benchmark ==
machine: $(nproc) cores, $(free -m | awk '/^Mem:/ { printf "%.1f GB", $2 / 1024 }') memory, $("$BIN/postgres" --version)
data set: $ORGS orgs, $ASSISTANTS assistants, $CONTACTS contacts (generated in ${data_seconds} s)
$(psql_q -At -c "SELECT string_agg(format('  mix %s: %s events in %s calls, %s of payloads, reports of %s on average',
	mix, n, calls, pg_size_pretty(bytes), pg_size_pretty(report_bytes)), E'\n' ORDER BY mix)
	FROM (SELECT e.mix, count(*) n, count(DISTINCT call_no) calls, sum(pg_column_size(payload)) bytes,
	             avg(pg_column_size(payload)) FILTER (WHERE kind = 91)::bigint report_bytes
	      FROM bench.events e GROUP BY e.mix) s")
storage of every contender (they all write vapi.calls and vapi.events): $storage
EOF

# ---- 1. per-event cost ---------------------------------------------------

# Replay one mix of bench.events in delivery order through a function, in
# one statement.
replay() {
	psql_q -At -c "SELECT count($1(payload)) FROM (SELECT payload FROM bench.events
		WHERE mix = '$2' ORDER BY seq OFFSET 0) e"
}

# The same mix through vapi_ingest_batch: all of it in one call, from an
# array of the payloads built beforehand and stored uncompressed, as the
# floors' inputs are (bench/floor.sql), so that the batch pays for reading
# its input what they pay, not for building a 50 MB array.
prepare_batch_input() {
	psql_q >/dev/null <<-'EOF'
		SET client_min_messages = warning;
		DROP TABLE IF EXISTS bench.batch_input;
		CREATE TABLE bench.batch_input (mix text PRIMARY KEY, payloads jsonb[] NOT NULL);
		ALTER TABLE bench.batch_input ALTER payloads SET STORAGE EXTERNAL;
		INSERT INTO bench.batch_input
		SELECT mix, array_agg(payload ORDER BY seq) FROM bench.events GROUP BY mix;
	EOF
}
replay_batch() {
	psql_q -At -c "SELECT count(*) FROM bench.batch_input b, public.vapi_ingest_batch(b.payloads) r
		WHERE b.mix = '$1'"
}

# The floors (bench/floor.sql) replay what vapi_ingest produced.
snapshot_floor() {
	psql_q -c "SELECT bench.snapshot_floor()" -c "VACUUM ANALYZE bench.floor_calls, bench.floor_events" >/dev/null
}

# Does the last run leave the same rows as vapi_ingest did?
same_rows() {
	psql_q -At <<-'EOF'
		SELECT count(*) FILTER (WHERE to_jsonb(p) - '{id,created_at,updated_at,field_versions}'::text[]
		                        = to_jsonb(f) - '{id,created_at,updated_at,field_versions}'::text[])
		       || ' of ' || count(*)
		FROM vapi.calls p FULL JOIN bench.floor_calls f USING (vapi_call_id);
	EOF
}

# Run a command on empty tables; prints "wall_us cpu_us".
timed() {
	local t0 c0 t1
	reset_tables
	c0=$(cluster_cpu_us)
	t0=$(now_us)
	"$@" >/dev/null
	t1=$(now_us)
	echo "$((t1 - t0)) $(($(cluster_cpu_us) - c0))"
}

# The best (lowest) of some numbers.
best() { printf '%s\n' "$@" | sort -n | head -n 1; }

contender_name() {
	case $1 in
		ingest) echo vapi_ingest ;;
		batch) echo vapi_ingest_batch ;;
		floor) echo floor ;;
		perevent) echo "per-event floor" ;;
		simple) echo "simple PL/pgSQL" ;;
		port) echo "PL/pgSQL port" ;;
	esac
}

if [[ " $PARTS " == *" 1 "* ]]; then
	prepare_batch_input
	for mix in $MIXES; do
		n=$(psql_q -At -c "SELECT count(*) FROM bench.events WHERE mix = '$mix'")
		log "part 1: per-event cost, $mix mix ($ROUNDS rounds)"
		unset wall cpu
		declare -A wall cpu
		for ((round = 1; round <= ROUNDS; round++)); do
			for contender in ingest batch floor perevent simple port; do
				case $contender in
					ingest) read -r w c < <(timed replay public.vapi_ingest "$mix") ;;
					batch) read -r w c < <(timed replay_batch "$mix") ;;
					floor) read -r w c < <(timed psql_q -c "SELECT bench.floor()") ;;
					perevent) read -r w c < <(timed psql_q -c "SELECT bench.per_event_floor()") ;;
					simple) read -r w c < <(timed replay bench.simple_ingest "$mix") ;;
					port) read -r w c < <(timed replay bench.plpgsql_ingest "$mix") ;;
				esac
				wall[$contender]=$(best "$w" ${wall[$contender]:-})
				cpu[$contender]=$(best "$c" ${cpu[$contender]:-})
				if [ "$round$contender" = 1ingest ]; then
					outcomes=$(psql_q -At -c "SELECT string_agg(outcome || ' ' || n, ', ' ORDER BY outcome)
						FROM (SELECT outcome, count(*) n FROM vapi.events GROUP BY outcome) s")
					snapshot_floor
				fi
				if [ "$round$contender" = 1batch ]; then batch_same=$(same_rows); fi
				if [ "$round$contender" = 1simple ]; then simple_same=$(same_rows); fi
				if [ "$round$contender" = 1port ]; then port_same=$(same_rows); fi
			done
		done
		echo
		echo "1. per-event cost, $mix mix: $n events in one transaction (best of $ROUNDS;"
		echo "   CPU = all the cluster's processes, which other load on the machine inflates far less than wall time)"
		printf '   %-20s %9s %9s %14s %14s\n' "" "wall s" "CPU s" "wall us/event" "CPU us/event"
		for contender in ingest batch floor perevent simple port; do
			printf '   %-20s %9s %9s %14s %14s\n' "$(contender_name $contender)" \
				"$(calc "${wall[$contender]} / 1e6")" "$(calc "${cpu[$contender]} / 1e6")" \
				"$(calc "${wall[$contender]} / $n" 1)" "$(calc "${cpu[$contender]} / $n" 1)"
		done
		echo "   outcomes: $outcomes"
		echo "   rows equal to vapi_ingest's: vapi_ingest_batch $batch_same; PL/pgSQL port $port_same; simple PL/pgSQL $simple_same (it does not converge)"
		printf '   %-44s %8sx\n' "vapi_ingest / floor, wall" "$(calc "${wall[ingest]} / ${wall[floor]}")" \
			"per-event floor / floor, CPU" "$(calc "${cpu[perevent]} / ${cpu[floor]}")"
		check "$mix: vapi_ingest / floor, CPU" "$(calc "${cpu[ingest]} / ${cpu[floor]}")" max $MAX_FLOOR_RATIO
		check "$mix: vapi_ingest / per-event floor, CPU" "$(calc "${cpu[ingest]} / ${cpu[perevent]}")" \
			max $MAX_PER_EVENT_FLOOR_RATIO
		check "$mix: simple PL/pgSQL / vapi_ingest, CPU" "$(calc "${cpu[simple]} / ${cpu[ingest]}")" \
			min $MIN_SIMPLE_RATIO
		check "$mix: vapi_ingest_batch / floor, CPU" "$(calc "${cpu[batch]} / ${cpu[floor]}")" max $MAX_BATCH_RATIO
		check "$mix: PL/pgSQL port / vapi_ingest, CPU" "$(calc "${cpu[port]} / ${cpu[ingest]}")" min $MIN_PLPGSQL_RATIO
	done
fi

# ---- 2 and 3: pgbench ------------------------------------------------------

# The CPU time (us) a process of ours has used so far.
process_cpu_us() {
	local stat
	stat=$(cut -d ' ' -f 14,15 "/proc/$1/stat")
	echo $(((${stat% *} + ${stat#* }) * TICK_US))
}

# pgbench VARIANT CLIENTS: prints "tps latency_ms server_cpu_us_per_transaction
# consumer_cpu_us_per_transaction catch_up_ms" (the last two for "feed" only,
# else 0).  Variants: ingest, floor, app (the scripts of bench/pgbench.sql),
# notify (ingest with vapi.notify on), feed (ingest while pg_recvlogical
# consumes the logical feed; part 5).
run_pgbench() {
	local out c0 c1 consumer= consumer_cpu=0 catch_up=0 t_end end_lsn i
	local script=$1 options=${PGOPTIONS:-}
	case $1 in
		notify) script=ingest options="$options -c vapi.notify=on" ;;
		feed) script=ingest ;;
	esac
	reset_tables
	if [ "$1" = feed ]; then
		# A new slot, so that the consumer decodes this run's WAL only.
		psql_q -c "SELECT pg_create_logical_replication_slot('bench_feed', 'pgoutput')" >/dev/null
		"$BIN/pg_recvlogical" -d postgres --slot bench_feed --start --no-loop -F 0 -s 1 -f /dev/null \
			-o proto_version=1 -o publication_names=vapi_calls &
		consumer=$!
		for ((i = 0; i < 100; i++)); do
			[ "$(psql_q -At -c "SELECT active FROM pg_replication_slots WHERE slot_name = 'bench_feed'")" = t ] && break
			sleep 0.05
		done
	fi
	c0=$(cluster_cpu_us)
	out=$(PGOPTIONS=$options "$BIN/pgbench" -n -M simple -c "$2" -j "$(($2 < $(nproc) ? $2 : $(nproc)))" \
		-T "$PGBENCH_SECONDS" \
		-D vk_k=0 -D vk_run=1 -D orgs="$ORGS" -D apo=$((ASSISTANTS / ORGS)) -D cpo=$((CONTACTS / ORGS)) \
		-f "$WORK/$script.pgb" 2>&1) || { echo "$out" >&2; return 1; }
	if [ -n "$consumer" ]; then
		# How long the walsender takes to have decoded and sent all of it.
		t_end=$(now_us)
		end_lsn=$(psql_q -At -c "SELECT pg_current_wal_lsn()")
		until [ "$(psql_q -At -c "SELECT sent_lsn >= '$end_lsn' FROM pg_stat_replication
			WHERE application_name = 'pg_recvlogical'")" = t ]; do sleep 0.02; done
		catch_up=$((($(now_us) - t_end) / 1000))
	fi
	c1=$(cluster_cpu_us)
	if [ -n "$consumer" ]; then
		consumer_cpu=$(process_cpu_us "$consumer")
		kill "$consumer"
		wait "$consumer" 2>/dev/null || true
		until psql_q -c "SELECT pg_drop_replication_slot('bench_feed')" >/dev/null 2>&1; do sleep 0.05; done
	fi
	if grep -q 'failed transactions: [1-9]' <<<"$out"; then
		echo "$out" >&2
		return 1
	fi
	awk -v cpu=$((c1 - c0)) -v ccpu="$consumer_cpu" -v catch_up="$catch_up" \
		'/^tps = / { tps = $3 } /^latency average = / { lat = $4 }
		/^number of transactions actually processed: / { n = $6 }
		END { printf "%s %s %.1f %.1f %d\n", tps, lat, cpu / n, ccpu / n, catch_up }' <<<"$out"
}

# ROUNDS runs of each (variant clients) pair, alternating: the best
# throughput (with its latency) and the lowest CPU per transaction count.
declare -A tps lat cpt ccpt lag
pgbench_rounds() {
	local round pair t l c cc lg
	for ((round = 1; round <= ROUNDS; round++)); do
		for pair in "$@"; do
			read -r t l c cc lg < <(run_pgbench $pair)
			if awk "BEGIN { exit !($t > ${tps[$pair]:-0}) }"; then
				tps[$pair]=$t
				lat[$pair]=$l
			fi
			cpt[$pair]=$(best "$c" ${cpt[$pair]:-})
			ccpt[$pair]=$(best "$cc" ${ccpt[$pair]:-})
			lag[$pair]=$(best "$lg" ${lag[$pair]:-})
		done
	done
}

pgbench_line() {
	printf '   %-34s %9.0f tps %8.3f ms %9.1f us\n' "$1" "${tps[$2]}" "${lat[$2]}" "${cpt[$2]}"
}

pairs=()
[[ " $PARTS " == *" 2 "* ]] && pairs+=("app 1" "ingest 1" "app $CLIENTS")
[[ " $PARTS " == *" 2 "* || " $PARTS " == *" 3 "* ]] && pairs+=("ingest $CLIENTS")
[[ " $PARTS " == *" 3 "* ]] && pairs+=("notify $CLIENTS" "floor $CLIENTS")
if [ ${#pairs[@]} -gt 0 ]; then
	log "parts 2 and 3: pgbench, ${#pairs[@]} configurations alternating, $ROUNDS x ${PGBENCH_SECONDS} s each"
	pgbench_rounds "${pairs[@]}"
fi

if [[ " $PARTS " == *" 2 "* ]]; then
	echo
	echo "2. application handler (3 round trips) vs vapi_ingest (1), one webhook per transaction"
	echo "   (best of $ROUNDS runs of ${PGBENCH_SECONDS} s; CPU = the cluster's per webhook)"
	printf '   %-34s %13s %11s %12s\n' "" "throughput" "latency" "server CPU"
	for clients in 1 $CLIENTS; do
		pgbench_line "app handler, $clients client(s)" "app $clients"
		pgbench_line "vapi_ingest, $clients client(s)" "ingest $clients"
	done
	printf '   %-44s %8sx\n' "vapi_ingest / app handler tps, 1 client" \
		"$(calc "${tps[ingest 1]} / ${tps[app 1]}")"
	check "vapi_ingest / app handler tps, $CLIENTS clients" \
		"$(calc "${tps[ingest $CLIENTS]} / ${tps[app $CLIENTS]}")" min $MIN_APP_RATIO
fi

if [[ " $PARTS " == *" 3 "* ]]; then
	echo
	echo "3. durable throughput: one event per transaction, $CLIENTS connections, synchronous_commit on"
	printf '   %-34s %13s %11s %12s\n' "" "throughput" "latency" "server CPU"
	pgbench_line "bare upsert + event insert" "floor $CLIENTS"
	pgbench_line "vapi_ingest (vapi.notify off)" "ingest $CLIENTS"
	pgbench_line "vapi_ingest, vapi.notify on" "notify $CLIENTS"
	printf '   %-44s %8sx\n' "bare upsert / vapi_ingest, server CPU" \
		"$(calc "${cpt[floor $CLIENTS]} / ${cpt[ingest $CLIENTS]}")" \
		"vapi_ingest with / without NOTIFY, tps" \
		"$(calc "${tps[notify $CLIENTS]} / ${tps[ingest $CLIENTS]}")"
	check "vapi_ingest / bare upsert, tps" \
		"$(calc "${tps[ingest $CLIENTS]} / ${tps[floor $CLIENTS]}")" min $MIN_DURABLE_RATIO
fi

# ---- 4. memory -------------------------------------------------------------

if [[ " $PARTS " == *" 4 "* ]]; then
	batch=5000
	# This part writes a lot: let checkpoints recycle the WAL.
	psql_q -c "ALTER SYSTEM SET max_wal_size = '2GB'" -c "SELECT pg_reload_conf()" >/dev/null
	# One backend ingests MEMORY_EVENTS events, $batch per transaction,
	# through vapi_ingest (one call per event) or vapi_ingest_batch (one call
	# per transaction): the backend's memory after a warm-up and at the end.
	for entry in vapi_ingest vapi_ingest_batch; do
		log "part 4: memory, one backend ingesting $MEMORY_EVENTS events through $entry ($batch per transaction)"
		reset_tables
		{
			echo "SELECT sum(total_bytes) AS fresh FROM pg_backend_memory_contexts \\gset"
			# warm-up: load the library, prepare the kept plans, fill the caches
			echo "SELECT count(public.vapi_ingest(payload)) FROM bench.events WHERE mix = 'large' AND seq <= 1000;"
			echo "SELECT count(*) FROM public.vapi_ingest_batch((SELECT array_agg(payload) FROM bench.events
				WHERE mix = 'large' AND seq <= 1000));"
			echo "SELECT sum(total_bytes) AS before FROM pg_backend_memory_contexts \\gset"
			# the pool of EVENTS deliveries, replayed with new call ids
			for ((i = 0; i < MEMORY_EVENTS; i += batch)); do
				lo=$((i % EVENTS + 1))
				hi=$((lo + batch - 1))
				if [ $hi -gt "$EVENTS" ]; then hi=$EVENTS; fi
				renamed="jsonb_set(payload, '{message,call,id}',
					to_jsonb((payload #>> '{message,call,id}') || '-m$((i / EVENTS))'))"
				if [ $entry = vapi_ingest ]; then
					echo "SELECT count(public.vapi_ingest($renamed))
						FROM (SELECT payload FROM bench.events WHERE mix = 'large' AND seq BETWEEN $lo AND $hi
						      ORDER BY seq OFFSET 0) e;"
				else
					echo "SELECT count(*) FROM public.vapi_ingest_batch((SELECT array_agg($renamed ORDER BY seq)
						FROM bench.events WHERE mix = 'large' AND seq BETWEEN $lo AND $hi));"
				fi
			done
			echo "SELECT sum(total_bytes) AS after FROM pg_backend_memory_contexts \\gset"
			echo "SELECT :fresh, :before, :after, (SELECT count(*) FROM vapi.events);"
		} >"$WORK/memory.sql"
		t0=$(now_us)
		read -r fresh before after ingested < <(psql_q -At -F ' ' -f "$WORK/memory.sql" | tail -n 1)
		mem_seconds=$(calc "($(now_us) - $t0) / 1e6" 0)
		echo
		echo "4. memory: one backend, $ingested events logged through $entry ($mem_seconds s)"
		printf '   %-40s %10d bytes\n' "fresh backend" "$fresh" "after a 2000-event warm-up" "$before" \
			"after $MEMORY_EVENTS more events" "$after"
		growth=$((after - before))
		verdict=ok
		[ "$growth" -lt "$MAX_MEMORY_GROWTH" ] || { verdict=MISSED; failed=1; }
		printf '   %-40s %10d bytes   target < %d   %s\n' "growth" "$growth" "$MAX_MEMORY_GROWTH" "$verdict"
	done
	psql_q -c "ALTER SYSTEM RESET max_wal_size" -c "SELECT pg_reload_conf()" >/dev/null
fi

# ---- 5. live changes ---------------------------------------------------------

if [[ " $PARTS " == *" 5 "* ]]; then
	log "part 5: live changes, restarting with wal_level = logical"
	psql_q -c "ALTER SYSTEM SET wal_level = logical" >/dev/null
	as_pg "$BIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -m fast restart >/dev/null
	psql_q -c "CREATE PUBLICATION vapi_calls FOR TABLE vapi.calls" >/dev/null
	log "part 5: pgbench, 3 configurations alternating, $ROUNDS x ${PGBENCH_SECONDS} s each"
	unset tps lat cpt ccpt lag
	declare -A tps lat cpt ccpt lag
	pgbench_rounds "ingest $CLIENTS" "feed $CLIENTS" "notify $CLIENTS"
	echo
	echo "5. live changes: part 3's vapi_ingest at wal_level = logical, $CLIENTS connections"
	echo "   (a publication of vapi.calls; the feed consumed by pg_recvlogical through pgoutput;"
	echo "   server CPU includes the walsender's decoding)"
	printf '   %-34s %13s %11s %12s\n' "" "throughput" "latency" "server CPU"
	pgbench_line "no consumer" "ingest $CLIENTS"
	pgbench_line "feed consumed" "feed $CLIENTS"
	pgbench_line "vapi.notify on, no consumer" "notify $CLIENTS"
	printf '   %-44s %8.1f us per webhook\n' "the consumer's own CPU (pg_recvlogical)" "${ccpt[feed $CLIENTS]}"
	printf '   %-44s %8d ms\n' "walsender done after the last commit" "${lag[feed $CLIENTS]}"
	printf '   %-44s %8sx\n' "feed consumed / no consumer, tps" \
		"$(calc "${tps[feed $CLIENTS]} / ${tps[ingest $CLIENTS]}")" \
		"feed consumed / no consumer, server CPU" \
		"$(calc "${cpt[feed $CLIENTS]} / ${cpt[ingest $CLIENTS]}")" \
		"NOTIFY / feed consumed, tps" \
		"$(calc "${tps[notify $CLIENTS]} / ${tps[feed $CLIENTS]}")"
fi

echo
if [ "$failed" -eq 0 ]; then
	echo "all targets met"
else
	echo "some targets MISSED"
fi
exit "$failed"
