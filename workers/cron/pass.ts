import type { Pool } from '@neondatabase/serverless';
import { eq, lt } from 'drizzle-orm';
import { createPool, cronRuns, webhookDeliveries, withRls } from '../../shared/db';
import type { EventQueue } from '../../shared/events';
import type { CronEnv } from './env';
import { rollUpMetrics } from './metrics';
import { verifyEvaluateKeys, type KeyStore } from './evaluate-keys';
import { reconcileLayers, verifyLayers } from './reconcile';
import { checkAlerts } from './alerts';
import { applyDueSchedules, CRON_ACTOR } from './schedules';
import { scanStaleFlags, sendWeeklyDigest } from './stale';
import { resendStaged } from '../../shared/store';

/** What one pass did, answered by `POST /__scheduled` and kept in `cmis.cron_runs.counts`. */
export interface PassCounts {
  applied: number;
  /** Due schedules/steps that failed (marked failed, audited, notified). */
  failed: number;
  reconciled: number;
  /** Evaluate keys live in Postgres whose KV record was missing or different, put back. */
  restoredKeys: number;
  /** Revoked evaluate keys whose KV record was still there, deleted. */
  removedKeys: number;
  rolledUp: number;
  notified: number;
}

const CRON_CONTEXT = { orgId: null, role: 'system', actor: CRON_ACTOR } as const;

/** The minute of each hour (UTC) whose pass scans for stale flags and sends the weekly digest; a failed scan waits an hour. */
export const STALE_SCAN_MINUTE = 7;

export function isStaleScanMinute(nowMs: number): boolean {
  return new Date(nowMs).getUTCMinutes() === STALE_SCAN_MINUTE;
}

/** Delivery rows are kept this long for the status page. */
const DELIVERY_RETENTION_MS = 7 * 24 * 3_600_000;

export interface PassDeps {
  pool: Pool;
  kv: KeyStore;
  queue?: EventQueue;
}

/**
 * One cron pass at `nowMs`: what is due, and which layers and keys are read back, is decided by it.
 * Bookkeeping uses the real clock: metrics retention, stale marks and the weekly digest, so a local
 * pass `?time=` months ahead does not roll up recent hours, forget batch ids or use up a digest week. The
 * steps run one after another, each in its own transactions, so a failure in one is recorded
 * without undoing or skipping the others; the run row records start, duration and counts for
 * `/api/status`.
 */
export async function runPass(deps: PassDeps, nowMs: number): Promise<PassCounts> {
  const started = Date.now();
  const counts: PassCounts = { applied: 0, failed: 0, reconciled: 0, restoredKeys: 0, removedKeys: 0, rolledUp: 0, notified: 0 };
  const runId = await withRls(deps.pool, CRON_CONTEXT, async (tx) => {
    const [row] = await tx.insert(cronRuns).values({ startedAt: new Date(started) }).returning({ id: cronRuns.id });
    return row!.id;
  });
  const errors: string[] = [];
  const step = async (name: string, work: () => Promise<void>) => {
    try {
      await work();
    } catch (err) {
      errors.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  await step('schedules', async () => {
    const due = await applyDueSchedules(deps.pool, nowMs, { kv: deps.kv, queue: deps.queue });
    counts.applied = due.applied;
    counts.failed = due.failed;
    counts.notified += due.notified;
  });
  // layers whose KV copy went missing or changed outside the admin Worker are marked behind…
  await step('verify', async () => {
    await verifyLayers(deps.pool, deps.kv, nowMs);
  });
  // …and republished here, with what the schedules touched if their own publish failed
  await step('reconcile', async () => {
    counts.reconciled = (await reconcileLayers(deps.pool, deps.kv, nowMs)).reconciled;
  });
  await step('keys', async () => {
    const keys = await verifyEvaluateKeys(deps.pool, deps.kv, nowMs);
    counts.restoredKeys = keys.restored;
    counts.removedKeys = keys.removed;
  });
  await step('metrics', async () => {
    counts.rolledUp = await rollUpMetrics(deps.pool, started);
  });
  // Once an hour: the scan reads every flag's counts, which at scale costs too much for each minute.
  if (isStaleScanMinute(started)) {
    await step('stale', async () => {
      const scan = await scanStaleFlags(deps.pool, started);
      counts.notified += await sendWeeklyDigest(deps.pool, deps.queue, scan.marks, started);
    });
  }
  // Notifications staged with a change that the consumer has not taken (the queue refused them after
  // the commit): sent again, same ids.
  if (deps.queue) {
    const queue = deps.queue;
    await step('outbox', async () => {
      counts.notified += (await withRls(deps.pool, CRON_CONTEXT, (tx) => resendStaged(tx, queue, started))).resent;
    });
  }
  await step('prune', async () => {
    await withRls(deps.pool, CRON_CONTEXT, (tx) =>
      tx.delete(webhookDeliveries).where(lt(webhookDeliveries.updatedAt, new Date(started - DELIVERY_RETENTION_MS))),
    );
  });
  // Last, so it sees what this pass repaired and which of its steps failed.
  await step('alerts', async () => {
    counts.notified += (await checkAlerts(deps.pool, started, { passErrors: [...errors], queue: deps.queue })).notified;
  });

  const error = errors.length ? errors.join('; ').slice(0, 2000) : null;
  await withRls(deps.pool, CRON_CONTEXT, (tx) =>
    tx
      .update(cronRuns)
      .set({ finishedAt: new Date(), durationMs: Date.now() - started, counts: { ...counts }, error })
      .where(eq(cronRuns.id, runId)),
  );
  if (error) throw new Error(error);
  return counts;
}

/** The pass with the Worker's bindings: a pool for this invocation, ended afterwards. */
export async function runCronPass(env: CronEnv, nowMs: number): Promise<PassCounts> {
  const pool = createPool({ databaseUrl: env.DATABASE_URL, wsProxy: env.DATABASE_WS_PROXY, max: 1 });
  try {
    return await runPass({ pool, kv: env.FLAGS_KV, queue: env.EVENTS }, nowMs);
  } finally {
    await pool.end();
  }
}
