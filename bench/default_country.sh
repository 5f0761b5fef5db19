#!/usr/bin/env bash
# What vapi.default_country costs (README, "Default country"): builds the
# extension, starts a throwaway cluster and measures, best of ROUNDS runs:
#
#   1. vapi_ingest per event, every event a new call whose caller is looked
#      up among CONTACTS contacts stored in national format, with the
#      setting unset (one form of the number, the = lookup) and set to US
#      (four forms, the = ANY lookup);
#   2. that lookup alone, one form vs four, for the same callers;
#   3. vapi.normalize_phone(phone) vs vapi.normalize_phone(phone, 'US') per
#      row of a scan of the CONTACTS numbers (what an index build pays);
#   4. with --libphonenumber, the same numbers parsed and formatted as E.164
#      by libphonenumber (C++, Debian libphonenumber-dev), for comparison.
#
#   bench/default_country.sh [--libphonenumber]
#
# Environment: CONTACTS (100000), EVENTS (20000), ROUNDS (3).
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

with_lpn=
for arg in "$@"; do
	case $arg in
		--libphonenumber) with_lpn=1 ;;
		-h | --help) sed -n '2,/^source/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
		*) echo "bench/default_country.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
	esac
done
CONTACTS=${CONTACTS:-100000}
EVENTS=${EVENTS:-20000}
ROUNDS=${ROUNDS:-3}

ensure_build_deps
build
temp_install
start_cluster "shared_buffers = 256MB" "autovacuum = off" "jit = off"
psql_q -c "CREATE EXTENSION vapi_calls"

log "loading $CONTACTS contacts in national format, $EVENTS events"
psql_q <<SQL
INSERT INTO vapi.agents
  SELECT 'asst-' || o, ('00000000-0000-0000-0000-' || lpad(o::text, 12, '0'))::uuid, 'agent'
    FROM generate_series(1, 100) o;
-- (NXX) NXX-XXXX, as typed in a US address book
INSERT INTO vapi.contacts (org_id, phone, name)
  SELECT ('00000000-0000-0000-0000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid,
         format('(%s) %s-%s', 200 + i % 700, 200 + (i / 700) % 700, lpad((i % 10000)::text, 4, '0')),
         'contact ' || i
    FROM generate_series(1, $CONTACTS) i;
ANALYZE vapi.contacts;
-- every event a new call of a known assistant; half the callers are contacts
CREATE TABLE ev AS
  SELECT i, jsonb_build_object('message', jsonb_build_object(
           'type', 'status-update', 'status', 'ringing', 'timestamp', 1767225600000 + i,
           'customer', jsonb_build_object('number', '+1' || vapi.normalize_phone(c.phone) ||
                                           CASE WHEN i % 2 = 0 THEN '' ELSE '9' END),
           'call', jsonb_build_object('id', 'bench-' || i, 'assistantId', a.vapi_assistant_id))) AS p
    FROM generate_series(1, $EVENTS) i
    JOIN (SELECT phone, org_id, row_number() OVER (ORDER BY id) - 1 AS k FROM vapi.contacts) c
      ON c.k = (i::bigint * 7919) % $CONTACTS
    JOIN vapi.agents a ON a.org_id = c.org_id;
-- the lookup alone, as vapi_ingest prepares it, for the same callers: the
-- caller's forms under US (E.164, national, with trunk, after 011)
CREATE TABLE forms AS
  SELECT i, a.org_id, ARRAY['+1' || n, n, '1' || n, '0111' || n] AS forms
    FROM (SELECT i, (p #>> '{message,customer,number}') AS num, p #>> '{message,call,assistantId}' AS asst FROM ev) e
    JOIN vapi.agents a ON a.vapi_assistant_id = e.asst,
         LATERAL (SELECT substr(e.num, 3) AS n) x;
CREATE FUNCTION bench_ingest(country text) RETURNS double precision LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz;
BEGIN
	PERFORM set_config('vapi.default_country', country, true);
	t0 := clock_timestamp();
	PERFORM count(vapi_ingest(p)) FROM ev;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / (SELECT count(*) FROM ev);
END
\$\$;
CREATE FUNCTION bench_lookup(several boolean) RETURNS double precision LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz;
	r record;
	found_name text;
BEGIN
	-- a generic plan, as vapi_ingest prepares its lookups
	PERFORM set_config('plan_cache_mode', 'force_generic_plan', true);
	t0 := clock_timestamp();
	FOR r IN SELECT * FROM forms ORDER BY i LOOP
		IF several THEN
			SELECT name INTO found_name FROM vapi.contacts
			 WHERE org_id = r.org_id AND vapi.normalize_phone(phone) = ANY (r.forms)
			   AND name IS NOT NULL AND name <> '' ORDER BY id LIMIT 1;
		ELSE
			SELECT name INTO found_name FROM vapi.contacts
			 WHERE org_id = r.org_id AND vapi.normalize_phone(phone) = r.forms[1]
			   AND name IS NOT NULL AND name <> '' ORDER BY id LIMIT 1;
		END IF;
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e6 / (SELECT count(*) FROM forms);
END
\$\$;
-- ns per row of a scan of the contacts that computes expr (5 passes)
CREATE FUNCTION bench_normalize(expr text) RETURNS double precision LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz;
BEGIN
	t0 := clock_timestamp();
	FOR k IN 1..5 LOOP
		EXECUTE 'SELECT count(' || expr || ') FROM vapi.contacts';
	END LOOP;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1e9 / 5 / (SELECT count(*) FROM vapi.contacts);
END
\$\$;
SQL

# One measurement in its own transaction, rolled back so every run starts
# from the same tables.
measure() { psql_q -At -c "BEGIN" -c "SELECT round(($1)::numeric, 2)" -c "ROLLBACK"; }
best() { sort -g | head -n 1; }

unset_us=() us_us=() eq_us=() any_us=() base_ns=() one_ns=() two_ns=()
for r in $(seq "$ROUNDS"); do
	unset_us+=("$(measure "bench_ingest('')")")
	us_us+=("$(measure "bench_ingest('US')")")
	eq_us+=("$(measure "bench_lookup(false)")")
	any_us+=("$(measure "bench_lookup(true)")")
	base_ns+=("$(measure "bench_normalize('length(phone)')")")
	one_ns+=("$(measure "bench_normalize('vapi.normalize_phone(phone)')")")
	two_ns+=("$(measure "bench_normalize('vapi.normalize_phone(phone, ''US'')')")")
done
matched=$(psql_q -At -c "BEGIN" -c "SELECT set_config('vapi.default_country', 'US', true)" \
	-c "SELECT count(*) FILTER (WHERE (vapi_ingest(p) ->> 'ok')::boolean) FROM ev" \
	-c "SELECT count(*) FILTER (WHERE caller_name LIKE 'contact %') FROM vapi.calls" -c "ROLLBACK" | tail -n 1)
u=$(printf '%s\n' "${unset_us[@]}" | best)
s=$(printf '%s\n' "${us_us[@]}" | best)
echo "vapi_ingest per event, $CONTACTS contacts, $EVENTS new calls (best of $ROUNDS):"
echo "  vapi.default_country unset: $u us   (runs: ${unset_us[*]})"
echo "  vapi.default_country = US:  $s us   (runs: ${us_us[*]}; $matched of $EVENTS callers found a contact)"
echo "the contact lookup alone, per caller (best of $ROUNDS):"
echo "  one form, = \$2:           $(printf '%s\n' "${eq_us[@]}" | best) us   (runs: ${eq_us[*]})"
echo "  four forms, = ANY (\$2):   $(printf '%s\n' "${any_us[@]}" | best) us   (runs: ${any_us[*]})"
echo "a scan of the $CONTACTS contacts, ns per row (best of $ROUNDS):"
echo "  length(phone), the scan itself: $(printf '%s\n' "${base_ns[@]}" | best) ns"
echo "  normalize_phone(phone):         $(printf '%s\n' "${one_ns[@]}" | best) ns"
echo "  normalize_phone(phone, 'US'):   $(printf '%s\n' "${two_ns[@]}" | best) ns"

if [ -n "$with_lpn" ]; then
	ensure_packages g++ libphonenumber-dev
	psql_q -At -c "SELECT phone FROM vapi.contacts" >"$WORK/phones.txt"
	cat >"$WORK/lpn.cc" <<'CC'
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>
#include <phonenumbers/phonenumberutil.h>
using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;
int main(int argc, char **argv) {
	std::ifstream in(argv[1]);
	std::vector<std::string> phones;
	for (std::string s; std::getline(in, s);) phones.push_back(s);
	const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
	double best = 1e30;
	size_t ok = 0;
	for (int round = 0; round < 3; round++) {
		auto t0 = std::chrono::steady_clock::now();
		ok = 0;
		for (const std::string &p : phones) {
			PhoneNumber n;
			std::string out;
			if (util->Parse(p, "US", &n) == PhoneNumberUtil::NO_PARSING_ERROR) {
				util->Format(n, PhoneNumberUtil::E164, &out);
				ok++;
			}
		}
		double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / phones.size();
		if (ns < best) best = ns;
	}
	std::cout << best << " " << ok << std::endl;
}
CC
	g++ -O2 -o "$WORK/lpn" "$WORK/lpn.cc" -lphonenumber
	read -r ns ok < <("$WORK/lpn" "$WORK/phones.txt")
	echo "libphonenumber Parse(phone, \"US\") + Format(E164) per call, over the same $CONTACTS numbers:"
	echo "  ${ns} ns ($ok parsed)"
fi
