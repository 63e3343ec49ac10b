import type { Pool } from '@neondatabase/serverless';
import { lt } from 'drizzle-orm';
import { z } from 'zod';
import { metricsBatches, withRls } from '../../shared/db';
import type { MetricsCount, MetricsMessage } from '../../shared/events';
import { MAX_INSTANT_MS, MIN_INSTANT_MS } from '../../shared/snapshot/identifiers';
import { CRON_ACTOR } from './schedules';

const CONTEXT = { orgId: null, role: 'system', actor: CRON_ACTOR } as const;

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** Hourly rows older than this are summed into flag_metrics_daily and deleted. */
export const HOURLY_RETENTION_DAYS = 90;
/** Batch ids are kept this long: far beyond any queue redelivery (retries end within minutes to days). */
export const BATCH_ID_RETENTION_DAYS = 14;

/** Rows per INSERT statement (6 parameters each, well under Postgres' 65535). */
const ROWS_PER_STATEMENT = 500;

/** Text Postgres can store (no NUL). */
const StoredText = z.string().refine((text) => !text.includes('\u0000'), 'contains NUL');

const CountSchema = z.tuple([
  StoredText.pipe(z.string().min(1).max(128)),
  StoredText.pipe(z.string().max(128)),
  StoredText.pipe(z.string().max(1024)),
  StoredText.pipe(z.string().min(1).max(32)),
  // an hour start within 1970…9999 (what a Date and a timestamptz both hold)
  z.number().int().min(MIN_INSTANT_MS).max(MAX_INSTANT_MS).refine((hour) => hour % HOUR_MS === 0, 'not the start of an hour'),
  z.number().int().positive(),
]);

/** The message; its counts are checked one by one (`validCounts`), so one bad count does not cost the others. */
export const MetricsMessageSchema = z.object({
  type: z.literal('metrics'),
  batchId: z.uuid(),
  counts: z.array(z.unknown()).max(10_000),
});

/** The counts that fit CountSchema, and how many did not. */
function validCounts(counts: readonly unknown[]): { valid: MetricsCount[]; dropped: number } {
  const valid: MetricsCount[] = [];
  for (const count of counts) {
    const parsed = CountSchema.safeParse(count);
    if (parsed.success) valid.push(parsed.data);
  }
  return { valid, dropped: counts.length - valid.length };
}

/**
 * Sums counts with the same key (a batch may carry a key twice; one upsert statement must not), in
 * key order: every consumer then upserts (and locks) rows in the same order, so two batches that
 * touch the same rows cannot deadlock each other.
 */
function merged(counts: readonly MetricsCount[]): MetricsCount[] {
  const byKey = new Map<string, MetricsCount>();
  for (const c of counts) {
    const key = `${c[0]}\u0000${c[1]}\u0000${c[2]}\u0000${c[3]}\u0000${c[4]}`;
    const seen = byKey.get(key);
    if (seen) seen[5] += c[5];
    else byKey.set(key, [...c]);
  }
  return [...byKey.keys()].sort().map((key) => byKey.get(key)!);
}

/**
 * Adds one metrics batch to the hourly counts, once: the batch id is inserted in the same
 * transaction, and a batch whose id is already there (a redelivery) adds nothing.
 * Answers the number of evaluations added (0 for a duplicate). A malformed message is logged and
 * answers 0, so that the consumer acknowledges it: retrying could not make it valid. A database
 * failure throws (the consumer retries the message).
 */
export async function recordMetricsBatch(pool: Pool, message: MetricsMessage): Promise<number> {
  const parsed = MetricsMessageSchema.safeParse(message);
  if (!parsed.success) {
    console.warn(JSON.stringify({ at: 'metrics', malformed: parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`) }));
    return 0;
  }
  const batch = parsed.data;
  const { valid, dropped } = validCounts(batch.counts);
  if (dropped > 0) console.warn(JSON.stringify({ at: 'metrics', batchId: batch.batchId, droppedCounts: dropped, kept: valid.length }));
  const counts = merged(valid);
  const total = counts.reduce((n, c) => n + c[5], 0);
  return withRls(pool, CONTEXT, async (tx, client) => {
    const fresh = await tx
      .insert(metricsBatches)
      .values({ id: batch.batchId, counts: counts.length })
      .onConflictDoNothing()
      .returning({ id: metricsBatches.id });
    if (fresh.length === 0) return 0;
    for (let i = 0; i < counts.length; i += ROWS_PER_STATEMENT) {
      const rows = counts.slice(i, i + ROWS_PER_STATEMENT);
      const params: unknown[] = [];
      const tuples = rows.map((c) => {
        params.push(c[0], c[1], c[2], c[3], new Date(c[4]).toISOString(), c[5]);
        const n = params.length;
        return `($${n - 5}, $${n - 4}, $${n - 3}, $${n - 2}, $${n - 1}::timestamptz, $${n}::bigint)`;
      });
      await client.query(
        `INSERT INTO cmis.flag_metrics_hourly AS m (feature_key, org_id, value_key, reason, hour, count)
         VALUES ${tuples.join(', ')}
         ON CONFLICT (feature_key, org_id, value_key, reason, hour) DO UPDATE SET count = m.count + EXCLUDED.count`,
        params,
      );
    }
    return total;
  });
}

/**
 * Retention, run by the cron pass: hourly rows older than HOURLY_RETENTION_DAYS are added to the
 * daily table and deleted in one transaction (so a count is never in both, nor in neither), and
 * old batch ids are forgotten. Answers how many hourly rows were rolled up.
 */
export async function rollUpMetrics(pool: Pool, nowMs: number, retentionDays = HOURLY_RETENTION_DAYS): Promise<number> {
  const cutoff = new Date(Math.floor((nowMs - retentionDays * DAY_MS) / DAY_MS) * DAY_MS);
  return withRls(pool, CONTEXT, async (tx, client) => {
    const { rows } = await client.query<{ rolled: string }>(
      `WITH gone AS (
         DELETE FROM cmis.flag_metrics_hourly WHERE hour < $1::timestamptz
         RETURNING feature_key, org_id, value_key, reason, hour, count
       ), summed AS (
         INSERT INTO cmis.flag_metrics_daily AS d (feature_key, org_id, value_key, reason, day, count)
         SELECT feature_key, org_id, value_key, reason, (hour AT TIME ZONE 'UTC')::date, sum(count)
           FROM gone GROUP BY 1, 2, 3, 4, 5
         ON CONFLICT (feature_key, org_id, value_key, reason, day) DO UPDATE SET count = d.count + EXCLUDED.count
         RETURNING 1
       )
       SELECT (SELECT count(*) FROM gone)::text AS rolled, (SELECT count(*) FROM summed) AS days`,
      [cutoff.toISOString()],
    );
    await tx.delete(metricsBatches).where(lt(metricsBatches.receivedAt, new Date(nowMs - BATCH_ID_RETENTION_DAYS * DAY_MS)));
    return Number(rows[0]?.rolled ?? 0);
  });
}

