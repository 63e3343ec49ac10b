// Drizzle mirror of migrations/*.sql (the SQL is the source of truth; test/node/db/schema.test.ts
// compares the two). Checks, policies and triggers live only in the SQL.
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  customType,
  date,
  integer,
  jsonb,
  numeric,
  pgSchema,
  primaryKey,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

export const cmis = pgSchema('cmis');

/** bytea as Uint8Array; sent as hex text so it works with or without a Node Buffer. */
const bytea = customType<{ data: Uint8Array; driverData: Uint8Array | string }>({
  dataType: () => 'bytea',
  toDriver: (value) => `\\x${Array.from(value, (b) => b.toString(16).padStart(2, '0')).join('')}`,
  fromDriver: (value) => {
    if (typeof value !== 'string') return new Uint8Array(value);
    const hex = value.startsWith('\\x') ? value.slice(2) : value;
    return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
  },
});

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export type FlagType = 'boolean' | 'string' | 'number' | 'json';
export type Stickiness = 'userId' | 'orgId';
export interface RolloutJson {
  percentage: number;
  value: unknown;
  stickiness?: Stickiness;
}

/**
 * System rows (orgId null: the flag's definition, `value` = default value) and org rows
 * (orgId set: `value` = the org's value, optional `percentage`).
 */
export const featureFlags = cmis.table('feature_flags', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  featureKey: text('feature_key').notNull(),
  orgId: text('org_id'),
  type: text('type').$type<FlagType>(),
  value: jsonb('value').$type<unknown>().notNull(),
  offValue: jsonb('off_value').$type<unknown>(),
  killed: boolean('killed').notNull().default(false),
  rollout: jsonb('rollout').$type<RolloutJson>(),
  percentage: numeric('percentage', { precision: 5, scale: 2, mode: 'number' }),
  description: text('description').notNull().default(''),
  tags: text('tags').array().notNull().default(sql`'{}'`),
  owner: text('owner'),
  expiresAt: timestamptz('expires_at'),
  archivedAt: timestamptz('archived_at'),
  version: integer('version').notNull().default(1),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
  systemKey: text('system_key').generatedAlwaysAs(sql`CASE WHEN org_id IS NULL THEN feature_key END`),
  parentKey: text('parent_key').generatedAlwaysAs(sql`CASE WHEN org_id IS NOT NULL THEN feature_key END`),
});

export type OverrideType = 'platform' | 'user';

/** Platform overrides (orgId null = all orgs) and user overrides (orgId + userId). */
export const featureFlagOverrides = cmis.table('feature_flag_overrides', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  featureKey: text('feature_key').notNull(),
  overrideType: text('override_type').$type<OverrideType>().notNull(),
  platform: text('platform'),
  orgId: text('org_id'),
  userId: text('user_id'),
  value: jsonb('value').$type<unknown>().notNull(),
  expiresAt: timestamptz('expires_at'),
  version: integer('version').notNull().default(1),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
});

export type AuditLevel = 'system' | 'org' | 'platform' | 'user' | 'schedule' | 'rollout' | 'token' | 'webhook';

/** The audit trail (append-only). Flag/override rows are audited by triggers; see 0003. */
export const featureFlagValues = cmis.table('feature_flag_values', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  featureKey: text('feature_key'),
  orgId: text('org_id'),
  level: text('level').$type<AuditLevel>().notNull(),
  target: text('target'),
  oldValue: jsonb('old_value').$type<unknown>(),
  newValue: jsonb('new_value').$type<unknown>(),
  actor: text('actor').notNull(),
  reason: text('reason'),
  requestId: text('request_id'),
  at: timestamptz('at').notNull().defaultNow(),
});

export type TokenRole = 'system_admin' | 'org_admin' | 'viewer' | 'evaluate';

export const apiTokens = cmis.table('api_tokens', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull(),
  /** SHA-256 of the token (32 bytes). */
  tokenHash: bytea('token_hash').notNull(),
  prefix: text('prefix').notNull(),
  role: text('role').$type<TokenRole>().notNull(),
  orgId: text('org_id'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  lastUsedAt: timestamptz('last_used_at'),
  revokedAt: timestamptz('revoked_at'),
  createdBy: text('created_by'),
});

export type ScheduleKind = 'schedule' | 'ramp_step';
export type ScheduleState = 'pending' | 'applied' | 'cancelled' | 'failed';

export const flagSchedules = cmis.table('flag_schedules', {
  id: uuid('id').primaryKey().defaultRandom(),
  featureKey: text('feature_key').notNull(),
  orgId: text('org_id'),
  at: timestamptz('at').notNull(),
  change: jsonb('change').$type<Record<string, unknown>>().notNull(),
  kind: text('kind').$type<ScheduleKind>().notNull().default('schedule'),
  rampId: uuid('ramp_id'),
  state: text('state').$type<ScheduleState>().notNull().default('pending'),
  error: text('error'),
  appliedAt: timestamptz('applied_at'),
  /** When the change first failed because of other transactions' locks (0008); it is retried for a while from then. */
  contendedSince: timestamptz('contended_since'),
  createdBy: text('created_by'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
});

/** layer: 'global' | 'org:<orgId>'. db_version is bumped by triggers; kv_version by the publisher. */
export const snapshotVersions = cmis.table('snapshot_versions', {
  layer: text('layer').primaryKey(),
  dbVersion: bigint('db_version', { mode: 'number' }).notNull().default(0),
  kvVersion: bigint('kv_version', { mode: 'number' }).notNull().default(0),
  publishedAt: timestamptz('published_at'),
  lastError: text('last_error'),
  /** When a put of this layer was abandoned at its deadline (0010); the cron reads it back for a while. */
  latePutAt: timestamptz('late_put_at'),
});

/** orgId '' = no org in the evaluation context. Upsert on (featureKey, orgId, valueKey, reason, hour). */
export const flagMetricsHourly = cmis.table('flag_metrics_hourly', {
  featureKey: text('feature_key').notNull(),
  orgId: text('org_id').notNull().default(''),
  valueKey: text('value_key').notNull(),
  reason: text('reason').notNull(),
  hour: timestamptz('hour').notNull(),
  count: bigint('count', { mode: 'number' }).notNull().default(0),
});

export type WebhookKind = 'slack' | 'generic';

export const webhooks = cmis.table('webhooks', {
  id: uuid('id').primaryKey().defaultRandom(),
  url: text('url').notNull(),
  kind: text('kind').$type<WebhookKind>().notNull(),
  orgId: text('org_id'),
  events: text('events').array().notNull().default(sql`'{}'`),
  secret: text('secret'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
});

export const cronRuns = cmis.table('cron_runs', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  startedAt: timestamptz('started_at').notNull().defaultNow(),
  finishedAt: timestamptz('finished_at'),
  durationMs: integer('duration_ms'),
  counts: jsonb('counts').$type<Record<string, number>>().notNull().default({}),
  error: text('error'),
});

/** Written by scripts/db/migrate.ts only. */
export const schemaMigrations = cmis.table('schema_migrations', {
  name: text('name').primaryKey(),
  checksum: text('checksum').notNull(),
  appliedAt: timestamptz('applied_at').notNull().defaultNow(),
});

export type RolloutState = 'running' | 'paused' | 'done' | 'aborted';

/**
 * What a ramp replaced, for abort: `{rollout}` (system ramp: the flag's rollout before it, or null)
 * or `{org}` (org ramp: the org row's value/percentage before it, or null when there was none).
 */
export type RampBaseline = { rollout: RolloutJson | null } | { org: { value: unknown; percentage: number | null } | null };

/** A ramp; its steps are flag_schedules rows with kind 'ramp_step' and this id as rampId. See 0004. */
export const rollouts = cmis.table('rollouts', {
  id: uuid('id').primaryKey().defaultRandom(),
  featureKey: text('feature_key').notNull(),
  orgId: text('org_id'),
  value: jsonb('value').$type<unknown>().notNull(),
  stickiness: text('stickiness').$type<Stickiness>().notNull().default('userId'),
  state: text('state').$type<RolloutState>().notNull().default('running'),
  previous: jsonb('previous').$type<RampBaseline>().notNull(),
  pausedAt: timestamptz('paused_at'),
  createdBy: text('created_by'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
});

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One webhook delivery (one queue message), updated on each attempt. */
export const webhookDeliveries = cmis.table('webhook_deliveries', {
  id: uuid('id').primaryKey().defaultRandom(),
  webhookId: uuid('webhook_id').notNull(),
  /** The notification message this delivery came from (0009): unique per webhook. */
  notificationId: uuid('notification_id'),
  orgId: text('org_id'),
  event: text('event').notNull(),
  state: text('state').$type<DeliveryState>().notNull().default('pending'),
  attempts: integer('attempts').notNull().default(0),
  lastStatus: integer('last_status'),
  lastError: text('last_error'),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  updatedAt: timestamptz('updated_at').notNull().defaultNow(),
});

/** Metrics batches already added to the hourly counts (0005): a redelivered batch adds nothing. */
export const metricsBatches = cmis.table('metrics_batches', {
  id: uuid('id').primaryKey(),
  receivedAt: timestamptz('received_at').notNull().defaultNow(),
  counts: integer('counts').notNull().default(0),
});

/** Hourly counts older than the retention, summed per UTC day ('YYYY-MM-DD'). orgId '' = no org. */
export const flagMetricsDaily = cmis.table('flag_metrics_daily', {
  featureKey: text('feature_key').notNull(),
  orgId: text('org_id').notNull().default(''),
  valueKey: text('value_key').notNull(),
  reason: text('reason').notNull(),
  day: date('day', { mode: 'string' }).notNull(),
  count: bigint('count', { mode: 'number' }).notNull().default(0),
});

export type StaleKind = 'unused' | 'constant' | 'expired' | 'override';

/** One finding of the last stale scan (workers/cron/stale.ts); deleted when it no longer holds. */
export const staleMarks = cmis.table('stale_marks', {
  featureKey: text('feature_key').notNull(),
  kind: text('kind').$type<StaleKind>().notNull(),
  /** '' for flag-level marks; '<orgId>/<userId>' for a user override. */
  target: text('target').notNull().default(''),
  orgId: text('org_id'),
  detail: jsonb('detail').$type<Record<string, unknown>>().notNull().default({}),
  markedAt: timestamptz('marked_at').notNull().defaultNow(),
  checkedAt: timestamptz('checked_at').notNull().defaultNow(),
}, (t) => [primaryKey({ columns: [t.featureKey, t.kind, t.target] })]);

/** ISO weeks (their Monday) whose stale digest was enqueued. */
export const staleDigests = cmis.table('stale_digests', {
  week: date('week', { mode: 'string' }).primaryKey(),
  sentAt: timestamptz('sent_at').notNull().defaultNow(),
  marks: integer('marks').notNull().default(0),
});

/**
 * Dashboard sessions ended by signing out, until they would have expired (0007). Only the SECURITY
 * DEFINER functions cmis.end_session and cmis.session_ended touch it; declared here so that this
 * file stays the whole schema.
 */
export const endedSessions = cmis.table('ended_sessions', {
  sid: text('sid').primaryKey(),
  expiresAt: timestamptz('expires_at').notNull(),
});

/**
 * Notifications staged in the transaction of their change (0011), deleted by the queue consumer's
 * fan-out; the cron pass sends again those that stay (shared/store/outbox.ts).
 */
export const notificationOutbox = cmis.table('notification_outbox', {
  id: uuid('id').primaryKey(),
  /** The order rows were staged in (one change's events share `created_at`). */
  seq: bigint('seq', { mode: 'number' }).generatedAlwaysAsIdentity(),
  orgId: text('org_id'),
  event: jsonb('event').notNull(),
  createdAt: timestamptz('created_at').notNull().defaultNow(),
  resentAt: timestamptz('resent_at'),
  resends: integer('resends').notNull().default(0),
});

/** What the cron's health alerts watch (0012; workers/cron/alerts.ts). */
export const ALERT_NAMES = ['kv.behind', 'cron.failing', 'notifications.waiting'] as const;
export type AlertName = (typeof ALERT_NAMES)[number];

/** Health alerts whose condition holds: since when, and when the `system.alert` went out (0012). */
export const alerts = cmis.table('alerts', {
  name: text('name').$type<AlertName>().primaryKey(),
  observedSince: timestamptz('observed_since').notNull(),
  firedAt: timestamptz('fired_at'),
  details: jsonb('details').notNull().default({}),
});

export const schema = {
  featureFlags,
  featureFlagOverrides,
  featureFlagValues,
  apiTokens,
  flagSchedules,
  snapshotVersions,
  flagMetricsHourly,
  webhooks,
  cronRuns,
  schemaMigrations,
  rollouts,
  webhookDeliveries,
  metricsBatches,
  flagMetricsDaily,
  staleMarks,
  staleDigests,
  endedSessions,
  notificationOutbox,
  alerts,
};
