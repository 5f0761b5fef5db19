#!/usr/bin/env bash
# The Citus part of the benchmark (README, "Scale-out on Citus"): the same
# deliveries ingested and replayed on a Citus cluster (a coordinator and two
# workers on 127.0.0.1, vapi.distribute()d) and on a single PostgreSQL
# server, side by side in one run.  For each measurement it prints the wall
# time and the CPU time per event, on Citus summed over the three nodes (and
# the coordinator's part of it), and the ratios Citus / one node:
#
#   ingest, one transaction   every delivery of the small mix (bench/data.sql)
#                             in one SELECT, one vapi_ingest per delivery
#   ingest, one per commit    the same deliveries, one statement (and so one
#                             transaction) each, from one connection
#   ingest_call, one per      the same, each by vapi_ingest_call(id, payload),
#     commit                  which Citus delegates whole to the call's worker
#   replay                    vapi.replay() of everything ingested
#
# Without Citus installed it says so and exits 0.  EVENTS (default 5000)
# sets the number of deliveries.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
source "$REPO/scripts/citus-lib.sh"
source "$REPO/bench/cpu.sh"

if ! citus_installed; then
	echo "bench/citus.sh: Citus is not installed in $("$PG_CONFIG" --sharedir): nothing was measured"
	exit 0
fi
EVENTS=${EVENTS:-5000}

ensure_build_deps
build
temp_install
start_citus_cluster "autovacuum = off" "jit = off"
trap 'stop_citus_nodes' EXIT
# The single node: the same settings, without Citus.
start_citus_node single $((COORD_PORT + 3)) "autovacuum = off" "jit = off" "shared_preload_libraries = ''"
NODES=("$WORK/node0" "$WORK/node1" "$WORK/node2")
SINGLE=$WORK/single
cd "$REPO"
now_us() { echo $(($(date +%s%N) / 1000)); }
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; }

# CPU so far of the Citus cluster (all three nodes) or of the single node.
cpu_of() {
	local d t=0
	if [ "$1" = citus ]; then
		for d in "${NODES[@]}"; do t=$((t + $(cluster_cpu_us "$d"))); done
	else
		t=$(cluster_cpu_us "$SINGLE")
	fi
	echo "$t"
}
port_of() { [ "$1" = citus ] && echo "$COORD_PORT" || echo $((COORD_PORT + 3)); }
on() { local where=$1; shift; psql_q -At -p "$(port_of "$where")" -d postgres "$@"; }

for where in citus single; do
	on "$where" -c "CREATE EXTENSION vapi_calls" >/dev/null
	[ "$where" = citus ] && on citus -c "SELECT count(*) FROM vapi.distribute()" >/dev/null
	# bench/data.sql's own tables stay on the coordinator.
	PGOPTIONS="-c citus.enable_ddl_propagation=off -c client_min_messages=warning" \
		psql_q -q -p "$(port_of "$where")" -d postgres -v orgs=20 -v assistants=100 -v contacts=2000 \
		-v events=1 -v small_events="$EVENTS" -f bench/data.sql >/dev/null
done
n=$(on single -c "SELECT count(*) FROM bench.events WHERE mix = 'small'")
on single -c "SELECT format('SELECT vapi_ingest(%L::jsonb) IS NOT NULL;', payload)
                FROM bench.events WHERE mix = 'small' ORDER BY seq" >"$WORK/one-per-commit.sql"
on single -c "SELECT format('SELECT vapi_ingest_call(%L, %L::jsonb);',
                              payload->'message'->'call'->>'id', payload)
                FROM bench.events WHERE mix = 'small' ORDER BY seq" >"$WORK/delegated.sql"

# measure WHERE COMMAND...: "wall_us cpu_us coordinator_cpu_us" of one run
# of COMMAND (on one node, the coordinator is the node).
measure() {
	local where=$1 c0 k0 t0 t1
	shift
	c0=$(cpu_of "$where")
	k0=$(cluster_cpu_us "${NODES[0]}")
	t0=$(now_us)
	"$@" >/dev/null
	t1=$(now_us)
	if [ "$where" = citus ]; then
		echo "$((t1 - t0)) $(($(cpu_of "$where") - c0)) $(($(cluster_cpu_us "${NODES[0]}") - k0))"
	else
		echo "$((t1 - t0)) $(($(cpu_of "$where") - c0)) 0"
	fi
}
reset() { on "$1" -c "TRUNCATE vapi.calls, vapi.events" >/dev/null; }
declare -A wall cpu coord
for where in citus single; do
	reset "$where"
	read -r wall[$where,batch] cpu[$where,batch] coord[$where,batch] < <(measure "$where" on "$where" \
		-c "SELECT count(vapi_ingest(payload)) FROM (SELECT payload FROM bench.events WHERE mix = 'small' ORDER BY seq) e")
	reset "$where"
	read -r wall[$where,single] cpu[$where,single] coord[$where,single] < <(measure "$where" on "$where" -f "$WORK/one-per-commit.sql")
	reset "$where"
	read -r wall[$where,delegated] cpu[$where,delegated] coord[$where,delegated] < <(measure "$where" on "$where" -f "$WORK/delegated.sql")
	read -r wall[$where,replay] cpu[$where,replay] coord[$where,replay] < <(measure "$where" on "$where" -c "SELECT count(*) FROM vapi.replay()")
done

cat <<EOF

== vapi_calls on Citus: $n deliveries (the small mix), Citus 3 nodes vs one node ==
$("$BIN/postgres" --version); Citus $(on citus -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'")
                             wall s (Citus / one)     CPU us per event (Citus, all nodes / one)   of it, coordinator
EOF
for m in batch single delegated replay; do
	case $m in
		batch) label="ingest, one transaction" ;;
		single) label="ingest, one per commit" ;;
		delegated) label="ingest_call, one per commit" ;;
		replay) label="replay" ;;
	esac
	printf '%-28s %7s / %-7s %6sx   %8s / %-8s %6sx   %8s\n' "$label" \
		"$(calc "${wall[citus,$m]} / 1e6")" "$(calc "${wall[single,$m]} / 1e6")" \
		"$(calc "${wall[citus,$m]} / ${wall[single,$m]}" 1)" \
		"$(calc "${cpu[citus,$m]} / $n" 0)" "$(calc "${cpu[single,$m]} / $n" 0)" \
		"$(calc "${cpu[citus,$m]} / ${cpu[single,$m]}" 1)" \
		"$(calc "${coord[citus,$m]} / $n" 0)"
done
echo
echo "(spec: replay on Citus within 5x of one node's time on the same events)"
