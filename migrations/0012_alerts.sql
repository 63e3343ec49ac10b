-- 0012 · health alerts: conditions the cron pass tracks until they clear.
--
-- At the end of every pass the cron observes a few conditions (KV writes failing: layers behind
-- Postgres whose last put failed; the pass itself failing; notifications stuck in the outbox). A row exists while its condition holds: when it was
-- first seen, and when the `system.alert` notification went out (NULL: not yet, the condition is
-- younger than its threshold). The row is deleted when the condition clears, and a `resolved`
-- notification sent if it had fired. workers/cron/alerts.ts.

CREATE TABLE cmis.alerts (
  name text PRIMARY KEY,
  observed_since timestamptz NOT NULL,
  fired_at timestamptz,
  details jsonb NOT NULL DEFAULT '{}',
  CONSTRAINT alerts_name_known CHECK (name IN ('kv.behind', 'cron.failing', 'notifications.waiting'))
);

GRANT SELECT, INSERT, UPDATE, DELETE ON cmis.alerts TO cmis_app;
ALTER TABLE cmis.alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.alerts FORCE ROW LEVEL SECURITY;

-- like cron_runs: any context reads them (status page), only system writes
CREATE POLICY alerts_read ON cmis.alerts FOR SELECT USING (cmis.ctx_role() IS NOT NULL);
CREATE POLICY alerts_write ON cmis.alerts FOR ALL USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());
