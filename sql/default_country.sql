-- vapi.default_country: contacts stored in national format match Vapi's
-- E.164 numbers.  vapi.normalize_phone(phone, country) is the rule; the
-- setting chooses the country; vapi.normalize_phone(phone) and its index
-- never change, so changing the setting needs no reindex.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;
SET timezone = 'UTC';

-- 1. The rule, country by country.  A number with + or 00 is international
-- as it is; a national one loses its trunk prefix (where the country has
-- one) and gains the calling code; after the country's own international
-- prefix (when it does not start with 00) it is international.
SELECT country, phone, vapi.normalize_phone(phone, country) AS e164, vapi.normalize_phone(phone) AS one_argument
  FROM (VALUES
	('US', '(415) 555-0100'), ('US', '1 (415) 555-0100'), ('US', '+1 415 555 0100'),
	('US', '011 44 20 7946 0958'), ('US', '00 44 20 7946 0958'), ('us', '415.555.0100'),
	('CA', '604-555-0199'), ('GB', '020 7946 0958'), ('GB', '07700 900123'), ('GB', '+44 (0)20 7946 0958'),
	('DE', '030 123456'), ('FR', '01 23 45 67 89'), ('IT', '06 1234 5678'), ('ES', '912 345 678'),
	('RU', '8 (495) 123-45-67'), ('RU', '810 44 20 7946 0958'), ('JP', '03-1234-5678'), ('JP', '010 1 415 555 0100'),
	('AU', '(02) 9374 4000'), ('AU', '0011 44 20 7946 0958'), ('MX', '01 55 1234 5678'), ('MX', '55 1234 5678'),
	('HU', '06 1 234 5678'), ('IN', '098765 43210'),
	('US', 'ext. 12'), ('US', '911'), ('US', '1 911'), ('GB', '0 1234'), ('US', 'no digits'), ('US', ''), ('US', NULL), (NULL, '(415) 555-0100'), ('', '020 7946 0958')
  ) AS c(country, phone);
SELECT vapi.normalize_phone('020 7946 0958', 'XX');
SELECT vapi.normalize_phone('020 7946 0958', 'GBR');
-- immutable, usable in an index; the one-argument form is unchanged
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, p.provolatile, p.proisstrict
  FROM pg_proc p WHERE p.pronamespace = 'vapi'::regnamespace AND p.proname = 'normalize_phone' ORDER BY 2;

-- 2. The setting: empty by default, a superuser's, checked.
SHOW vapi.default_country;
SET vapi.default_country = 'XX';
SET vapi.default_country = 'USA';
SET vapi.default_country = 'gb';
SHOW vapi.default_country;
RESET vapi.default_country;
CREATE ROLE regress_country_user NOLOGIN;
SET ROLE regress_country_user;
SET vapi.default_country = 'US';
RESET ROLE;
DROP ROLE regress_country_user;
SELECT severity, item FROM vapi.check() WHERE item = 'vapi.default_country';

-- 3. Contacts as the application typed them.
INSERT INTO vapi.agents VALUES
  ('asst-us', 'aaaaaaaa-0000-0000-0000-00000000000a', 'US org'),
  ('asst-gb', 'bbbbbbbb-0000-0000-0000-00000000000b', 'GB org');
INSERT INTO vapi.contacts (id, org_id, phone, name) VALUES
  ('00000000-0000-0000-0000-000000000001', 'aaaaaaaa-0000-0000-0000-00000000000a', '(415) 555-0100', 'Ada (national)'),
  ('00000000-0000-0000-0000-000000000002', 'aaaaaaaa-0000-0000-0000-00000000000a', '1-415-555-0111', 'Ben (trunk 1)'),
  ('00000000-0000-0000-0000-000000000003', 'aaaaaaaa-0000-0000-0000-00000000000a', '011 44 20 7946 0958', 'Cleo (dialled from the US)'),
  ('00000000-0000-0000-0000-000000000004', 'aaaaaaaa-0000-0000-0000-00000000000a', '+1 415 555 0122', 'Dev (E.164)'),
  ('00000000-0000-0000-0000-000000000005', 'aaaaaaaa-0000-0000-0000-00000000000a', '415 555 0133', 'Eve (second by id)'),
  ('00000000-0000-0000-0000-000000000000', 'aaaaaaaa-0000-0000-0000-00000000000a', '+14155550133', 'Eve (first by id)'),
  ('00000000-0000-0000-0000-000000000006', 'bbbbbbbb-0000-0000-0000-00000000000b', '020 7946 0958', 'Gus (GB national)'),
  ('00000000-0000-0000-0000-000000000007', 'bbbbbbbb-0000-0000-0000-00000000000b', '(415) 555-0100', 'Hal (not a GB number)');

CREATE FUNCTION pg_temp.caller(call text, assistant text, number text) RETURNS text LANGUAGE sql AS $$
  SELECT vapi_ingest(jsonb_build_object('message', jsonb_build_object(
    'type', 'status-update', 'status', 'ringing', 'timestamp', 1767225600000,
    'customer', jsonb_build_object('number', number),
    'call', jsonb_build_object('id', call, 'assistantId', assistant))));
  SELECT caller_name FROM vapi.calls WHERE vapi_call_id = call;
$$;
CREATE TEMP TABLE callers (n int, assistant text, number text);
INSERT INTO callers VALUES
  (1, 'asst-us', '+14155550100'), (2, 'asst-us', '+14155550111'), (3, 'asst-us', '+442079460958'),
  (4, 'asst-us', '+14155550122'), (5, 'asst-us', '+14155550133'), (6, 'asst-gb', '+442079460958'),
  (7, 'asst-gb', '+14155550100'), (8, 'asst-us', '4155550100');
CREATE FUNCTION pg_temp.round(tag text) RETURNS TABLE (n int, number text, org text, caller text) LANGUAGE sql AS $$
  SELECT c.n, c.number, c.assistant, pg_temp.caller(tag || '-' || c.n, c.assistant, c.number)
    FROM callers c ORDER BY c.n
$$;
-- no country: digit for digit, as before
SELECT * FROM pg_temp.round('none');
-- US: the national forms of the US org's contacts match
SET vapi.default_country = 'US';
SELECT * FROM pg_temp.round('us');
-- GB, in the same session: the setting applies from the next call, no reindex
SET vapi.default_country = 'GB';
SELECT * FROM pg_temp.round('gb');
RESET vapi.default_country;

-- 4. The index on vapi.normalize_phone(phone) serves the lookup of several
-- forms (the statement vapi_ingest prepares for them, as a generic plan).
INSERT INTO vapi.contacts (org_id, phone, name)
  SELECT 'cccccccc-0000-0000-0000-00000000000c', '(212) 555-' || lpad(i::text, 4, '0'), 'bulk ' || i
    FROM generate_series(1, 2000) i;
ANALYZE vapi.contacts;
SET plan_cache_mode = force_generic_plan;
PREPARE any_lookup(uuid, text[]) AS
  SELECT name FROM vapi.contacts
   WHERE org_id = $1 AND vapi.normalize_phone(phone) = ANY ($2) AND name IS NOT NULL AND name <> ''
   ORDER BY id LIMIT 1;
EXPLAIN (COSTS OFF) EXECUTE any_lookup('cccccccc-0000-0000-0000-00000000000c', '{+12125550007,2125550007,12125550007}');
EXECUTE any_lookup('cccccccc-0000-0000-0000-00000000000c', '{+12125550007,2125550007,12125550007}');
DEALLOCATE any_lookup;
RESET plan_cache_mode;

-- 5. A configured contacts source: the application's own table through a
-- view, indexed on the table; national phones match the same way.
CREATE TABLE public.crm_people (pk int PRIMARY KEY, account uuid NOT NULL, mobile text, full_name text);
CREATE INDEX ON public.crm_people (account, vapi.normalize_phone(mobile), pk);
CREATE VIEW public.crm_contacts AS SELECT pk AS id, account AS org_id, mobile AS phone, full_name AS name FROM public.crm_people;
INSERT INTO public.crm_people VALUES
  (1, 'aaaaaaaa-0000-0000-0000-00000000000a', '(415) 555-0199', 'Ivy (CRM, national)'),
  (2, 'aaaaaaaa-0000-0000-0000-00000000000a', '+1 415 555 0198', 'Jo (CRM, E.164)');
SET vapi.contacts_source = 'public.crm_contacts';
SELECT pg_temp.caller('crm-1', 'asst-us', '+14155550199') AS without_country;
SET vapi.default_country = 'US';
SELECT pg_temp.caller('crm-2', 'asst-us', '+14155550199') AS with_us,
       pg_temp.caller('crm-3', 'asst-us', '+14155550198') AS e164_contact;
SELECT severity, detail FROM vapi.check() WHERE item = 'vapi.contacts_source' AND detail LIKE '%index%';
RESET vapi.contacts_source;
DROP VIEW public.crm_contacts;
DROP TABLE public.crm_people;

-- 6. Calls matched before the setting existed: vapi.reresolve() matches
-- them again under it.
RESET vapi.default_country;
SELECT pg_temp.caller('late-1', 'asst-us', '+14155550100') AS before_setting;
SET vapi.default_country = 'US';
SELECT vapi.reresolve() > 0 AS reresolved;
SELECT caller_name AS after_reresolve FROM vapi.calls WHERE vapi_call_id = 'late-1';
RESET vapi.default_country;
