#!/usr/bin/env bash
# Order and race fuzz: the deliveries of one call (the number through one
# org's phone number, the assistant of another org, Vapi's name changing,
# the metadata naming a third source, the end and the report) applied in
# random orders with random repeats, then by three connections at once in
# random orders (direct access, the batch entry point, the SQL path),
# always give the same row, field versions included, with
# the contact of the call's final org; nothing is an error; and a full
# replay afterwards writes nothing.
set -euo pipefail

: "${REPO:?}" "${BIN:?}" "${WORK:?}"
psql_db() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -At -d "$@"; }
fail() { echo "order_race_fuzz: $*" >&2; exit 1; }

db=vapi_order_fuzz
psql_db postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql_db $db -c "CREATE EXTENSION vapi_calls"
psql_db $db <<'SQL'
INSERT INTO vapi.phone_numbers VALUES ('pn-p', 'a0000000-0000-4000-8000-00000000000a', '+15550100000');
INSERT INTO vapi.agents VALUES ('asst-q', 'b0000000-0000-4000-8000-00000000000b', 'Q desk');
INSERT INTO vapi.contacts (org_id, phone, name) VALUES
  ('a0000000-0000-4000-8000-00000000000a', '+1 555 010 7777', 'Contact of P'),
  ('b0000000-0000-4000-8000-00000000000b', '(555) 010-7777 x', 'Not a match'),
  ('b0000000-0000-4000-8000-00000000000b', '+1-555-010-7777', 'Contact of Q'),
  ('a0000000-0000-4000-8000-00000000000a', '+15550108888', 'Only in P');
-- CALL stands for the call id.
CREATE TABLE public.deliveries (n int PRIMARY KEY, body text NOT NULL);
INSERT INTO public.deliveries VALUES
 (1, '{"message": {"type": "assistant-request", "timestamp": 1767225600000, "call": {"id": "CALL", "type": "inboundPhoneCall", "phoneNumberId": "pn-p"}, "customer": {"number": "+15550108888", "name": "Bob"}}}'),
 (2, '{"message": {"type": "status-update", "status": "ringing", "timestamp": 1767225601000, "call": {"id": "CALL", "phoneNumberId": "pn-p", "customer": {"number": "+15550107777"}}}}'),
 (3, '{"message": {"type": "status-update", "status": "in-progress", "timestamp": 1767225602000, "call": {"id": "CALL", "assistantId": "asst-q"}}}'),
 (4, '{"message": {"type": "conversation-update", "timestamp": 1767225603000, "call": {"id": "CALL", "metadata": {"org_id": "c0000000-0000-4000-8000-00000000000c"}}, "customer": {"name": "Robert"}}}'),
 (5, '{"message": {"type": "status-update", "status": "ended", "endedReason": "customer-ended-call", "timestamp": 1767225604000, "call": {"id": "CALL"}}}'),
 (6, '{"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call", "timestamp": 1767225605000, "call": {"id": "CALL", "customer": {"number": "+15550107777"}}, "summary": "Booked."}}');
-- A row as compared across calls: without what may differ (ids, write
-- times, counters) and with the content-hash bits of the versions masked
-- (the hash covers the call id).
CREATE FUNCTION public.shape(c vapi.calls) RETURNS jsonb LANGUAGE sql AS $$
  SELECT to_jsonb(c) - '{id,vapi_call_id,created_at,updated_at,events_applied,last_change_seq,field_versions}'::text[]
         || jsonb_build_object('field_versions',
              (SELECT array_agg(v & ~65535 ORDER BY i) FROM unnest(c.field_versions) WITH ORDINALITY u(v, i)))
$$;
SQL

# 1. Sequential: 100 random orders, each delivery one to three times, on
#    the same call id (the row deleted between runs): exactly one row.
distinct=$(psql_db $db <<'SQL'
CREATE TEMP TABLE rows_seen (r jsonb);
DO $$
DECLARE
  k int;
BEGIN
  FOR run IN 1..100 LOOP
    DELETE FROM vapi.calls;
    FOR k IN SELECT d.n FROM public.deliveries d, generate_series(1, 1 + (random() * 2)::int) ORDER BY random() LOOP
      PERFORM vapi_ingest((SELECT replace(d.body, 'CALL', 'seq')::jsonb FROM public.deliveries d WHERE d.n = k));
    END LOOP;
    INSERT INTO rows_seen SELECT to_jsonb(c) - '{id,created_at,updated_at,events_applied,last_change_seq}'::text[]
      FROM vapi.calls c;
  END LOOP;
END
$$;
SELECT count(DISTINCT r) || ' ' || min(r->>'caller_name') || ' ' || min(r->>'org_id') FROM rows_seen;
SQL
)
[ "$distinct" = "1 Contact of Q b0000000-0000-4000-8000-00000000000b" ] ||
	fail "sequential orders gave: $distinct (want one row, Q's contact, org Q)"

# 2. Concurrent: 20 calls, each fed by three connections at once, each in
#    its own random order: one through vapi_ingest's direct table access,
#    one through vapi_ingest_batch (all its deliveries in one call), one
#    through the SQL statements (vapi.direct_access off).
for r in $(seq 1 20); do
	psql_db $db -c "SELECT count(vapi_ingest(replace(body, 'CALL', 'race-$r')::jsonb))
	                  FROM (SELECT body FROM public.deliveries ORDER BY random()) d" >/dev/null &
	psql_db $db -c "SELECT count(*) FROM vapi_ingest_batch((SELECT array_agg(replace(body, 'CALL', 'race-$r')::jsonb
	                  ORDER BY random()) FROM public.deliveries))" >/dev/null &
	PGOPTIONS="-c vapi.direct_access=off" \
		psql_db $db -c "SELECT count(vapi_ingest(replace(body, 'CALL', 'race-$r')::jsonb))
		                  FROM (SELECT body FROM public.deliveries ORDER BY random()) d" >/dev/null &
	wait
done
raced=$(psql_db $db -c "SELECT count(DISTINCT public.shape(c)) || ' ' || count(*) || ' ' || min(caller_name) || ' '
                               || ((SELECT public.shape(s) FROM vapi.calls s WHERE vapi_call_id = 'seq')
                                   = min(public.shape(c)::text)::jsonb)
                          FROM vapi.calls c WHERE vapi_call_id LIKE 'race-%'")
[ "$raced" = "1 20 Contact of Q true" ] ||
	fail "concurrent deliveries gave: $raced (want 20 calls of one shape, the sequential one, Q's contact)"
errors=$(psql_db $db -c "SELECT count(*) FROM vapi.events WHERE outcome NOT IN ('inserted', 'updated', 'unchanged')")
[ "$errors" = 0 ] || fail "$errors deliveries were not applied"

# 3. A full replay writes nothing: every event unchanged, no row touched.
replayed=$(psql_db $db <<'SQL'
CREATE TEMP TABLE before AS SELECT vapi_call_id, xmin::text AS x, to_jsonb(c) AS r FROM vapi.calls c;
SELECT string_agg(action || ' ' || n, ', ') FROM (SELECT action, count(*) AS n FROM vapi.replay() GROUP BY 1) a;
SELECT count(*) FROM vapi.calls c JOIN before b USING (vapi_call_id) WHERE b.x <> c.xmin::text OR b.r <> to_jsonb(c);
SQL
)
case "$replayed" in
	"unchanged "*$'\n'0) ;;
	*) fail "a full replay gave: $replayed (want only unchanged, no row rewritten)" ;;
esac

psql_db postgres -c "DROP DATABASE $db"
echo "order_race_fuzz: 100 orders, 20 races of 3 connections (direct, batch, SQL), one row; replay wrote nothing"
