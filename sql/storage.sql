-- Column storage: the large columns of vapi.calls and vapi.events are
-- compressed with lz4 (PostgreSQL's default is pglz).
SELECT attrelid::regclass AS relation, attname, attcompression
  FROM pg_attribute
 WHERE attrelid IN ('vapi.calls'::regclass, 'vapi.events'::regclass)
   AND attnum > 0 AND NOT attisdropped AND attcompression <> ''
 ORDER BY 1, 2;

-- A report large enough to be compressed: its transcript, analysis and
-- metadata in the row, its payload in the event log, all lz4.
TRUNCATE vapi.calls, vapi.events RESTART IDENTITY;
SELECT vapi_ingest(jsonb_build_object('message', jsonb_build_object(
  'type', 'end-of-call-report', 'endedReason', 'customer-ended-call', 'timestamp', 1767225660000,
  'call', jsonb_build_object('id', 'storage-1', 'type', 'webCall',
                             'metadata', jsonb_build_object('notes', repeat('A long note. ', 400))),
  'artifact', jsonb_build_object('transcript', repeat('AI: Hello there. User: Hi. ', 800)),
  'analysis', jsonb_build_object('summary', repeat('A summary. ', 400)))))->>'action';
SELECT pg_column_compression(transcript) AS transcript, pg_column_compression(analysis) AS analysis,
       pg_column_compression(metadata) AS metadata, length(transcript)
  FROM vapi.calls;
SELECT pg_column_compression(payload) AS payload, pg_column_size(payload) < octet_length(payload::text) / 4 AS compressed
  FROM vapi.events;
