import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { adminTestFile, call, failingKv, sql, unique } from './helpers';

const { h, t } = await adminTestFile();

const sha256hex = (token: string) => createHash('sha256').update(token).digest('hex');

describe('tokens: happy path', () => {
  it("a token's changes are audited as that token, whatever its name (no passing for bootstrap or a colleague)", async () => {
    const impostor = await call(h, 'POST', '/api/tokens', { token: t.orgAdmin, body: { name: 'bootstrap', role: 'org_admin', orgId: t.orgId } });
    expect(impostor.status).toBe(201);
    const revoked = await call(h, 'POST', '/api/tokens', { token: t.orgAdmin, body: { name: unique('app-'), role: 'evaluate', orgId: t.orgId } });
    expect((await call(h, 'DELETE', `/api/tokens/${revoked.body.id}`, { token: impostor.body.token })).status).toBe(204);
    const [row] = await sql<{ actor: string }>(`SELECT actor FROM cmis.feature_flag_values WHERE level = 'token' AND target = $1 AND new_value ? 'revokedAt'`, [revoked.body.id]);
    expect(row!.actor).toBe(`token:bootstrap#${impostor.body.id.slice(0, 8)}`);
    expect(row!.actor).not.toBe('token:bootstrap');
    // ?actor= matches exactly: the bootstrap token's history does not take in the impostor's
    const byName = await call(h, 'GET', `/api/audit?actor=${encodeURIComponent('token:bootstrap')}&limit=100`);
    expect(byName.body.items.some((e: { actor: string }) => e.actor === row!.actor)).toBe(false);
    const byActor = await call(h, 'GET', `/api/audit?actor=${encodeURIComponent(row!.actor)}&limit=100`);
    expect(byActor.body.items.every((e: { actor: string }) => e.actor === row!.actor)).toBe(true);
    expect(byActor.body.items.length).toBeGreaterThan(0);
  });


  it('creates an admin token shown once, stored only as its SHA-256, usable at once', async () => {
    const res = await call(h, 'POST', '/api/tokens', { body: { name: unique('ops-'), role: 'org_admin', orgId: t.orgId } });
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^cmf_admin_[A-Za-z0-9_-]{43}$/);
    expect(res.body).toMatchObject({ role: 'org_admin', orgId: t.orgId, revokedAt: null, createdBy: 'token:bootstrap' });
    expect(res.body.prefix).toBe(res.body.token.slice(0, 14));
    const [row] = await sql<{ hash: string }>(`select encode(token_hash, 'hex') as hash from cmis.api_tokens where id = $1`, [res.body.id]);
    expect(row!.hash).toBe(sha256hex(res.body.token));
    const dump = JSON.stringify(await sql('select * from cmis.api_tokens where id = $1', [res.body.id]));
    expect(dump).not.toContain(res.body.token);
    const listed = await call(h, 'GET', '/api/tokens?limit=100', { token: res.body.token });
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toContain(res.body.token);
  });

  it('an evaluate key is written to KV as key:v1:<sha256> and removed on revoke; a revoked token is 401', async () => {
    const res = await call(h, 'POST', '/api/tokens', { body: { name: unique('app-'), role: 'evaluate', orgId: t.orgId } });
    expect(res.body.token).toMatch(/^cmf_eval_/);
    const kvKey = `key:v1:${sha256hex(res.body.token)}`;
    expect(JSON.parse((await h.kv.get(kvKey))!)).toEqual({ id: res.body.id, orgId: t.orgId, name: res.body.name });
    expect((await call(h, 'DELETE', `/api/tokens/${res.body.id}`)).status).toBe(204);
    expect(await h.kv.get(kvKey)).toBeNull();

    const admin = await call(h, 'POST', '/api/tokens', { body: { name: unique('tmp-'), role: 'viewer', orgId: t.orgId } });
    expect((await call(h, 'GET', '/api/flags?limit=1', { token: admin.body.token })).status).toBe(200);
    expect((await call(h, 'DELETE', `/api/tokens/${admin.body.id}`)).status).toBe(204);
    expect((await call(h, 'GET', '/api/flags?limit=1', { token: admin.body.token })).status).toBe(401);
    expect((await call(h, 'DELETE', `/api/tokens/${admin.body.id}`)).status).toBe(404);
  });

  it('a global evaluate key has no orgId in its KV record', async () => {
    const res = await call(h, 'POST', '/api/tokens', { body: { name: unique('global-'), role: 'evaluate' } });
    expect(JSON.parse((await h.kv.get(`key:v1:${sha256hex(res.body.token)}`))!)).toEqual({ id: res.body.id, name: res.body.name });
  });

  it('records last use', async () => {
    const res = await call(h, 'POST', '/api/tokens', { body: { name: unique('used-'), role: 'viewer', orgId: t.orgId } });
    expect(res.body.lastUsedAt).toBeNull();
    await call(h, 'GET', '/api/flags?limit=1', { token: res.body.token });
    const [row] = await sql<{ last_used_at: Date | null }>('select last_used_at from cmis.api_tokens where id = $1', [res.body.id]);
    expect(row!.last_used_at).not.toBeNull();
  });

  it('lists with a cursor', async () => {
    const orgId = unique('org-list-');
    for (let i = 0; i < 3; i++) await call(h, 'POST', '/api/tokens', { body: { name: `n${i}`, role: 'viewer', orgId } });
    const admin = await call(h, 'POST', '/api/tokens', { body: { name: 'lister', role: 'org_admin', orgId } });
    const first = await call(h, 'GET', '/api/tokens?limit=2', { token: admin.body.token });
    const second = await call(h, 'GET', `/api/tokens?limit=2&cursor=${first.body.nextCursor}`, { token: admin.body.token });
    const names = [...first.body.items, ...second.body.items].map((i: { name: string }) => i.name);
    expect(names).toEqual(['lister', 'n2', 'n1', 'n0']);
    expect(second.body.nextCursor).toBeNull();
  });
});

describe('tokens: errors and security', () => {
  it('org admins mint only for their org and never system_admin', async () => {
    expect((await call(h, 'POST', '/api/tokens', { token: t.orgAdmin, body: { name: 'x', role: 'system_admin' } })).status).toBe(403);
    expect((await call(h, 'POST', '/api/tokens', { token: t.orgAdmin, body: { name: 'x', role: 'viewer', orgId: t.otherOrgId } })).status).toBe(403);
    expect((await call(h, 'POST', '/api/tokens', { token: t.orgAdmin, body: { name: 'x', role: 'evaluate' } })).status).toBe(403);
    const own = await call(h, 'POST', '/api/tokens', { token: t.orgAdmin, body: { name: 'x', role: 'evaluate', orgId: t.orgId } });
    expect(own.status).toBe(201);
  });

  it('org admins see and revoke only their org tokens', async () => {
    const other = await call(h, 'POST', '/api/tokens', { body: { name: unique('o-'), role: 'viewer', orgId: t.otherOrgId } });
    const listed = await call(h, 'GET', '/api/tokens?limit=100', { token: t.orgAdmin });
    expect(listed.body.items.every((i: { orgId: string }) => i.orgId === t.orgId)).toBe(true);
    expect((await call(h, 'DELETE', `/api/tokens/${other.body.id}`, { token: t.orgAdmin })).status).toBe(404);
    expect((await call(h, 'GET', '/api/flags?limit=1', { token: other.body.token })).status).toBe(200);
  });

  it('validation: role/org combinations, names → 422', async () => {
    expect((await call(h, 'POST', '/api/tokens', { body: { name: 'x', role: 'viewer' } })).status).toBe(422);
    expect((await call(h, 'POST', '/api/tokens', { body: { name: 'x', role: 'system_admin', orgId: 'a' } })).status).toBe(422);
    expect((await call(h, 'POST', '/api/tokens', { body: { name: '', role: 'evaluate' } })).status).toBe(422);
    expect((await call(h, 'DELETE', '/api/tokens/not-a-uuid')).status).toBe(422);
  });

  it('bearer parsing: missing, wrong scheme, garbage, unknown → 401 with problem+json; evaluate key → 403', async () => {
    for (const header of [undefined, 'Basic abc', 'Bearer', 'Bearer garbage', `Bearer cmf_admin_${'B'.repeat(43)}`]) {
      const res = await h.app.request('/api/flags', { headers: header ? { Authorization: header } : {} }, h.env);
      expect(res.status).toBe(401);
      expect(res.headers.get('Content-Type')).toContain('application/problem+json');
    }
    expect((await call(h, 'GET', '/api/flags', { token: t.evaluate })).status).toBe(403);
  });

  it('a failing KV write aborts the evaluate key (503) and leaves no token row', async () => {
    const name = unique('nokv-');
    const res = await call(h, 'POST', '/api/tokens', { env: { ...h.env, FLAGS_KV: failingKv(h.kv) }, body: { name, role: 'evaluate' } });
    expect(res.status).toBe(503);
    expect(await sql('select 1 from cmis.api_tokens where name = $1', [name])).toEqual([]);
  });
});
