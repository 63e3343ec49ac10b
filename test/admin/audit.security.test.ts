import { describe, expect, it } from 'vitest';
import { adminTestFile, call, createFlag } from './helpers';

const { h, t } = await adminTestFile();

describe('audit: errors and security', () => {
  it('an org sees its own entries and the system history, never another org', async () => {
    const key = await createFlag(h);
    await call(h, 'PUT', `/api/orgs/${t.otherOrgId}/flags/${key}`, { body: { value: true } });
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: true } });
    expect((await call(h, 'GET', `/api/audit?orgId=${t.otherOrgId}`, { token: t.orgAdmin })).status).toBe(403);
    const mine = await call(h, 'GET', `/api/audit?flag=${key}`, { token: t.viewer });
    expect(mine.status).toBe(200);
    const orgs = mine.body.items.map((e: { orgId: string | null }) => e.orgId);
    expect(orgs).toContain(t.orgId);
    expect(orgs).toContain(null);
    expect(orgs).not.toContain(t.otherOrgId);
  });

  it("the export holds what the caller may read: an org's viewer gets its org and the system history, never another org", async () => {
    const key = await createFlag(h);
    await call(h, 'PUT', `/api/orgs/${t.otherOrgId}/flags/${key}`, { body: { value: true } });
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: true } });
    expect((await call(h, 'GET', `/api/audit/export?orgId=${t.otherOrgId}`, { token: t.viewer })).status).toBe(403);
    const mine = await call(h, 'GET', `/api/audit/export?flag=${key}&format=ndjson`, { token: t.viewer });
    expect(mine.status).toBe(200);
    const orgs = String(mine.body).trim().split('\n').map((line) => (JSON.parse(line) as { orgId: string | null }).orgId);
    expect(orgs.sort()).toEqual([null, t.orgId].sort());
    expect((await call(h, 'GET', `/api/audit/export?flag=${key}`, { token: null })).status).toBe(401);
  });

  it('revert: unknown entry 404, invisible entry 404, system entry by org admin 403, viewer 403', async () => {
    const key = await createFlag(h);
    expect((await call(h, 'POST', '/api/audit/999999999999/revert')).status).toBe(404);
    await call(h, 'PUT', `/api/orgs/${t.otherOrgId}/flags/${key}`, { body: { value: true } });
    const [other] = (await call(h, 'GET', `/api/audit?flag=${key}&orgId=${t.otherOrgId}`)).body.items;
    expect((await call(h, 'POST', `/api/audit/${other.id}/revert`, { token: t.orgAdmin })).status).toBe(404);
    const [system] = (await call(h, 'GET', `/api/audit?flag=${key}&level=system`)).body.items;
    expect((await call(h, 'POST', `/api/audit/${system.id}/revert`, { token: t.orgAdmin })).status).toBe(403);
    expect((await call(h, 'POST', `/api/audit/${system.id}/revert`, { token: t.viewer })).status).toBe(403);
  });

  it('token entries are not revertible (409); bad ids are 422', async () => {
    const res = await call(h, 'GET', '/api/audit?level=token&limit=1');
    expect((await call(h, 'POST', `/api/audit/${res.body.items[0].id}/revert`)).status).toBe(409);
    expect((await call(h, 'POST', '/api/audit/abc/revert')).status).toBe(422);
    expect((await call(h, 'GET', '/api/audit?since=yesterday')).status).toBe(422);
  });
});
