import { Hono } from 'hono';
import { describe, expect, it, vi } from 'vitest';
import { memoryKv } from '../../../../test/sdk/memory-kv';
import { createFlagClient } from '../../client';
import type { FlagClient } from '../../types';
import type { FlagVariables } from '../request-flags';
import { requireFeature } from '.';

type Vars = FlagVariables & { orgId: string; userId: string };

function appWith(client: FlagClient | (() => FlagClient)) {
  const app = new Hono<{ Variables: Vars }>();
  app.use(async (c, next) => {
    c.set('orgId', c.req.header('X-Org-Id') ?? '');
    c.set('userId', c.req.header('X-User-Id') ?? '');
    await next();
  });
  const options = typeof client === 'function' ? { resolveClient: client } : { client };
  app.post('/campaigns', requireFeature('campaign.creation.enabled', options), async (c) => {
    // the handler reuses the request's memoised client
    const budget = await c.var.flags.getValue('campaign.max_budget', 0);
    return c.json({ created: true, budget }, 201);
  });
  return app;
}

const NOW = () => Date.parse('2026-06-01T12:00:00Z');

describe('requireFeature', () => {
  it('passes when the flag is active for the org', async () => {
    const app = appWith(createFlagClient({ kv: memoryKv().kv, now: NOW }));
    const res = await app.request('/campaigns', { method: 'POST', headers: { 'X-Org-Id': 'org-c', 'X-User-Id': 'u1' } });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ created: true, budget: 1000 });
  });

  it('403 problem+json when the flag is off for the org', async () => {
    const app = appWith(createFlagClient({ kv: memoryKv().kv, now: NOW }));
    const res = await app.request('/campaigns', { method: 'POST', headers: { 'X-Org-Id': 'org-b', 'X-User-Id': 'u1' } });
    expect(res.status).toBe(403);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 403, title: 'Forbidden', detail: 'Feature campaign.creation.enabled is not enabled for this organization' });
  });

  it('a user override beats the org value', async () => {
    const app = appWith(createFlagClient({ kv: memoryKv().kv, now: NOW }));
    const res = await app.request('/campaigns', { method: 'POST', headers: { 'X-Org-Id': 'org-b', 'X-User-Id': 'u-vip' } });
    expect(res.status).toBe(201);
  });

  it('fails closed: KV throwing → 403, not 500, and onError hears it', async () => {
    const store = memoryKv();
    store.get.mockRejectedValue(new Error('KV down'));
    const onError = vi.fn();
    const app = appWith(createFlagClient({ kv: store.kv, now: NOW, onError, cacheMaxAgeMs: 0 }));
    const res = await app.request('/campaigns', { method: 'POST', headers: { 'X-Org-Id': 'org-c' } });
    expect(res.status).toBe(403);
    expect(onError).toHaveBeenCalled();
  });

  it('fails closed when the client cannot even be built', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const app = appWith(() => {
      throw new Error('FLAGS_KV binding missing');
    });
    const res = await app.request('/campaigns', { method: 'POST', headers: { 'X-Org-Id': 'org-c' } });
    expect(res.status).toBe(403);
  });

  it('fails closed when a context resolver throws, also in a second middleware of the request', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    const app = new Hono();
    const client = createFlagClient({ kv: memoryKv().kv, now: NOW });
    const throwing = () => {
      throw new Error('no session');
    };
    app.get('/x', requireFeature('platform.meta.enabled', { client, context: throwing }), (c) => c.text('ok'));
    // the first middleware leaves the request's client in c.var.flags; the second builds only its context
    app.get('/y', requireFeature('platform.meta.enabled', { client, context: () => ({ orgId: 'org-a' }) }), requireFeature('platform.meta.enabled', { client, context: throwing }), (c) => c.text('ok'));
    expect((await app.request('/x')).status).toBe(403);
    expect((await app.request('/y')).status).toBe(403); // before: 500
    expect(error).toHaveBeenCalled();
    error.mockRestore();
  });

  it('a custom context resolver', async () => {
    const app = new Hono();
    const client = createFlagClient({ kv: memoryKv().kv, now: NOW });
    app.get('/x', requireFeature('ui.theme', { client, context: (c) => ({ orgId: c.req.query('org') }) }), (c) => c.text('ok'));
    app.get('/y', requireFeature('platform.meta.enabled', { client, context: (c) => ({ orgId: c.req.query('org') }) }), (c) => c.text('ok'));
    // ui.theme is a string flag: never "active"
    expect((await app.request('/x?org=org-a')).status).toBe(403);
    expect((await app.request('/y?org=org-a')).status).toBe(200);
    expect((await app.request('/y?org=org-b')).status).toBe(403);
  });

  it('refuses to be created without a client', () => {
    expect(() => requireFeature('x', {})).toThrow(TypeError);
  });
});
