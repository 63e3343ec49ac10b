import { eq } from 'drizzle-orm';
import { createPool, cronRuns, withRls } from '../../shared/db';
import type { CronEnv } from './env';

/** What one pass did, answered by `POST /__scheduled` and kept in `cmis.cron_runs.counts`. */
export interface PassCounts {
  applied: number;
  reconciled: number;
  rolledUp: number;
  notified: number;
}

const CRON_CONTEXT = { orgId: null, role: 'system', actor: 'cron' } as const;

/**
 * One cron pass. The steps run one after another, each in its own transaction, so a failure in
 * one is recorded without undoing what the others did; the run row records start, duration and
 * counts for `/api/status`.
 */
export async function runCronPass(env: CronEnv, nowMs: number): Promise<PassCounts> {
  const pool = createPool({ databaseUrl: env.DATABASE_URL, wsProxy: env.DATABASE_WS_PROXY, max: 1 });
  const counts: PassCounts = { applied: 0, reconciled: 0, rolledUp: 0, notified: 0 };
  try {
    const runId = await withRls(pool, CRON_CONTEXT, async (tx) => {
      const [row] = await tx.insert(cronRuns).values({ startedAt: new Date(nowMs) }).returning({ id: cronRuns.id });
      return row!.id;
    });
    let error: string | null = null;
    try {
      // schedules, ramps, reconcile, metrics and notifications plug in here (their own issues)
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    await withRls(pool, CRON_CONTEXT, (tx) =>
      tx
        .update(cronRuns)
        .set({ finishedAt: new Date(), durationMs: Date.now() - nowMs, counts: { ...counts }, error })
        .where(eq(cronRuns.id, runId)),
    );
    if (error) throw new Error(error);
    return counts;
  } finally {
    await pool.end();
  }
}
