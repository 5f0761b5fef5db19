#!/usr/bin/env bash
# What a packager and a new user rely on: META.json valid and at the
# control file's version, -Werror only in the suite's build (WERROR=1), a
# CHANGELOG with an Unreleased section, an .editorconfig, `make dist`
# producing vapi_calls-<version>.tar.gz with the files an install needs,
# and a README whose reference names every routine, table, view and
# setting of the extension and every field of the result.
set -euo pipefail

: "${REPO:?}" "${BIN:?}" "${WORK:?}"
psql_at() { "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -At "$@"; }
fail() { echo "packaging: $*" >&2; exit 1; }

version=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$REPO/vapi_calls.control")
[ -n "$version" ] || fail "no default_version in vapi_calls.control"

# META.json, read by PostgreSQL's own JSON parser.
meta=$(psql_at -v meta="$(cat "$REPO/META.json")" <<'SQL'
SELECT concat_ws(' ', m->>'name', m->>'version', m->'provides'->'vapi_calls'->>'version',
                 m->'provides'->'vapi_calls'->>'file', m->'meta-spec'->>'version',
                 m ?& ARRAY['abstract', 'maintainer', 'license'])
  FROM (SELECT :'meta'::jsonb AS m) t;
SQL
) || fail "META.json is not valid JSON"
echo "META.json: $meta"
read -r name meta_version provides_version file spec has_required <<<"$meta"
[ "$name" = vapi_calls ] || fail "META.json name is '$name'"
[ "$meta_version" = "$version" ] || fail "META.json version $meta_version, control file $version"
[ "$provides_version" = "$version" ] || fail "META.json provides version $provides_version, control file $version"
[ -f "$REPO/$file" ] || fail "META.json provides file $file, which does not exist"
[ "$spec" = 1.0.0 ] && [ "$has_required" = t ] || fail "META.json lacks meta-spec 1.0.0 or a required key"

# Warnings are errors with WERROR=1 (the suite), not in a plain make.
compile() { make -s -n -B -C "$REPO" PG_CONFIG="$BIN/pg_config" "$@" src/guc.o; }
compile | grep -q -- ' -Wall ' || fail "a plain make does not compile with -Wall"
! compile | grep -q -- ' -Werror ' || fail "a plain make compiles with -Werror"
compile WERROR=1 | grep -q -- ' -Werror ' || fail "make WERROR=1 does not compile with -Werror"
echo "make: -Werror only with WERROR=1"

grep -q '^## Unreleased' "$REPO/CHANGELOG.md" || fail "CHANGELOG.md has no '## Unreleased' section"
[ -f "$REPO/.editorconfig" ] || fail "no .editorconfig"

# make dist: the committed tree, under vapi_calls-<version>/.
if git -C "$REPO" rev-parse --verify -q HEAD >/dev/null 2>&1; then
	mkdir -p "$WORK/dist"
	make -s -C "$REPO" dist DISTDIR="$WORK/dist" PG_CONFIG="${PG_CONFIG:-pg_config}" 2>/dev/null
	tarball=$WORK/dist/vapi_calls-$version.tar.gz
	[ -f "$tarball" ] || fail "make dist did not write vapi_calls-$version.tar.gz"
	listing=$(tar -tzf "$tarball")
	for f in vapi_calls.control META.json Makefile README.md CHANGELOG.md "sql/vapi_calls--$version.sql" src/vapi_calls.h; do
		grep -qx "vapi_calls-$version/$f" <<<"$listing" || fail "the tarball has no $f"
	done
	echo "make dist: $(wc -l <<<"$listing") entries in vapi_calls-$version.tar.gz"
else
	echo "not a git checkout: make dist not tested"
fi

# The README's reference names everything the extension has.
db=vapi_packaging
psql_at -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql_at -d $db -c "CREATE EXTENSION vapi_calls"
names=$(psql_at -d $db <<'SQL'
LOAD 'vapi_calls';  -- defines the settings
SELECT CASE WHEN p.pronamespace = 'vapi'::regnamespace THEN 'vapi.' ELSE '' END || p.proname
  FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'vapi_calls')
   AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
UNION
SELECT 'vapi.' || c.relname FROM pg_class c
 WHERE c.relnamespace = 'vapi'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'p')
UNION
SELECT name FROM pg_settings WHERE name LIKE 'vapi.%'
UNION
SELECT jsonb_object_keys(vapi_ingest('{"message": {"type": "status-update", "call": {}}}')
                         || vapi_ingest('{"message": {"type": "status-update", "status": "queued", "call": {"id": "c"}}}'))
ORDER BY 1;
SQL
)
psql_at -d postgres -c "DROP DATABASE $db"
missing=()
while read -r n; do
	grep -qF "\`$n" "$REPO/README.md" || missing+=("$n")
done <<<"$names"
[ ${#missing[@]} -eq 0 ] || fail "the README does not mention: ${missing[*]}"
echo "README names all of:" $names
echo "packaging ok"
