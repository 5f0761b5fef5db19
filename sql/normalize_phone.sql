-- vapi.normalize_phone: digits, with a leading + for international numbers.
SELECT input, vapi.normalize_phone(input) AS normalized
  FROM (VALUES ('+1 (555) 010-2000'), ('(555) 010-2000'), ('555.010.2000'),
               ('+44 20 7946 0958'), ('0044 20 7946 0958'), ('00 44 20 7946 0958'),
               ('+1-555-010-2000 ext. 12'), ('  +15550102000  '), ('1+555'),
               ('00'), ('0'), ('tel:+15550102000'), ('no digits'), (''),
               ('+'), ('١٢٣ arabic-indic digits are not ASCII'), (NULL)) AS t(input);
-- Equal numbers written differently normalize equally.
SELECT vapi.normalize_phone('+1 (555) 010-2000') = vapi.normalize_phone('+15550102000') AS same;
-- It is immutable, so it can be indexed.
SELECT provolatile FROM pg_proc WHERE oid = 'vapi.normalize_phone(text)'::regprocedure;
