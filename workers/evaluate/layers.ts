import { LayerCache, type LayerCacheSettings, type LayerReadError } from '../../shared/snapshot/cache';

/**
 * The evaluate Worker's isolate-level layer cache. The cache itself is the one in
 * `shared/snapshot/cache.ts` (shared with the SDK's KV transport): global layer pinned, org layers in
 * an LRU bounded by entries and estimated bytes, re-read after `SNAPSHOT_MAX_AGE_MS`, both layers read
 * in parallel, last good copy kept on any read failure, null (fail closed) without one.
 */
export { LayerCache };
export type { LayerCacheSettings, LayerReadError, LayerSource } from '../../shared/snapshot/cache';

/** One structured log line per failed read: the Worker keeps answering, operators still see it. */
export function logReadError(error: LayerReadError): void {
  console.error(JSON.stringify({ at: 'evaluate.layers', ...error }));
}

export function createLayerCache(settings: LayerCacheSettings, onError: (error: LayerReadError) => void = logReadError): LayerCache {
  return new LayerCache(settings, onError);
}
