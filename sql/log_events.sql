-- vapi.log_events: which deliveries vapi.events keeps (all, errors, none);
-- only a superuser may change it.
TRUNCATE vapi.calls, vapi.events, vapi.agents, vapi.phone_numbers, vapi.contacts RESTART IDENTITY;

CREATE FUNCTION public.vapi_test_refuse_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'calls are read-only during maintenance';
END $$;
-- One of each outcome: inserted, unchanged, ignored, rejected, error.
CREATE FUNCTION pg_temp.one_of_each(id text) RETURNS TABLE (action text, event_id text) LANGUAGE plpgsql AS $$
DECLARE
  ev jsonb := jsonb_build_object('message', jsonb_build_object(
    'type', 'status-update', 'status', 'ringing', 'timestamp', 1767225600000,
    'call', jsonb_build_object('id', id)));
  r jsonb;
BEGIN
  FOR r IN SELECT vapi_ingest(p) FROM unnest(ARRAY[ev, ev, '{"message": {"type": "chat.created"}}',
                                                  '{"message": {"type": "status-update"}}']) p LOOP
    action := r->>'action'; event_id := r->>'event_id'; RETURN NEXT;
  END LOOP;
  CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE ON vapi.calls
    FOR EACH ROW EXECUTE FUNCTION public.vapi_test_refuse_writes();
  r := vapi_ingest(jsonb_set(ev, '{message,status}', '"in-progress"'));
  DROP TRIGGER refuse_writes ON vapi.calls;
  action := r->>'action'; event_id := r->>'event_id'; RETURN NEXT;
END $$;

-- The settings exist once the library is loaded (by the first call, or LOAD).
LOAD 'vapi_calls';
-- all (the default): every delivery, every outcome.
SHOW vapi.log_events;
SELECT * FROM pg_temp.one_of_each('log-all');
SELECT id, vapi_call_id, outcome FROM vapi.events ORDER BY id;

-- errors: only rejected and failed deliveries; the others answer without
-- an event_id.
SET vapi.log_events = errors;
SELECT * FROM pg_temp.one_of_each('log-errors');
SELECT id, vapi_call_id, outcome FROM vapi.events WHERE id > 5 ORDER BY id;

-- none: nothing, not even failures; the calls are still written.
SET vapi.log_events = none;
SELECT * FROM pg_temp.one_of_each('log-none');
SELECT count(*) AS new_events FROM vapi.events WHERE id > 7;
SELECT vapi_call_id, status FROM vapi.calls ORDER BY 1;
RESET vapi.log_events;

-- A bad value is refused, with the values allowed.
SET vapi.log_events = sometimes;

-- Only a superuser may change it: not a role that may ingest, not in its
-- session, not for itself, not through set_config.
SELECT current_user AS superuser_name \gset
CREATE ROLE regress_vapi_ingester;
GRANT EXECUTE ON FUNCTION vapi_ingest(jsonb) TO regress_vapi_ingester;
SET ROLE regress_vapi_ingester;
SHOW vapi.log_events;
SET vapi.log_events = none;
SELECT set_config('vapi.log_events', 'none', false);
ALTER ROLE regress_vapi_ingester SET vapi.log_events = none;
-- Its deliveries are still logged as configured.
SELECT vapi_ingest('{"message": {"type": "status-update"}}')->>'event_id' IS NOT NULL AS logged;
RESET ROLE;
-- Nor before the library is loaded in its session: the placeholder it
-- sets is dropped when the library loads.
ALTER ROLE regress_vapi_ingester LOGIN;
\c - regress_vapi_ingester
SET vapi.log_events = none;
SELECT vapi_ingest('{"message": {"type": "status-update"}}')->>'event_id' IS NOT NULL AS logged;
SHOW vapi.log_events;
\c - :superuser_name
-- A superuser may set it for the role, and it applies to its sessions.
ALTER ROLE regress_vapi_ingester SET vapi.log_events = errors;
\c - regress_vapi_ingester
SELECT vapi_ingest('{"message": {"type": "status-update", "status": "ringing", "call": {"id": "log-role"}}}')->>'event_id' IS NOT NULL AS logged;
SHOW vapi.log_events;
\c - :superuser_name
ALTER ROLE regress_vapi_ingester RESET vapi.log_events;
REVOKE EXECUTE ON FUNCTION vapi_ingest(jsonb) FROM regress_vapi_ingester;
DROP ROLE regress_vapi_ingester;
DROP FUNCTION public.vapi_test_refuse_writes();
