import type { Pool } from '@neondatabase/serverless';
import { asc, lt } from 'drizzle-orm';
import { snapshotVersions, withRls } from '../../shared/db';
import type { LayerName } from '../../shared/snapshot';
import { publishLayer, type LayerStore, type PublishOutcome } from '../../shared/snapshot/publish';
import { CRON_ACTOR } from './schedules';

export interface ReconcileOutcome {
  /** Layers brought up to their database version. */
  reconciled: number;
  outcomes: PublishOutcome[];
}

/**
 * Republishes every layer whose KV copy is behind Postgres (`kv_version < db_version`), e.g. after a
 * failed put during an admin write. Each layer in its own transaction, so one failing layer does not
 * hold the others back; a failure stays recorded in `last_error` for the next pass.
 */
export async function reconcileLayers(pool: Pool, kv: LayerStore, nowMs: number): Promise<ReconcileOutcome> {
  const context = { orgId: null, role: 'system', actor: CRON_ACTOR, reason: 'reconcile' } as const;
  const stale = await withRls(pool, context, (tx) =>
    tx
      .select({ layer: snapshotVersions.layer })
      .from(snapshotVersions)
      .where(lt(snapshotVersions.kvVersion, snapshotVersions.dbVersion))
      .orderBy(asc(snapshotVersions.layer)),
  );
  const outcomes: PublishOutcome[] = [];
  for (const { layer } of stale) {
    try {
      outcomes.push(await withRls(pool, context, (tx) => publishLayer(tx, kv, layer as LayerName, nowMs)));
    } catch (error) {
      outcomes.push({ layer: layer as LayerName, version: 0, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }
  return { reconciled: outcomes.filter((o) => o.ok).length, outcomes };
}
