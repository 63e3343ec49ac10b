import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { memoryKv } from '../../../../test/sdk/memory-kv';
import { createFlagClient } from '../../client';
import { platformGuard } from '.';

const NOW = () => Date.parse('2026-06-01T12:00:00Z');

function appWith(kv: KVNamespace) {
  const app = new Hono<{ Variables: { orgId: string; userId: string } }>();
  app.use(async (c, next) => {
    c.set('orgId', c.req.header('X-Org-Id') ?? '');
    c.set('userId', c.req.header('X-User-Id') ?? '');
    await next();
  });
  const guard = platformGuard({ param: 'platform', resolveClient: () => createFlagClient({ kv, now: NOW }) });
  app.get('/oauth/:platform/redirect', guard, (c) => c.redirect(`https://auth.example/${c.req.param('platform')}`, 302));
  return app;
}

describe('platformGuard', () => {
  const get = (app: Hono<any>, path: string, org: string, user = 'u1') => app.request(path, { headers: { 'X-Org-Id': org, 'X-User-Id': user } });

  it('lets an enabled platform through', async () => {
    const res = await get(appWith(memoryKv().kv), '/oauth/meta/redirect', 'org-a');
    expect(res.status).toBe(302);
    expect(res.headers.get('Location')).toBe('https://auth.example/meta');
  });

  it('403 "Platform not available" for an org without the platform', async () => {
    const res = await get(appWith(memoryKv().kv), '/oauth/meta/redirect', 'org-b');
    expect(res.status).toBe(403);
    expect(res.headers.get('Content-Type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 403, detail: 'Platform not available' });
  });

  it('403 for a user the platform is blocked for', async () => {
    expect((await get(appWith(memoryKv().kv), '/oauth/meta/redirect', 'org-a', 'u-blocked')).status).toBe(403);
  });

  it('404 "Platform not available" for a platform that does not exist', async () => {
    const res = await get(appWith(memoryKv().kv), '/oauth/myspace/redirect', 'org-a');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ status: 404, detail: 'Platform not available' });
  });

  it('fails closed: 403 when KV is failing', async () => {
    const store = memoryKv();
    store.get.mockRejectedValue(new Error('KV down'));
    expect((await get(appWith(store.kv), '/oauth/meta/redirect', 'org-a')).status).toBe(403);
  });
});
