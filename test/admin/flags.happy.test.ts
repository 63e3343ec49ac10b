import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../shared/engine';
import { GlobalLayerSchema, OrgLayerSchema, globalLayerKey, orgLayerKey } from '../../shared/snapshot';
import { call, createFlag, sql, startHarness, unique, type Harness } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('flags: happy path', () => {
  it('creates a flag: 201, ETag, Location, defaults, publish done, global layer in KV', async () => {
    const key = unique('happy.create-');
    const res = await call(h, 'POST', '/api/flags', { body: { key, description: 'new thing', tags: ['t1'] } });
    expect(res.status).toBe(201);
    expect(res.headers.get('ETag')).toBe('"1"');
    expect(res.headers.get('Location')).toBe(`/api/flags/${key}`);
    expect(res.body).toMatchObject({
      key,
      type: 'boolean',
      defaultValue: false,
      offValue: false,
      killed: false,
      rollout: null,
      tags: ['t1'],
      archivedAt: null,
      version: 1,
      publish: 'done',
    });
    const global = JSON.parse((await h.kv.get('snap:v1:global'))!);
    expect(global.flags[key]).toEqual({ type: 'boolean', default: false, off: false, killed: false });
  });

  it('gets a flag with its ETag', async () => {
    const key = await createFlag(h, { type: 'string', defaultValue: 'a' });
    const res = await call(h, 'GET', `/api/flags/${key}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('ETag')).toBe('"1"');
    expect(res.body).toMatchObject({ key, type: 'string', defaultValue: 'a', offValue: 'a' });
  });

  it('patches with a matching If-Match and bumps the version', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'PATCH', `/api/flags/${key}`, {
      body: { defaultValue: true, rollout: { percentage: 12.5, value: true } },
      headers: { 'If-Match': '"1"' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ defaultValue: true, rollout: { percentage: 12.5, value: true }, version: 2, publish: 'done' });
    expect(res.headers.get('ETag')).toBe('"2"');
    // the ETag as a compressing proxy hands it on (weakened), in a list, or `*`, still matches;
    // the previous version no longer does
    for (const [ifMatch, status] of [['W/"2"', 200], ['"9", "3"', 200], ['*', 200], ['W/"2"', 412]] as const) {
      const next = await call(h, 'PATCH', `/api/flags/${key}`, { body: { description: `if-match ${ifMatch}` }, headers: { 'If-Match': ifMatch } });
      expect(next.status, ifMatch).toBe(status);
    }
  });

  it('lists with q, tag and cursor pagination', async () => {
    const tag = unique('tag-');
    const keys = [];
    for (let i = 0; i < 3; i++) keys.push(await createFlag(h, { key: `${tag}.k${i}`, tags: [tag] }));
    const first = await call(h, 'GET', `/api/flags?tag=${tag}&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.items.map((f: { key: string }) => f.key)).toEqual(keys.slice(0, 2));
    expect(first.body.nextCursor).toEqual(expect.any(String));
    const second = await call(h, 'GET', `/api/flags?tag=${tag}&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items.map((f: { key: string }) => f.key)).toEqual(keys.slice(2));
    expect(second.body.nextCursor).toBeNull();
    const q = await call(h, 'GET', `/api/flags?q=${tag}.k1`);
    expect(q.body.items.map((f: { key: string }) => f.key)).toEqual([keys[1]]);
  });

  it('archives (204), hides from the list and the global layer, restores', async () => {
    const key = await createFlag(h);
    const archived = await call(h, 'DELETE', `/api/flags/${key}`);
    expect(archived.status).toBe(204);
    expect(archived.headers.get('X-Publish')).toBe('done');
    const global = JSON.parse((await h.kv.get('snap:v1:global'))!);
    expect(global.flags[key]).toBeUndefined();
    const live = await call(h, 'GET', `/api/flags?q=${key}`);
    expect(live.body.items).toEqual([]);
    const listed = await call(h, 'GET', `/api/flags?q=${key}&archived=true`);
    expect(listed.body.items[0].archivedAt).toEqual(expect.any(String));
    const restored = await call(h, 'POST', `/api/flags/${key}/restore`);
    expect(restored.status).toBe(200);
    expect(restored.body.archivedAt).toBeNull();
  });

  it("a restored flag's org values and overrides are answered again, though its org's layer was rebuilt while it was archived", async () => {
    const org = unique('org-restore-');
    const key = await createFlag(h, { type: 'boolean', defaultValue: false });
    const other = await createFlag(h, { type: 'boolean', defaultValue: false });
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: true } })).status).toBe(200);
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}/users/u-1`, { body: { value: false } })).status).toBe(200);
    expect((await call(h, 'DELETE', `/api/flags/${key}`)).status).toBe(204);
    // another write in the org rebuilds its layer while the flag is archived
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${other}`, { body: { value: true } })).body.publish).toBe('done');
    expect((await call(h, 'POST', `/api/flags/${key}/restore`)).status).toBe(200);

    const layers = { global: GlobalLayerSchema.parse(JSON.parse((await h.kv.get(globalLayerKey))!)), org: OrgLayerSchema.parse(JSON.parse((await h.kv.get(orgLayerKey(org)))!)) };
    expect(evaluate(layers, key, { orgId: org }, Date.now())).toMatchObject({ value: true, source: 'org' });
    expect(evaluate(layers, key, { orgId: org, userId: 'u-1' }, Date.now())).toMatchObject({ value: false, source: 'user' });
    const listed = (await call(h, 'GET', `/api/orgs/${org}/flags`)).body.items.find((i: { key: string }) => i.key === key);
    expect(listed).toMatchObject({ value: true, source: 'org' });
  });

  it('enable / disable set the system value of a boolean flag', async () => {
    const key = await createFlag(h);
    expect((await call(h, 'POST', `/api/flags/${key}/enable`)).body.defaultValue).toBe(true);
    expect((await call(h, 'POST', `/api/flags/${key}/disable`)).body.defaultValue).toBe(false);
  });

  it('sets and removes an all-orgs platform override', async () => {
    const key = await createFlag(h);
    const put = await call(h, 'PUT', `/api/flags/${key}/platforms/tiktok`, { body: { value: true } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ key, platform: 'tiktok', orgId: null, value: true, publish: 'done' });
    let global = JSON.parse((await h.kv.get('snap:v1:global'))!);
    expect(global.flags[key].platforms).toEqual({ tiktok: { value: true } });
    const del = await call(h, 'DELETE', `/api/flags/${key}/platforms/tiktok`);
    expect(del.status).toBe(204);
    global = JSON.parse((await h.kv.get('snap:v1:global'))!);
    expect(global.flags[key].platforms).toBeUndefined();
    const versions = await sql<{ db_version: string; kv_version: string }>(`select db_version, kv_version from cmis.snapshot_versions where layer = 'global'`);
    expect(versions[0]!.kv_version).toBe(versions[0]!.db_version);
  });
});
