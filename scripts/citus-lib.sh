# Shared by scripts/test-citus.sh and bench/citus.sh: a Citus cluster of a
# coordinator and two workers on 127.0.0.1, each its own throwaway server
# from the private installation that lib.sh's temp_install makes (Citus
# itself must be installed in the system's PostgreSQL: see the README,
# "Scale-out on Citus").  Source after lib.sh.

# Is Citus installed in the PostgreSQL we build against?
citus_installed() {
	[ -f "$("$PG_CONFIG" --sharedir)/extension/citus.control" ] &&
		[ -f "$("$PG_CONFIG" --pkglibdir)/citus.so" ]
}

# start_citus_node NAME PORT [setting...]: initdb and start one server that
# listens on 127.0.0.1:PORT and on a private socket, with citus preloaded.
start_citus_node() {
	local name=$1 port=$2 opt
	shift 2
	local data=$WORK/$name
	as_pg "$BIN/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C >"$WORK/$name-initdb.log" 2>&1 ||
		{ cat "$WORK/$name-initdb.log" >&2; return 1; }
	{
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$SOCK'"
		echo "port = $port"
		echo "shared_preload_libraries = 'citus'"
		echo "max_prepared_transactions = 100"
		echo "max_connections = 200"
		echo "fsync = off"
		for opt in "$@"; do echo "$opt"; done
	} >>"$data/postgresql.conf"
	# Inter-node connections and the readers of the tenant recipe come from
	# 127.0.0.1 only; trust is for this throwaway cluster alone.
	echo "host all all 127.0.0.1/32 trust" >"$data/pg_hba.conf"
	echo "local all all trust" >>"$data/pg_hba.conf"
	as_pg "$BIN/pg_ctl" -D "$data" -l "$WORK/$name.log" -w -t 60 start >/dev/null ||
		{ cat "$WORK/$name.log" >&2; return 1; }
	CITUS_NODES+=("$data")
}

stop_citus_nodes() {
	local data
	for data in ${CITUS_NODES[@]+"${CITUS_NODES[@]}"}; do
		[ -f "$data/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1
	done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "${WORK:?}"
}

# start_citus_cluster [setting...]: a coordinator on $COORD_PORT and workers
# on the next two ports, Citus created in the database postgres of each, the
# workers added to the coordinator.  Other databases on these servers (the
# single-node comparison of test-citus.sh) have no Citus and behave as
# plain PostgreSQL.
start_citus_cluster() {
	CITUS_NODES=()
	SOCK=$WORK/sock
	mkdir -p "$SOCK"
	chown "$PGOS_USER" "$WORK" "$SOCK"
	COORD_PORT=${COORD_PORT:-$((20000 + RANDOM % 20000))}
	trap stop_citus_nodes EXIT
	local i
	for i in 0 1 2; do
		start_citus_node "node$i" $((COORD_PORT + i)) "$@"
		"$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p $((COORD_PORT + i)) -U postgres -d postgres \
			-c "CREATE EXTENSION citus"
	done
	export PGHOST=$SOCK PGPORT=$COORD_PORT PGUSER=postgres
	psql_q -d postgres -c "SELECT citus_set_coordinator_host('127.0.0.1', $COORD_PORT)" \
		-c "SELECT citus_add_node('127.0.0.1', $((COORD_PORT + 1)))" \
		-c "SELECT citus_add_node('127.0.0.1', $((COORD_PORT + 2)))" >/dev/null
}
