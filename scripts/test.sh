#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds with warnings as
# errors, runs every test against a throwaway cluster, and ends with the
# line "N passed, N failed".  Exits non-zero on any failure.
#
#   scripts/test.sh            everything
#   scripts/test.sh TEST...    only these pg_regress tests
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# cmark-gfm and python3: test/markdown.sh renders the README as GitHub does;
# dpkg-dev to libcurl4-openssl-dev: test/debian.sh builds the Debian package
# (its Build-Depends).
ensure_build_deps postgresql-contrib "postgresql-$PG_MAJOR-cron" cmark-gfm python3 \
	dpkg-dev debhelper postgresql-server-dev-all libcurl4-openssl-dev
build
temp_install
# scripts/valgrind.sh runs the suite with the server under valgrind.
[ -z "${VAPI_VALGRIND_LOGS:-}" ] || valgrind_server "$VAPI_VALGRIND_LOGS"
start_cluster "fsync = off" "max_connections = 50"

# The real Vapi bodies the examples test reads (the server reads them).
export VAPI_EXAMPLES_DIR=$REPO/test/data/vapi-examples

passed=0
failed=0
failures=()

# Count the "test NAME ... ok|FAILED" lines pg_regress and
# pg_isolation_regress print (they print no totals of their own).  A line
# that is not "ok" (FAILED, or a missing expected file) is a failure.
count_regress_output() {
	local out=$1 name status
	while read -r name status; do
		if [ "$status" = ok ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures+=("$name")
		fi
	done < <(sed -nE 's/^(test| )? *([A-Za-z0-9_-]+) +\.\.\. +([A-Za-z]+).*/\2 \3/p' "$out")
}

# A runner that stops early (a missing expected file, a crash) prints no
# status for the test it was on: its exit status still counts.
count_runner_status() {
	local runner=$1 rc=$2 failed_before=$3
	if [ "$rc" -ne 0 ] && [ "$failed" -eq "$failed_before" ]; then
		failed=$((failed + 1))
		failures+=("$runner(exit $rc)")
	fi
}

# Run one script test (test/*.sh): exit status 0 passes.
run_script_test() {
	local t=$1 name
	name=$(basename "$t" .sh)
	if WORK=$WORK BIN=$BIN REPO=$REPO bash "$t" >"$WORK/$name.out" 2>&1; then
		printf 'test %-32s ... ok\n' "$name"
		passed=$((passed + 1))
	else
		printf 'test %-32s ... FAILED\n' "$name"
		sed 's/^/    /' "$WORK/$name.out" | tail -n 40
		failed=$((failed + 1))
		failures+=("$name")
	fi
}

cd "$REPO"
regress_tests=$(make -s PG_CONFIG="$PG_CONFIG" print-regress)
isolation_tests=$(make -s PG_CONFIG="$PG_CONFIG" print-isolation)
[ $# -gt 0 ] && { regress_tests="$*"; isolation_tests=""; }

PGXS_DIR=$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")
rm -rf "$REPO/results" "$REPO/output_iso" "$REPO/regression.diffs" "$REPO/regression.out"
[ -x "$PGXS_DIR/test/regress/pg_regress" ] || { echo "pg_regress not found"; echo "0 passed, 1 failed"; exit 1; }
set +e
"$PGXS_DIR/test/regress/pg_regress" --inputdir=. --bindir="$SYS_BIN" \
	--dbname=contrib_regression $(make -s PG_CONFIG="$PG_CONFIG" print-regress-opts) \
	$regress_tests | tee "$WORK/regress.out"
rc=${PIPESTATUS[0]} failed_before=$failed
count_regress_output "$WORK/regress.out"
count_runner_status pg_regress "$rc" "$failed_before"
[ -f regression.diffs ] && head -n 200 regression.diffs
if [ -n "$isolation_tests" ]; then
	"$PGXS_DIR/test/isolation/pg_isolation_regress" --inputdir=. --outputdir=output_iso \
		--bindir="$SYS_BIN" --dbname=isolation_regression \
		--load-extension=vapi_calls $isolation_tests | tee "$WORK/isolation.out"
	rc=${PIPESTATUS[0]} failed_before=$failed
	count_regress_output "$WORK/isolation.out"
	count_runner_status pg_isolation_regress "$rc" "$failed_before"
	[ -f output_iso/regression.diffs ] && head -n 200 output_iso/regression.diffs
fi
if [ $# -eq 0 ]; then
	for t in "$REPO"/test/*.sh; do
		[ -e "$t" ] && run_script_test "$t"
	done
fi
set -e

[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
