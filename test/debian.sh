#!/usr/bin/env bash
# The Debian package: dpkg-buildpackage -us -uc -b in a copy of the tree
# (which also runs the regression tests through pg_buildext installcheck),
# then the .deb's name, metadata and contents, and the package at work: its
# files unpacked into a private copy of the server with no other
# vapi_calls in it, a temporary cluster, CREATE EXTENSION, an ingest, and
# the update from 0.1.0.  Nothing is installed into the system: the system's
# PostgreSQL and its clusters are never touched, and everything built is
# under $WORK/debian, removed with $WORK.
set -euo pipefail

: "${REPO:?}" "${WORK:?}"
fail() { echo "debian: $*" >&2; exit 1; }
PG_MAJOR=${PG_MAJOR:-15}
pkg=postgresql-$PG_MAJOR-vapi-calls
for tool in dpkg-buildpackage dh pg_buildext dpkg-deb; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/test.sh installs it)"
done

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$REPO/vapi_calls.control")
deb_version=$(dpkg-parsechangelog -l "$REPO/debian/changelog" -S Version)
[ "$deb_version" = "$version" ] ||
	fail "debian/changelog is at $deb_version, vapi_calls.control at $version"
grep -qx "$PG_MAJOR" "$REPO/debian/pgversions" || fail "debian/pgversions does not name $PG_MAJOR"

# A copy of the tree as a user's checkout has it: tracked and new files,
# not what .gitignore leaves out (build products of the suite's own build).
base=$WORK/debian
rm -rf "$base"
mkdir -p "$base/src"
if git -C "$REPO" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git -C "$REPO" ls-files -z -c -o --exclude-standard | (cd "$REPO" && tar --null -T - -cf -) | tar -xf - -C "$base/src"
else
	cp -a "$REPO/." "$base/src"
	make -s -C "$base/src" clean >/dev/null 2>&1 || true
fi
# The build's test cluster runs as another user: let it read the tests.
chmod -R a+rX "$base"
[ -x "$base/src/debian/rules" ] || fail "debian/rules is missing or not executable"

start=$(date +%s)
if ! (cd "$base/src" && dpkg-buildpackage -us -uc -b) >"$base/build.log" 2>&1; then
	tail -n 60 "$base/build.log"
	fail "dpkg-buildpackage failed (log above)"
fi
echo "dpkg-buildpackage: $(($(date +%s) - start)) s"
grep -E '^ *(All [0-9]+ tests passed|[0-9]+ of [0-9]+ tests failed)' "$base/build.log" | sed 's/^ */installcheck: /'
[ "$(grep -c 'tests passed' "$base/build.log")" -ge 2 ] ||
	fail "the build did not run both pg_regress and the isolation tests"

arch=$(dpkg --print-architecture)
deb=$base/${pkg}_${version}_${arch}.deb
[ -f "$deb" ] || { ls "$base"; fail "no ${pkg}_${version}_${arch}.deb"; }
echo "built $(basename "$deb")"

# Metadata: the package, its version, and the server it needs.
[ "$(dpkg-deb -f "$deb" Package)" = "$pkg" ] || fail "Package is $(dpkg-deb -f "$deb" Package)"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version is $(dpkg-deb -f "$deb" Version)"
depends=$(dpkg-deb -f "$deb" Depends)
grep -qE "(^|, )postgresql-$PG_MAJOR( |,|$)" <<<"$depends" || fail "Depends lacks postgresql-$PG_MAJOR: $depends"
echo "Depends: $depends"

# Contents: the library, the control file, every SQL script of sql/, and
# nothing outside the server's directories and the package's docs.
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$base/contents"
expect=("/usr/lib/postgresql/$PG_MAJOR/lib/vapi_calls.so"
	"/usr/share/postgresql/$PG_MAJOR/extension/vapi_calls.control"
	"/usr/share/doc/$pkg/copyright"
	"/usr/share/doc/$pkg/README.md.gz")
for f in "$REPO"/sql/vapi_calls--*.sql; do
	expect+=("/usr/share/postgresql/$PG_MAJOR/extension/$(basename "$f")")
done
for f in "${expect[@]}"; do
	grep -qx "$f" "$base/contents" || fail "the package lacks $f"
done
stray=$(grep -vE "^/(|usr/?|usr/lib/?|usr/lib/postgresql/?|usr/share/?|usr/share/postgresql/?|usr/share/doc/?|usr/lib/postgresql/$PG_MAJOR(/.*)?|usr/share/postgresql/$PG_MAJOR/?|usr/share/postgresql/$PG_MAJOR/extension/.*|usr/share/doc/$pkg(/.*)?)$" "$base/contents" || true)
[ -z "$stray" ] || fail "the package installs files elsewhere: $stray"
sql_in_deb=$(grep -c "^/usr/share/postgresql/$PG_MAJOR/extension/vapi_calls--.*\.sql$" "$base/contents")
sql_in_repo=$(ls "$REPO"/sql/vapi_calls--*.sql | wc -l)
[ "$sql_in_deb" -eq "$sql_in_repo" ] || fail "the package has $sql_in_deb SQL scripts, sql/ $sql_in_repo"
echo "contents: $(wc -l <"$base/contents") entries, the library, the control file and $sql_in_deb SQL scripts"

# The package at work: the system's server files copied, any vapi_calls
# in them removed, the .deb unpacked over them (PostgreSQL finds its share
# and lib directories relative to its binary), a cluster of its own.
inst=$base/inst
mkdir -p "$inst/usr/lib/postgresql" "$inst/usr/share/postgresql"
cp -a "/usr/lib/postgresql/$PG_MAJOR" "$inst/usr/lib/postgresql/"
cp -a "/usr/share/postgresql/$PG_MAJOR" "$inst/usr/share/postgresql/"
rm -rf "$inst/usr/lib/postgresql/$PG_MAJOR/lib/vapi_calls.so" "$inst/usr/lib/postgresql/$PG_MAJOR/lib/bitcode/vapi_calls"* \
	"$inst/usr/share/postgresql/$PG_MAJOR/extension/vapi_calls"*
dpkg-deb -x "$deb" "$inst"
bin=$inst/usr/lib/postgresql/$PG_MAJOR/bin

pg_user=$(id -un)
[ "$(id -u)" -eq 0 ] && pg_user=postgres
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
data=$base/data
sock=$base/sock
mkdir -p "$sock"
chown "$pg_user" "$base" "$sock"
chmod 755 "$base"
as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C >"$base/initdb.log" 2>&1 ||
	{ cat "$base/initdb.log"; fail "initdb failed"; }
port=$((20000 + RANDOM % 20000))
printf "listen_addresses = ''\nunix_socket_directories = '%s'\nport = %s\nfsync = off\n" "$sock" "$port" >>"$data/postgresql.conf"
stop() { as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true; }
trap stop EXIT
as_pg "$bin/pg_ctl" -D "$data" -l "$base/server.log" -w start >/dev/null ||
	{ cat "$base/server.log"; fail "the cluster did not start"; }
q() { "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }
q -d postgres -c "CREATE DATABASE deb_fresh" -c "CREATE DATABASE deb_upgrade"
got=$(q -d deb_fresh <<'SQL'
CREATE EXTENSION vapi_calls;
SELECT extversion FROM pg_extension WHERE extname = 'vapi_calls';
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225601000,
  "call": {"id": "deb-1", "type": "webCall"}}}')->>'action';
SELECT vapi_call_id || ' ' || status || ' ' || is_test_call FROM vapi.calls;
SELECT count(*) FROM pg_proc WHERE probin = '$libdir/vapi_calls';
SQL
)
echo "fresh install:" $got
read -r -d '' want <<EOF || true
$version
inserted
deb-1 in-progress true
EOF
[ "$(head -n 3 <<<"$got")" = "$want" ] || fail "CREATE EXTENSION and an ingest gave: $got"
[ "$(tail -n 1 <<<"$got")" -gt 10 ] || fail "few C functions point at the package's library: $got"
oldest=$(ls "$REPO"/sql/vapi_calls--*.sql | sed -n 's|.*/vapi_calls--\([0-9.]*\)\.sql$|\1|p' | sort -V | head -n 1)
got=$(q -d deb_upgrade -c "CREATE EXTENSION vapi_calls VERSION '$oldest'" -c "ALTER EXTENSION vapi_calls UPDATE" \
	-c "SELECT extversion FROM pg_extension WHERE extname = 'vapi_calls'")
[ "$got" = "$version" ] || fail "the update from $oldest ended at '$got'"
echo "update from $oldest to $got"
stop
trap - EXIT
rm -rf "$base"
echo "debian package ok"
