import { describe, expect, it, vi } from 'vitest';
import { vectorLayers } from '../../test/sdk/fixtures';
import { LayerCache } from './cache';
import { globalLayerKey, orgLayerKey } from './keys';

function kvOf(entries: Record<string, unknown>) {
  const data = new Map(Object.entries(entries).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  const get = vi.fn(async (key: string) => data.get(key) ?? null);
  return { data, get, kv: { get } };
}

const layers = vectorLayers();
const all = { [globalLayerKey]: layers.global, ...Object.fromEntries(Object.entries(layers.orgs).map(([id, l]) => [orgLayerKey(id), l])) };

describe('LayerCache', () => {
  it('reads global and org in parallel, then serves from memory for maxAgeMs (synchronously)', async () => {
    const { kv, get } = kvOf(all);
    const cache = new LayerCache({ maxAgeMs: 1000 });
    const first = await cache.layersFor(kv, 'org-a', 0);
    expect(first?.org?.orgId).toBe('org-a');
    expect(get).toHaveBeenCalledTimes(2);
    const again = cache.layersFor(kv, 'org-a', 999);
    expect(again).not.toBeInstanceOf(Promise);
    expect(get).toHaveBeenCalledTimes(2);
    await cache.layersFor(kv, 'org-a', 1000);
    expect(get).toHaveBeenCalledTimes(4);
  });

  it('freshLayersFor answers only from fresh memory and never reads KV', async () => {
    const { kv, get } = kvOf(all);
    const cache = new LayerCache({ maxAgeMs: 1000 });
    expect(cache.freshLayersFor('org-a', 0)).toBeUndefined();
    await cache.layersFor(kv, 'org-a', 0);
    expect(cache.freshLayersFor('org-a', 500)?.org?.orgId).toBe('org-a');
    expect(cache.freshLayersFor(undefined, 500)).toEqual({ global: layers.global, org: null });
    expect(cache.freshLayersFor('org-b', 500)).toBeUndefined();
    expect(cache.freshLayersFor('org-a', 1000)).toBeUndefined();
    expect(get).toHaveBeenCalledTimes(2);
  });

  it('an org without a layer is a cached "no layer", not an error', async () => {
    const { kv } = kvOf(all);
    const onError = vi.fn();
    const result = await new LayerCache({}, onError).layersFor(kv, 'org-zzz', 0);
    expect(result).toEqual({ global: layers.global, org: null });
    expect(onError).not.toHaveBeenCalled();
  });

  it('keeps the last good copy over a bad one and reports why', async () => {
    const { kv, data } = kvOf(all);
    const onError = vi.fn();
    const perCall = vi.fn();
    const cache = new LayerCache({ maxAgeMs: 0 }, onError);
    const good = await cache.layersFor(kv, undefined, 0);
    data.set(globalLayerKey, JSON.stringify({ version: -1, flags: {} }));
    expect(await cache.layersFor(kv, undefined, 1, perCall)).toEqual(good);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ kvKey: globalLayerKey, kind: 'schema' }));
    expect(perCall).toHaveBeenCalledTimes(1);
    data.delete(globalLayerKey);
    expect(await cache.layersFor(kv, undefined, 2)).toEqual(good);
    expect(onError).toHaveBeenLastCalledWith(expect.objectContaining({ kind: 'missing' }));
  });

  it('refuses an org layer stored under another org key', async () => {
    const { kv } = kvOf({ ...all, [orgLayerKey('org-x')]: layers.orgs['org-a'] });
    const onError = vi.fn();
    expect(await new LayerCache({}, onError).layersFor(kv, 'org-x', 0)).toBeNull();
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ kind: 'schema', message: 'orgId does not match the key' }));
  });

  it('bounds org entries (LRU)', async () => {
    const { kv } = kvOf(all);
    const cache = new LayerCache({ maxEntries: 2, maxAgeMs: 60_000 });
    for (const org of ['org-a', 'org-b', 'org-c', 'org-b']) await cache.layersFor(kv, org, 0);
    expect(cache.stats().orgEntries).toBe(2);
  });
});
