import { describe, expect, it } from 'vitest';
import { adminTestFile, call, createFlag, failingKv, unique } from './helpers';

const { h, t } = await adminTestFile();

const layerRow = async (layer: string) =>
  (await call(h, 'GET', '/api/status')).body.layers.find((l: { layer: string }) => l.layer === layer);

describe('publish on write', () => {
  it('a system change is one global layer write carrying the committed db_version', async () => {
    const key = await createFlag(h);
    const row = await layerRow('global');
    const global = JSON.parse((await h.kv.get('snap:v1:global'))!);
    expect(global.version).toBe(row.dbVersion);
    expect(row.kvVersion).toBe(row.dbVersion);
    expect(global.flags[key]).toBeDefined();
  });

  it('KV failure → the change is committed, 2xx with publish pending, status shows it pending; /api/publish repairs', async () => {
    const env = { ...h.env, FLAGS_KV: failingKv(h.kv) };
    const key = unique('pending-');
    const created = await call(h, 'POST', '/api/flags', { env, body: { key } });
    expect(created.status).toBe(201);
    expect(created.body.publish).toBe('pending');
    expect(created.headers.get('X-Publish')).toBe('pending');
    expect((await call(h, 'GET', `/api/flags/${key}`)).status).toBe(200);
    expect(JSON.parse((await h.kv.get('snap:v1:global'))!).flags[key]).toBeUndefined();

    const org = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { env, token: t.orgAdmin, body: { value: true } });
    expect(org.status).toBe(200);
    expect(org.body.publish).toBe('pending');
    const archived = await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${key}`, { env, token: t.orgAdmin });
    expect(archived.status).toBe(204);
    expect(archived.headers.get('X-Publish')).toBe('pending');

    const status = await call(h, 'GET', '/api/status');
    expect(status.body.pending).toBeGreaterThanOrEqual(2);
    const global = status.body.layers.find((l: { layer: string }) => l.layer === 'global');
    expect(global.kvVersion).toBeLessThan(global.dbVersion);
    expect(global.lastError).toContain('KV unavailable');

    const republished = await call(h, 'POST', '/api/publish');
    expect(republished.status).toBe(200);
    expect(republished.body.publish).toBe('done');
    expect(republished.body.layers.map((l: { layer: string }) => l.layer)).toEqual(expect.arrayContaining(['global', `org:${t.orgId}`]));
    const after = await call(h, 'GET', '/api/status');
    expect(after.body.pending).toBe(0);
    expect(JSON.parse((await h.kv.get('snap:v1:global'))!).flags[key]).toBeDefined();
  });

  it('status counts flags and orgs and shows the last cron run (null when none)', async () => {
    const status = await call(h, 'GET', '/api/status', { token: t.viewer });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ db: 'up', pending: expect.any(Number), flags: expect.any(Number), orgs: expect.any(Number) });
    expect(status.body.flags).toBeGreaterThan(0);
    expect('lastCronRun' in status.body).toBe(true);
    // an org token sees only global and its own layer
    for (const l of status.body.layers) expect(['global', `org:${t.orgId}`]).toContain(l.layer);
  });

  it('an org write publishes only that org layer, with an org layer version', async () => {
    const key = await createFlag(h);
    const before = await h.kv.get('snap:v1:global');
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin, body: { value: true } });
    expect(await h.kv.get('snap:v1:global')).toBe(before);
    const layer = JSON.parse((await h.kv.get(`snap:v1:org:${t.orgId}`))!);
    expect(layer.orgId).toBe(t.orgId);
    expect(layer.version).toBe((await layerRow(`org:${t.orgId}`)).dbVersion);
  });
});

describe('health and openapi', () => {
  it('GET /api/health: up through a real select 1, no token', async () => {
    const res = await call(h, 'GET', '/api/health', { token: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, db: 'up', version: expect.any(String) });
  });

  it('GET /api/health: down quickly when the database is unreachable', async () => {
    const env = { ...h.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATABASE_WS_PROXY: '127.0.0.1:1/v1' };
    const started = Date.now();
    const res = await call(h, 'GET', '/api/health', { token: null, env });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ ok: false, db: 'down' });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('GET /api/openapi.json: OpenAPI 3.1 covering every route, with resolvable refs', async () => {
    const res = await call(h, 'GET', '/api/openapi.json', { token: null });
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    const { adminRoutes } = await import('../../workers/admin/app');
    for (const route of adminRoutes) {
      const path = route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      expect(doc.paths[path]?.[route.method], `${route.method} ${path}`).toBeDefined();
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    for (const ref of new Set(refs)) expect(doc.components.schemas[ref], ref).toBeDefined();
    expect(JSON.stringify(doc)).not.toContain('#/$defs/');
    const create = doc.paths['/api/flags'].post;
    expect(create.requestBody.content['application/json'].schema.properties.key.pattern).toBe('^[a-z0-9][a-z0-9._-]{0,127}$');
    expect(create.responses['422'].content['application/problem+json']).toBeDefined();
    expect(create.requestBody.required).toBe(true); // {} lacks key
    expect(doc.paths['/api/flags/{key}'].delete.requestBody.required).toBe(false); // only an optional reason
    // routes naming a flag or a resource document the 404 they answer for an unknown one, and the 409s they can give
    const responses = (method: string, path: string) => Object.keys(doc.paths[path][method].responses);
    for (const [method, path] of [['patch', '/api/flags/{key}'], ['put', '/api/orgs/{orgId}/flags/{key}'], ['post', '/api/flags/{key}/rollouts'], ['post', '/api/flags/{key}/enable'], ['get', '/api/rollouts/{id}'], ['delete', '/api/webhooks/{id}']]) {
      expect(responses(method!, path!), `${method} ${path}`).toContain('404');
    }
    for (const [method, path] of [['patch', '/api/flags/{key}'], ['put', '/api/orgs/{orgId}/flags/{key}'], ['delete', '/api/orgs/{orgId}/flags/{key}'], ['post', '/api/flags/{key}/schedules']]) {
      expect(responses(method!, path!), `${method} ${path}`).toContain('409');
    }
    expect((await call(h, 'PATCH', '/api/flags/no.such.flag', { body: { description: 'x' } })).body.errorCode).toBe('FLAG_NOT_FOUND');
    const operationIds = Object.values(doc.paths).flatMap((p: any) => Object.values(p).map((o: any) => o.operationId));
    expect(new Set(operationIds).size).toBe(operationIds.length);
  });
});
