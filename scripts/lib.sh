# Shared by scripts/demo.sh, scripts/test.sh and bench/run.sh: install what
# is missing, build, install into a private tree, run a throwaway cluster.
# Nothing here touches the system's own PostgreSQL clusters or its
# installed extension directories.

set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYS_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_CONFIG=${PG_CONFIG:-$SYS_BIN/pg_config}

log() { printf '==> %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Install Debian packages that are not installed yet (apt-get update once).
ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "installing ${missing[*]}"
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_build_deps() {
	ensure_packages make gcc libc6-dev "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" \
		libcurl4-openssl-dev "$@"
	# Debian's server package creates and starts a default cluster; we never use it.
}

# Build with warnings as errors (WERROR=1: the Makefile adds -Werror).
build() {
	log "building"
	make -C "$REPO" -s PG_CONFIG="$PG_CONFIG" WERROR=1 >/dev/null
}

# The user clusters run as: root may not run initdb or postgres.
PGOS_USER=$(id -un)
[ "$(id -u)" -eq 0 ] && PGOS_USER=postgres
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A private copy of the server with the extension installed into it:
# PostgreSQL finds its share and lib directories relative to its binary,
# so a copied tree behaves like an installation of its own.
temp_install() {
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/vapi_calls.XXXXXX")
	chmod 755 "$WORK"
	INST=$WORK/inst
	mkdir -p "$INST/usr/lib/postgresql" "$INST/usr/share/postgresql"
	cp -a "/usr/lib/postgresql/$PG_MAJOR" "$INST/usr/lib/postgresql/"
	cp -a "/usr/share/postgresql/$PG_MAJOR" "$INST/usr/share/postgresql/"
	make -C "$REPO" -s PG_CONFIG="$PG_CONFIG" DESTDIR="$INST" install >/dev/null
	BIN=$INST/usr/lib/postgresql/$PG_MAJOR/bin
}

# Start a throwaway cluster on a private socket directory and port.
# Extra arguments are passed to postgres as -c settings.
start_cluster() {
	DATA=$WORK/data
	SOCK=$WORK/sock
	mkdir -p "$SOCK"
	chown "$PGOS_USER" "$WORK" "$SOCK"
	PGPORT=${PGPORT_FORCE:-$((20000 + RANDOM % 20000))}
	as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C >"$WORK/initdb.log" 2>&1 ||
		{ cat "$WORK/initdb.log" >&2; return 1; }
	{
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$SOCK'"
		echo "port = $PGPORT"
		echo "max_prepared_transactions = 10"
		local opt
		for opt in "$@"; do echo "$opt"; done
	} >>"$DATA/postgresql.conf"
	as_pg "$BIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t "${PG_CTL_TIMEOUT:-60}" start >/dev/null ||
		{ cat "$WORK/server.log" >&2; return 1; }
	export PGHOST=$SOCK PGPORT PGUSER=postgres PGDATABASE=postgres
	trap stop_cluster EXIT
}

stop_cluster() {
	if [ -n "${DATA:-}" ] && [ -f "$DATA/postmaster.pid" ]; then
		as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null 2>&1 || true
	fi
	[ -n "${KEEP_WORK:-}" ] || rm -rf "${WORK:?}"
}

# Make the private server run under valgrind memcheck (scripts/valgrind.sh):
# the postgres binary becomes a script that starts the real one under
# valgrind, one log file per process in directory $1, except for initdb's
# bootstrap and the version checks, which run the real binary directly.
# Call after temp_install, before start_cluster.
valgrind_server() {
	local logs=$1 real=$BIN/postgres.real
	mv "$BIN/postgres" "$real"
	cat >"$BIN/postgres" <<EOF
#!/bin/sh
case "\$1" in
--boot|--single|-V|--version|-C|--describe-config) exec "$real" "\$@" ;;
esac
exec valgrind --quiet --tool=memcheck --trace-children=yes --leak-check=no \\
	--num-callers=40 --error-markers=VALGRIND_ERROR_BEGIN,VALGRIND_ERROR_END \\
	--suppressions="$REPO/test/valgrind.supp" --gen-suppressions=all \\
	--log-file="$logs/postgres.%p.log" "$real" "\$@"
EOF
	chmod 755 "$BIN/postgres"
}

psql_q() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
