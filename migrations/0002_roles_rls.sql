-- 0002 · the app role, grants and row-level security.
--
-- The application never uses the owner's rights: shared/db/rls.ts `withRls` opens a transaction,
-- does `SET LOCAL ROLE cmis_app` and sets, with set_config(..., true):
--   app.role      'system' | 'org_admin' | 'viewer'   (anything else, or unset = no access)
--   app.org_id    the org of an org_admin/viewer context (ignored for 'system')
--   app.actor     who acts (required for writes to flags/overrides: the audit trigger rejects none)
--   app.reason, app.request_id   copied into audit rows
-- Policies:
--   system     reads and writes every row
--   org_admin  reads its org's rows + system rows (org_id IS NULL) of flag tables; writes only its org's rows
--   viewer     reads like org_admin, writes nothing
--   no context sees nothing and writes nothing
-- The cron Worker uses role 'system' with actor 'cron'.

-- cmis_app is cluster-wide and several databases (tests) share a cluster: create it only if missing,
-- tolerate a concurrent creator, and let the migrating user SET ROLE to it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cmis_app') THEN
    BEGIN
      CREATE ROLE cmis_app NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
  IF NOT pg_has_role(current_user, 'cmis_app', 'MEMBER') THEN
    EXECUTE format('GRANT cmis_app TO %I', current_user);
  END IF;
END
$$;

-- Context helpers (STABLE: read once per statement).
CREATE OR REPLACE FUNCTION cmis.ctx_role() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_setting('app.role', true) IN ('system', 'org_admin', 'viewer')
              THEN current_setting('app.role', true) END
$$;
CREATE OR REPLACE FUNCTION cmis.ctx_org() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('app.org_id', true), '')
$$;
CREATE OR REPLACE FUNCTION cmis.ctx_actor() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('app.actor', true), '')
$$;
CREATE OR REPLACE FUNCTION cmis.ctx_is_system() RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce(cmis.ctx_role() = 'system', false)
$$;
-- May the context read rows of this org? (NULL org = system rows: any valid context reads them.)
CREATE OR REPLACE FUNCTION cmis.ctx_can_read(row_org text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN cmis.ctx_role() IS NULL THEN false
    WHEN cmis.ctx_role() = 'system' THEN true
    WHEN row_org IS NULL THEN true
    ELSE row_org = cmis.ctx_org()
  END
$$;
-- May the context write rows of this org? (NULL org = system rows: only 'system'.)
CREATE OR REPLACE FUNCTION cmis.ctx_can_write(row_org text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN cmis.ctx_role() = 'system' THEN true
    WHEN cmis.ctx_role() = 'org_admin' AND row_org IS NOT NULL THEN row_org = cmis.ctx_org()
    ELSE false
  END
$$;
-- Reads that must not show other tenants' or global rows to an org (tokens, webhooks, metrics).
CREATE OR REPLACE FUNCTION cmis.ctx_can_read_own(row_org text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN cmis.ctx_role() = 'system' THEN true
    WHEN cmis.ctx_role() IN ('org_admin', 'viewer') AND row_org IS NOT NULL THEN row_org = cmis.ctx_org()
    ELSE false
  END
$$;

GRANT USAGE ON SCHEMA cmis TO cmis_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
  cmis.feature_flags, cmis.feature_flag_overrides, cmis.api_tokens, cmis.flag_schedules,
  cmis.flag_metrics_hourly, cmis.webhooks
  TO cmis_app;
GRANT SELECT, INSERT, UPDATE ON cmis.snapshot_versions, cmis.cron_runs TO cmis_app;
-- the audit trail: insert and read, never update or delete
GRANT SELECT, INSERT ON cmis.feature_flag_values TO cmis_app;
GRANT SELECT ON cmis.schema_migrations TO cmis_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA cmis TO cmis_app;

ALTER TABLE cmis.feature_flags ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.feature_flags FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.feature_flag_overrides ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.feature_flag_overrides FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.feature_flag_values ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.feature_flag_values FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.api_tokens FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.flag_schedules ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.flag_schedules FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.snapshot_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.snapshot_versions FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.flag_metrics_hourly ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.flag_metrics_hourly FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.webhooks FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.cron_runs ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.cron_runs FORCE ROW LEVEL SECURITY;

-- Policies are written in terms of the app.* context (not current_user), so the SECURITY DEFINER
-- triggers of 0003 pass them too when the owner is not a superuser (FORCE applies to the owner).

-- flags and overrides: read own org + system rows, write own org (org_admin) or anything (system)
CREATE POLICY feature_flags_read ON cmis.feature_flags FOR SELECT USING (cmis.ctx_can_read(org_id));
CREATE POLICY feature_flags_insert ON cmis.feature_flags FOR INSERT WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY feature_flags_update ON cmis.feature_flags FOR UPDATE
  USING (cmis.ctx_can_write(org_id)) WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY feature_flags_delete ON cmis.feature_flags FOR DELETE USING (cmis.ctx_can_write(org_id));

CREATE POLICY ffo_read ON cmis.feature_flag_overrides FOR SELECT USING (cmis.ctx_can_read(org_id));
CREATE POLICY ffo_insert ON cmis.feature_flag_overrides FOR INSERT WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY ffo_update ON cmis.feature_flag_overrides FOR UPDATE
  USING (cmis.ctx_can_write(org_id)) WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY ffo_delete ON cmis.feature_flag_overrides FOR DELETE USING (cmis.ctx_can_write(org_id));

-- audit: orgs read their own rows and the system/all-orgs-platform history; inserts need a writer
-- context and the actor of the context. No UPDATE/DELETE policy (and no grant, and a trigger).
CREATE POLICY ffv_read ON cmis.feature_flag_values FOR SELECT USING (
  cmis.ctx_is_system()
  OR (org_id IS NULL AND level IN ('system', 'platform') AND cmis.ctx_role() IS NOT NULL)
  OR (org_id IS NOT NULL AND org_id = cmis.ctx_org() AND cmis.ctx_role() IS NOT NULL));
CREATE POLICY ffv_insert ON cmis.feature_flag_values FOR INSERT WITH CHECK (
  cmis.ctx_can_write(org_id) AND actor = cmis.ctx_actor());

-- tokens, webhooks, schedules: an org sees and manages only its own rows (global ones are system's)
CREATE POLICY api_tokens_read ON cmis.api_tokens FOR SELECT USING (cmis.ctx_can_read_own(org_id));
CREATE POLICY api_tokens_insert ON cmis.api_tokens FOR INSERT WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY api_tokens_update ON cmis.api_tokens FOR UPDATE
  USING (cmis.ctx_can_write(org_id)) WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY api_tokens_delete ON cmis.api_tokens FOR DELETE USING (cmis.ctx_can_write(org_id));

CREATE POLICY webhooks_read ON cmis.webhooks FOR SELECT USING (cmis.ctx_can_read_own(org_id));
CREATE POLICY webhooks_insert ON cmis.webhooks FOR INSERT WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY webhooks_update ON cmis.webhooks FOR UPDATE
  USING (cmis.ctx_can_write(org_id)) WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY webhooks_delete ON cmis.webhooks FOR DELETE USING (cmis.ctx_can_write(org_id));

CREATE POLICY flag_schedules_read ON cmis.flag_schedules FOR SELECT USING (cmis.ctx_can_read(org_id));
CREATE POLICY flag_schedules_insert ON cmis.flag_schedules FOR INSERT WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY flag_schedules_update ON cmis.flag_schedules FOR UPDATE
  USING (cmis.ctx_can_write(org_id)) WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY flag_schedules_delete ON cmis.flag_schedules FOR DELETE USING (cmis.ctx_can_write(org_id));

-- snapshot versions: everyone with a context reads 'global' and its own layer; an org_admin
-- bumps/records only its own layer (the triggers do the bumping), system everything.
CREATE POLICY snapshot_versions_read ON cmis.snapshot_versions FOR SELECT USING (
  cmis.ctx_is_system()
  OR (cmis.ctx_role() IS NOT NULL AND (layer = 'global' OR layer = 'org:' || cmis.ctx_org())));
CREATE POLICY snapshot_versions_insert ON cmis.snapshot_versions FOR INSERT WITH CHECK (
  cmis.ctx_is_system() OR (cmis.ctx_role() = 'org_admin' AND layer = 'org:' || cmis.ctx_org()));
CREATE POLICY snapshot_versions_update ON cmis.snapshot_versions FOR UPDATE
  USING (cmis.ctx_is_system() OR (cmis.ctx_role() = 'org_admin' AND layer = 'org:' || cmis.ctx_org()))
  WITH CHECK (cmis.ctx_is_system() OR (cmis.ctx_role() = 'org_admin' AND layer = 'org:' || cmis.ctx_org()));

-- metrics: written by the cron (system); orgs read their own counts
CREATE POLICY flag_metrics_read ON cmis.flag_metrics_hourly FOR SELECT USING (
  cmis.ctx_is_system() OR (org_id <> '' AND org_id = cmis.ctx_org() AND cmis.ctx_role() IS NOT NULL));
CREATE POLICY flag_metrics_write ON cmis.flag_metrics_hourly FOR ALL
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());

-- cron runs: any context reads (status page), only system writes
CREATE POLICY cron_runs_read ON cmis.cron_runs FOR SELECT USING (cmis.ctx_role() IS NOT NULL);
CREATE POLICY cron_runs_insert ON cmis.cron_runs FOR INSERT WITH CHECK (cmis.ctx_is_system());
CREATE POLICY cron_runs_update ON cmis.cron_runs FOR UPDATE
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());
