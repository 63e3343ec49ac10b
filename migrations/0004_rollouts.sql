-- 0004 · ramps (rollouts), webhook deliveries, and the index that finds one request's audit rows.
--
-- A ramp is a row here plus its steps: rows of cmis.flag_schedules with kind 'ramp_step' and
-- ramp_id = rollouts.id. The cron pass applies the steps like any schedule; `previous` keeps what
-- the ramp replaced so that an abort can put it back:
--   system ramp  {"rollout": <the flag's rollout before the ramp, or null>}
--   org ramp     {"org": {"value": ..., "percentage": ...} or null when the org had no row}

CREATE TABLE cmis.rollouts (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  feature_key  text NOT NULL REFERENCES cmis.feature_flags (system_key) ON DELETE CASCADE,
  org_id       text,
  value        jsonb NOT NULL,
  stickiness   text NOT NULL DEFAULT 'userId',
  state        text NOT NULL DEFAULT 'running',
  previous     jsonb NOT NULL,
  paused_at    timestamptz,
  created_by   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT rollouts_state_valid CHECK (state IN ('running', 'paused', 'done', 'aborted')),
  CONSTRAINT rollouts_stickiness_valid CHECK (stickiness IN ('userId', 'orgId')),
  CONSTRAINT rollouts_org_stickiness CHECK (org_id IS NULL OR stickiness = 'userId'),
  CONSTRAINT rollouts_previous_object CHECK (jsonb_typeof(previous) = 'object'),
  CONSTRAINT rollouts_paused CHECK ((state = 'paused') = (paused_at IS NOT NULL)),
  CONSTRAINT rollouts_org_format CHECK (org_id IS NULL OR org_id ~ '^[A-Za-z0-9._:@-]{1,128}$')
);
-- one live ramp per flag and level
CREATE UNIQUE INDEX rollouts_live_uq ON cmis.rollouts (feature_key, coalesce(org_id, ''))
  WHERE state IN ('running', 'paused');
CREATE INDEX rollouts_key_idx ON cmis.rollouts (feature_key, created_at DESC);
CREATE INDEX rollouts_org_idx ON cmis.rollouts (org_id) WHERE org_id IS NOT NULL;

ALTER TABLE cmis.flag_schedules
  ADD CONSTRAINT flag_schedules_ramp_fk FOREIGN KEY (ramp_id) REFERENCES cmis.rollouts (id) ON DELETE CASCADE;

-- One row per webhook delivery (one queue message), updated on every attempt; the status page
-- shows the failing ones. The cron pass prunes old rows.
CREATE TABLE cmis.webhook_deliveries (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  webhook_id       uuid NOT NULL REFERENCES cmis.webhooks (id) ON DELETE CASCADE,
  org_id           text,
  event            text NOT NULL,
  state            text NOT NULL DEFAULT 'pending',
  attempts         integer NOT NULL DEFAULT 0,
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhook_deliveries_state_valid CHECK (state IN ('pending', 'delivered', 'failed')),
  CONSTRAINT webhook_deliveries_attempts_nonneg CHECK (attempts >= 0)
);
CREATE INDEX webhook_deliveries_webhook_idx ON cmis.webhook_deliveries (webhook_id, updated_at DESC);
CREATE INDEX webhook_deliveries_failed_idx ON cmis.webhook_deliveries (updated_at DESC) WHERE state <> 'delivered';

-- applyChange finds the audit rows of its own transaction by request id (to enqueue notifications)
CREATE INDEX ffv_request_idx ON cmis.feature_flag_values (request_id) WHERE request_id IS NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON cmis.rollouts, cmis.webhook_deliveries TO cmis_app;

ALTER TABLE cmis.rollouts ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.rollouts FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.webhook_deliveries FORCE ROW LEVEL SECURITY;

-- ramps: like schedules (read own org + system ones, write own org or anything as system)
CREATE POLICY rollouts_read ON cmis.rollouts FOR SELECT USING (cmis.ctx_can_read(org_id));
CREATE POLICY rollouts_insert ON cmis.rollouts FOR INSERT WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY rollouts_update ON cmis.rollouts FOR UPDATE
  USING (cmis.ctx_can_write(org_id)) WITH CHECK (cmis.ctx_can_write(org_id));
CREATE POLICY rollouts_delete ON cmis.rollouts FOR DELETE USING (cmis.ctx_can_write(org_id));

-- deliveries: written by the cron Worker (system); an org reads those of its own webhooks
CREATE POLICY webhook_deliveries_read ON cmis.webhook_deliveries FOR SELECT USING (cmis.ctx_can_read_own(org_id));
CREATE POLICY webhook_deliveries_write ON cmis.webhook_deliveries FOR ALL
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());
