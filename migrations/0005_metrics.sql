-- 0005 · evaluation metrics: idempotent batches, daily rollups, stale-flag marks, weekly digests.
--
-- The evaluate Worker counts evaluations in memory and sends batches `{type: 'metrics', batchId,
-- counts}` to the EVENTS queue; the cron Worker's consumer adds them to flag_metrics_hourly (0001)
-- and records the batch id here in the same transaction, so a redelivered batch adds nothing.
-- The cron pass rolls hourly rows older than the retention into flag_metrics_daily and deletes
-- them, and keeps stale_marks in step with what it finds (see workers/cron/stale.ts).

CREATE TABLE cmis.metrics_batches (
  id           uuid PRIMARY KEY,
  received_at  timestamptz NOT NULL DEFAULT now(),
  counts       integer NOT NULL DEFAULT 0,
  CONSTRAINT metrics_batches_counts_nonneg CHECK (counts >= 0)
);
CREATE INDEX metrics_batches_received_idx ON cmis.metrics_batches (received_at);

-- Same key as the hourly table with a day instead of an hour; org_id '' = no org in the context.
CREATE TABLE cmis.flag_metrics_daily (
  feature_key  text NOT NULL,
  org_id       text NOT NULL DEFAULT '',
  value_key    text NOT NULL,
  reason       text NOT NULL,
  day          date NOT NULL,
  count        bigint NOT NULL DEFAULT 0,
  CONSTRAINT flag_metrics_daily_count_nonneg CHECK (count >= 0),
  CONSTRAINT flag_metrics_daily_uq UNIQUE (feature_key, org_id, value_key, reason, day)
);
CREATE INDEX flag_metrics_daily_day_idx ON cmis.flag_metrics_daily (day);
CREATE INDEX flag_metrics_daily_org_idx ON cmis.flag_metrics_daily (org_id, day);
-- "last evaluated at" and per-flag ranges read by key and time
CREATE INDEX flag_metrics_hourly_key_idx ON cmis.flag_metrics_hourly (feature_key, hour);

-- What the last stale scan found, one row per finding; a finding that no longer holds is deleted.
--   unused    the flag was not evaluated for N days (or never, N days after creation)
--   constant  the flag answered one value everywhere for N days (a removal candidate)
--   expired   the flag is past its expires_at
--   override  a user override is past its expires_at or older than N days (target = '<org>/<user>')
CREATE TABLE cmis.stale_marks (
  feature_key  text NOT NULL,
  kind         text NOT NULL,
  target       text NOT NULL DEFAULT '',
  org_id       text,
  detail       jsonb NOT NULL DEFAULT '{}',
  marked_at    timestamptz NOT NULL DEFAULT now(),
  checked_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (feature_key, kind, target),
  CONSTRAINT stale_marks_kind_valid CHECK (kind IN ('unused', 'constant', 'expired', 'override')),
  CONSTRAINT stale_marks_detail_object CHECK (jsonb_typeof(detail) = 'object')
);
CREATE INDEX stale_marks_org_idx ON cmis.stale_marks (org_id) WHERE org_id IS NOT NULL;

-- One row per ISO week (its Monday) whose stale digest was enqueued: at most one digest a week.
CREATE TABLE cmis.stale_digests (
  week     date PRIMARY KEY,
  sent_at  timestamptz NOT NULL DEFAULT now(),
  marks    integer NOT NULL DEFAULT 0
);

GRANT SELECT, INSERT, UPDATE, DELETE ON
  cmis.metrics_batches, cmis.flag_metrics_daily, cmis.stale_marks, cmis.stale_digests
  TO cmis_app;

ALTER TABLE cmis.metrics_batches ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.metrics_batches FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.flag_metrics_daily ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.flag_metrics_daily FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.stale_marks ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.stale_marks FORCE ROW LEVEL SECURITY;
ALTER TABLE cmis.stale_digests ENABLE ROW LEVEL SECURITY;
ALTER TABLE cmis.stale_digests FORCE ROW LEVEL SECURITY;

-- batch ids and digests are the cron Worker's bookkeeping: system only
CREATE POLICY metrics_batches_system ON cmis.metrics_batches FOR ALL
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());
CREATE POLICY stale_digests_system ON cmis.stale_digests FOR ALL
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());

-- daily counts: like the hourly ones (orgs read their own counts, never the no-org or other rows)
CREATE POLICY flag_metrics_daily_read ON cmis.flag_metrics_daily FOR SELECT USING (
  cmis.ctx_is_system() OR (org_id <> '' AND org_id = cmis.ctx_org() AND cmis.ctx_role() IS NOT NULL));
CREATE POLICY flag_metrics_daily_write ON cmis.flag_metrics_daily FOR ALL
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());

-- stale marks: flag-level marks (org_id NULL) are readable by any context, override marks by their org
CREATE POLICY stale_marks_read ON cmis.stale_marks FOR SELECT USING (cmis.ctx_can_read(org_id));
CREATE POLICY stale_marks_write ON cmis.stale_marks FOR ALL
  USING (cmis.ctx_is_system()) WITH CHECK (cmis.ctx_is_system());
