-- 0007 · signing out of the dashboard ends the session everywhere, not just in the browser.
--
-- A dashboard session is a signed, stateless cookie: deleting it in the browser left any copy of it
-- valid until it expired (8 hours). Signing out now records the session id here until that expiry,
-- and every dashboard request refuses a recorded id. Only the two functions below touch the table
-- (as the system role, for their own duration, as cmis.authenticate_token does); expired rows are
-- removed whenever a session ends.

CREATE TABLE cmis.ended_sessions (
  sid text PRIMARY KEY CONSTRAINT ended_sessions_sid_format CHECK (sid ~ '^[A-Za-z0-9_-]{16,64}$'),
  expires_at timestamptz NOT NULL
);
ALTER TABLE cmis.ended_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.ended_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY ended_sessions_system ON cmis.ended_sessions
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());

CREATE OR REPLACE FUNCTION cmis.end_session(p_sid text, p_expires_at timestamptz)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  caller_role text := current_setting('app.role', true);
BEGIN
  PERFORM set_config('app.role', 'system', true);
  DELETE FROM cmis.ended_sessions WHERE expires_at < now();
  INSERT INTO cmis.ended_sessions (sid, expires_at) VALUES (p_sid, p_expires_at) ON CONFLICT (sid) DO NOTHING;
  PERFORM set_config('app.role', coalesce(caller_role, ''), true);
EXCEPTION WHEN OTHERS THEN
  PERFORM set_config('app.role', coalesce(caller_role, ''), true);
  RAISE;
END
$$;

CREATE OR REPLACE FUNCTION cmis.session_ended(p_sid text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  caller_role text := current_setting('app.role', true);
  found boolean;
BEGIN
  PERFORM set_config('app.role', 'system', true);
  SELECT EXISTS (SELECT 1 FROM cmis.ended_sessions WHERE sid = p_sid) INTO found;
  PERFORM set_config('app.role', coalesce(caller_role, ''), true);
  RETURN found;
EXCEPTION WHEN OTHERS THEN
  PERFORM set_config('app.role', coalesce(caller_role, ''), true);
  RAISE;
END
$$;

REVOKE ALL ON FUNCTION cmis.end_session(text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION cmis.session_ended(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cmis.end_session(text, timestamptz) TO cmis_app;
GRANT EXECUTE ON FUNCTION cmis.session_ended(text) TO cmis_app;
