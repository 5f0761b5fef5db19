#!/usr/bin/env bash
# vapi.reconcile_calls and vapi.sync_calls against a stand-in for Vapi's
# REST API (test/api_standin.py, Debian's python3, on 127.0.0.1; started
# here and stopped on exit).  vapi.api_url points at it over plain http, so
# TLS verification is on but unused.  Checks: a refused key (401) writes
# nothing and says Vapi's message; a backfill with ties on page boundaries
# (and a tie wider than a page) stores every call exactly once, field by
# field as served; a second run changes nothing; late webhooks never
# regress a synced row; reconcile completes, keeps, reports 404s, retries
# 500 and 429 (Retry-After), and counts a slow answer, malformed JSON and a
# huge body as failures; a cancel stops a request in flight; the key
# appears in no log.  Runs against the suite's cluster (PGHOST, BIN, WORK).
set -euo pipefail

: "${REPO:?}" "${BIN:?}" "${WORK:?}"
source "$REPO/scripts/lib.sh"
ensure_packages python3 openssl
PY=/usr/bin/python3
fail() { echo "api_sync: $*" >&2; exit 1; }
# Time bounds in ms, ten times looser under valgrind (scripts/valgrind.sh).
scale=1
[ -z "${VAPI_VALGRIND_LOGS:-}" ] || scale=10

db=vapi_api
dir=$WORK/api_sync
rm -rf "$dir"
mkdir -p "$dir"
"$PY" "$REPO/test/api_standin.py" "$dir/port" &
standin=$!
cleanup() {
	kill "$standin" 2>/dev/null || true
	wait "$standin" 2>/dev/null || true
	"$BIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
}
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.1; done
[ -s "$dir/port" ] || fail "the stand-in did not start"
port=$(cat "$dir/port")

# POST a control message (JSON from stdin or $1) to the stand-in.
ctl() {
	"$PY" -c 'import sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), data=sys.stdin.buffer.read(), method="POST")
urllib.request.urlopen(req).read()' "$port" "$1"
}
# The paths and queries of the API requests so far, one per line.
requests() {
	"$PY" -c 'import json, sys, urllib.request
for r in json.load(urllib.request.urlopen("http://127.0.0.1:%s/_log" % sys.argv[1]))["requests"]:
    print(r["path"] + ("?" + r["query"] if r["query"] else ""))' "$port"
}
reset_log() { echo '{}' | ctl /_reset_log; }

export PGOPTIONS="-c vapi.api_url=http://127.0.0.1:$port -c vapi.api_timeout=1500ms -c vapi.api_page_size=10"
q() { "$BIN/psql" -X -q -At -F " " -v ON_ERROR_STOP=1 -d "$db" "$@"; }
# Run SQL that must fail; print its error message.
q_err() {
	if "$BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@" >"$dir/out" 2>"$dir/err"; then
		fail "expected an error from: $*"
	fi
	sed -n 's/^psql:[^:]*:[0-9]*: //p; s/^ERROR:  /ERROR:  /p' "$dir/err" | grep -m1 ERROR
}
expect() { # expect WHAT EXPECTED ACTUAL
	[ "$2" = "$3" ] || { printf 'api_sync: %s\n  expected: %s\n  actual:   %s\n' "$1" "$2" "$3" >&2; exit 1; }
}
# The counters of a run's result, as one line.
counts() {
	q -c "SELECT string_agg(key || '=' || coalesce(value, '-'), ' ' ORDER BY key)
	        FROM jsonb_each_text(($1) - 'failures' - 'not_found_ids')"
}
# The same for a result already in hand (in $1); and one of its members.
counts_of() {
	q -v r="$1" <<<"SELECT string_agg(key || '=' || coalesce(value, '-'), ' ' ORDER BY key)
	                  FROM jsonb_each_text(:'r'::jsonb - 'failures' - 'not_found_ids')"
}
member() { q -v r="$1" -v k="$2" <<<"SELECT :'r'::jsonb ->> :'k'"; }

"$BIN/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null 2>&1
q -c "CREATE EXTENSION vapi_calls"

key="test-key-$RANDOM$RANDOM$RANDOM"
echo "{\"key\": \"$key\"}" | ctl /_control

# ---- the calls the stand-in serves, in the shape of the SDK's Call ----
"$PY" - "$dir/calls.json" <<'PY'
import json, sys
from datetime import datetime, timedelta, timezone
base = datetime(2026, 1, 10, 12, 0, 0, tzinfo=timezone.utc)
iso = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
types = ["inboundPhoneCall", "outboundPhoneCall", "webCall", "vapi.websocketCall"]
reasons = ["customer-ended-call", "assistant-ended-call", "silence-timed-out",
           "pipeline-error-openai-llm-failed", "customer-did-not-answer"]
calls = []
for i in range(40):
    # newest first: 8-12 share a createdAt across the first page boundary
    # (page size 10), 20-34 share one wider than a page
    k = 8 if 8 <= i <= 12 else 20 if 20 <= i <= 34 else i
    created = base - timedelta(minutes=k, milliseconds=k * 7)
    started = created + timedelta(seconds=5)
    ended = started + timedelta(seconds=60 + i, milliseconds=i * 13)
    t = types[i % 4]
    c = {"id": "sync-%02d" % i, "orgId": "org-vapi-1", "type": t,
         "createdAt": iso(created), "updatedAt": iso(ended + timedelta(seconds=3)),
         "assistantId": "asst-%d" % (i % 3), "costs": [{"type": "model", "cost": 0.01}],
         "messages": [{"role": "bot", "message": "Hello"}],
         "assistantOverrides": {"metadata": {"crm_id": "crm-%d" % i}}}
    if t in ("inboundPhoneCall", "outboundPhoneCall"):
        c["phoneNumberId"] = "pn-%d" % (i % 2)
        c["customer"] = {"number": "+1555010%04d" % i}
        if i % 3:
            c["customer"]["name"] = "Customer %d" % i
    if t == "outboundPhoneCall" and i % 2:
        c["phoneNumber"] = {"provider": "twilio", "number": "+15559990000"}
    if i in (5, 17):
        c["status"] = "in-progress"
        c["startedAt"] = iso(started)
        c["updatedAt"] = iso(started)
    else:
        c["status"] = "ended"
        c["endedReason"] = reasons[i % 5]
        c["startedAt"] = iso(started)
        c["endedAt"] = iso(ended)
        c["cost"] = round(0.05 + i / 100, 4)
        art = {"transcript": "AI: Hello %d\nUser: Bye" % i}
        if i % 2:
            art["recording"] = {"stereoUrl": "https://r.example/%d-stereo.wav" % i,
                                "mono": {"combinedUrl": "https://r.example/%d.wav" % i}}
        else:
            art["recordingUrl"] = "https://r.example/legacy-%d.wav" % i
        c["artifact"] = art
        if i % 4 != 3:
            c["analysis"] = {"summary": "Summary %d" % i, "successEvaluation": "true",
                             "structuredData": {"sentiment": ["positive", "neutral"][i % 2]}}
    calls.append(c)
json.dump(calls, open(sys.argv[1], "w"), indent=1)
PY
{ printf '{"calls": '; cat "$dir/calls.json"; printf '}'; } | ctl /_control
q -c "CREATE TABLE public.served (c jsonb)"
q -c "\\copy public.served FROM PROGRAM '$PY -c \"import json,sys; [print(json.dumps(c).replace(chr(92), chr(92)*2)) for c in json.load(open(sys.argv[1]))]\" $dir/calls.json'"
expect "calls served" 40 "$(q -c "SELECT count(*) FROM public.served")"

# What each served call must become, column by column (the reader's paths).
q <<'SQL'
CREATE VIEW public.expected AS
SELECT c->>'id' AS vapi_call_id, c->>'orgId' AS vapi_org_id, c->>'assistantId' AS assistant_id,
       c->>'phoneNumberId' AS phone_number_id, c->>'type' AS call_type,
       CASE c->>'type' WHEN 'inboundPhoneCall' THEN 'inbound' WHEN 'outboundPhoneCall' THEN 'outbound'
                       ELSE 'web' END AS direction,
       CASE WHEN c->>'status' = 'ended' THEN vapi.classify_ended_reason(c->>'endedReason')
            ELSE c->>'status' END AS status,
       c->>'endedReason' AS ended_reason,
       c#>>'{customer,number}' AS phone_number,
       CASE c->>'type' WHEN 'inboundPhoneCall' THEN c#>>'{customer,number}'
                       WHEN 'outboundPhoneCall' THEN c#>>'{phoneNumber,number}' END AS from_number,
       coalesce(c#>>'{customer,name}', 'Unknown Caller') AS caller_name,
       c->>'type' = 'webCall' AS is_test_call,
       (c->>'startedAt')::timestamptz AS started_at, (c->>'endedAt')::timestamptz AS ended_at,
       extract(epoch FROM (c->>'endedAt')::timestamptz - (c->>'startedAt')::timestamptz) AS duration_seconds,
       (c->>'cost')::numeric AS cost,
       c#>>'{artifact,transcript}' AS transcript, c#>>'{analysis,summary}' AS summary,
       c#>>'{analysis,structuredData,sentiment}' AS sentiment,
       coalesce(c#>>'{artifact,recording,mono,combinedUrl}', c#>>'{artifact,recordingUrl}') AS recording_url,
       c#>>'{artifact,recording,stereoUrl}' AS stereo_recording_url,
       c->'analysis' AS analysis, c#>'{assistantOverrides,metadata}' AS metadata,
       (c->>'updatedAt')::timestamptz AS last_event_at
  FROM public.served;
CREATE VIEW public.actual AS
SELECT vapi_call_id, vapi_org_id, assistant_id, phone_number_id, call_type, direction::text, status::text,
       ended_reason, phone_number, from_number, caller_name, is_test_call, started_at, ended_at,
       duration_seconds, cost, transcript, summary, sentiment, recording_url, stereo_recording_url,
       analysis, metadata, last_event_at
  FROM vapi.calls;
-- Rows that differ, either way, with the columns that differ.
CREATE VIEW public.mismatches AS
SELECT coalesce(e.vapi_call_id, a.vapi_call_id) AS vapi_call_id,
       (SELECT string_agg(k, ',') FROM jsonb_each(to_jsonb(e)) je(k, v)
         WHERE v IS DISTINCT FROM to_jsonb(a) -> k
           AND NOT (k = 'duration_seconds' AND (v #>> '{}')::numeric = (to_jsonb(a) ->> k)::numeric)) AS columns
  FROM public.expected e FULL JOIN public.actual a USING (vapi_call_id)
 WHERE e IS DISTINCT FROM a;
SQL
snapshot() { q -c "SELECT md5(string_agg(c::text, '|' ORDER BY vapi_call_id)) FROM vapi.calls c"; }

# ---- no key, a bad key, a refused key ----
expect "no key" "ERROR:  no Vapi API key is set" "$(q_err -c "SELECT vapi.sync_calls()")"
expect "empty key" "ERROR:  key must not be empty" "$(q_err -c "SELECT vapi.set_api_key('')")"
expect "key with white space" "ERROR:  key must not contain white space" \
	"$(q_err -c "SELECT vapi.set_api_key('two words')")"
q -c "SELECT vapi.set_api_key('refused-key-1')" >/dev/null
q -c "SELECT vapi_ingest('{\"message\": {\"type\": \"status-update\", \"status\": \"in-progress\",
      \"timestamp\": 1767225600000, \"call\": {\"id\": \"sync-05\"}}}')" >/dev/null
q -c "UPDATE vapi.calls SET last_event_at = now() - interval '1 hour'"
before=$(snapshot)
refused='ERROR:  Vapi'"'"'s API refused the key: HTTP 401: Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.'
expect "401 on sync" "$refused" "$(q_err -c "SELECT vapi.sync_calls()")"
expect "401 on reconcile" "$refused" "$(q_err -c "SELECT vapi.reconcile_calls()")"
grep -q 'DETAIL:  Nothing was merged' "$dir/err" || fail "no detail on a refused key: $(cat "$dir/err")"
expect "a refused key writes nothing" "$before 1" "$(snapshot) $(q -c "SELECT count(*) FROM vapi.events")"
q -c "TRUNCATE vapi.calls, vapi.events"

q -c "SELECT vapi.set_api_key('$key')" >/dev/null
expect "one key, never in a view" "1" "$(q -c "SELECT count(*) FROM vapi.api_key")"

# ---- backfill: every call once, field by field ----
reset_log
expect "first sync" \
	'failed=0 fetched=40 ignored=0 inserted=40 oldest_created_at=2026-01-10T11:20:59.727Z pages=6 requests=6 stopped=- unchanged=0 updated=0' \
	"$(counts "vapi.sync_calls()")"
requests >"$dir/requests"
# newest first: 2 of the 5 calls at 11:51:59.944 end page 1 and come again on
# page 2 (skipped by id); the 15 at 11:39:59.860 fill page 4 entirely, so
# page 5 asks for twice as many; page 6 brings nothing older: the end.
expect "the pages asked for" \
"/call?limit=10
/call?limit=10&createdAtLe=2026-01-10T11%3A51%3A59.944Z
/call?limit=10&createdAtLe=2026-01-10T11%3A42%3A59.881Z
/call?limit=10&createdAtLe=2026-01-10T11%3A39%3A59.860Z
/call?limit=20&createdAtLe=2026-01-10T11%3A39%3A59.860Z
/call?limit=10&createdAtLe=2026-01-10T11%3A20%3A59.727Z" "$(cat "$dir/requests")"
expect "rows as served" "" "$(q -c "SELECT vapi_call_id || ': ' || columns FROM public.mismatches ORDER BY 1")"
expect "one api.call event per call" "40 40 api.call inserted vapi.sync_calls" \
	"$(q -c "SELECT count(*), count(DISTINCT vapi_call_id), min(type), min(outcome), min(detail) FROM vapi.events")"

# ---- a second run changes nothing, writes nothing ----
before=$(snapshot)
events_before=$(q -c "SELECT count(*) FROM vapi.events")
expect "second sync" \
	'failed=0 fetched=40 ignored=0 inserted=0 oldest_created_at=2026-01-10T11:20:59.727Z pages=6 requests=6 stopped=- unchanged=40 updated=0' \
	"$(counts "vapi.sync_calls()")"
expect "second sync leaves the rows" "$before $events_before" "$(snapshot) $(q -c "SELECT count(*) FROM vapi.events")"
expect "replaying the snapshots changes nothing" "40 unchanged" \
	"$(q -c "SELECT count(*), string_agg(DISTINCT action, ',') FROM vapi.replay()")"
expect "replay leaves the rows" "$before" "$(snapshot)"

# A range: [since, until) in Vapi's terms, rounded up to the millisecond.
reset_log
expect "a range" \
	'failed=0 fetched=3 ignored=0 inserted=0 oldest_created_at=2026-01-10T11:57:59.986Z pages=2 requests=2 stopped=- unchanged=3 updated=0' \
	"$(counts "vapi.sync_calls('2026-01-10T11:57:59.9855Z', '2026-01-10T12:00:00.0005Z')")"
expect "the range asked for" \
"/call?limit=10&createdAtGe=2026-01-10T11%3A57%3A59.986Z&createdAtLt=2026-01-10T12%3A00%3A00.001Z
/call?limit=10&createdAtGe=2026-01-10T11%3A57%3A59.986Z&createdAtLe=2026-01-10T11%3A57%3A59.986Z" "$(requests)"
expect "an empty range" 'failed=0 fetched=0 ignored=0 inserted=0 pages=0 requests=0 stopped=- unchanged=0 updated=0' \
	"$(counts "vapi.sync_calls('2026-01-10T11:00:00Z', '2026-01-10T11:00:00Z')")"
expect "since after until" "ERROR:  since must not be later than until" \
	"$(q_err -c "SELECT vapi.sync_calls('2026-01-10', '2026-01-09')")"
expect "since infinity" "ERROR:  since must not be infinity" "$(q_err -c "SELECT vapi.sync_calls('infinity')")"
expect "until -infinity" "ERROR:  until must not be -infinity" \
	"$(q_err -c "SELECT vapi.sync_calls(until => '-infinity')")"
expect "out of Vapi's range" "ERROR:  since is out of the range of Vapi's API" \
	"$(q_err -c "SELECT vapi.sync_calls('0044-03-15 BC')")"

# A page that fails is retried (5xx) or stops the run (anything else): pages
# cannot be skipped, and what was merged before stays.
echo '{"script": {"/call": [{"status": 500}]}}' | ctl /_control
expect "a 500 page, then the same page again" \
	'failed=0 fetched=40 ignored=0 inserted=0 oldest_created_at=2026-01-10T11:20:59.727Z pages=6 requests=7 stopped=- unchanged=40 updated=0' \
	"$(counts "vapi.sync_calls()")"
echo '{"script": {"/call": [{"raw": "[{\"id\": \"sync-00\", "}]}}' | ctl /_control
expect "a malformed page" \
	"failed=1 fetched=0 ignored=0 inserted=0 pages=1 requests=1 stopped=a page of Vapi's call list is not valid JSON unchanged=0 updated=0" \
	"$(counts "vapi.sync_calls()")"
echo '{"script": {"/call": [{"raw": "{\"id\": \"sync-00\"}"}]}}' | ctl /_control
expect "a page that is not an array" \
	"failed=1 fetched=0 ignored=0 inserted=0 pages=1 requests=1 stopped=a page of Vapi's call list is not a JSON array unchanged=0 updated=0" \
	"$(counts "vapi.sync_calls()")"
echo '{"script": {"/call": [{"huge": 200000, "length": false}]}}' | ctl /_control
expect "a page over vapi.api_max_response_size" \
	"failed=1 fetched=0 ignored=0 inserted=0 pages=1 requests=1 stopped=Vapi's answer is larger than vapi.api_max_response_size (100 kB) unchanged=0 updated=0" \
	"$(PGOPTIONS="$PGOPTIONS -c vapi.api_max_response_size=100kB" counts "vapi.sync_calls()")"
expect "the rows after the failed pages" "$before" "$(snapshot)"

# ---- late webhooks after a sync never regress a row ----
before=$(snapshot)
q >/dev/null <<'SQL'
-- sync-00 ended at 12:01:05.005 (updatedAt 12:01:08.005): an in-progress from
-- before, a report with an older timestamp, an ended status-update
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress", "timestamp": "2026-01-10T12:00:06Z",
  "call": {"id": "sync-00", "type": "inboundPhoneCall"}}}');
SELECT vapi_ingest('{"message": {"type": "end-of-call-report", "timestamp": "2026-01-10T12:01:06Z",
  "endedReason": "assistant-error", "transcript": "older transcript", "cost": 9,
  "call": {"id": "sync-00", "type": "inboundPhoneCall"}}}');
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ended", "endedReason": "assistant-error",
  "timestamp": "2026-01-10T12:01:07Z", "call": {"id": "sync-00"}}}');
-- sync-03 has no analysis: a late report's summary fills it in, nothing else moves
SELECT vapi_ingest('{"message": {"type": "end-of-call-report", "timestamp": "2026-01-10T11:58:10Z",
  "analysis": {"summary": "late summary"}, "call": {"id": "sync-03"}}}');
SQL
expect "late webhooks: only the missing summary is filled in" "sync-03: summary,analysis" \
	"$(q -c "SELECT vapi_call_id || ': ' || columns FROM public.mismatches ORDER BY 1")"
expect "the late summary" "late summary" "$(q -c "SELECT summary FROM vapi.calls WHERE vapi_call_id = 'sync-03'")"
# a live call (sync-05, in-progress at Vapi) is not reopened or regressed by an older ringing
q -c "SELECT vapi_ingest('{\"message\": {\"type\": \"status-update\", \"status\": \"ringing\", \"timestamp\": \"2026-01-10T11:55:00Z\", \"call\": {\"id\": \"sync-05\"}}}')" >/dev/null
expect "no regression of a live call" "in-progress" "$(q -c "SELECT status FROM vapi.calls WHERE vapi_call_id = 'sync-05'")"

# A snapshot whose merge fails with a long error is counted with that error
# (it is read after the merge's own memory is gone: this crashed once), and
# one that only moves the row's last event time is kept in vapi.events, so a
# replay rebuilds the same row.
q -c "TRUNCATE vapi.calls, vapi.events"
ws_call() { # id updatedAt
	printf '{"id": "%s", "createdAt": "2026-01-11T10:00:00.000Z", "updatedAt": "%s", "status": "in-progress", "type": "inboundPhoneCall"}' "$1" "$2"
}
printf '{"calls": [%s, %s]}' "$(ws_call ws-1 2026-01-11T10:01:00.000Z)" "$(ws_call ws-2 2026-01-11T10:01:00.000Z)" | ctl /_control
r=$(q -c "SELECT vapi.sync_calls()")
expect "two calls synced" "2" "$(member "$r" inserted)"
q >/dev/null <<'SQL'
CREATE FUNCTION public.refuse_ws2() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.vapi_call_id = 'ws-2' THEN
		RAISE EXCEPTION 'refused: %', repeat('x', 300000);
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER refuse_ws2 BEFORE UPDATE ON vapi.calls FOR EACH ROW EXECUTE FUNCTION public.refuse_ws2();
SQL
printf '{"calls": [%s, %s]}' "$(ws_call ws-1 2026-01-11T10:05:00.000Z)" "$(ws_call ws-2 2026-01-11T10:05:00.000Z)" | ctl /_control
q -c "CREATE TABLE public.ws_run AS SELECT vapi.sync_calls() AS r"
expect "the refused snapshot fails, the later one is unchanged" "1 1" \
	"$(q -c "SELECT r->>'failed', r->>'unchanged' FROM public.ws_run")"
expect "the failure names the call and its error" "ws-2: refused: xxxxx 300015" \
	"$(q -c "SELECT left(r->'failures'->>0, 20) || ' ' || length(r->'failures'->>0) FROM public.ws_run")"
expect "the unchanged snapshot that moved last_event_at is kept" "2 2026-01-11 10:05:00+00" \
	"$(q -c "SELECT count(*), max(c.last_event_at) FROM vapi.events e JOIN vapi.calls c USING (vapi_call_id) WHERE vapi_call_id = 'ws-1'")"
q -c "DROP TRIGGER refuse_ws2 ON vapi.calls" -c "DELETE FROM vapi.calls WHERE vapi_call_id = 'ws-1'" \
	-c "SELECT count(*) FROM vapi.replay(vapi_call_ids => '{ws-1}')" >/dev/null
expect "a replay rebuilds the row" "2026-01-11 10:05:00+00" \
	"$(q -c "SELECT last_event_at FROM vapi.calls WHERE vapi_call_id = 'ws-1'")"

echo "sync ok"

# ---- reconcile: stale open calls, fetched one by one ----
q -c "TRUNCATE vapi.calls, vapi.events"
"$PY" - "$dir/rc.json" <<'PY'
import json, sys
def call(i, status="ended", **kw):
    c = {"id": i, "orgId": "org-vapi-1", "type": "inboundPhoneCall", "status": status,
         "createdAt": "2026-01-11T09:00:00.000Z", "updatedAt": "2026-01-11T09:05:00.000Z",
         "startedAt": "2026-01-11T09:00:02.000Z", "customer": {"number": "+15550100001"}}
    if status == "ended":
        c.update(endedAt="2026-01-11T09:04:30.500Z", endedReason="customer-ended-call", cost=0.21,
                 artifact={"transcript": "AI: Hi\nUser: Bye", "recordingUrl": "https://r.example/%s.wav" % i},
                 analysis={"summary": "Reconciled %s" % i})
    c.update(kw)
    return c
calls = [call("rc-ended"), call("rc-live", "in-progress", updatedAt="2026-01-11T09:00:02.000Z"),
         call("rc-500"), call("rc-429"), call("rc-slow"), call("rc-bad"), call("rc-huge"),
         call("rc-huge2"), call("rc-recent"), call("rc-done")]
script = {"/call/rc-500": [{"status": 500}], "/call/rc-429": [{"status": 429, "retry_after": "1"}],
          "/call/rc-slow": [{"sleep": 3}], "/call/rc-bad": [{"raw": '{"id": "rc-bad", "status": '}],
          "/call/rc-huge": [{"huge": 3000000}], "/call/rc-huge2": [{"huge": 3000000, "length": False}]}
json.dump({"calls": calls, "script": script}, open(sys.argv[1], "w"))
PY
ctl /_control <"$dir/rc.json"
q >/dev/null <<'SQL'
SELECT vapi_ingest(jsonb_build_object('message', jsonb_build_object('type', 'status-update',
         'status', 'in-progress', 'timestamp', '2026-01-11T09:00:01Z', 'call', jsonb_build_object('id', id))))
  FROM unnest('{rc-ended,rc-live,rc-500,rc-429,rc-slow,rc-bad,rc-huge,rc-huge2,rc-gone}'::text[]) id;
-- without a timestamp: its last event is now
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "in-progress", "call": {"id": "rc-recent"}}}');
SELECT vapi_ingest('{"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
         "timestamp": "2026-01-11T09:04:31Z", "call": {"id": "rc-done"}}}');
SQL
reset_log
export PGOPTIONS="$PGOPTIONS -c vapi.api_max_response_size=1MB -c log_min_messages=debug1"
start=$(date +%s%N)
q -c "SELECT vapi.reconcile_calls()" >"$dir/rc1"
elapsed=$((($(date +%s%N) - start) / 1000000))
expect "reconcile" \
	'candidates=9 failed=4 fetched=4 ignored=0 inserted=0 not_found=1 requests=11 stopped=- unchanged=0 updated=4' \
	"$(counts_of "$(cat "$dir/rc1")")"
expect "not found" '["rc-gone"]' "$(member "$(cat "$dir/rc1")" not_found_ids)"
q -v r="$(cat "$dir/rc1")" <<<"SELECT jsonb_array_elements_text(:'r'::jsonb -> 'failures')" >"$dir/failures"
expect "failures" \
"rc-bad: Vapi's answer is not valid JSON
rc-huge: Vapi's answer is larger than vapi.api_max_response_size (1024 kB)
rc-huge2: Vapi's answer is larger than vapi.api_max_response_size (1024 kB)
rc-slow: Timeout was reached" "$(sed 's/^\(rc-slow: Timeout was reached\).*/\1/' "$dir/failures")"
# 1 s asked by Retry-After, 0.5 s of backoff after the 500, 1.5 s of timeout
[ "$elapsed" -ge 3000 ] && [ "$elapsed" -lt $((8000 * scale)) ] || fail "reconcile took $elapsed ms"
expect "the requests: one per call, the 429 and the 500 retried" \
"/call/rc-429
/call/rc-429
/call/rc-500
/call/rc-500
/call/rc-bad
/call/rc-ended
/call/rc-gone
/call/rc-huge
/call/rc-huge2
/call/rc-live
/call/rc-slow" "$(requests)"
expect "reconciled rows" \
"rc-429 completed customer-ended-call 0.21 Reconciled rc-429 2026-01-11 09:04:30.5+00
rc-500 completed customer-ended-call 0.21 Reconciled rc-500 2026-01-11 09:04:30.5+00
rc-bad in-progress - - - -
rc-done completed customer-ended-call - - -
rc-ended completed customer-ended-call 0.21 Reconciled rc-ended 2026-01-11 09:04:30.5+00
rc-gone in-progress - - - -
rc-huge in-progress - - - -
rc-huge2 in-progress - - - -
rc-live in-progress - - - -
rc-recent in-progress - - - -
rc-slow in-progress - - - -" \
	"$(q -c "SELECT vapi_call_id, status, coalesce(ended_reason, '-'), coalesce(cost::text, '-'),
	               coalesce(summary, '-'), coalesce(ended_at::text, '-') FROM vapi.calls ORDER BY 1")"
expect "rc-live took Vapi's start" "2026-01-11 09:00:02+00 +15550100001 inboundPhoneCall" \
	"$(q -c "SELECT started_at, phone_number, call_type FROM vapi.calls WHERE vapi_call_id = 'rc-live'")"
expect "the snapshots logged" \
"rc-429 api.call ended updated vapi.reconcile_calls 2026-01-11 09:05:00+00
rc-500 api.call ended updated vapi.reconcile_calls 2026-01-11 09:05:00+00
rc-ended api.call ended updated vapi.reconcile_calls 2026-01-11 09:05:00+00
rc-live api.call in-progress updated vapi.reconcile_calls 2026-01-11 09:00:02+00" \
	"$(q -c "SELECT vapi_call_id, type, status, outcome, detail, event_at FROM vapi.events
	          WHERE type = 'api.call' ORDER BY 1")"

# Again: the scripts are used up, so what failed comes through now; rc-live
# is fetched again and changes nothing (and is not logged again).
expect "reconcile again" \
	'candidates=6 failed=0 fetched=5 ignored=0 inserted=0 not_found=1 requests=6 stopped=- unchanged=1 updated=4' \
	"$(counts "vapi.reconcile_calls()")"
expect "snapshots logged after the second run" "8" "$(q -c "SELECT count(*) FROM vapi.events WHERE type = 'api.call'")"
expect "nothing left to reconcile with a longer threshold" \
	'candidates=0 failed=0 fetched=0 ignored=0 inserted=0 not_found=0 requests=0 stopped=- unchanged=0 updated=0' \
	"$(counts "vapi.reconcile_calls('1000 days')")"
expect "negative threshold" "ERROR:  older_than must be a non-negative interval" \
	"$(q_err -c "SELECT vapi.reconcile_calls('-1 minute')")"

# What is left open after reconciling is what Vapi does not know (rc-gone)
# or still calls live (rc-live): the expiry takes them.
expect "expire after reconcile" "2 rc-gone,rc-live" \
	"$(q -c "SELECT vapi.expire_stale_calls('30 minutes')" -c "SELECT string_agg(vapi_call_id, ',' ORDER BY 1)
	          FROM vapi.calls WHERE ended_reason = 'vapi_calls.expired-no-end-of-call-report'" | tr '\n' ' ' | sed 's/ $//')"

# ---- retries exhausted, Retry-After too long, unreachable ----
q -c "UPDATE vapi.calls SET status_rank = 4, status = 'in-progress', last_event_at = now() - interval '1 hour'
       WHERE vapi_call_id = 'rc-gone'"
echo '{"script": {"/call/rc-gone": [{"status": 503}, {"status": 502}]}}' | ctl /_control
expect "5xx after the retries" \
	'candidates=1 failed=1 fetched=0 ignored=0 inserted=0 not_found=0 requests=2 stopped=- unchanged=0 updated=0' \
	"$(PGOPTIONS="$PGOPTIONS -c vapi.api_retries=1" counts "vapi.reconcile_calls()")"
echo '{"script": {"/call/rc-gone": [{"status": 429, "retry_after": "120", "body": "{\"message\": \"Too Many Requests\"}"}]}}' | ctl /_control
result=$(q -c "SELECT vapi.reconcile_calls()")
expect "a Retry-After beyond vapi.api_max_retry_wait is not waited for" \
	"1 rate limited: HTTP 429: Too Many Requests" "$(member "$result" requests) $(member "$result" stopped)"
echo '{"script": {"/call/rc-gone": [{"status": 500}, {"status": 500}, {"status": 500}, {"status": 500}]}}' | ctl /_control
expect "vapi.api_retries = 0" "1 0" \
	"$(PGOPTIONS="$PGOPTIONS -c vapi.api_retries=0" q -c "SELECT r ->> 'requests', r ->> 'fetched' FROM vapi.reconcile_calls() r")"
echo '{"script": {}}' | ctl /_control
closed=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
result=$(PGOPTIONS="$PGOPTIONS -c vapi.api_url=http://127.0.0.1:$closed -c vapi.api_retries=0" q -c "SELECT vapi.reconcile_calls()")
expect "unreachable: the run stops" "1 Couldn't connect to server" \
	"$(member "$result" failed) $(member "$result" stopped | cut -d: -f1)"

# TLS is verified: a stand-in with a self-signed certificate is refused.
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 1 \
	-keyout "$dir/tls.key" -out "$dir/tls.crt" >/dev/null 2>&1 || fail "openssl could not make a certificate"
"$PY" "$REPO/test/api_standin.py" "$dir/tls_port" "$dir/tls.crt" "$dir/tls.key" 2>/dev/null &
tls_standin=$!
for _ in $(seq 100); do [ -s "$dir/tls_port" ] && break; sleep 0.1; done
result=$(PGOPTIONS="$PGOPTIONS -c vapi.api_url=https://127.0.0.1:$(cat "$dir/tls_port")" q -c "SELECT vapi.reconcile_calls()" 2>/dev/null)
kill "$tls_standin"
wait "$tls_standin" 2>/dev/null || true
expect "a self-signed certificate is refused" "1 SSL peer certificate or SSH remote key was not OK" \
	"$(member "$result" failed) $(member "$result" stopped | cut -d: -f1)"

# ---- a cancel in the middle of a request ----
echo "{\"script\": {\"/call/rc-gone\": [{\"sleep\": $((5 * scale))}]}}" | ctl /_control
start=$(date +%s%N)
"$BIN/psql" -X -q -At -d "$db" -c "SET statement_timeout = '400ms'" -c "SELECT vapi.reconcile_calls()" \
	-c "RESET statement_timeout" -c "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()" \
	>"$dir/out" 2>"$dir/err" || true
elapsed=$((($(date +%s%N) - start) / 1000000))
grep -q 'canceling statement due to statement timeout' "$dir/err" || fail "no statement timeout: $(cat "$dir/err")"
[ "$elapsed" -lt $((3000 * scale)) ] || fail "the statement timeout took $elapsed ms to stop the request"
echo "a 400 ms statement_timeout stopped a request in flight after $elapsed ms (psql included)"
expect "application_name restored after the cancel" "psql" "$(cat "$dir/out")"

# ... and in the wait before a retry
echo '{"script": {"/call/rc-gone": [{"status": 429, "retry_after": "5"}]}}' | ctl /_control
start=$(date +%s%N)
PGOPTIONS="$PGOPTIONS -c vapi.api_max_retry_wait=10s" "$BIN/psql" -X -q -At -d "$db" \
	-c "SET statement_timeout = '400ms'" -c "SELECT vapi.reconcile_calls()" >"$dir/out" 2>"$dir/err" || true
elapsed=$((($(date +%s%N) - start) / 1000000))
grep -q 'canceling statement due to statement timeout' "$dir/err" || fail "no statement timeout in the wait: $(cat "$dir/err")"
[ "$elapsed" -lt $((3000 * scale)) ] || fail "the statement timeout took $elapsed ms to stop the wait"

# pg_cancel_backend, seen first in pg_stat_activity through the progress
echo "{\"script\": {\"/call/rc-gone\": [{\"sleep\": $((5 * scale))}]}}" | ctl /_control
PGOPTIONS="$PGOPTIONS -c vapi.api_timeout=1min" "$BIN/psql" -X -q -At -d "$db" \
	-c "SELECT vapi.reconcile_calls()" >"$dir/out" 2>"$dir/err" &
bg=$!
progress=
for _ in $(seq $((50 * scale))); do
	progress=$(q -c "SELECT pid || ' ' || application_name FROM pg_stat_activity
	                  WHERE application_name LIKE 'vapi.reconcile_calls: call%'")
	[ -n "$progress" ] && break
	sleep 0.1
done
expect "progress in pg_stat_activity" "vapi.reconcile_calls: call 1 of 1" "${progress#* }"
start=$(date +%s%N)
q -c "SELECT pg_cancel_backend(${progress%% *})" >/dev/null
wait "$bg" || true
elapsed=$((($(date +%s%N) - start) / 1000000))
grep -q 'canceling statement due to user request' "$dir/err" || fail "no cancel: $(cat "$dir/err")"
[ "$elapsed" -lt $((3000 * scale)) ] || fail "pg_cancel_backend took $elapsed ms to stop the request"
echo "pg_cancel_backend stopped a request in flight after $elapsed ms"
expect "nothing written by the cancelled runs" "in-progress" \
	"$(q -c "SELECT status FROM vapi.calls WHERE vapi_call_id = 'rc-gone'")"

# ---- settings (checked once the library is loaded: LOAD it first) ----
expect "http to another host" "ERROR:  invalid value for parameter \"vapi.api_url\": \"http://example.com\"" \
	"$(q_err -c "LOAD 'vapi_calls'" -c "SET vapi.api_url = 'http://example.com'")"
grep -q 'DETAIL:  Plain http:// is accepted only for localhost' "$dir/err" || fail "no detail: $(cat "$dir/err")"
expect "not http" "ERROR:  invalid value for parameter \"vapi.api_url\": \"ftp://api.vapi.ai\"" \
	"$(q_err -c "LOAD 'vapi_calls'" -c "SET vapi.api_url = 'ftp://api.vapi.ai'")"
expect "user information" "ERROR:  invalid value for parameter \"vapi.api_url\": \"https://u:p@api.vapi.ai\"" \
	"$(q_err -c "LOAD 'vapi_calls'" -c "SET vapi.api_url = 'https://u:p@api.vapi.ai'")"
expect "good URLs" "https://api.vapi.ai/ http://[::1]:8080" \
	"$(q -c "SET vapi.api_url = 'https://api.vapi.ai/'" -c "SHOW vapi.api_url" | tr '\n' ' ')$(q -c "SET vapi.api_url = 'http://[::1]:8080'" -c "SHOW vapi.api_url")"
expect "default URL" "https://api.vapi.ai" "$(PGOPTIONS= q -c "LOAD 'vapi_calls'" -c "SHOW vapi.api_url")"
q -c "CREATE ROLE regress_api_user" -c "GRANT USAGE ON SCHEMA vapi TO regress_api_user" >/dev/null
expect "a role cannot read the key" "ERROR:  permission denied for table api_key" \
	"$(q_err -c "SET ROLE regress_api_user" -c "SELECT secret FROM vapi.api_key")"
expect "a role cannot set the key" "ERROR:  permission denied for function set_api_key" \
	"$(q_err -c "SET ROLE regress_api_user" -c "SELECT vapi.set_api_key('mine')")"
expect "a role cannot run a sync" "ERROR:  permission denied for function sync_calls" \
	"$(q_err -c "SET ROLE regress_api_user" -c "SELECT vapi.sync_calls()")"
expect "a role cannot point the API elsewhere" "ERROR:  permission denied to set parameter \"vapi.api_url\"" \
	"$(q_err -c "LOAD 'vapi_calls'" -c "SET ROLE regress_api_user" -c "SET vapi.api_url = 'https://evil.example'")"
q -c "DROP OWNED BY regress_api_user" -c "DROP ROLE regress_api_user" >/dev/null
q -c "SELECT vapi.set_api_key(NULL)" >/dev/null
expect "NULL removes the key" "0" "$(q -c "SELECT count(*) FROM vapi.api_key")"

# ---- the key is in no log and no error ----
! grep -rqF -- "$key" "$WORK/server.log" "$dir"/err "$dir"/out "$dir"/rc1 "$dir"/failures ||
	fail "the API key appears in a log"
grep -q 'vapi_calls: attempt 1 failed' "$WORK/server.log" || fail "no retry line in the server log at debug1"
echo "reconcile ok"
