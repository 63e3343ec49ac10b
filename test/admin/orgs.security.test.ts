import { describe, expect, it, vi } from 'vitest';
import { featureFlags } from '../../shared/db';
import { adminTestFile, asContext, call, createFlag, sql } from './helpers';

// The app's org check is bypassed for the "RLS alone" cases: only the database stands in the way.
const bypass = vi.hoisted(() => ({ on: false }));
vi.mock(import('../../workers/admin/auth'), async (original) => {
  const real = await original();
  return { ...real, assertOrgAccess: (...args: Parameters<typeof real.assertOrgAccess>) => (bypass.on ? undefined : real.assertOrgAccess(...args)) };
});

const { h, t } = await adminTestFile();

describe('orgs: security', () => {
  it('the app refuses another org: read and write → 403', async () => {
    const key = await createFlag(h);
    expect((await call(h, 'GET', `/api/orgs/${t.otherOrgId}/flags`, { token: t.orgAdmin })).status).toBe(403);
    expect((await call(h, 'PUT', `/api/orgs/${t.otherOrgId}/flags/${key}`, { token: t.orgAdmin, body: { value: true } })).status).toBe(403);
    expect((await call(h, 'GET', `/api/orgs/${t.otherOrgId}/flags`, { token: t.viewer })).status).toBe(403);
  });

  it('viewers and evaluate keys cannot write their own org', async () => {
    const key = await createFlag(h);
    expect((await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.viewer, body: { value: true } })).status).toBe(403);
    expect((await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.evaluate, body: { value: true } })).status).toBe(403);
  });

  it('with the app check bypassed, RLS still refuses a cross-org write (403) and nothing is written', async () => {
    const key = await createFlag(h);
    bypass.on = true;
    try {
      const res = await call(h, 'PUT', `/api/orgs/${t.otherOrgId}/flags/${key}`, { token: t.orgAdmin, body: { value: true } });
      expect(res.status).toBe(403);
      expect(res.body.detail).toMatch(/row-level security/);
      const res2 = await call(h, 'PUT', `/api/orgs/${t.otherOrgId}/flags/${key}/users/u-1`, { token: t.orgAdmin, body: { value: true } });
      expect(res2.status).toBe(403);
      expect(res2.body.detail).toMatch(/row-level security/);
      // and reads of another org come back empty of that org's data
      await call(h, 'PUT', `/api/orgs/${t.otherOrgId}/flags/${key}`, { token: t.otherOrgAdmin, body: { value: true } });
      const peek = await call(h, 'GET', `/api/orgs/${t.otherOrgId}/flags`, { token: t.orgAdmin });
      expect(peek.body.items.find((i: { key: string }) => i.key === key)).toMatchObject({ value: false, source: 'system' });
    } finally {
      bypass.on = false;
    }
    const rows = await sql('select 1 from cmis.feature_flags where feature_key = $1 and org_id = $2', [key, t.otherOrgId]);
    expect(rows).toHaveLength(1); // only the other org's own write
  });

  it('RLS directly: an org_admin context cannot insert another org row nor see it', async () => {
    const key = await createFlag(h);
    await expect(
      asContext({ orgId: t.orgId, role: 'org_admin', actor: 'test' }, (tx) =>
        tx.insert(featureFlags).values({ featureKey: key, orgId: t.otherOrgId, value: true }),
      ),
    ).rejects.toThrow();
    await asContext({ orgId: t.otherOrgId, role: 'org_admin', actor: 'test' }, (tx) =>
      tx.insert(featureFlags).values({ featureKey: key, orgId: t.otherOrgId, value: false }).onConflictDoNothing(),
    );
    const seen = await asContext({ orgId: t.orgId, role: 'org_admin', actor: 'test' }, (tx) => tx.select().from(featureFlags));
    expect(seen.some((r) => r.orgId === t.otherOrgId)).toBe(false);
  });

  it('org admins cannot change system rows, even with the app check bypassed', async () => {
    const key = await createFlag(h);
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { token: t.orgAdmin, body: { killed: true } })).status).toBe(403);
    expect((await call(h, 'PUT', `/api/flags/${key}/platforms/meta`, { token: t.orgAdmin, body: { value: true } })).status).toBe(403);
  });
});
