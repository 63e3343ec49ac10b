import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { evaluateKeyKey, globalLayerKey, orgLayerKey } from '../../shared/snapshot';
import { sha256Hex } from '../../shared/tokens';
import { createEvaluateApp, createEvaluateWorker } from '../../workers/evaluate/app';
import { KeyCache } from '../../workers/evaluate/auth';
import { settingsOf } from '../../workers/evaluate/env';
import { LayerCache, type LayerReadError } from '../../workers/evaluate/layers';
import { backgroundRunner } from '../support/background';
import { FakeKv, GLOBAL_KEY, bearer, cascadeLayers, putKey, putLayers } from './helpers';

/**
 * The isolate caches with an injected KV and clock: refresh after SNAPSHOT_MAX_AGE_MS, last good
 * copy on KV failure, fail closed without any copy, bounds.
 */

const settings = { maxAgeMs: 1000, maxEntries: 100, maxBytes: 1 << 24 };

async function seeded(): Promise<FakeKv> {
  const kv = new FakeKv();
  await putLayers(kv, cascadeLayers(7));
  return kv;
}

describe('LayerCache', () => {
  it('serves from memory within the max age and re-reads after it', async () => {
    const kv = await seeded();
    const cache = new LayerCache(settings);
    const first = await cache.layersFor(kv, 'org-a', 10_000);
    expect(first?.global.version).toBe(7);
    expect(first?.org?.orgId).toBe('org-a');
    expect(kv.reads).toBe(2);

    const fresh = cache.layersFor(kv, 'org-a', 10_999);
    expect(fresh).not.toBeInstanceOf(Promise); // the hot path is synchronous
    expect(kv.reads).toBe(2);

    await cache.layersFor(kv, 'org-a', 11_000);
    expect(kv.reads).toBe(4);
  });

  it('reads the global and the org layer in parallel', async () => {
    const kv = await seeded();
    let inFlight = 0;
    let maxInFlight = 0;
    const slow = {
      async get(key: string, type: 'text') {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return kv.get(key, type);
      },
    };
    await new LayerCache(settings).layersFor(slow, 'org-b', 0);
    expect(maxInFlight).toBe(2);
  });

  it('keeps the decoded objects when the re-read text is unchanged, replaces them when it changed', async () => {
    const kv = await seeded();
    const cache = new LayerCache(settings);
    const first = (await cache.layersFor(kv, undefined, 0))!;
    const same = (await cache.layersFor(kv, undefined, 5000))!;
    expect(same.global).toBe(first.global);

    const next = cascadeLayers(8);
    await kv.put(globalLayerKey, JSON.stringify(next.global));
    const changed = (await cache.layersFor(kv, undefined, 10_000))!;
    expect(changed.global).not.toBe(first.global);
    expect(changed.global.version).toBe(8);
  });

  it('caches "this org has no layer" as null', async () => {
    const kv = await seeded();
    const cache = new LayerCache(settings);
    const layers = await cache.layersFor(kv, 'org-without-data', 0);
    expect(layers).toEqual({ global: expect.objectContaining({ version: 7 }), org: null });
    const reads = kv.reads;
    expect(cache.layersFor(kv, 'org-without-data', 500)).toEqual(layers);
    expect(kv.reads).toBe(reads);
  });

  it.each([
    ['KV throws', (kv: FakeKv) => void (kv.failing = true), 'kv'],
    ['invalid JSON', (kv: FakeKv) => void kv.data.set(globalLayerKey, '{"version": 9,'), 'json'],
    ['schema violation', (kv: FakeKv) => void kv.data.set(globalLayerKey, JSON.stringify({ version: -1, flags: {} })), 'schema'],
    ['global layer vanished', (kv: FakeKv) => void kv.data.delete(globalLayerKey), 'missing'],
  ])('keeps the last good copy when %s, and retries after the max age', async (_name, breakIt, kind) => {
    const kv = await seeded();
    const errors: LayerReadError[] = [];
    const cache = new LayerCache(settings, (e) => errors.push(e));
    const good = (await cache.layersFor(kv, 'org-a', 0))!;
    breakIt(kv);
    const served = (await cache.layersFor(kv, 'org-a', 1000))!;
    expect(served.global).toBe(good.global);
    expect(errors.map((e) => e.kind)).toContain(kind);
    const reads = kv.reads;
    cache.layersFor(kv, 'org-a', 1500); // within the max age of the failed attempt: no KV read
    expect(kv.reads).toBe(reads);
  });

  it('a broken org layer keeps its last good copy too', async () => {
    const kv = await seeded();
    const cache = new LayerCache(settings, () => {});
    const good = (await cache.layersFor(kv, 'org-b', 0))!;
    kv.data.set(orgLayerKey('org-b'), JSON.stringify({ version: 8, orgId: 'org-a', flags: {} })); // wrong org
    expect((await cache.layersFor(kv, 'org-b', 2000))!.org).toBe(good.org);
  });

  it('without any good copy answers null (fail closed), and recovers when KV does', async () => {
    const kv = await seeded();
    kv.failing = true;
    const cache = new LayerCache(settings, () => {});
    expect(await cache.layersFor(kv, 'org-a', 0)).toBeNull();
    expect(await cache.layersFor(kv, undefined, 1)).toBeNull();
    kv.failing = false;
    expect((await cache.layersFor(kv, 'org-a', 2))?.org?.orgId).toBe('org-a');
  });

  it('an org layer that cannot be read at all fails the request closed rather than ignoring the org', async () => {
    const kv = await seeded();
    const cache = new LayerCache(settings, () => {});
    await cache.layersFor(kv, undefined, 0);
    kv.data.set(orgLayerKey('org-b'), 'garbage');
    expect(await cache.layersFor(kv, 'org-b', 1)).toBeNull();
  });

  it('bounds org entries by count, least recently used first; the global layer stays', async () => {
    const kv = await seeded();
    const cache = new LayerCache({ ...settings, maxEntries: 3 });
    for (const org of ['o1', 'o2', 'o3']) await cache.layersFor(kv, org, 0);
    cache.layersFor(kv, 'o1', 1); // touch o1: o2 is now the oldest
    await cache.layersFor(kv, 'o4', 2);
    expect(cache.stats().orgEntries).toBe(3);
    const reads = kv.reads;
    cache.layersFor(kv, 'o1', 3);
    cache.layersFor(kv, 'o3', 3);
    expect(kv.reads).toBe(reads); // still cached
    await cache.layersFor(kv, 'o2', 3);
    expect(kv.reads).toBe(reads + 1); // evicted, read again
    expect(cache.stats().globalVersion).toBe(7);
  });

  it('asking the same org again keeps the LRU order right (o1, o2, o2, o1, then o3 evicts o2)', async () => {
    const kv = await seeded();
    const cache = new LayerCache({ ...settings, maxEntries: 2 });
    for (const org of ['o1', 'o2', 'o2', 'o1']) await cache.layersFor(kv, org, 0);
    await cache.layersFor(kv, 'o3', 1);
    const reads = kv.reads;
    cache.layersFor(kv, 'o1', 2);
    expect(kv.reads).toBe(reads); // o1 was used last before o3: kept
    await cache.layersFor(kv, 'o2', 2);
    expect(kv.reads).toBe(reads + 1); // o2 was the least recently used: evicted
  });

  it('hands out the same Layers object while nothing changed, a new one when either layer did', async () => {
    const kv = await seeded();
    const cache = new LayerCache(settings);
    const a1 = (await cache.layersFor(kv, 'org-a', 0))!;
    const b1 = (await cache.layersFor(kv, 'org-b', 0))!;
    expect(cache.layersFor(kv, 'org-a', 10)).toBe(a1);
    expect(cache.layersFor(kv, undefined, 10)).toBe(cache.layersFor(kv, undefined, 20));

    const next = cascadeLayers(8);
    await kv.put(globalLayerKey, JSON.stringify(next.global));
    const a2 = (await cache.layersFor(kv, 'org-a', 5000))!;
    expect(a2).not.toBe(a1);
    expect(a2.global.version).toBe(8);
    expect(a2.org).toBe(a1.org); // the org text did not change
    // org-b was not asked since: its next answer carries the new global layer too
    const b2 = (await cache.layersFor(kv, 'org-b', 5000))!;
    expect(b2).not.toBe(b1);
    expect(b2.global).toBe(a2.global);

    await kv.put(orgLayerKey('org-a'), JSON.stringify({ ...next.orgs['org-a']!, version: 9 }));
    const a3 = (await cache.layersFor(kv, 'org-a', 10_000))!;
    expect(a3).not.toBe(a2);
    expect(a3.org?.version).toBe(9);
  });

  it('bounds org entries by estimated bytes', async () => {
    const kv = await seeded();
    const globalBytes = JSON.stringify(cascadeLayers(7).global).length * 3;
    const orgBytes = JSON.stringify(cascadeLayers(7).orgs['org-a']).length * 3;
    const cache = new LayerCache({ ...settings, maxBytes: globalBytes + orgBytes + 1000 });
    await cache.layersFor(kv, 'org-a', 0);
    await cache.layersFor(kv, 'org-b', 0);
    const stats = cache.stats();
    expect(stats.bytes).toBeLessThanOrEqual(globalBytes + orgBytes + 1000);
    expect(stats.orgEntries).toBe(1);
    expect(stats.globalVersion).toBe(7);
  });
});

describe('the Worker refreshes its layers ahead of the max age', () => {
  it('in steady traffic no request waits for KV, and a change is answered within the max age', async () => {
    const kv = await seeded();
    await putKey(kv, GLOBAL_KEY, { id: 'k', name: 'k' });
    let now = Date.parse('2026-06-01T12:00:00Z');
    const worker = createEvaluateWorker({ clock: () => now, keys: new KeyCache({ hitTtlMs: 60_000, missTtlMs: 1000, maxEntries: 10 }), metrics: null });
    const env = { FLAGS_KV: kv as unknown as KVNamespace, SNAPSHOT_MAX_AGE_MS: '1000' };
    const ask = async () => {
      const ctx = createExecutionContext();
      const res = worker.fetch(new Request('https://eval.test/v1/flags/campaign.creation.enabled?orgId=org-a', { headers: bearer(GLOBAL_KEY) }), env, ctx);
      const waited = res instanceof Promise;
      const body = (await (await res).json()) as { version: string };
      await waitOnExecutionContext(ctx); // background work of this request (the read ahead) ends here
      return { waited, version: body.version, reads: kv.reads };
    };

    expect((await ask()).waited).toBe(true); // first request: nothing cached, it waits for KV
    const start = kv.reads;
    await putLayers(kv, cascadeLayers(8)); // published after the copies were read

    now += 400; // younger than half the max age: answered from memory, nothing read
    expect(await ask()).toEqual({ waited: false, version: '7:7', reads: start });
    now += 200; // past half the max age: still answered from memory, both layers re-read behind it
    expect(await ask()).toEqual({ waited: false, version: '7:7', reads: start + 2 });
    now += 300; // 900 ms after the first read, 300 ms after the read ahead: the new snapshot, no wait
    expect(await ask()).toEqual({ waited: false, version: '8:8', reads: start + 2 });
    for (let i = 0; i < 10; i++) {
      now += 250; // a request every 250 ms for 2.5 s: never a wait, at most one read ahead per layer in flight
      expect((await ask()).waited).toBe(false);
    }
  });
});

describe('settingsOf', () => {
  it('reads the vars and falls back to defaults for missing or malformed ones', () => {
    expect(settingsOf({ SNAPSHOT_MAX_AGE_MS: '250', SNAPSHOT_CACHE_MAX_ENTRIES: '10', SNAPSHOT_CACHE_MAX_BYTES: '4096' })).toEqual({ maxAgeMs: 250, maxEntries: 10, maxBytes: 4096 });
    const defaults = settingsOf({});
    expect(defaults.maxAgeMs).toBe(1000);
    expect(settingsOf({ SNAPSHOT_MAX_AGE_MS: 'soon', SNAPSHOT_CACHE_MAX_ENTRIES: '0', SNAPSHOT_CACHE_MAX_BYTES: '1.5' })).toEqual(defaults);
  });
});

describe('KeyCache', () => {
  it('remembers hits and misses briefly', async () => {
    const kv = new FakeKv();
    await putKey(kv, 'k1', { id: 'a', name: 'a' });
    const keys = new KeyCache({ hitTtlMs: 10_000, missTtlMs: 1000, maxEntries: 10 });
    expect(await keys.lookup(kv, 'k1', 0)).toEqual({ id: 'a', name: 'a' });
    expect(await keys.lookup(kv, 'nope', 0)).toBeNull();
    expect(kv.reads).toBe(2);
    await keys.lookup(kv, 'k1', 9999);
    await keys.lookup(kv, 'nope', 999);
    expect(kv.reads).toBe(2);
    await putKey(kv, 'nope', { id: 'b', name: 'b' });
    expect(await keys.lookup(kv, 'nope', 1000)).toMatchObject({ id: 'b' });
    kv.data.clear(); // revoked
    expect(await keys.lookup(kv, 'k1', 10_000)).toBeNull();
  });

  it('is bounded', async () => {
    const kv = new FakeKv();
    const keys = new KeyCache({ hitTtlMs: 10_000, missTtlMs: 10_000, maxEntries: 2 });
    for (const t of ['a', 'b', 'c']) await keys.lookup(kv, t, 0);
    await keys.lookup(kv, 'a', 1);
    expect(kv.reads).toBe(4); // 'a' was dropped
  });

  it('keeps a known key while KV fails; without one answers 503', async () => {
    const kv = new FakeKv();
    await putKey(kv, 'k1', { id: 'a', name: 'a' });
    const keys = new KeyCache({ hitTtlMs: 10, missTtlMs: 10, maxEntries: 10 });
    await keys.lookup(kv, 'k1', 0);
    kv.failing = true;
    expect(await keys.lookup(kv, 'k1', 100)).toMatchObject({ id: 'a' });
    await expect(keys.lookup(kv, 'k2', 100)).rejects.toMatchObject({ status: 503 });
  });
});

describe('KeyCache reads known keys ahead', () => {
  const options = { hitTtlMs: 1000, missTtlMs: 1000, maxEntries: 10 };
  /** A key cache that read key `k1` (valid) from a fake KV at time 0, and a background runner. */
  async function warmKey() {
    const kv = new FakeKv();
    await putKey(kv, 'k1', { id: 'a', name: 'a' });
    const keys = new KeyCache(options);
    await keys.lookup(kv, 'k1', 0);
    return { kv, keys, background: backgroundRunner() };
  }

  it('past half its time a known key is answered from memory and re-read behind the answer', async () => {
    const { kv, keys, background } = await warmKey();
    expect(keys.peek('k1', 499, kv, background)).toMatchObject({ id: 'a' });
    expect(background.pending).toHaveLength(0);
    expect(keys.peek('k1', 500, kv, background)).toMatchObject({ id: 'a' });
    expect(keys.peek('k1', 600, kv, background)).toMatchObject({ id: 'a' }); // one read ahead at a time
    expect(background.pending).toHaveLength(1);
    await background.settle();
    expect(kv.reads).toBe(2);
    expect(keys.peek('k1', 1400)).toMatchObject({ id: 'a' }); // renewed from 500: fresh until 1500
    expect(keys.peek('k1', 1500)).toBeUndefined();
  });

  it('a revoked key is noticed by the read ahead, within the hit time', async () => {
    const { kv, keys, background } = await warmKey();
    kv.data.clear(); // revoked
    keys.peek('k1', 700, kv, background);
    await background.settle();
    expect(keys.peek('k1', 701)).toBeNull(); // remembered as unknown: 401 from now on
  });

  it('while KV fails, keeps the key until it expires and asks KV at most once per half of its time', async () => {
    const { kv, keys, background } = await warmKey();
    kv.failing = true;
    for (const now of [500, 600, 700, 800, 900, 999]) expect(keys.peek('k1', now, kv, background)).toMatchObject({ id: 'a' });
    await background.settle();
    expect(kv.reads).toBe(2);
    expect(keys.peek('k1', 1000, kv, background)).toBeUndefined(); // expired: the request asks KV itself (and gets the last good copy or 503)
  });

  it('a slow read ahead does not bring back a key that a later read found revoked', async () => {
    const { kv, keys, background } = await warmKey();
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    let read: () => void = () => {};
    const readDone = new Promise<void>((resolve) => (read = resolve));
    const slow = {
      async get(key: string, type: 'text') {
        const text = await kv.get(key, type);
        read();
        await gate;
        return text;
      },
    };
    keys.peek('k1', 600, slow, background); // reads "valid", lands late
    await readDone;
    kv.data.clear(); // revoked
    expect(await keys.lookup(kv, 'k1', 1000)).toBeNull(); // expired: a request reads "revoked"
    release();
    await background.settle();
    expect(keys.peek('k1', 1001)).toBeNull();
  });

  it('the Worker never sends a request of a key in steady use the slow way, and honours a revocation within the hit time', async () => {
    const kv = await seeded();
    await putKey(kv, GLOBAL_KEY, { id: 'k', name: 'k' });
    let now = Date.parse('2026-06-01T12:00:00Z');
    const worker = createEvaluateWorker({ clock: () => now, keys: new KeyCache(options), metrics: null });
    const env = { FLAGS_KV: kv as unknown as KVNamespace, SNAPSHOT_MAX_AGE_MS: '600000' };
    const ask = async () => {
      const ctx = createExecutionContext();
      const res = worker.fetch(new Request('https://eval.test/v1/flags/campaign.creation.enabled', { headers: bearer(GLOBAL_KEY) }), env, ctx);
      const waited = res instanceof Promise; // the hot path answers a cached key synchronously; a key lookup is async
      const status = (await res).status;
      await waitOnExecutionContext(ctx);
      return { waited, status };
    };
    expect(await ask()).toEqual({ waited: true, status: 200 });
    for (let i = 0; i < 12; i++) {
      now += 250; // 3 s of traffic with a 1 s key time: every key read happens behind an answer
      expect(await ask()).toEqual({ waited: false, status: 200 });
    }
    await kv.delete(evaluateKeyKey(await sha256Hex(GLOBAL_KEY))); // revoked
    const revokedAt = now;
    let status = 200;
    while (status === 200 && now - revokedAt <= 1000) {
      now += 100;
      status = (await ask()).status;
    }
    expect(status).toBe(401);
  });
});

describe('the app over a failing KV (injected clock)', () => {
  async function harness(options: { seed?: boolean } = {}) {
    const kv = options.seed === false ? new FakeKv() : await seeded();
    await putKey(kv, GLOBAL_KEY, { id: 'k', name: 'k' });
    let now = Date.parse('2026-06-01T12:00:00Z');
    const app = createEvaluateApp({ clock: () => now, keys: new KeyCache({ hitTtlMs: 60_000, missTtlMs: 1000, maxEntries: 10 }) });
    const env = { FLAGS_KV: kv as unknown as KVNamespace, SNAPSHOT_MAX_AGE_MS: '1000' };
    const call = async (path: string, init: RequestInit = {}) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`https://eval.test${path}`, { ...init, headers: { ...bearer(GLOBAL_KEY), ...(init.headers as Record<string, string>) } }), env, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    return { kv, call, advance: (ms: number) => void (now += ms) };
  }

  it('KV failure after a good read keeps serving the last good copy', async () => {
    const { kv, call, advance } = await harness();
    expect(await (await call('/v1/flags/campaign.creation.enabled?orgId=org-b')).json()).toMatchObject({ value: false, source: 'org' });
    kv.failing = true;
    advance(5000);
    const res = await call('/v1/flags/campaign.creation.enabled?orgId=org-b');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ value: false, reason: 'TARGETING_MATCH', source: 'org', version: '7:7' });
  });

  it('no layers at all → reason ERROR with the caller default, never a 5xx on /v1', async () => {
    const { call } = await harness({ seed: false });
    const one = await call('/v1/flags/campaign.creation.enabled?default=true');
    expect(one.status).toBe(200);
    expect(one.headers.get('Cache-Control')).toBe('no-store');
    expect(await one.json()).toMatchObject({ key: 'campaign.creation.enabled', value: true, reason: 'ERROR', errorCode: 'GENERAL', version: null });
    expect(await (await call('/v1/flags/ui.theme')).json()).toMatchObject({ value: null, reason: 'ERROR' });
    expect(await (await call('/v1/flags/ui.theme?default=dark')).json()).toMatchObject({ value: 'dark' });

    const bulk = await call('/v1/evaluate', { method: 'POST', body: JSON.stringify({ flags: ['a.flag', 'b.flag'], defaults: { 'a.flag': false } }) });
    expect(bulk.status).toBe(200);
    expect(await bulk.json()).toEqual({
      version: null,
      errorCode: 'GENERAL',
      detail: expect.any(String),
      flags: {
        'a.flag': { value: false, reason: 'ERROR', source: 'system', errorCode: 'GENERAL' },
        'b.flag': { value: null, reason: 'ERROR', source: 'system', errorCode: 'GENERAL' },
      },
    });
  });

  it('no layers at all → /health 503 not ready (no key needed); ready once a snapshot is published', async () => {
    const { kv, call, advance } = await harness({ seed: false });
    const before = await call('/health', { headers: { Authorization: '' } });
    expect(before.status).toBe(503);
    expect(await before.json()).toMatchObject({ ok: false, snapshot: null });
    await putLayers(kv, cascadeLayers(7));
    advance(5000);
    const after = await call('/health', { headers: { Authorization: '' } });
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject({ ok: true, snapshot: { version: '7' } });
  });

  it('no layers at all → OFREP 503 GENERAL with Retry-After (SDKs fall back to the default)', async () => {
    const { call } = await harness({ seed: false });
    const single = await call('/ofrep/v1/evaluate/flags/ui.theme', { method: 'POST', body: '{}' });
    expect(single.status).toBe(503);
    expect(single.headers.get('Retry-After')).toBe('1');
    expect(await single.json()).toMatchObject({ key: 'ui.theme', errorCode: 'GENERAL' });
    const bulk = await call('/ofrep/v1/evaluate/flags', { method: 'POST', body: '{}' });
    expect(bulk.status).toBe(503);
    expect(await bulk.json()).toMatchObject({ errorCode: 'GENERAL' });
  });

  it('picks up a changed layer only after SNAPSHOT_MAX_AGE_MS', async () => {
    const { kv, call, advance } = await harness();
    const value = async () => ((await (await call('/v1/flags/campaign.creation.enabled')).json()) as { value: unknown; reason: string });
    expect(await value()).toMatchObject({ value: true, reason: 'STATIC' });

    const killed = cascadeLayers(8);
    killed.global.flags['campaign.creation.enabled']!.killed = true;
    await kv.put(globalLayerKey, JSON.stringify(killed.global));
    advance(999);
    expect(await value()).toMatchObject({ value: true, reason: 'STATIC' });
    advance(1);
    expect(await value()).toMatchObject({ value: false, reason: 'DISABLED' });
  });

  it('evaluates at the injected clock (an override that expires flips the bulk ETag)', async () => {
    const { kv, call, advance } = await harness();
    const layers = cascadeLayers(7);
    layers.orgs['org-a']!.flags['ui.theme']!.users = { u9: { value: 'neon', expiresAt: Date.parse('2026-06-01T12:00:10Z') } };
    await putLayers(kv, layers);
    const bulk = () => call('/ofrep/v1/evaluate/flags', { method: 'POST', body: JSON.stringify({ context: { targetingKey: 'u9', orgId: 'org-a' } }) });
    const before = await bulk();
    const tag = before.headers.get('ETag')!;
    expect(((await before.json()) as { flags: { key: string; value: unknown }[] }).flags.find((f) => f.key === 'ui.theme')?.value).toBe('neon');
    advance(10_000);
    const after = await call('/ofrep/v1/evaluate/flags', {
      method: 'POST',
      headers: { 'If-None-Match': tag },
      body: JSON.stringify({ context: { targetingKey: 'u9', orgId: 'org-a' } }),
    });
    expect(after.status).toBe(200);
    expect(after.headers.get('ETag')).not.toBe(tag);
  });
});
