#!/usr/bin/env bash
# pg_dump keeps the webhook credentials (vapi.credentials and its id
# sequence are extension configuration tables) and Vapi's API key
# (vapi.api_key), and the dump of a database
# using the extension, with its row level security policy, restores into
# an empty database without an error; the restored credentials authenticate.
# Runs against the suite's cluster (PGHOST/PGPORT/PGUSER, BIN, WORK).
set -euo pipefail

q() { "$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
src=vapi_dump_src
dst=vapi_dump_dst
cleanup() { q -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
q -d postgres -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"

q -d "$src" <<'SQL'
CREATE EXTENSION vapi_calls;
SELECT vapi.add_bearer_credential('tok-dump-1');
SELECT vapi.add_hmac_credential('whsec-dump-2', algorithm => 'sha512', encoding => 'base64',
                                prefix => 'v1=', tolerance => '90 seconds');
SELECT vapi.remove_credential(1);
SELECT vapi.add_bearer_credential('tok-dump-3', header => 'X-Vapi-Secret', prefix => '');
SELECT vapi.set_api_key('api-key-dump-1');
SQL

"$BIN/pg_dump" -d "$src" -f "$WORK/vapi_dump.sql"
q -d "$dst" -f "$WORK/vapi_dump.sql" >/dev/null

creds="SELECT id, kind, secret, header, prefix, algorithm, encoding, timestamp_header,
              payload_format, tolerance FROM vapi.credentials ORDER BY id"
before=$(q -d "$src" -c "$creds")
after=$(q -d "$dst" -c "$creds")
if [ "$before" != "$after" ] || [ -z "$after" ]; then
	echo "credentials differ after restore"; echo "before: $before"; echo "after: $after"; exit 1
fi
echo "credentials kept: $(echo "$after" | wc -l)"

# So is Vapi's API key, for vapi.reconcile_calls and vapi.sync_calls.
key=$(q -d "$dst" -c "SELECT secret FROM vapi.api_key")
[ "$key" = api-key-dump-1 ] || { echo "API key after restore: '$key'"; exit 1; }

# The sequence came along: a new credential does not reuse an id.
next=$(q -d "$dst" -c "SELECT vapi.add_bearer_credential('tok-dump-4')")
[ "$next" = 4 ] || { echo "new credential got id $next, expected 4"; exit 1; }

# Row level security and its one policy are there, once.
rls=$(q -d "$dst" -c "SELECT relrowsecurity, (SELECT count(*) FROM pg_policy WHERE polrelid = c.oid)
                        FROM pg_class c WHERE oid = 'vapi.calls'::regclass")
[ "$rls" = "t|1" ] || { echo "row level security after restore: $rls"; exit 1; }

# The restored legacy secret authenticates; a wrong one is refused.
ok=$(q -d "$dst" <<'SQL'
SELECT set_config('request.headers', '{"x-vapi-secret": "tok-dump-3"}', false) IS NULL;
SELECT vapi_webhook('{"message": {"type": "status-update", "status": "ringing", "call": {"id": "dump-1"}}}') ->> 'action';
SQL
)
[ "$(echo "$ok" | tail -n 1)" = inserted ] || { echo "restored credential did not authenticate: $ok"; exit 1; }
if q -d "$dst" -c "SELECT set_config('request.headers', '{\"x-vapi-secret\": \"tok-dump-x\"}', false)" \
	-c "SELECT vapi_webhook('{}')" >/dev/null 2>"$WORK/vapi_dump.err"; then
	echo "a wrong secret was accepted after restore"; exit 1
fi
grep -q 'webhook refused' "$WORK/vapi_dump.err" || { cat "$WORK/vapi_dump.err"; exit 1; }
echo "restored credentials authenticate"
