import type { Pool } from '@neondatabase/serverless';
import { and, asc, eq, gt, lt, ne, or, sql } from 'drizzle-orm';
import { snapshotVersions, withRls } from '../../shared/db';
import { layerKey, type LayerName } from '../../shared/snapshot';
import type { LayerSource } from '../../shared/snapshot/cache';
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

export const RECONCILE_CONTEXT = { orgId: null, role: 'system', actor: CRON_ACTOR, reason: 'reconcile' } as const;

/**
 * Republishes layers whose KV copy is behind Postgres (`kv_version < db_version`): a failed put during
 * an admin write, or the part of a republish the Queue did not take. Least recently published first,
 * at most `limit` per pass, in bulk chunks of LAYERS_PER_CHUNK, each its own transaction, so one
 * failing chunk does not hold the others back; a failed put stays recorded in `last_error`.
 */
export async function reconcileLayers(pool: Pool, kv: LayerStore, nowMs: number, limit = RECONCILE_LAYERS_PER_PASS): Promise<ReconcileOutcome> {
  const behind = lt(snapshotVersions.kvVersion, snapshotVersions.dbVersion);
  const { stale, total } = await withRls(pool, RECONCILE_CONTEXT, async (tx) => {
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
      outcomes.push(...(await withRls(pool, RECONCILE_CONTEXT, (tx) => publishLayersBulk(tx, kv, chunk, nowMs))));
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      outcomes.push(...chunk.map((layer) => ({ layer, version: 0, ok: false, error: message })));
    }
  }
  const reconciled = outcomes.filter((o) => o.ok).length;
  return { reconciled, remaining: total - reconciled, outcomes };
}

/** Layers one pass reads back from KV besides the global one (KV reads per invocation are capped too). */
export const VERIFY_LAYERS_PER_PASS = 50;

/** A layer published more recently than this is not read back: KV reads elsewhere may still see the previous copy. */
export const VERIFY_SETTLE_MS = 120_000;

/**
 * How long after a put was abandoned at its deadline (late_put_at, shared/snapshot/publish.ts) its
 * layer is read back every pass, settled or not: the abandoned put may land after a newer copy.
 */
export const LATE_PUT_WATCH_MS = 15 * 60_000;

/** A watched layer is read back this long after its last publish at the earliest (KV reads elsewhere may lag a put). */
export const LATE_PUT_SETTLE_MS = 60_000;

export interface VerifyOutcome {
  checked: number;
  /** Layers whose KV copy was missing, unreadable or another version than Postgres recorded; marked behind. */
  drifted: LayerName[];
}

/** The version a KV copy carries, or null when there is none or it is not a layer. */
function versionOf(text: string | null): number | null {
  if (text === null) return null;
  try {
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'number' ? version : null;
  } catch {
    return null;
  }
}

/**
 * The rows of this minute's window over a list of `total` rows read in a fixed order by `read`: all of
 * them when they are at most `limit`, else `limit` rows from an offset that moves on by `limit` every
 * minute, wrapping round the end of the list so the window always holds `limit` rows.
 */
export async function rotatingWindow<T>(total: number, limit: number, nowMs: number, read: (rows: number, offset: number) => Promise<T[]>): Promise<T[]> {
  if (total === 0) return [];
  if (total <= limit) return read(limit, 0);
  const start = (Math.floor(nowMs / 60_000) * limit) % total;
  const overflow = start + limit - total;
  return [...(await read(limit, start)), ...(overflow > 0 ? await read(overflow, 0) : [])];
}

/**
 * Reads layers back from KV and marks behind (`kv_version = 0`, `last_error` says why) every one whose
 * copy is gone, unreadable or another version than the one recorded as published: a key deleted or
 * overwritten outside the admin Worker, a namespace restored from elsewhere. reconcileLayers, which
 * runs next in the pass, then republishes them. kv_version alone cannot tell: it records what was put,
 * not what is still there. The global layer is read every pass; org layers all of them when they
 * are at most `limit`, else in a window of `limit` (wrapping round the end of the list) that moves on
 * by `limit` every minute, so every layer comes round within ceil(layers / limit) passes once the
 * list holds still (100k orgs at 50 a minute: about a day and a half per sweep).
 */
export async function verifyLayers(pool: Pool, kv: LayerSource, nowMs: number, limit = VERIFY_LAYERS_PER_PASS): Promise<VerifyOutcome> {
  const upToDate = and(gt(snapshotVersions.kvVersion, 0), eq(snapshotVersions.kvVersion, snapshotVersions.dbVersion));
  const settled = and(upToDate, lt(snapshotVersions.publishedAt, new Date(nowMs - VERIFY_SETTLE_MS)));
  // Watched: a put abandoned lately, read back a minute after the last publish (sooner, KV reads may still lag it).
  const watched = and(upToDate, gt(snapshotVersions.latePutAt, new Date(nowMs - LATE_PUT_WATCH_MS)), lt(snapshotVersions.publishedAt, new Date(nowMs - LATE_PUT_SETTLE_MS)));
  const watchedOrgs = and(watched, ne(snapshotVersions.layer, 'global'));
  const settledOrgs = and(settled, ne(snapshotVersions.layer, 'global'));
  const columns = { layer: snapshotVersions.layer, kvVersion: snapshotVersions.kvVersion };
  const candidates = await withRls(pool, RECONCILE_CONTEXT, async (tx) => {
    const [global, [late], [count]] = await Promise.all([
      tx.select(columns).from(snapshotVersions).where(and(or(settled, watched), eq(snapshotVersions.layer, 'global'))),
      tx.select({ n: sql<number>`count(*)::int` }).from(snapshotVersions).where(watchedOrgs),
      tx.select({ n: sql<number>`count(*)::int` }).from(snapshotVersions).where(settledOrgs),
    ]);
    const window = (where: typeof settledOrgs) => (rows: number, offset: number) =>
      tx.select(columns).from(snapshotVersions).where(where).orderBy(asc(snapshotVersions.layer)).limit(rows).offset(offset);
    const all = [
      ...global,
      ...(await rotatingWindow(late?.n ?? 0, limit, nowMs, window(watchedOrgs))),
      ...(await rotatingWindow(count?.n ?? 0, limit, nowMs, window(settledOrgs))),
    ];
    return [...new Map(all.map((c) => [c.layer, c])).values()];
  });

  const drifted: { layer: LayerName; kvVersion: number; why: string }[] = [];
  await Promise.all(
    candidates.map(async ({ layer: name, kvVersion }) => {
      const layer = name as LayerName;
      let text: string | null;
      try {
        text = await kv.get(layerKey(layer), 'text');
      } catch {
        return; // KV unreadable right now says nothing about the copy; the next pass reads it again
      }
      const found = versionOf(text);
      if (found !== kvVersion) drifted.push({ layer, kvVersion, why: found === null ? 'missing or unreadable in KV' : `KV holds version ${found}` });
    }),
  );
  if (drifted.length > 0) {
    await withRls(pool, RECONCILE_CONTEXT, async (tx) => {
      // Only where kv_version is still what was checked: a publish since then has put a newer copy.
      for (const { layer, kvVersion, why } of drifted) {
        await tx
          .update(snapshotVersions)
          .set({ kvVersion: 0, lastError: `verify: ${why}` })
          .where(and(eq(snapshotVersions.layer, layer), eq(snapshotVersions.kvVersion, kvVersion)));
      }
    });
    console.warn(JSON.stringify({ at: 'cron.verify', drifted: drifted.map(({ layer, why }) => ({ layer, why })) }));
  }
  return { checked: candidates.length, drifted: drifted.map((d) => d.layer) };
}
