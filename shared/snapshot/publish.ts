import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { snapshotVersions } from '../db/schema';
import { compileLayer, readState } from './compile';
import { layerKey, type LayerName } from './keys';
import { GlobalLayerSchema, OrgLayerSchema } from './schema';

export interface PublishOutcome {
  layer: LayerName;
  /** The db_version compiled into the layer. */
  version: number;
  ok: boolean;
  error?: string;
}

/** The part of a KV namespace publishing needs (a real binding, or Miniflare's from Node). */
export interface LayerStore {
  put(key: string, value: string): Promise<void>;
}

/**
 * Compiles one layer from Postgres and puts it to KV, then records `kv_version`. Runs inside the
 * caller's RLS transaction (`withRls`), after the change itself committed.
 *
 * The layer's snapshot_versions row is locked first: the audit triggers bump `db_version` on that
 * same row, so no writer can commit between reading the version and reading the rows, and two
 * publishers of one layer cannot put an older copy over a newer one.
 * A failed KV put is recorded in `last_error` and reported (`ok: false`), never thrown: the change is
 * committed and the cron reconciler republishes every layer whose kv_version < db_version.
 * The put is not cut short: the row lock orders the puts of a layer only while it is held until each
 * settles (a put abandoned at a deadline could land after a newer one). A writer stuck behind a put
 * that hangs gives up at the lock timeout (withRls) instead.
 */
export async function publishLayer(tx: Db, kv: LayerStore, layer: LayerName, nowMs = Date.now()): Promise<PublishOutcome> {
  const [locked] = await tx
    .select({ dbVersion: snapshotVersions.dbVersion })
    .from(snapshotVersions)
    .where(eq(snapshotVersions.layer, layer))
    .for('update');
  const version = locked?.dbVersion ?? 0;
  const orgId = layer === 'global' ? null : layer.slice('org:'.length);
  const state = await readState(tx, { orgId });
  const compiled = compileLayer(state, layer, version, nowMs);
  // The one snapshot schema guards what the evaluate Worker will decode.
  const json = JSON.stringify(layer === 'global' ? GlobalLayerSchema.parse(compiled) : OrgLayerSchema.parse(compiled));

  let error: string | undefined;
  try {
    await kv.put(layerKey(layer), json);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  }

  // published_at is when the put happened (the real clock, whatever instant nowMs stands for): the
  // cron's read-back waits for it to settle.
  const putAt = new Date();
  const record = error === undefined
    ? { kvVersion: sql`GREATEST(${snapshotVersions.kvVersion}, ${version})`, publishedAt: putAt, lastError: null }
    : { lastError: error.slice(0, 500) };
  await tx
    .insert(snapshotVersions)
    .values({ layer, dbVersion: version, kvVersion: error === undefined ? version : 0, publishedAt: error === undefined ? putAt : null, lastError: error ?? null })
    .onConflictDoUpdate({ target: snapshotVersions.layer, set: record });

  return error === undefined ? { layer, version, ok: true } : { layer, version, ok: false, error };
}

/** The layers a change touches: `global` for system and all-orgs rows, `org:<id>` for an org's rows. */
export function layerOf(orgId: string | null): LayerName {
  return orgId === null ? 'global' : `org:${orgId}`;
}
