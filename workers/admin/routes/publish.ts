import { and, asc, count, desc, isNull } from 'drizzle-orm';
import type { Context } from 'hono';
import type { AppEnv } from '../env';
import { z } from 'zod';
import { ALERT_NAMES, alerts as alertsTable, apiTokens, cronRuns, featureFlags, snapshotVersions } from '../../../shared/db';
import { webhookStatus, WebhookStatusSchema } from './webhooks';
import type { LayerName } from '../../../shared/snapshot';
import { LAYERS_PER_CHUNK } from '../../../shared/snapshot/bulk';
import { KEYS_PER_CHUNK, liveEvaluateKeys, putEvaluateKeys } from '../../../shared/snapshot/evaluate-keys';
import { orgsWithData } from '../../../shared/snapshot/compile';
import { ADMIN_ROLES, SYSTEM_ROLES } from '../auth';
import { inTransaction } from '../db';
import { republishLayers } from '../publishing';
import { defineRoute } from '../route';
import { PublishStateSchema, ReasonSchema } from '../schemas';

// ---- schemas --------------------------------------------------------------------------------

const LayerStatusSchema = z.object({ layer: z.string(), dbVersion: z.int(), kvVersion: z.int() });

/**
 * Live evaluate keys whose KV record the republish put, those whose put failed (`remaining`, and
 * why), and those beyond what one request puts (`deferred`); the cron's read-back checks the last two.
 */
const EvaluateKeysPutSchema = z.object({ put: z.int(), remaining: z.int(), deferred: z.int(), error: z.string().optional() });

/** Evaluate keys put during the request (KV operations per invocation are capped); more are left to the cron's read-back. */
const MAX_INLINE_KEYS = 3 * KEYS_PER_CHUNK;

/** Puts the record of every live evaluate key (up to MAX_INLINE_KEYS), one transaction per chunk. */
async function republishEvaluateKeys(c: Context<AppEnv>): Promise<z.output<typeof EvaluateKeysPutSchema>> {
  const ids = (await inTransaction(c, (tx) => tx.select({ id: apiTokens.id }).from(apiTokens).where(liveEvaluateKeys).orderBy(asc(apiTokens.id)))).map((r) => r.id);
  const inline = ids.slice(0, MAX_INLINE_KEYS);
  let put = 0;
  let failed = 0;
  const errors: string[] = [];
  for (let i = 0; i < inline.length; i += KEYS_PER_CHUNK) {
    const chunk = inline.slice(i, i + KEYS_PER_CHUNK);
    try {
      const outcome = await inTransaction(c, (tx) => putEvaluateKeys(tx, c.env.FLAGS_KV, chunk));
      put += outcome.put;
      failed += outcome.errors.length;
      errors.push(...outcome.errors);
    } catch (error) {
      failed += chunk.length;
      errors.push(error instanceof Error ? error.message : String(error));
    }
  }
  const deferred = ids.length - inline.length;
  if (errors.length === 0) return { put, remaining: 0, deferred };
  console.warn(JSON.stringify({ at: 'republish', requestId: c.get('requestId'), evaluateKeys: { put, failed, error: errors[0] } }));
  return { put, remaining: failed, deferred, error: `${failed} could not be put (${errors[0]}); the cron's read-back puts them back` };
}

const PublishResultSchema = z
  .object({
    publish: PublishStateSchema,
    layers: z.array(z.object({ layer: z.string(), version: z.int(), ok: z.boolean(), error: z.string().optional() })),
    evaluateKeys: EvaluateKeysPutSchema,
  })
  .meta({ id: 'PublishResult' });

const PublishPendingSchema = z
  .object({
    publish: z.literal('pending'),
    /** Every layer of the republish. */
    layers: z.int(),
    /** Layers put during the request. */
    inline: z.int(),
    /** Layers handed on, to the Queue or (without one) to the cron reconciler; /api/status counts them pending until put. */
    queued: z.int(),
    via: z.enum(['queue', 'reconcile']),
    evaluateKeys: EvaluateKeysPutSchema,
  })
  .meta({ id: 'PublishPending' });

const StatusSchema = z
  .object({
    db: z.enum(['up', 'down']),
    layers: z.array(LayerStatusSchema.extend({ publishedAt: z.string().nullable(), lastError: z.string().nullable() })),
    pending: z.int(),
    lastCronRun: z
      .object({ startedAt: z.string(), finishedAt: z.string().nullable(), durationMs: z.int().nullable(), counts: z.record(z.string(), z.number()), error: z.string().nullable() })
      .nullable(),
    webhooks: WebhookStatusSchema,
    alerts: z
      .array(z.object({ name: z.enum(ALERT_NAMES), since: z.string(), firing: z.boolean(), details: z.unknown().optional() }))
      .describe('health alerts whose condition holds (workers/cron/alerts.ts); firing: past its threshold and announced; `details` (layer names, errors) for system admins only'),
    flags: z.int(),
    orgs: z.int(),
  })
  .meta({ id: 'Status' });

// ---- routes ---------------------------------------------------------------------------------

const republish = defineRoute({
  method: 'post',
  path: '/api/publish',
  summary: 'Republish every snapshot layer and every live evaluate key',
  tag: 'publish',
  access: SYSTEM_ROLES,
  body: z.strictObject({ reason: ReasonSchema }),
  responses: {
    200: { description: 'Every layer put to KV during the request (or left pending for the reconciler)', schema: PublishResultSchema },
    202: { description: `The global layer and up to ${LAYERS_PER_CHUNK} org layers put; the rest go out as Queue messages of ${LAYERS_PER_CHUNK} layers`, schema: PublishPendingSchema },
  },
  handler: async (c) => {
    const layers = await inTransaction(c, async (tx) => {
      const [orgs, known] = await Promise.all([orgsWithData(tx), tx.select({ layer: snapshotVersions.layer }).from(snapshotVersions)]);
      // Layers of orgs whose data is gone are republished empty rather than left stale.
      return [...new Set<LayerName>(['global', ...orgs.map((o): LayerName => `org:${o}`), ...known.map((k) => k.layer as LayerName)])];
    });
    const republished = await republishLayers(c, layers);
    const { outcomes, deferred, via } = republished;
    // Evaluate keys too: a rebuilt namespace without them would refuse every app.
    const evaluateKeys = await republishEvaluateKeys(c);
    const state = evaluateKeys.remaining === 0 && evaluateKeys.deferred === 0 ? republished.state : 'pending';
    c.header('X-Publish', state);
    if (deferred.length === 0) return c.json({ publish: state, layers: outcomes, evaluateKeys });
    return c.json({ publish: 'pending', layers: outcomes.length + deferred.length, inline: outcomes.length, queued: deferred.length, via, evaluateKeys }, 202);
  },
});

const status = defineRoute({
  method: 'get',
  path: '/api/status',
  summary: 'Database vs KV versions per layer, last cron run, counts',
  tag: 'publish',
  access: ADMIN_ROLES,
  responses: { 200: { description: 'Status', schema: StatusSchema } },
  handler: async (c) => {
    const { versions, lastRun, flags, orgs, webhooks, alerts } = await inTransaction(c, async (tx) => {
      const [versions, [lastRun], [flags], orgs, alerts] = await Promise.all([
        tx.select().from(snapshotVersions).orderBy(asc(snapshotVersions.layer)),
        tx.select().from(cronRuns).orderBy(desc(cronRuns.startedAt)).limit(1),
        tx.select({ n: count() }).from(featureFlags).where(and(isNull(featureFlags.orgId), isNull(featureFlags.archivedAt))),
        // Orgs with any row (values or overrides) that the caller may read.
        orgsWithData(tx),
        tx.select().from(alertsTable).orderBy(asc(alertsTable.name)),
      ]);
      return { versions, lastRun, flags: flags?.n ?? 0, orgs: orgs.length, webhooks: await webhookStatus(tx), alerts };
    });
    c.header('Cache-Control', 'no-store');
    const systemView = c.get('caller').role === 'system_admin';
    return c.json({
      db: 'up',
      layers: versions.map((v) => ({
        layer: v.layer,
        dbVersion: v.dbVersion,
        kvVersion: v.kvVersion,
        publishedAt: v.publishedAt?.toISOString() ?? null,
        lastError: v.lastError,
      })),
      pending: versions.filter((v) => v.kvVersion < v.dbVersion).length,
      lastCronRun: lastRun
        ? { startedAt: lastRun.startedAt.toISOString(), finishedAt: lastRun.finishedAt?.toISOString() ?? null, durationMs: lastRun.durationMs, counts: lastRun.counts, error: lastRun.error }
        : null,
      flags,
      orgs,
      webhooks,
      // Details name other orgs' layers and errors: system admins only.
      alerts: alerts.map((a) => ({ name: a.name, since: a.observedSince.toISOString(), firing: a.firedAt !== null, ...(systemView ? { details: a.details } : {}) })),
    });
  },
});

export const publishRoutes = [republish, status];
