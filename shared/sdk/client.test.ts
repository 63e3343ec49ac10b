import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { putLayers, startKv, vectorCases, vectorLayers } from '../../test/sdk/fixtures';
import { memoryKv } from '../../test/sdk/memory-kv';
import { backgroundRunner } from '../../test/support/background';
import { globalLayerKey } from '../snapshot';
import { createFlagClient } from './client';
import { FeatureDisabledError, FlagEvaluationError } from './errors';

const NOW = Date.parse('2026-06-01T12:00:00Z');

describe('createFlagClient (local, vectors over Miniflare KV)', () => {
  let kv: KVNamespace;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ kv, close } = await startKv());
    await putLayers(kv, vectorLayers());
  });
  afterAll(() => close());

  it.each(vectorCases)('$name', async ({ flag, context, now, expect: expected }) => {
    const flags = createFlagClient({ kv, now: () => Date.parse(now), cacheMaxAgeMs: 60_000 });
    const result = await flags.evaluate(flag, context);
    if (expected.errorCode) expect(result).toMatchObject({ reason: 'ERROR', errorCode: expected.errorCode, value: null });
    else expect({ value: result.value, reason: result.reason, source: result.source, errorCode: result.errorCode }).toEqual({ ...expected, errorCode: undefined });
  });
});

describe('client methods', () => {
  const client = (extra: Partial<Parameters<typeof createFlagClient>[0]> = {}) => {
    const store = memoryKv();
    const onError = vi.fn();
    const flags = createFlagClient({ kv: store.kv, now: () => NOW, cacheMaxAgeMs: 0, onError, ...extra } as Parameters<typeof createFlagClient>[0]);
    return { flags, onError, store };
  };

  it('isActive / isActiveForUser / isActiveForPlatform follow the cascade', async () => {
    const { flags } = client();
    expect(await flags.isActive('campaign.creation.enabled', { orgId: 'org-b' })).toBe(false);
    expect(await flags.isActiveForUser('campaign.creation.enabled', 'u-vip', { orgId: 'org-b' })).toBe(true);
    expect(await flags.isActiveForPlatform('campaign.publishing.enabled', 'tiktok', { orgId: 'org-c' })).toBe(false);
    expect(await flags.isActiveForPlatform('campaign.publishing.enabled', 'tiktok', { orgId: 'org-a' })).toBe(true);
  });

  it('isPlatformEnabled reads platform.<p>.enabled with the platform in the context', async () => {
    const { flags, onError } = client();
    expect(await flags.isPlatformEnabled('meta', { orgId: 'org-a', userId: 'u1' })).toBe(true);
    expect(await flags.isPlatformEnabled('meta', { orgId: 'org-a', userId: 'u-blocked' })).toBe(false);
    expect(await flags.isPlatformEnabled('meta', { orgId: 'org-b' })).toBe(false);
    expect(onError).not.toHaveBeenCalled();
    expect(await flags.isPlatformEnabled('myspace', { orgId: 'org-a' })).toBe(false);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'INVALID_CONTEXT' }), { key: 'platform.myspace.enabled', transport: 'local' });
  });

  it('assertPlatformEnabled throws FeatureDisabledError with key, orgId and platform', async () => {
    const { flags } = client();
    await expect(flags.assertPlatformEnabled('meta', { orgId: 'org-a' })).resolves.toBeUndefined();
    const error = await flags.assertPlatformEnabled('tiktok', { orgId: 'org-b' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeatureDisabledError);
    expect(error).toMatchObject({ key: 'platform.tiktok.enabled', orgId: 'org-b', platform: 'tiktok' });
    await expect(flags.assertActive('campaign.creation.enabled', { orgId: 'org-b' })).rejects.toMatchObject({ key: 'campaign.creation.enabled', orgId: 'org-b', platform: undefined });
  });

  it('getValue is typed: another type answers the default and reports TYPE_MISMATCH', async () => {
    const { flags, onError } = client();
    expect(await flags.getValue('ui.theme', 'light', { orgId: 'org-a' })).toBe('dark');
    expect(await flags.getValue('campaign.max_budget', 0, { orgId: 'org-b' })).toBe(5000);
    expect(await flags.getValue('editor.config', { blocks: 1 }, {})).toEqual({ blocks: 3 });
    expect(await flags.getValue('ui.theme', 7, { orgId: 'org-a' })).toBe(7);
    expect(onError).toHaveBeenLastCalledWith(expect.objectContaining({ code: 'TYPE_MISMATCH' }), { key: 'ui.theme', transport: 'local' });
    expect(await flags.isActive('ui.theme', { orgId: 'org-a' })).toBe(false);
    const detail = await flags.variation('campaign.max_budget', 'x', { orgId: 'org-b' });
    expect(detail).toMatchObject({ value: 'x', reason: 'ERROR', errorCode: 'TYPE_MISMATCH' });
  });

  it('unknown flags answer the default with FLAG_NOT_FOUND and are reported', async () => {
    const { flags, onError } = client();
    expect(await flags.isActive('no.such.flag', { orgId: 'org-a' })).toBe(false);
    expect(await flags.getValue('no.such.flag', 'fallback')).toBe('fallback');
    expect(await flags.variation('legacy.export.enabled', true)).toMatchObject({ value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    expect(await flags.evaluate('Not A Key!')).toMatchObject({ value: null, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    expect(onError.mock.calls.map(([e]) => (e as FlagEvaluationError).code)).toEqual(['FLAG_NOT_FOUND', 'FLAG_NOT_FOUND', 'FLAG_NOT_FOUND', 'FLAG_NOT_FOUND']);
  });

  it('evaluateAll answers every live flag for the context', async () => {
    const { flags } = client();
    const all = await flags.evaluateAll({ orgId: 'org-a', userId: 'u1', platform: 'google' });
    expect(Object.keys(all).sort()).toEqual(Object.keys(vectorLayers().global.flags).sort());
    expect(all['ui.theme']).toMatchObject({ value: 'google-blue', reason: 'TARGETING_MATCH', source: 'platform' });
    expect(all['legacy.export.enabled']).toBeUndefined();
  });

  it('defaults let one flag fail open; everything else fails closed', async () => {
    const { flags, store } = client({ defaults: { 'campaign.creation.enabled': true } });
    store.get.mockRejectedValue(new Error('KV down'));
    expect(await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' })).toBe(true);
    expect(await flags.isActive('campaign.publishing.enabled', { orgId: 'org-a' })).toBe(false);
    expect(await flags.evaluate('campaign.creation.enabled')).toMatchObject({ value: true, reason: 'ERROR' });
  });

  it('an onError that throws does not make a check throw', async () => {
    const { flags } = client({ onError: () => { throw new Error('listener bug'); } });
    await expect(flags.isActive('no.such.flag')).resolves.toBe(false);
  });
});

describe('forRequest memoisation (local)', () => {
  it('N checks of one flag read KV once; other contexts are separate lookups', async () => {
    const store = memoryKv();
    // max age 0: without the request scope every check would read both layers again
    const flags = createFlagClient({ kv: store.kv, now: () => NOW, cacheMaxAgeMs: 0 });
    const request = flags.forRequest({ orgId: 'org-a', userId: 'u1' });
    const answers = await Promise.all(Array.from({ length: 10 }, () => request.isActive('platform.meta.enabled')));
    expect(answers).toEqual(Array(10).fill(true));
    for (let i = 0; i < 5; i++) expect(await request.isPlatformEnabled('meta')).toBe(true);
    // global + org layer for the first flag, the same pair once for isPlatformEnabled (platform in context)
    expect(store.get).toHaveBeenCalledTimes(4);
    expect(await request.isActive('platform.meta.enabled', { userId: 'u-blocked' })).toBe(false);
    expect(store.get).toHaveBeenCalledTimes(6);
  });

  it('after evaluateAll, single checks of that context are answered from it', async () => {
    const store = memoryKv();
    const flags = createFlagClient({ kv: store.kv, now: () => NOW, cacheMaxAgeMs: 0 });
    const request = flags.forRequest({ orgId: 'org-b', userId: 'u1' });
    await request.evaluateAll();
    expect(store.get).toHaveBeenCalledTimes(2);
    expect(await request.isActive('campaign.creation.enabled')).toBe(false);
    expect(await request.getValue('campaign.max_budget', 0)).toBe(5000);
    expect(await request.evaluate('no.such.flag')).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
    expect(store.get).toHaveBeenCalledTimes(2);
  });
});

describe('refresh ahead (local, with waitUntil)', () => {
  it('re-reads layers past half the max age behind the answer, so later checks neither wait nor miss a change', async () => {
    const store = memoryKv();
    const { pending, waitUntil, settle } = backgroundRunner();
    let now = NOW;
    const flags = createFlagClient({ kv: store.kv, now: () => now, cacheMaxAgeMs: 1000, waitUntil });
    const ctx = { orgId: 'org-a' };
    const first = await flags.evaluate('campaign.creation.enabled', ctx);
    expect(store.get).toHaveBeenCalledTimes(2);

    const global = JSON.parse(store.data.get(globalLayerKey)!) as { version: number };
    store.data.set(globalLayerKey, JSON.stringify({ ...global, version: global.version + 1 }));
    now += 400;
    await flags.evaluate('campaign.creation.enabled', ctx);
    expect(pending).toHaveLength(0); // younger than half the max age
    now += 200;
    expect((await flags.evaluate('campaign.creation.enabled', ctx)).version).toBe(first.version); // answered from memory…
    expect(pending).toHaveLength(2); // …while both layers are re-read behind it
    await settle();
    now += 300; // 900 ms after the first read: the re-read copy answers, no new read
    const after = await flags.evaluate('campaign.creation.enabled', ctx);
    expect(after.version).not.toBe(first.version);
    expect(store.get).toHaveBeenCalledTimes(4);
    expect(pending).toHaveLength(0);
  });

  it('a waitUntil that throws costs only the read-ahead: checks still answer, never reject', async () => {
    const store = memoryKv();
    let now = NOW;
    const waitUntil = vi.fn(() => {
      throw new Error('the request has already been answered');
    });
    const flags = createFlagClient({ kv: store.kv, now: () => now, cacheMaxAgeMs: 1000, waitUntil });
    const ctx = { orgId: 'org-a' };
    const first = await flags.evaluate('campaign.creation.enabled', ctx);
    now += 600; // past half the max age: the cached path asks for a read-ahead
    await expect(flags.evaluate('campaign.creation.enabled', ctx)).resolves.toEqual(first);
    await expect(flags.isActive('campaign.creation.enabled', ctx)).resolves.toBe(first.value);
    expect(waitUntil).toHaveBeenCalled();
  });

  it('refuses a timeoutMs a timer cannot hold (it would fire after 1 ms)', () => {
    const store = memoryKv();
    for (const timeoutMs of [Infinity, 2 ** 31, Number.NaN, 0, -5]) {
      expect(() => createFlagClient({ kv: store.kv, timeoutMs }), String(timeoutMs)).toThrow(/timeoutMs must be/);
    }
    expect(() => createFlagClient({ kv: store.kv, timeoutMs: 2 ** 31 - 1 })).not.toThrow();
  });

  it('without waitUntil, layers are re-read only once the max age has passed', async () => {
    const store = memoryKv();
    let now = NOW;
    const flags = createFlagClient({ kv: store.kv, now: () => now, cacheMaxAgeMs: 1000 });
    await flags.evaluate('campaign.creation.enabled', { orgId: 'org-a' });
    now += 999;
    await flags.evaluate('campaign.creation.enabled', { orgId: 'org-a' });
    expect(store.get).toHaveBeenCalledTimes(2);
    now += 1;
    await flags.evaluate('campaign.creation.enabled', { orgId: 'org-a' });
    expect(store.get).toHaveBeenCalledTimes(4);
  });
});
