import { describe, expect, it, vi } from 'vitest';
import { vectorLayers } from '../../test/sdk/fixtures';
import { backgroundRunner } from '../../test/support/background';
import type { Layers } from '../engine';
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
  describe('refresh ahead (with a background runner)', () => {
    it('answers from memory past half the max age and re-reads in the background, so no call waits', async () => {
      const { kv, get, data } = kvOf(all);
      const cache = new LayerCache({ maxAgeMs: 1000 });
      const background = backgroundRunner();
      await cache.layersFor(kv, 'org-a', 0, undefined, background);
      expect(background.pending).toHaveLength(0);

      expect(cache.layersFor(kv, 'org-a', 499, undefined, background)).not.toBeInstanceOf(Promise);
      expect(get).toHaveBeenCalledTimes(2); // younger than half the max age: nothing to do

      data.set(globalLayerKey, JSON.stringify({ ...layers.global, version: layers.global.version + 1 }));
      const ahead = cache.layersFor(kv, 'org-a', 500, undefined, background);
      expect(ahead).not.toBeInstanceOf(Promise);
      expect((ahead as { global: { version: number } }).global.version).toBe(layers.global.version);
      expect(background.pending).toHaveLength(2); // one background read per layer
      expect(get).toHaveBeenCalledTimes(4);
      await background.settle();

      // The copies are as old as the background read's start (500): at 999 they are fresh and young.
      const after = cache.layersFor(kv, 'org-a', 999, undefined, background);
      expect(after).not.toBeInstanceOf(Promise);
      expect((after as { global: { version: number } }).global.version).toBe(layers.global.version + 1);
      expect(get).toHaveBeenCalledTimes(4);
    });

    it('starts one background read per layer at a time', async () => {
      const { kv, get } = kvOf(all);
      const cache = new LayerCache({ maxAgeMs: 1000 });
      const background = backgroundRunner();
      await cache.layersFor(kv, undefined, 0);
      for (const now of [600, 650, 700]) cache.layersFor(kv, undefined, now, undefined, background);
      expect(background.pending).toHaveLength(1);
      expect(get).toHaveBeenCalledTimes(2);
      await background.settle();
      cache.layersFor(kv, undefined, 1200, undefined, background); // 600 ms after the last read: ahead again
      expect(background.pending).toHaveLength(1);
      await background.settle();
      expect(get).toHaveBeenCalledTimes(3);
    });

    it('freshLayersFor reads ahead too, and still never waits', async () => {
      const { kv, get } = kvOf(all);
      const cache = new LayerCache({ maxAgeMs: 1000 });
      const background = backgroundRunner();
      await cache.layersFor(kv, 'org-a', 0);
      expect(cache.freshLayersFor('org-a', 400, kv, background)?.org?.orgId).toBe('org-a');
      expect(background.pending).toHaveLength(0);
      expect(cache.freshLayersFor('org-a', 500, kv, background)?.org?.orgId).toBe('org-a');
      expect(background.pending).toHaveLength(2);
      await background.settle();
      expect(get).toHaveBeenCalledTimes(4);
      expect(cache.freshLayersFor('org-a', 1400)?.org?.orgId).toBe('org-a'); // fresh from the read at 500
      expect(cache.freshLayersFor('org-b', 600, kv, background)).toBeUndefined(); // not in memory: nothing read
      expect(background.pending).toHaveLength(0);
    });

    it('without a runner, behaves as before: synchronous until the max age, then the call waits', async () => {
      const { kv, get } = kvOf(all);
      const cache = new LayerCache({ maxAgeMs: 1000 });
      await cache.layersFor(kv, undefined, 0);
      expect(cache.layersFor(kv, undefined, 999)).not.toBeInstanceOf(Promise);
      expect(get).toHaveBeenCalledTimes(1);
      expect(cache.layersFor(kv, undefined, 1000)).toBeInstanceOf(Promise);
    });

    it('of two reads started at the same clock reading, the older version landing last does not replace the newer', async () => {
      const layer = (version: number) => JSON.stringify({ ...layers.global, version });
      let stored = layer(1);
      const delays = [0, 60, 5]; // warm-up read, then a slow read of v1 and a fast read of v2
      let calls = 0;
      const kv = {
        async get() {
          const text = stored; // as of the moment the read reaches KV
          await new Promise((r) => setTimeout(r, delays[calls++] ?? 0));
          return text;
        },
      };
      const cache = new LayerCache({ maxAgeMs: 1000 });
      await cache.layersFor(kv, undefined, 0);
      const slow = cache.layersFor(kv, undefined, 1000);
      stored = layer(2);
      const fast = cache.layersFor(kv, undefined, 1000);
      expect((await fast)?.global.version).toBe(2);
      await slow;
      expect((cache.layersFor(kv, undefined, 1001) as Layers).global.version).toBe(2);
      // a later read is taken as it is, lower version included (layers republished from a new database)
      stored = layer(1);
      expect((await cache.layersFor(kv, undefined, 2001))?.global.version).toBe(1);
    });

    it('a slow background read does not overwrite a newer copy that landed first', async () => {
      const { kv, data } = kvOf(all);
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      let slowNext = false;
      const source = {
        async get(key: string) {
          const text = await kv.get(key);
          if (slowNext) {
            slowNext = false;
            await gate;
          }
          return text;
        },
      };
      const cache = new LayerCache({ maxAgeMs: 1000 });
      const background = backgroundRunner();
      await cache.layersFor(source, undefined, 0);
      slowNext = true;
      cache.layersFor(source, undefined, 600, undefined, background); // reads version v (slow)
      data.set(globalLayerKey, JSON.stringify({ ...layers.global, version: layers.global.version + 5 }));
      const newer = (await cache.layersFor(source, undefined, 1700))!; // stale: reads v+5 and waits
      expect(newer.global.version).toBe(layers.global.version + 5);
      release();
      await background.settle();
      expect((cache.layersFor(source, undefined, 1800) as typeof newer).global.version).toBe(layers.global.version + 5);
    });

    it('a failed background read keeps the good copy and reports it', async () => {
      const { data, kv } = kvOf(all);
      const onError = vi.fn();
      const cache = new LayerCache({ maxAgeMs: 1000 }, onError);
      const background = backgroundRunner();
      const good = await cache.layersFor(kv, undefined, 0);
      data.set(globalLayerKey, '{not json');
      expect(cache.layersFor(kv, undefined, 700, undefined, background)).toEqual(good);
      await background.settle();
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ kind: 'json' }));
      expect(cache.layersFor(kv, undefined, 1500)).toEqual(good); // retried no sooner than a max age after the failed read
    });
  });
});
