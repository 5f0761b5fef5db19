#!/usr/bin/env bash
# examples/proxy as a team runs it: `npm ci` of its locked dependencies,
# `node server.js` against a database where its role has only EXECUTE on
# vapi_webhook, then real HTTP on 127.0.0.1: Bearer, HMAC and unsigned
# deliveries, refusals followed by valid deliveries on the same small pool,
# the reply of a request-type message, non-ASCII bodies signed byte for
# byte, a 2 MB body under the size limit and bigger ones over it, headers
# that must not outlive their request, 200 requests at once, a database that
# cannot be reached, and a graceful stop in the middle of a request.
set -euo pipefail
: "${REPO:?}" "${BIN:?}" "${WORK:?}"
source "$REPO/scripts/lib.sh"
fail() { echo "proxy: $*" >&2; [ -f "$WORK/proxy/proxy.log" ] && sed 's/^/    proxy.log: /' "$WORK/proxy/proxy.log" >&2; exit 1; }

command -v node >/dev/null && command -v npm >/dev/null || ensure_packages nodejs npm

dir=$WORK/proxy
rm -rf "$dir"
mkdir -p "$dir"
cp "$REPO/examples/proxy/package.json" "$REPO/examples/proxy/package-lock.json" \
	"$REPO/examples/proxy/server.js" "$dir/"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$dir/npm.log" 2>&1) ||
	{ cat "$dir/npm.log" >&2; fail "npm ci failed"; }
main=$(cd "$dir" && node -p "require('./package.json').main")
[ -f "$dir/$main" ] || fail "package.json's main ($main) does not exist"

db=vapi_proxy
role=vapi_proxy_hook
proxy_pid=
down_pid=
cleanup() {
	local pid
	for pid in $proxy_pid $down_pid; do kill "$pid" 2>/dev/null || true; done
	for pid in $proxy_pid $down_pid; do wait "$pid" 2>/dev/null || true; done
	psql_q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
}
trap cleanup EXIT

PGOPTIONS="-c client_min_messages=warning" psql_q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS $role" -c "CREATE DATABASE $db" \
	-c "CREATE ROLE $role LOGIN" >/dev/null
psql_q -d $db >/dev/null <<SQL
CREATE EXTENSION vapi_calls;
GRANT EXECUTE ON FUNCTION public.vapi_webhook(json) TO $role;
SELECT vapi.add_bearer_credential('px-token', header => 'x-vapi-secret', prefix => '');
SELECT vapi.add_hmac_credential('px-hmac-secret');
INSERT INTO vapi.phone_numbers VALUES ('pn-px', 'b1300000-0000-4000-8000-000000000001', '+15550101399', 'asst-px');
-- a handler that takes its time, to stop the proxy while it runs
CREATE FUNCTION public.slow_transfer(message jsonb) RETURNS jsonb LANGUAGE sql
	AS \$\$ SELECT pg_sleep(2); SELECT '{"destination": {"type": "number", "number": "+15550101398"}}'::jsonb \$\$;
SELECT vapi.set_handler('transfer-destination-request', 'public.slow_transfer(jsonb)');
SQL
[ "$(psql_q -d $db -U $role -At -c "SELECT 1 FROM vapi.calls" 2>&1)" != 1 ] || fail "the proxy's role can read vapi.calls"

# Start a proxy on a free port (PORT=0: the system picks; the log says which).
# Sets the named variables to its pid and port.
start_proxy() {
	local pidvar=$1 portvar=$2 log=$3 p
	shift 3
	env PORT=0 HOST=127.0.0.1 PGDATABASE=$db PGUSER=$role PGPASSWORD=not-needed-here "$@" \
		node "$dir/$main" >"$log" 2>&1 &
	printf -v "$pidvar" %s $!
	for _ in $(seq 100); do
		p=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
		[ -n "$p" ] && { printf -v "$portvar" %s "$p"; return 0; }
		sleep 0.1
	done
	cat "$log" >&2
	return 1
}
start_proxy proxy_pid port "$dir/proxy.log" PGPOOL_MAX=3 MAX_BODY_BYTES=3145728 PGCONNECT_TIMEOUT=60 || fail "the proxy did not start"
client() { PROXY_PORT=$port node "$REPO/test/proxy_client.js" "$@"; }
# expect LABEL OUTPUT PATTERN: the output must match the glob pattern
expect() { [[ $2 == $3 ]] || fail "$1: got '${2:0:300}', expected '$3'"; echo "ok: $1"; }
body() { printf '{"message": {"type": "%s", "status": "in-progress", "call": {"id": "%s", "phoneNumberId": "pn-px"}%s}}' "$1" "$2" "${3:-}"; }

expect "Bearer" "$(client send --header 'X-Vapi-Secret: px-token' --body "$(body status-update call-px-1)")" \
	'200 {"ok": true, "action": "inserted", *"vapi_call_id": "call-px-1"}'
expect "HMAC" "$(client send --hmac px-hmac-secret --body "$(body status-update call-px-2)")" '200 {"ok": true, "action": "inserted"*'
expect "unsigned" "$(client send --body "$(body status-update call-px-3)")" \
	'401 {"code":"PT401","message":"webhook refused: *"}'
expect "any path" "$(client send --path /vapi/hook?x=1 --header 'x-vapi-secret: px-token' --body "$(body status-update call-px-1)")" \
	'200 {"ok": true, "action": "unchanged"*'
expect "GET" "$(client send --method GET)" '405 *'
expect "not JSON" "$(client send --header 'x-vapi-secret: px-token' --body 'not json')" '400 {"code":"22P02"*'
expect "not UTF-8" "$(printf '{"message": {"type": "status-update", "x": "\xff"}}' >"$dir/latin1.json";
	client send --header 'x-vapi-secret: px-token' --body-file "$dir/latin1.json")" '400 {"code":"PROXY400"*'
expect "assistant-request" "$(client send --header 'x-vapi-secret: px-token' --body "$(body assistant-request call-px-4)")" \
	'200 {"assistantId": "asst-px"}'

# Refusals on a pool of 3 connections, each followed by a valid delivery:
# none of them may leave its connection in a failed transaction.
for i in $(seq 1 9); do
	case $((i % 3)) in
	0) refused=$(client send --header 'x-vapi-secret: wrong' --body "$(body status-update "call-px-r$i")") ;;
	1) refused=$(client send --hmac not-the-secret --body "$(body status-update "call-px-r$i")") ;;
	2) refused=$(client send --header 'x-vapi-secret: px-token' --body '{"truncated":') ;;
	esac
	[[ $refused == 40[01]* ]] || fail "refusal $i: $refused"
	expect "valid after refusal $i" "$(client send --hmac px-hmac-secret --body "$(body status-update "call-px-v$i")")" \
		"200 {\"ok\": true, \"action\": \"inserted\"*\"call-px-v$i\"}"
done

# Non-ASCII bodies, signed over their exact bytes, stored as sent.
name='Zoë Ångström 日本語 😀 \u00e9'
printf '{"message": {"type": "status-update", "status": "ringing", "call": {"id": "call-px-utf8"}, "customer": {"name": "%s"}}}' "$name" >"$dir/utf8.json"
expect "non-ASCII HMAC" "$(client send --hmac px-hmac-secret --body-file "$dir/utf8.json")" '200 {"ok": true, "action": "inserted"*'
got=$(psql_q -d $db -At -c "SELECT payload #>> '{message,customer,name}' FROM vapi.events WHERE vapi_call_id = 'call-px-utf8'")
[ "$got" = 'Zoë Ångström 日本語 😀 é' ] || fail "non-ASCII body stored as '$got'"

# A 2 MB report (with multi-byte characters) under the 3 MiB limit; 3.5 MB
# over it, with a length, chunked, and with Expect: 100-continue.
node -e '
const t = "ñ".repeat(400000) + "x".repeat(1200000);
process.stdout.write(JSON.stringify({message: {type: "end-of-call-report", endedReason: "customer-ended-call",
  call: {id: process.argv[1]}, artifact: {transcript: t}}}));' call-px-big >"$dir/big.json"
node -e 'process.stdout.write(JSON.stringify({message: {type: "transcript", call: {id: "call-px-huge"}, transcript: "y".repeat(3500000)}}))' >"$dir/huge.json"
expect "2 MB under the limit" "$(client send --hmac px-hmac-secret --body-file "$dir/big.json")" '200 {"ok": true, "action": "inserted"*'
got=$(psql_q -d $db -At -c "SELECT length(transcript) FROM vapi.calls WHERE vapi_call_id = 'call-px-big'")
[ "$got" = 1600000 ] || fail "the 2 MB transcript was stored with length '$got'"
expect "3.5 MB over the limit" "$(client send --hmac px-hmac-secret --body-file "$dir/huge.json")" '413 *'
expect "3.5 MB chunked" "$(client send --hmac px-hmac-secret --chunked --body-file "$dir/huge.json")" '413 *'
expect "3.5 MB, 100-continue" "$(client send --hmac px-hmac-secret --expect-continue --body-file "$dir/huge.json")" '413 *'
expect "valid after 413" "$(client send --hmac px-hmac-secret --body "$(body status-update call-px-5)")" '200 {"ok": true, "action": "inserted"*'
[ "$(psql_q -d $db -At -c "SELECT count(*) FROM vapi.events WHERE vapi_call_id = 'call-px-huge'")" = 0 ] ||
	fail "a body over the limit reached the database"

# Headers belong to their request: one keep-alive connection, a Bearer
# request then one without credentials; then 200 requests at once, a third
# of them unsigned, each answer checked against its own request.
expect "same connection" "$(client same-socket px-token)" '200 401 sockets=1'
# (Under scripts/valgrind.sh, where a delivery takes a second, 30 at once.)
n=200
[ -z "${VAPI_VALGRIND_LOGS:-}" ] || n=30
unsigned=$((n / 3))
start=$(date +%s.%N)
expect "$n at once" "$(client burst $n px-token px-hmac-secret)" "ok 200:$((n - unsigned)) 401:$unsigned"
echo "$n concurrent requests in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s"
got=$(psql_q -d $db -At -c "SELECT count(*) FROM vapi.calls WHERE vapi_call_id LIKE 'call-px-burst-%'")
[ "$got" = $((n - unsigned)) ] || fail "the burst left $got calls, not $((n - unsigned))"

# A database that cannot be reached: 503, so that Vapi's retry plan retries.
# Its limit is 1 MiB, so the same 2 MB report is over it there.
start_proxy down_pid down_port "$dir/down.log" PGHOST="$WORK/no-such-socket-dir" PGCONNECT_TIMEOUT=2 \
	MAX_BODY_BYTES=1048576 || fail "the second proxy did not start"
expect "database unreachable" "$(PROXY_PORT=$down_port node "$REPO/test/proxy_client.js" send \
	--header 'x-vapi-secret: px-token' --body "$(body status-update call-px-6)")" '503 *'
expect "2 MB over a 1 MiB limit" "$(PROXY_PORT=$down_port node "$REPO/test/proxy_client.js" send \
	--hmac px-hmac-secret --body-file "$dir/big.json")" '413 *'
kill "$down_pid"; wait "$down_pid" 2>/dev/null || true; down_pid=

# SIGTERM while a delivery is in the database: it is answered, then the
# proxy exits 0 and accepts nothing more.
client send --header 'x-vapi-secret: px-token' --body "$(body transfer-destination-request call-px-7)" >"$dir/slow.out" &
slow=$!
for _ in $(seq 100); do
	[ "$(psql_q -d $db -At -c "SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'vapi_calls proxy' AND state = 'active'")" = 1 ] && break
	sleep 0.1
done
kill -TERM "$proxy_pid"
wait "$slow" || true
expect "answered during shutdown" "$(cat "$dir/slow.out")" '200 {"destination": {"type": "number", "number": "+15550101398"}}'
rc=0
wait "$proxy_pid" || rc=$?
proxy_pid=
[ "$rc" = 0 ] || fail "the proxy exited with $rc after SIGTERM"
expect "closed after shutdown" "$(client send --body x || true)" 'client error: *ECONNREFUSED*'

echo "proxy ok"
