-- vapi.normalize_phone: digits, with a leading + for international numbers.
SELECT input, vapi.normalize_phone(input) AS normalized
  FROM (VALUES ('+1 (555) 010-2000'), ('(555) 010-2000'), ('555.010.2000'),
               ('+44 20 7946 0958'), ('0044 20 7946 0958'), ('00 44 20 7946 0958'),
               ('+1-555-010-2000 ext. 12'), ('  +15550102000  '), ('1+555'),
               ('00'), ('0'), ('tel:+15550102000'), ('no digits'), (''),
               ('+'), (NULL)) AS t(input);
-- A digit of any script is that digit (Arabic-Indic, Extended Arabic-Indic,
-- Devanagari, fullwidth, mathematical), and a fullwidth plus is a plus: a
-- number typed with them is the same number, not what is left of it without
-- them.  Other letters and signs (Roman numerals, circled digits) are dropped.
SELECT input, vapi.normalize_phone(input) AS normalized
  FROM (VALUES ('+٩٧١ ５５５ 0100'), ('١٢٣-٤٥٦'), ('۰۹۱۲ ۳۴۵ ۶۷۸۹'), ('+९१ ९८७६५ ४३२१०'),
               ('＋44 20 7946 0958'), ('𝟏𝟐𝟑'), ('٠٠٤٤ 20 7946 0958'), ('Ⅻ 12 Ⅳ'),
               ('ext①②')) AS t(input);
SELECT vapi.normalize_phone('+٩٧١ ５５５ 0100') = '+9715550100' AS same_number;
-- Equal numbers written differently normalize equally.
SELECT vapi.normalize_phone('+1 (555) 010-2000') = vapi.normalize_phone('+15550102000') AS same;
-- It is immutable, so it can be indexed.
SELECT provolatile FROM pg_proc WHERE oid = 'vapi.normalize_phone(text)'::regprocedure;
