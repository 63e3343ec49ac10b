import type { Context } from 'hono';
import type { Db } from '../../shared/db';
import type { LayerName } from '../../shared/snapshot';
import { enqueueMessages, type PublishMessage } from '../../shared/events';
import { LAYERS_PER_CHUNK, markLayersBehind, publishLayersBulk } from '../../shared/snapshot/bulk';
import { publishLayer, type PublishOutcome } from '../../shared/snapshot/publish';
import { inTransaction } from './db';
import type { AppEnv } from './env';
import { changeEvents, stageNotifications } from '../../shared/store';
import { notify } from './notify';

export type PublishState = 'done' | 'pending';

export interface Change<T> {
  result: T;
  /** The snapshot layers the change touched: `global` or `org:<id>`. */
  layers: LayerName[];
}

/** Puts the given layers to KV in one transaction of the caller; any failure leaves them pending. */
export async function publishLayers(c: Context<AppEnv>, layers: readonly LayerName[]): Promise<{ state: PublishState; outcomes: PublishOutcome[] }> {
  // one lock order for every publisher (global first, then orgs by id), so two cannot deadlock
  const unique = [...new Set(layers)].sort();
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

export interface Republish {
  state: PublishState;
  /** Layers put (or tried) in this request. */
  outcomes: PublishOutcome[];
  /** Layers left to the Queue consumer, or to the cron reconciler without a Queue. */
  deferred: LayerName[];
  via: 'queue' | 'reconcile' | null;
}

/**
 * Republishes many layers without one request doing all the work: the global layer and the first
 * LAYERS_PER_CHUNK org layers are put here in one bulk transaction; the others are first marked behind
 * (so /api/status counts them pending and the reconciler finishes them whatever happens to the Queue),
 * then sent as `publish` messages of LAYERS_PER_CHUNK layers each.
 */
export async function republishLayers(c: Context<AppEnv>, layers: readonly LayerName[]): Promise<Republish> {
  const orgLayers = [...new Set(layers)].filter((l) => l !== 'global').sort();
  const inline: LayerName[] = ['global', ...orgLayers.slice(0, LAYERS_PER_CHUNK)];
  const deferred = orgLayers.slice(LAYERS_PER_CHUNK);
  let outcomes: PublishOutcome[];
  try {
    outcomes = await inTransaction(c, (tx) => publishLayersBulk(tx, c.env.FLAGS_KV, inline));
  } catch (error) {
    console.warn(JSON.stringify({ at: 'republish', requestId: c.get('requestId'), layers: inline.length, error: String(error) }));
    outcomes = inline.map((layer) => ({ layer, version: 0, ok: false, error: String(error) }));
  }
  let via: Republish['via'] = null;
  if (deferred.length > 0) {
    await inTransaction(c, (tx) => markLayersBehind(tx, deferred));
    const messages: PublishMessage[] = [];
    for (let i = 0; i < deferred.length; i += LAYERS_PER_CHUNK) messages.push({ type: 'publish', layers: deferred.slice(i, i + LAYERS_PER_CHUNK) });
    const sent = await enqueueMessages(c.env.EVENTS, messages);
    via = sent === messages.length ? 'queue' : 'reconcile';
  }
  const state: PublishState = deferred.length === 0 && outcomes.every((o) => o.ok) ? 'done' : 'pending';
  return { state, outcomes, deferred, via };
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
  // The notifications are staged with the change (shared/store/outbox.ts): if the queue refuses them
  // after the commit, the cron sends them again.
  const change = await inTransaction(
    c,
    async (tx) => ({ ...(await work(tx)), notifications: c.env?.EVENTS ? await stageNotifications(tx, await changeEvents(tx)) : [] }),
    options,
  );
  const { state } = await publishLayers(c, change.layers);
  c.header('X-Publish', state);
  await notify(c, change.notifications);
  return { result: change.result, publish: state };
}
