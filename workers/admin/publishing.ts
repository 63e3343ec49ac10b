import type { Context } from 'hono';
import type { Db } from '../../shared/db';
import type { LayerName } from '../../shared/snapshot';
import { publishLayer, type PublishOutcome } from '../../shared/snapshot/publish';
import { inTransaction } from './db';
import type { AppEnv } from './env';
import { changeEvents, notify } from './notify';

export type PublishState = 'done' | 'pending';

export interface Change<T> {
  result: T;
  /** The snapshot layers the change touched: `global` or `org:<id>`. */
  layers: LayerName[];
}

/** Puts the given layers to KV in one transaction of the caller; any failure leaves them pending. */
export async function publishLayers(c: Context<AppEnv>, layers: readonly LayerName[]): Promise<{ state: PublishState; outcomes: PublishOutcome[] }> {
  const unique = [...new Set(layers)];
  if (unique.length === 0) return { state: 'done', outcomes: [] };
  try {
    const outcomes = await inTransaction(c, async (tx) => {
      const done: PublishOutcome[] = [];
      for (const layer of unique) done.push(await publishLayer(tx, c.env.FLAGS_KV, layer));
      return done;
    });
    return { state: outcomes.every((o) => o.ok) ? 'done' : 'pending', outcomes };
  } catch (error) {
    // The change is committed; the cron reconciler republishes whatever is behind.
    console.warn(JSON.stringify({ at: 'publish', requestId: c.get('requestId'), layers: unique, error: String(error) }));
    return { state: 'pending', outcomes: unique.map((layer) => ({ layer, version: 0, ok: false, error: String(error) })) };
  }
}

/**
 * A write: runs `work` in the request's one RLS transaction (rows + audit + db_version commit together),
 * then publishes the touched layers. Answers 2xx either way; `publish` says whether KV caught up.
 */
export async function applyChange<T>(
  c: Context<AppEnv>,
  work: (tx: Db) => Promise<Change<T>>,
  options: { reason?: string | null } = {},
): Promise<{ result: T; publish: PublishState }> {
  const change = await inTransaction(c, async (tx) => ({ ...(await work(tx)), events: c.env?.EVENTS ? await changeEvents(tx) : [] }), options);
  const { state } = await publishLayers(c, change.layers);
  c.header('X-Publish', state);
  await notify(c, change.events);
  return { result: change.result, publish: state };
}
