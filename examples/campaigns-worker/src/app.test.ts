import { describe, expect, it, vi } from 'vitest';
import { appLayers } from '../../../test/sdk/fixtures';
import { memoryKv } from '../../../test/sdk/memory-kv';
import { createCampaignsApp } from './app';
import type { Env } from './env';

// The app over the vectors' layers in a KV stand-in: org-a has meta and tiktok, org-b has campaign
// creation switched off, org-c has the defaults. End-to-end runs are in test/e2e/sdk-example.test.ts.
function setup(env: Partial<Env> = {}, ctx?: ExecutionContext) {
  const store = memoryKv(appLayers());
  const app = createCampaignsApp();
  const call = (method: string, path: string, org: string, body?: unknown, user = 'u1') =>
    app.request(path, { method, headers: { 'X-Org-Id': org, 'X-User-Id': user, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }, { FLAGS_KV: store.kv, ...env }, ctx);
  return { store, call };
}

describe('campaigns example (local transport)', () => {
  it('creates, edits and publishes a campaign for an org with the features on', async () => {
    const { call } = setup();
    const created = await call('POST', '/campaigns', 'org-a', { name: 'Spring', budget: 500 });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await call('PATCH', `/campaigns/${id}`, 'org-a', { name: 'Spring sale' })).status).toBe(200);
    const published = await call('POST', `/campaigns/${id}/publish`, 'org-a', { platforms: ['meta', 'tiktok'] });
    expect(published.status).toBe(200);
    expect(await published.json()).toMatchObject({ published: [{ platform: 'meta' }, { platform: 'tiktok' }] });
  });

  it('403 problem for campaign creation where campaign.creation.enabled is off', async () => {
    const res = await setup().call('POST', '/campaigns', 'org-b', { name: 'x' });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ detail: 'Feature campaign.creation.enabled is not enabled for this organization' });
  });

  it('the AdPlatformFactory refuses a platform that is off for the org: 403 FeatureDisabledError', async () => {
    const { call } = setup();
    const { id } = (await (await call('POST', '/campaigns', 'org-a', { name: 'x' })).json()) as { id: string };
    const res = await call('POST', `/campaigns/${id}/publish`, 'org-a', { platforms: ['meta', 'google'] });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ detail: 'Platform google is not enabled for organization org-a (platform.google.enabled)' });
  });

  it('a number flag bounds the budget per org', async () => {
    const { call } = setup();
    expect((await call('POST', '/campaigns', 'org-a', { name: 'x', budget: 2000 })).status).toBe(422);
    expect((await call('POST', '/campaigns', 'org-c', { name: 'x', budget: 1000 })).status).toBe(201);
  });

  it('OAuth redirect only for enabled platforms', async () => {
    const { call } = setup();
    expect((await call('GET', '/oauth/meta/redirect', 'org-a')).status).toBe(302);
    const refused = await call('GET', '/oauth/meta/redirect', 'org-b');
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ detail: 'Platform not available' });
    expect((await call('GET', '/oauth/orkut/redirect', 'org-a')).status).toBe(404);
  });

  it('lists the platforms an org may connect', async () => {
    const res = await setup().call('GET', '/integrations', 'org-a');
    expect(await res.json()).toEqual({ orgId: 'org-a', platforms: ['meta', 'tiktok'] });
  });

  it("with the request's execution context, layers are re-read behind the answer", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const background: Promise<unknown>[] = [];
      const ctx = { waitUntil: (p: Promise<unknown>) => void background.push(p), passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
      const { store, call } = setup({}, ctx);
      expect((await call('GET', '/integrations', 'org-a')).status).toBe(200);
      const reads = store.get.mock.calls.length;
      vi.advanceTimersByTime(600); // past half the SDK's 1 s max age, still fresh
      const res = await call('GET', '/integrations', 'org-a');
      expect(await res.json()).toEqual({ orgId: 'org-a', platforms: ['meta', 'tiktok'] });
      expect(background.length).toBeGreaterThan(0);
      await Promise.all(background);
      expect(store.get.mock.calls.length).toBe(reads + 2); // global and org-a, behind the answer
    } finally {
      vi.useRealTimers();
    }
  });

  it('KV failing: the campaign route answers 403, not 500', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { store, call } = setup();
    store.get.mockRejectedValue(new Error('KV down'));
    expect((await call('POST', '/campaigns', 'org-c', { name: 'x' })).status).toBe(403);
    expect((await call('GET', '/oauth/meta/redirect', 'org-a')).status).toBe(403);
  });

  it('a missing binding fails closed too', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await setup({ FLAGS_KV: undefined }).call('POST', '/campaigns', 'org-c', { name: 'x' });
    expect(res.status).toBe(403);
  });
});
