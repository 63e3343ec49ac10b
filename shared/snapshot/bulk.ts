import { sql } from 'drizzle-orm';
import type { Db } from '../db';
import type { OrgLayer } from '../engine';
import { buildLayers } from './build';
import { readState } from './compile';
import { layerKey, type LayerName } from './keys';
import { LATE_PUT, putLayer, settledPut, type LayerStore, type PublishOutcome } from './publish';
import { GlobalLayerSchema, OrgLayerSchema } from './schema';

/**
 * Many layers per transaction, for republishing at scale: a fixed number of statements however many
 * layers (lock, one read per table, record), where `publishLayer` costs a few queries per layer.
 *
 * Same guarantee as `publishLayer`: the layers' snapshot_versions rows are locked first (one
 * `FOR UPDATE` in layer order, so two bulk publishers cannot deadlock each other), which holds back
 * every writer of those layers until the versions are recorded; no older copy can land over a newer one.
 * Callers bound `layers` (KV operations per invocation are capped): see MAX_LAYERS_PER_BULK.
 */

/** Layers per chunk: one Queue `publish` message, one reconcile transaction, the inline org layers of POST /api/publish. */
export const LAYERS_PER_CHUNK = 200;

/** Hard bound per call, well under the ~1000 KV operations a Worker invocation may make. */
export const MAX_LAYERS_PER_BULK = 500;

/** KV puts in flight at once. */
const PUT_CONCURRENCY = 16;

const orgIdOf = (layer: LayerName): string | null => (layer === 'global' ? null : layer.slice('org:'.length));

/**
 * Puts every entry, PUT_CONCURRENCY at a time, and settles only when all have: answers the error of
 * each failed put by the entry's id (never throws).
 * - `deadline: true` (layers): each put within the put deadline (putLayer); after the first late one,
 *   the puts not started yet are not tried (KV is slow: they are left behind for the reconciler), so
 *   a chunk holds its rows for about one deadline, not one per round.
 * - `deadline: false` (evaluate-key records): every put runs to its end. The caller holds the keys'
 *   rows until then, which is what keeps a revocation from being overtaken by a put of the same key.
 */
export async function putAll<K>(kv: LayerStore, puts: readonly { id: K; key: string; text: string }[], options: { deadline: boolean }): Promise<Map<K, string>> {
  const errors = new Map<K, string>();
  let next = 0;
  let slow = false;
  const worker = async () => {
    while (next < puts.length) {
      const { id, key, text } = puts[next++]!;
      if (slow) {
        errors.set(id, 'not tried: another put of this chunk outlived the deadline');
        continue;
      }
      const error = await (options.deadline ? putLayer : settledPut)(kv, key, text);
      if (error === undefined) continue;
      errors.set(id, error);
      if (error.startsWith(LATE_PUT)) slow = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PUT_CONCURRENCY, puts.length) }, worker));
  return errors;
}

/**
 * Compiles and puts the given layers inside the caller's system RLS transaction, then records every
 * `kv_version` in one statement. A failed put is recorded in `last_error` and its layer marked behind
 * (`kv_version < db_version`), so the cron reconciler puts it again; it is reported, never thrown.
 */
export async function publishLayersBulk(tx: Db, kv: LayerStore, layers: readonly LayerName[], nowMs = Date.now()): Promise<PublishOutcome[]> {
  const names = [...new Set(layers)].sort();
  if (names.length === 0) return [];
  if (names.length > MAX_LAYERS_PER_BULK) throw new RangeError(`publishLayersBulk: ${names.length} layers, at most ${MAX_LAYERS_PER_BULK} per call`);

  // A layer without a row yet (nothing ever written) gets one, so that it can be locked like the others.
  await tx.execute(sql`INSERT INTO cmis.snapshot_versions (layer) SELECT unnest(${sql.param(names)}::text[]) ON CONFLICT (layer) DO NOTHING`);
  const locked = await tx.execute<{ layer: string; db_version: string | number }>(
    sql`SELECT layer, db_version FROM cmis.snapshot_versions WHERE layer = ANY(${sql.param(names)}::text[]) ORDER BY layer FOR UPDATE`,
  );
  const versions = new Map(locked.rows.map((r) => [r.layer as LayerName, Number(r.db_version)]));

  const orgIds = names.map(orgIdOf).filter((o): o is string => o !== null);
  const state = await readState(tx, { orgIds });
  const orgVersions = Object.fromEntries(orgIds.map((o) => [o, versions.get(`org:${o}`) ?? 0]));
  const built = buildLayers(state, { version: versions.get('global') ?? 0, orgVersions, generatedAt: nowMs });

  const puts = names.map((layer) => {
    const orgId = orgIdOf(layer);
    // The one snapshot schema guards what the evaluate Worker will decode.
    const json =
      orgId === null
        ? JSON.stringify(GlobalLayerSchema.parse(built.global))
        : JSON.stringify(OrgLayerSchema.parse(built.orgs[orgId] ?? ({ version: versions.get(layer) ?? 0, orgId, flags: {} } satisfies OrgLayer)));
    return { id: layer, key: layerKey(layer), text: json };
  });
  const errors = await putAll(kv, puts, { deadline: true });

  const done = names.filter((l) => !errors.has(l));
  const failed = names.filter((l) => errors.has(l));
  if (done.length) {
    await tx.execute(sql`
      UPDATE cmis.snapshot_versions AS s
         SET kv_version = GREATEST(s.kv_version, u.version), published_at = ${new Date().toISOString()}::timestamptz, last_error = NULL
        FROM unnest(${sql.param(done)}::text[], ${sql.param(done.map((l) => versions.get(l) ?? 0))}::bigint[]) AS u(layer, version)
       WHERE s.layer = u.layer`);
  }
  if (failed.length) {
    await tx.execute(sql`
      UPDATE cmis.snapshot_versions AS s
         SET last_error = u.error, kv_version = LEAST(s.kv_version, s.db_version - 1),
             late_put_at = CASE WHEN u.error LIKE ${`${LATE_PUT}%`} THEN clock_timestamp() ELSE s.late_put_at END
        FROM unnest(${sql.param(failed)}::text[], ${sql.param(failed.map((l) => errors.get(l)!.slice(0, 500)))}::text[]) AS u(layer, error)
       WHERE s.layer = u.layer`);
  }
  return names.map((layer) => {
    const version = versions.get(layer) ?? 0;
    const error = errors.get(layer);
    return error === undefined ? { layer, version, ok: true } : { layer, version, ok: false, error };
  });
}

/**
 * Marks layers as behind KV (`kv_version < db_version`) so that the cron reconciler republishes them:
 * how a republish that could not be handed to the Queue still happens. One statement.
 */
export async function markLayersBehind(tx: Db, layers: readonly LayerName[]): Promise<void> {
  if (layers.length === 0) return;
  const names = [...new Set(layers)].sort();
  await tx.execute(sql`INSERT INTO cmis.snapshot_versions (layer) SELECT unnest(${sql.param(names)}::text[]) ON CONFLICT (layer) DO NOTHING`);
  await tx.execute(sql`UPDATE cmis.snapshot_versions SET kv_version = LEAST(kv_version, db_version - 1) WHERE layer = ANY(${sql.param(names)}::text[])`);
}
