import type { Pool } from '@neondatabase/serverless';
import { asc, lt, sql } from 'drizzle-orm';
import { snapshotVersions, withRls } from '../../shared/db';
import type { LayerName } from '../../shared/snapshot';
import { LAYERS_PER_CHUNK, publishLayersBulk } from '../../shared/snapshot/bulk';
import type { LayerStore, PublishOutcome } from '../../shared/snapshot/publish';
import { CRON_ACTOR } from './schedules';

/** Layers one pass republishes at most (KV puts per invocation are capped); the rest wait a minute. */
export const RECONCILE_LAYERS_PER_PASS = 500;

export interface ReconcileOutcome {
  /** Layers brought up to their database version. */
  reconciled: number;
  /** Layers still behind after this pass (beyond its bound, or failed). */
  remaining: number;
  outcomes: PublishOutcome[];
}

const CONTEXT = { orgId: null, role: 'system', actor: CRON_ACTOR, reason: 'reconcile' } as const;

/**
 * Republishes layers whose KV copy is behind Postgres (`kv_version < db_version`): a failed put during
 * an admin write, or the part of a republish the Queue did not take. Least recently published first,
 * at most `limit` per pass, in bulk chunks of LAYERS_PER_CHUNK, each its own transaction, so one
 * failing chunk does not hold the others back; a failed put stays recorded in `last_error`.
 */
export async function reconcileLayers(pool: Pool, kv: LayerStore, nowMs: number, limit = RECONCILE_LAYERS_PER_PASS): Promise<ReconcileOutcome> {
  const behind = lt(snapshotVersions.kvVersion, snapshotVersions.dbVersion);
  const { stale, total } = await withRls(pool, CONTEXT, async (tx) => {
    const [rows, [count]] = await Promise.all([
      tx
        .select({ layer: snapshotVersions.layer })
        .from(snapshotVersions)
        .where(behind)
        .orderBy(sql`${snapshotVersions.publishedAt} ASC NULLS FIRST`, asc(snapshotVersions.layer))
        .limit(limit),
      tx.select({ n: sql<number>`count(*)::int` }).from(snapshotVersions).where(behind),
    ]);
    return { stale: rows.map((r) => r.layer as LayerName), total: count?.n ?? 0 };
  });
  const outcomes: PublishOutcome[] = [];
  for (let i = 0; i < stale.length; i += LAYERS_PER_CHUNK) {
    const chunk = stale.slice(i, i + LAYERS_PER_CHUNK);
    try {
      outcomes.push(...(await withRls(pool, CONTEXT, (tx) => publishLayersBulk(tx, kv, chunk, nowMs))));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      outcomes.push(...chunk.map((layer) => ({ layer, version: 0, ok: false, error: message })));
    }
  }
  const reconciled = outcomes.filter((o) => o.ok).length;
  return { reconciled, remaining: total - reconciled, outcomes };
}
