import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { featureFlags } from '../../shared/db';
import { adminTestFile, asContext, call, createFlag, sql, unique } from './helpers';

const { h, t } = await adminTestFile();

describe('flags: security', () => {
  it('org admins and viewers read flags but change no system row', async () => {
    const key = await createFlag(h);
    for (const token of [t.orgAdmin, t.viewer]) {
      expect((await call(h, 'GET', `/api/flags/${key}`, { token })).status).toBe(200);
      expect((await call(h, 'POST', '/api/flags', { token, body: { key: unique('nope-') } })).status).toBe(403);
      expect((await call(h, 'PATCH', `/api/flags/${key}`, { token, body: { killed: true } })).status).toBe(403);
      expect((await call(h, 'DELETE', `/api/flags/${key}`, { token })).status).toBe(403);
      expect((await call(h, 'POST', `/api/flags/${key}/enable`, { token })).status).toBe(403);
    }
    expect((await call(h, 'GET', `/api/flags/${key}`)).body).toMatchObject({ killed: false, archivedAt: null, version: 1 });
  });

  it('RLS directly: org contexts cannot update or insert system rows', async () => {
    const key = await createFlag(h);
    const updated = await asContext({ orgId: t.orgId, role: 'org_admin', actor: 'test' }, (tx) =>
      tx.update(featureFlags).set({ killed: true }).where(eq(featureFlags.featureKey, key)).returning(),
    );
    expect(updated).toEqual([]);
    await expect(
      asContext({ orgId: t.orgId, role: 'org_admin', actor: 'test' }, (tx) =>
        tx.insert(featureFlags).values({ featureKey: unique('sneaky-'), type: 'boolean', value: true, offValue: false }),
      ),
    ).rejects.toThrow();
    await expect(
      asContext({ orgId: t.orgId, role: 'viewer', actor: 'test' }, (tx) =>
        tx.insert(featureFlags).values({ featureKey: key, orgId: t.orgId, value: true }),
      ),
    ).rejects.toThrow();
  });

  it('the bootstrap token must match exactly; a near miss is 401', async () => {
    const near = 'test-bootstrap-token-0123456789abcdeF';
    expect((await call(h, 'GET', '/api/flags', { token: near })).status).toBe(401);
    const noBootstrap = { ...h.env, FLAGS_ADMIN_TOKEN: undefined };
    expect((await call(h, 'GET', '/api/flags', { env: noBootstrap })).status).toBe(401);
  });

  it('no token → 401 problem+json with WWW-Authenticate: Bearer, no DB write', async () => {
    const requestId = unique('req-');
    const res = await call(h, 'POST', '/api/flags', { token: null, body: { key: unique('x-') }, headers: { 'X-Request-Id': requestId } });
    expect(res.status).toBe(401);
    expect(res.body.status).toBe(401);
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer/);
    expect((await call(h, 'GET', '/api/flags?limit=1')).headers.get('WWW-Authenticate')).toBeNull();
    expect(await sql('select 1 from cmis.feature_flag_values where request_id = $1', [requestId])).toEqual([]);
  });
});
