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
  /** Overrides KV_PUT_DEADLINE_MS (tests). */
  putDeadlineMs?: number;
}

/**
 * Longest a layer put may take. The publisher holds the layer's snapshot_versions row meanwhile and
 * every writer of the layer waits on it (the kill switch included), so past this the put counts as
 * failed, is recorded as late (`late_put_at`) and the row is released. The abandoned put may still
 * land after a newer copy and put an older version back: the cron reads layers with a late put back
 * every pass for a while (reconcile.ts, verifyLayers) and republishes a copy that went back.
 */
export const KV_PUT_DEADLINE_MS = 10_000;

/** Marks the message of a put abandoned at its deadline. */
export const LATE_PUT = 'late put';

/** A put run to its end: undefined when it succeeded, else why not (a put that throws synchronously included). */
export function settledPut(kv: LayerStore, key: string, json: string): Promise<string | undefined> {
  return Promise.resolve()
    .then(() => kv.put(key, json))
    .then(
      () => undefined,
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
}

/** A put within the deadline: undefined when it succeeded, else why not (a late one starts with LATE_PUT). */
export async function putLayer(kv: LayerStore, key: string, json: string): Promise<string | undefined> {
  const deadlineMs = kv.putDeadlineMs ?? KV_PUT_DEADLINE_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`${LATE_PUT}: the KV put took longer than ${deadlineMs} ms`), deadlineMs);
  });
  try {
    return await Promise.race([settledPut(kv, key, json), deadline]);
  } finally {
    clearTimeout(timer);
  }
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
 * A put that outlives KV_PUT_DEADLINE_MS is abandoned and recorded as late (see there).
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

  const error = await putLayer(kv, layerKey(layer), json);
  const late = error?.startsWith(LATE_PUT) ?? false;

  // published_at is when the put happened (the real clock, whatever instant nowMs stands for): the
  // cron's read-back waits for it to settle.
  const putAt = new Date();
  const record = error === undefined
    ? { kvVersion: sql`GREATEST(${snapshotVersions.kvVersion}, ${version})`, publishedAt: putAt, lastError: null }
    : { lastError: error.slice(0, 500), ...(late ? { latePutAt: putAt } : {}) };
  await tx
    .insert(snapshotVersions)
    .values({
      layer,
      dbVersion: version,
      kvVersion: error === undefined ? version : 0,
      publishedAt: error === undefined ? putAt : null,
      lastError: error ?? null,
      latePutAt: late ? putAt : null,
    })
    .onConflictDoUpdate({ target: snapshotVersions.layer, set: record });

  return error === undefined ? { layer, version, ok: true } : { layer, version, ok: false, error };
}

/** The layers a change touches: `global` for system and all-orgs rows, `org:<id>` for an org's rows. */
export function layerOf(orgId: string | null): LayerName {
  return orgId === null ? 'global' : `org:${orgId}`;
}
