import { describe, expect, it } from 'vitest';
import { adminTestFile, call, createFlag, unique } from './helpers';

const { h, t } = await adminTestFile();

const orgLayer = async (orgId: string) => JSON.parse((await h.kv.get(`snap:v1:org:${orgId}`)) ?? 'null');

describe('orgs: happy path', () => {
  it('an org admin sets its org value: effective value, audit level org, org layer in KV', async () => {
    const key = await createFlag(h);
    const put = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin, body: { value: true } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ key, orgId: t.orgId, value: true, percentage: null, publish: 'done' });
    expect((await orgLayer(t.orgId)).flags[key]).toEqual({ value: true });

    const view = await call(h, 'GET', `/api/orgs/${t.orgId}/flags`, { token: t.viewer });
    expect(view.status).toBe(200);
    expect(view.body.orgId).toBe(t.orgId);
    const item = view.body.items.find((i: { key: string }) => i.key === key);
    expect(item).toEqual({ key, value: true, source: 'org', reason: 'TARGETING_MATCH', org: { value: true, percentage: null } });

    const other = await call(h, 'GET', `/api/orgs/${t.otherOrgId}/flags`, { token: t.otherOrgAdmin });
    expect(other.body.items.find((i: { key: string }) => i.key === key)).toEqual({ key, value: false, source: 'system', reason: 'STATIC' });
  });

  it('a percentage is stored and compiled; DELETE inherits again', async () => {
    const key = await createFlag(h);
    const put = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin, body: { value: true, percentage: 33.33 } });
    expect(put.body.percentage).toBe(33.33);
    expect((await orgLayer(t.orgId)).flags[key]).toEqual({ value: true, percentage: 33.33 });
    const del = await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin });
    expect(del.status).toBe(204);
    expect((await orgLayer(t.orgId)).flags[key]).toBeUndefined();
  });

  it('org platform and user overrides land in the org layer and leave again', async () => {
    const key = await createFlag(h);
    const platform = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}/platforms/meta`, { token: t.orgAdmin, body: { value: true } });
    expect(platform.status).toBe(200);
    expect(platform.body).toMatchObject({ key, platform: 'meta', orgId: t.orgId, value: true, publish: 'done' });
    const expiresAt = '2099-01-01T00:00:00.000Z';
    const user = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}/users/u-1`, { token: t.orgAdmin, body: { value: true, expiresAt } });
    expect(user.body).toMatchObject({ userId: 'u-1', value: true, expiresAt });
    expect((await orgLayer(t.orgId)).flags[key]).toEqual({
      platforms: { meta: { value: true } },
      users: { 'u-1': { value: true, expiresAt: Date.parse(expiresAt) } },
    });
    expect((await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${key}/platforms/meta`, { token: t.orgAdmin })).status).toBe(204);
    expect((await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${key}/users/u-1`, { token: t.orgAdmin })).status).toBe(204);
    expect((await orgLayer(t.orgId)).flags[key]).toBeUndefined();
  });

  it('a system admin writes any org; effective values follow kill switch and archive', async () => {
    const orgId = unique('org-sys-');
    const key = await createFlag(h, { defaultValue: true });
    await call(h, 'PUT', `/api/orgs/${orgId}/flags/${key}`, { body: { value: false } });
    let items = (await call(h, 'GET', `/api/orgs/${orgId}/flags`)).body.items;
    expect(items.find((i: { key: string }) => i.key === key)).toMatchObject({ value: false, source: 'org' });
    await call(h, 'PATCH', `/api/flags/${key}`, { body: { killed: true } });
    items = (await call(h, 'GET', `/api/orgs/${orgId}/flags`)).body.items;
    expect(items.find((i: { key: string }) => i.key === key)).toMatchObject({ value: false, source: 'killed', reason: 'DISABLED' });
    await call(h, 'DELETE', `/api/flags/${key}`);
    items = (await call(h, 'GET', `/api/orgs/${orgId}/flags`)).body.items;
    expect(items.find((i: { key: string }) => i.key === key)).toBeUndefined();
  });
});
