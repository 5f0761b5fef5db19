#!/usr/bin/env bash
# Memory safety: the whole test suite (scripts/test.sh) against a server
# running under valgrind memcheck, then every process's valgrind log read.
# Fails if any error has a frame in the extension's code (vapi_calls.so or
# one of src/*.c); errors inside PostgreSQL itself are shown and counted,
# not failed on.  Its last line is "valgrind: N processes, N errors, N errors
# in vapi_calls code".  Slow (minutes), so not part of scripts/test.sh.
#
#   scripts/valgrind.sh            the whole suite
#   scripts/valgrind.sh TEST...    only these pg_regress tests
#
# Debian's PostgreSQL is not built with USE_VALGRIND, so memcheck sees
# palloc'd memory at the granularity of the allocator's blocks: it finds
# uses of uninitialised memory, reads and writes of freed blocks and of
# malloc'd memory, but not an overrun that stays inside a block.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages valgrind
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/vapi_calls_valgrind.XXXXXX")
chmod 755 "$LOGS"
chown "$PGOS_USER" "$LOGS"

log "running the suite with the server under valgrind; logs in $LOGS"
set +e
VAPI_VALGRIND_LOGS=$LOGS PG_CTL_TIMEOUT=600 "$REPO/scripts/test.sh" "$@"
suite=$?
set -e

# Our code, as valgrind names it in a frame: the library, or a source file.
ours="vapi_calls\\.so"
for f in "$REPO"/src/*.c; do ours="$ours|\\($(basename "$f" .c)\\.c:"; done

# Each error is printed between the markers; keep the ones that name our code.
shopt -s nullglob
logs=("$LOGS"/postgres.*.log)
if [ ${#logs[@]} -eq 0 ]; then
	[ "$suite" -ne 0 ] && log "the test suite failed before the server started"
	log "no valgrind logs in $LOGS: the server did not run under valgrind"
	exit 1
fi
awk -v ours="$ours" -v report="$LOGS/ours.txt" '
	/VALGRIND_ERROR_BEGIN/ { inerr = 1; block = ""; hit = 0; next }
	/VALGRIND_ERROR_END/ {
		inerr = 0; total++
		if (hit) { mine++; print FILENAME ":" block >> report }
		else if (others < 5) { others++; print FILENAME ":" block }
		next
	}
	inerr { block = block "\n" $0; if ($0 ~ ours) hit = 1 }
	END { printf "valgrind: %d processes, %d errors, %d errors in vapi_calls code\n",
				 ARGC - 1, total, mine > "/dev/stderr" }
' "${logs[@]}" 2>"$LOGS/summary.txt"
[ -f "$LOGS/ours.txt" ] && cat "$LOGS/ours.txt"
cat "$LOGS/summary.txt"

if [ -f "$LOGS/ours.txt" ] || [ "$suite" -ne 0 ]; then
	[ "$suite" -ne 0 ] && log "the test suite failed under valgrind"
	log "valgrind logs kept in $LOGS"
	exit 1
fi
[ -n "${KEEP_WORK:-}" ] || rm -rf "$LOGS"
