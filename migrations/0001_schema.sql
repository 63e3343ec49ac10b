-- 0001 · schema `cmis`: tables, checks, indexes.
-- Conventions: ids of flag rows and audit rows are identities; tokens, schedules and webhooks use uuids.
-- `feature_flags` holds both kinds of rows: the system row of a flag (org_id IS NULL) and org rows
-- (org_id set). `value` is the default value on a system row and the org's value on an org row.

CREATE SCHEMA IF NOT EXISTS cmis;

-- Does a jsonb value fit a flag type? ('json' takes anything.)
CREATE OR REPLACE FUNCTION cmis.value_matches_type(flag_type text, v jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE flag_type
    WHEN 'boolean' THEN jsonb_typeof(v) = 'boolean'
    WHEN 'string'  THEN jsonb_typeof(v) = 'string'
    WHEN 'number'  THEN jsonb_typeof(v) = 'number'
    WHEN 'json'    THEN v IS NOT NULL
    ELSE false
  END
$$;

-- A system rollout: {percentage: 0..100, value: <flag type>, stickiness?: 'userId'|'orgId'}.
CREATE OR REPLACE FUNCTION cmis.rollout_is_valid(flag_type text, rollout jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN rollout IS NULL THEN true
    WHEN jsonb_typeof(rollout) <> 'object' THEN false
    WHEN jsonb_typeof(rollout -> 'percentage') <> 'number' THEN false
    WHEN NOT ((rollout ->> 'percentage')::numeric BETWEEN 0 AND 100) THEN false
    WHEN NOT (rollout ? 'value') THEN false
    WHEN NOT cmis.value_matches_type(flag_type, rollout -> 'value') THEN false
    ELSE coalesce(rollout ->> 'stickiness', 'userId') IN ('userId', 'orgId')
  END
$$;

CREATE TABLE cmis.feature_flags (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  feature_key  text NOT NULL,
  org_id       text,
  type         text,
  value        jsonb NOT NULL,
  off_value    jsonb,
  killed       boolean NOT NULL DEFAULT false,
  rollout      jsonb,
  percentage   numeric(5, 2),
  description  text NOT NULL DEFAULT '',
  tags         text[] NOT NULL DEFAULT '{}',
  owner        text,
  expires_at   timestamptz,
  archived_at  timestamptz,
  version      integer NOT NULL DEFAULT 1,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  -- FK plumbing: system rows expose their key as system_key, org rows point at it with parent_key.
  system_key   text GENERATED ALWAYS AS (CASE WHEN org_id IS NULL THEN feature_key END) STORED,
  parent_key   text GENERATED ALWAYS AS (CASE WHEN org_id IS NOT NULL THEN feature_key END) STORED,
  CONSTRAINT feature_flags_key_format CHECK (feature_key ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
  CONSTRAINT feature_flags_org_format CHECK (org_id IS NULL OR org_id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
  CONSTRAINT feature_flags_type_valid CHECK (type IS NULL OR type IN ('boolean', 'string', 'number', 'json')),
  CONSTRAINT feature_flags_percentage_range CHECK (percentage IS NULL OR percentage BETWEEN 0 AND 100),
  CONSTRAINT feature_flags_version_positive CHECK (version >= 1),
  -- a system row carries the flag's definition ...
  CONSTRAINT feature_flags_system_row CHECK (
    org_id IS NOT NULL OR (
      type IS NOT NULL
      AND off_value IS NOT NULL
      AND percentage IS NULL
      AND cmis.value_matches_type(type, value)
      AND cmis.value_matches_type(type, off_value)
      AND cmis.rollout_is_valid(type, rollout)
    )),
  -- ... an org row only a value and an optional percentage (its type is checked by trigger, see 0003)
  CONSTRAINT feature_flags_org_row CHECK (
    org_id IS NULL OR (
      type IS NULL AND off_value IS NULL AND rollout IS NULL AND NOT killed
      AND archived_at IS NULL AND expires_at IS NULL
    )),
  CONSTRAINT feature_flags_system_key_unique UNIQUE (system_key),
  CONSTRAINT feature_flags_parent_fk FOREIGN KEY (parent_key)
    REFERENCES cmis.feature_flags (system_key) ON DELETE CASCADE
);
CREATE UNIQUE INDEX feature_flags_system_uq ON cmis.feature_flags (feature_key) WHERE org_id IS NULL;
CREATE UNIQUE INDEX feature_flags_org_uq ON cmis.feature_flags (feature_key, org_id) WHERE org_id IS NOT NULL;
CREATE INDEX feature_flags_org_idx ON cmis.feature_flags (org_id, feature_key) WHERE org_id IS NOT NULL;
CREATE INDEX feature_flags_tags_idx ON cmis.feature_flags USING gin (tags);

CREATE TABLE cmis.feature_flag_overrides (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  feature_key    text NOT NULL REFERENCES cmis.feature_flags (system_key) ON DELETE CASCADE,
  override_type  text NOT NULL,
  platform       text,
  org_id         text,
  user_id        text,
  value          jsonb NOT NULL,
  expires_at     timestamptz,
  version        integer NOT NULL DEFAULT 1,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ffo_type_valid CHECK (override_type IN ('platform', 'user')),
  CONSTRAINT ffo_platform_valid CHECK (platform IS NULL OR platform IN ('meta', 'google', 'tiktok', 'linkedin', 'twitter', 'snapchat')),
  CONSTRAINT ffo_org_format CHECK (org_id IS NULL OR org_id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
  CONSTRAINT ffo_user_format CHECK (user_id IS NULL OR user_id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
  -- platform rows: a platform, org_id NULL = all orgs; user rows: an org and a user, no platform
  CONSTRAINT ffo_platform_row CHECK (override_type <> 'platform' OR (platform IS NOT NULL AND user_id IS NULL)),
  CONSTRAINT ffo_user_row CHECK (override_type <> 'user' OR (user_id IS NOT NULL AND org_id IS NOT NULL AND platform IS NULL))
);
CREATE UNIQUE INDEX ffo_platform_global_uq ON cmis.feature_flag_overrides (feature_key, platform)
  WHERE override_type = 'platform' AND org_id IS NULL;
CREATE UNIQUE INDEX ffo_platform_org_uq ON cmis.feature_flag_overrides (feature_key, platform, org_id)
  WHERE override_type = 'platform' AND org_id IS NOT NULL;
CREATE UNIQUE INDEX ffo_user_uq ON cmis.feature_flag_overrides (feature_key, org_id, user_id)
  WHERE override_type = 'user';
CREATE INDEX ffo_org_idx ON cmis.feature_flag_overrides (org_id, feature_key) WHERE org_id IS NOT NULL;
CREATE INDEX ffo_org_user_idx ON cmis.feature_flag_overrides (org_id, user_id) WHERE override_type = 'user';

-- The audit trail: append-only (no UPDATE/DELETE grant, and a trigger rejects them, see 0002/0003).
CREATE TABLE cmis.feature_flag_values (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  feature_key  text,
  org_id       text,
  level        text NOT NULL,
  target       text,
  old_value    jsonb,
  new_value    jsonb,
  actor        text NOT NULL,
  reason       text,
  request_id   text,
  at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT ffv_level_valid CHECK (level IN ('system', 'org', 'platform', 'user', 'schedule', 'rollout', 'token', 'webhook')),
  CONSTRAINT ffv_actor_present CHECK (length(actor) > 0)
);
CREATE INDEX ffv_key_at_idx ON cmis.feature_flag_values (feature_key, at DESC, id DESC);
CREATE INDEX ffv_org_at_idx ON cmis.feature_flag_values (org_id, at DESC, id DESC);
CREATE INDEX ffv_actor_idx ON cmis.feature_flag_values (actor, at DESC);
CREATE INDEX ffv_at_idx ON cmis.feature_flag_values (at DESC, id DESC);

CREATE TABLE cmis.api_tokens (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name          text NOT NULL,
  token_hash    bytea NOT NULL,
  prefix        text NOT NULL,
  role          text NOT NULL,
  org_id        text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  created_by    text,
  CONSTRAINT api_tokens_hash_sha256 CHECK (octet_length(token_hash) = 32),
  CONSTRAINT api_tokens_role_valid CHECK (role IN ('system_admin', 'org_admin', 'viewer', 'evaluate')),
  CONSTRAINT api_tokens_org_format CHECK (org_id IS NULL OR org_id ~ '^[A-Za-z0-9._:@-]{1,128}$'),
  CONSTRAINT api_tokens_role_org CHECK (
    (role = 'system_admin' AND org_id IS NULL)
    OR (role IN ('org_admin', 'viewer') AND org_id IS NOT NULL)
    OR role = 'evaluate'),
  CONSTRAINT api_tokens_hash_unique UNIQUE (token_hash)
);
CREATE INDEX api_tokens_org_idx ON cmis.api_tokens (org_id) WHERE org_id IS NOT NULL;

CREATE TABLE cmis.flag_schedules (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  feature_key  text NOT NULL REFERENCES cmis.feature_flags (system_key) ON DELETE CASCADE,
  org_id       text,
  at           timestamptz NOT NULL,
  change       jsonb NOT NULL,
  kind         text NOT NULL DEFAULT 'schedule',
  ramp_id      uuid,
  state        text NOT NULL DEFAULT 'pending',
  error        text,
  applied_at   timestamptz,
  created_by   text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT flag_schedules_change_object CHECK (jsonb_typeof(change) = 'object'),
  CONSTRAINT flag_schedules_kind_valid CHECK (kind IN ('schedule', 'ramp_step')),
  CONSTRAINT flag_schedules_ramp CHECK (kind <> 'ramp_step' OR ramp_id IS NOT NULL),
  CONSTRAINT flag_schedules_state_valid CHECK (state IN ('pending', 'applied', 'cancelled', 'failed')),
  CONSTRAINT flag_schedules_org_format CHECK (org_id IS NULL OR org_id ~ '^[A-Za-z0-9._:@-]{1,128}$')
);
CREATE INDEX flag_schedules_pending_idx ON cmis.flag_schedules (at) WHERE state = 'pending';
CREATE INDEX flag_schedules_key_idx ON cmis.flag_schedules (feature_key, at);
CREATE INDEX flag_schedules_org_idx ON cmis.flag_schedules (org_id, at) WHERE org_id IS NOT NULL;
CREATE INDEX flag_schedules_ramp_idx ON cmis.flag_schedules (ramp_id, at) WHERE ramp_id IS NOT NULL;

-- Per snapshot layer: the version committed in Postgres and the one last confirmed in KV.
CREATE TABLE cmis.snapshot_versions (
  layer         text PRIMARY KEY,
  db_version    bigint NOT NULL DEFAULT 0,
  kv_version    bigint NOT NULL DEFAULT 0,
  published_at  timestamptz,
  last_error    text,
  CONSTRAINT snapshot_versions_layer_format CHECK (layer = 'global' OR layer ~ '^org:[A-Za-z0-9._:@-]{1,128}$')
);

-- Evaluation counts; org_id '' = no org in the context (so the upsert key has no NULLs).
CREATE TABLE cmis.flag_metrics_hourly (
  feature_key  text NOT NULL,
  org_id       text NOT NULL DEFAULT '',
  value_key    text NOT NULL,
  reason       text NOT NULL,
  hour         timestamptz NOT NULL,
  count        bigint NOT NULL DEFAULT 0,
  CONSTRAINT flag_metrics_hourly_count_nonneg CHECK (count >= 0),
  CONSTRAINT flag_metrics_hourly_hour_aligned CHECK (date_trunc('hour', hour) = hour),
  CONSTRAINT flag_metrics_hourly_uq UNIQUE (feature_key, org_id, value_key, reason, hour)
);
CREATE INDEX flag_metrics_hourly_hour_idx ON cmis.flag_metrics_hourly (hour);
CREATE INDEX flag_metrics_hourly_org_idx ON cmis.flag_metrics_hourly (org_id, hour);

CREATE TABLE cmis.webhooks (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  url         text NOT NULL,
  kind        text NOT NULL,
  org_id      text,
  events      text[] NOT NULL DEFAULT '{}',
  secret      text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhooks_kind_valid CHECK (kind IN ('slack', 'generic')),
  CONSTRAINT webhooks_url_http CHECK (url ~ '^https?://'),
  CONSTRAINT webhooks_org_format CHECK (org_id IS NULL OR org_id ~ '^[A-Za-z0-9._:@-]{1,128}$')
);
CREATE INDEX webhooks_org_idx ON cmis.webhooks (org_id);

-- One row per cron pass (the status page shows the last one).
CREATE TABLE cmis.cron_runs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  duration_ms  integer,
  counts       jsonb NOT NULL DEFAULT '{}',
  error        text
);
CREATE INDEX cron_runs_started_idx ON cmis.cron_runs (started_at DESC);
