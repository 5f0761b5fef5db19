-- The functions the upsert's DO UPDATE calls (src/merge_fn.c) give what
-- the per-column rule they replaced gives when written out in SQL:
--   wins:    incoming_versions[i] > coalesce(stored_versions[i], 0)
--            OR (incoming_versions[i] = stored_versions[i] AND incoming > stored)
--   value:   CASE WHEN wins THEN incoming ELSE stored END
--   changed: wins AND incoming IS DISTINCT FROM stored
-- for every combination of stored and incoming versions (missing, 0, lower,
-- higher) and values (null, equal, lower, higher), in each column type.
CREATE FUNCTION pg_temp.rule_mismatches(vals anyarray) RETURNS TABLE (cases bigint, mismatches bigint)
LANGUAGE sql AS $$
	SELECT count(*), count(*) FILTER (WHERE NOT ok)
	FROM (SELECT
			vapi.merge_value(s, i, ARRAY[sv], ARRAY[iv], 1) IS NOT DISTINCT FROM
				CASE WHEN iv > coalesce(sv, 0) OR (iv = sv AND i > s) THEN i ELSE s END
			AND vapi.merge_wins(ARRAY[sv], ARRAY[iv], 1, s, i) =
				coalesce(iv > coalesce(sv, 0) OR (iv = sv AND i > s), false)
			AND vapi.merge_changed(ARRAY[sv], ARRAY[iv], 1, s, i) =
				coalesce((iv > coalesce(sv, 0) OR (iv = sv AND i > s)) AND i IS DISTINCT FROM s, false)
			AND vapi.merge_versions(ARRAY[sv], ARRAY[iv]) = ARRAY[greatest(coalesce(sv, 0), iv)]
			AS ok
		  FROM unnest(ARRAY[NULL, 0, 5, 7]::bigint[]) sv,
		       unnest(ARRAY[NULL, 0, 5, 7]::bigint[]) iv,
		       unnest(array_append(vals, NULL)) s,
		       unnest(array_append(vals, NULL)) i) t
$$;

SELECT 'text' AS type, * FROM pg_temp.rule_mismatches(ARRAY['a', 'b', 'B']::text[])
UNION ALL
SELECT 'uuid', * FROM pg_temp.rule_mismatches(ARRAY['c0ffee00-0000-4000-8000-000000000001',
	'c0ffee00-0000-4000-8000-000000000002']::uuid[])
UNION ALL
SELECT 'timestamptz', * FROM pg_temp.rule_mismatches(ARRAY['2026-01-01 10:00:00+00',
	'2026-01-01 10:00:00.001+00']::timestamptz[])
UNION ALL
-- 1.0 and 1.00 are equal but not the same bytes: not a visible change
SELECT 'numeric', * FROM pg_temp.rule_mismatches(ARRAY[1.0, 1.00, 2]::numeric[])
UNION ALL
SELECT 'jsonb', * FROM pg_temp.rule_mismatches(ARRAY['{"a": 1}', '{"a": 1.0}', '{"a": 2}', '{}']::jsonb[]);

-- A stored array shorter than the field list: the missing version is 0.
SELECT vapi.merge_value('stored'::text, 'incoming'::text, '{}', '{3}', 1) AS incoming_wins,
       vapi.merge_value('stored'::text, NULL::text, '{}', '{0}', 1) AS stored_kept,
       vapi.merge_versions('{1,NULL}', '{2,0,4}') AS versions;

-- Several fields, as (field number, stored, incoming) triples: any winning
-- field makes merge_wins true; merge_changed needs a winning value that
-- differs.  Fields left out (the upsert's lean statement leaves out those
-- a delivery cannot carry) are not looked at.
SELECT vapi.merge_wins('{5,5}', '{5,6}', 1, 'a'::text, 'a'::text, 2, 1.0, 1.00) AS second_wins,
       vapi.merge_changed('{5,5}', '{5,6}', 1, 'a'::text, 'a'::text, 2, 1.0, 1.00) AS but_equal,
       vapi.merge_changed('{5,5}', '{5,6}', 1, 'a'::text, 'a'::text, 2, 1.0, 2.0) AS and_differs,
       vapi.merge_wins('{5,5}', '{5,5}', 1, 'a'::text, 'a'::text, 2, 1.0, 1.00) AS exact_repeat,
       vapi.merge_wins('{5,5,5}', '{5,5,9}', 1, 'a'::text, 'a'::text, 2, 1.0, 1.0) AS third_not_given,
       vapi.merge_changed('{5,5,5}', '{5,5,9}', 3, 'a'::text, 'b'::text) AS only_third;

-- A stored and an incoming value of different types are refused (one type's
-- comparison would otherwise be applied to the other's bytes), and no role
-- but the owner may call these functions at all.
SELECT vapi.merge_changed('{1}'::bigint[], '{1}'::bigint[], 1, 'abc'::text, 12345::int);
SELECT vapi.merge_wins('{1}'::bigint[], '{1}'::bigint[], 1, 12345::int, 'abc'::text);
SELECT p.oid::regprocedure AS merge_function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute
  FROM pg_proc p WHERE p.pronamespace = 'vapi'::regnamespace AND p.proname LIKE 'merge\_%' ORDER BY 1::text;
