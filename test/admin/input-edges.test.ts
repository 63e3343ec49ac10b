// Inputs at the edges of what Postgres, JS dates and the snapshot schema hold, and writes that change
// nothing: each once answered 500, published nothing more, or wrote an empty audit row (found by a
// review; every case failed before its fix).
import { describe, expect, it } from 'vitest';
import { encodeCursor } from '../../workers/admin/schemas';
import { applyDueSchedules } from '../../workers/cron/schedules';
import { adminTestFile, call, checkPool, createFlag, sql, unique } from './helpers';

const { h, t } = await adminTestFile();
const auditRows = async (key: string) =>
  Number((await sql<{ n: string }>('select count(*)::text n from cmis.feature_flag_values where feature_key = $1', [key]))[0]!.n);

describe('edge inputs of the admin API', () => {
  it('an expiry before 1970 is refused, so it cannot stop a layer from publishing (a later kill switch reaches KV)', async () => {
    const key = await createFlag(h);
    const other = await createFlag(h);
    const put = await call(h, 'PUT', `/api/flags/${key}/platforms/meta`, { body: { value: true, expiresAt: '1969-12-31T00:00:00Z' } });
    const kill = await call(h, 'PATCH', `/api/flags/${other}`, { body: { killed: true } });
    const republish = await call(h, 'POST', '/api/publish');
    const global = JSON.parse((await h.kv.get('snap:v1:global'))!);
    expect(global.flags[other]?.killed).toBe(true);
  });

  it('an org admin cannot freeze the org layer with a pre-1970 user override expiry', async () => {
    const key = await createFlag(h);
    const put = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}/users/u-1`, { token: t.orgAdmin, body: { value: true, expiresAt: '1960-01-01T00:00:00Z' } });
    const later = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin, body: { value: true } });
    expect(later.body.publish).toBe('done');
  });

  it('a PATCH that repeats the rollout changes nothing: same ETag, no audit row', async () => {
    const key = await createFlag(h);
    const first = await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 10, value: true } } });
    const n = await auditRows(key);
    const again = await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 10, value: true } } });
    expect(again.headers.get('ETag')).toBe(first.headers.get('ETag'));
    expect(await auditRows(key)).toBe(n);
  });

  it('a PUT that repeats a JSON org value (jsonb reorders its keys) leaves no audit row', async () => {
    const key = await createFlag(h, { type: 'json' });
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: { b: 1, a: 2 } } });
    const n = await auditRows(key);
    const again = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: { b: 1, a: 2 } } });
    expect(await auditRows(key)).toBe(n);
  });

  it('JSON null as a value of a json flag: 422 naming the field', async () => {
    const created = await call(h, 'POST', '/api/flags', { body: { key: unique('null-'), type: 'json', defaultValue: null } });
    const key = await createFlag(h, { type: 'json' });
    const org = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: null } });
    expect(created.status).toBe(422);
    expect(created.body.errors?.[0]?.path).toBe('body.defaultValue');
    expect(org.body.errors?.[0]?.path).toBe('body.value');
  });

  it('a NUL character anywhere in the input: 422, not 500', async () => {
    const key = await createFlag(h, { type: 'string' });
    const desc = await call(h, 'PATCH', `/api/flags/${key}`, { body: { description: 'a\u0000b' } });
    const value = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: 'a\u0000b' } });
    const reason = await call(h, 'PATCH', `/api/flags/${key}`, { body: { description: 'x', reason: 'a\u0000b' } });
    const q = await call(h, 'GET', `/api/flags?q=${encodeURIComponent('a\u0000')}`);
    expect(desc.status).toBe(422);
    expect(value.status).toBe(422);
    expect(reason.status).toBe(422);
    expect(q.status).toBe(422);
  });

  it('instants before 1970 or past 9999: 422, not 500 or a misread year', async () => {
    const key = await createFlag(h);
    const year0 = await call(h, 'PATCH', `/api/flags/${key}`, { body: { expiresAt: '0000-06-01T00:00:00Z' } });
    const since = await call(h, 'GET', '/api/audit?since=0000-01-01T00:00:00Z');
    const year1 = await call(h, 'PATCH', `/api/flags/${key}`, { body: { expiresAt: '0001-06-01T00:00:00Z' } });
    expect(year0.status).toBe(422);
    expect(since.status).toBe(422);
    expect(year1.status === 422 || year1.body.expiresAt === '0001-06-01T00:00:00.000Z').toBe(true);
  });

  it('a key named __proto__ inside a value: 422 naming where, not stored without it', async () => {
    const key = unique('proto-');
    const created = await call(h, 'POST', '/api/flags', { body: `{"key":"${key}","type":"json","defaultValue":{"a":1,"__proto__":{"x":1}}}` });
    expect(created.status).toBe(422);
    expect(created.body.errors).toEqual([{ path: 'body.defaultValue', message: expect.stringContaining('__proto__') }]);
    expect((await call(h, 'GET', `/api/flags/${key}`)).status).toBe(404);
    const flag = await createFlag(h, { type: 'json' });
    const org = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${flag}`, { body: '{"value":[{"__proto__":null}]}' });
    expect(org.status).toBe(422);
    expect(org.body.errors).toEqual([{ path: 'body.value.0', message: expect.stringContaining('__proto__') }]);
  });

  it('ramp steps more than 366 days apart: 422 naming the step', async () => {
    const key = await createFlag(h, { type: 'number', defaultValue: 0 });
    const res = await call(h, 'POST', `/api/flags/${key}/rollouts`, {
      body: { value: 5, steps: [{ percentage: 10, at: '2030-01-01T00:00:00Z' }, { percentage: 20, at: '2031-06-01T00:00:00Z' }] },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'body.steps.1.at', message: 'steps may be at most 366 days apart' }]);
  });

  it('a system rollout percentage with float noise is stored with two decimals, as org percentages are', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 12.3400000001, value: true } } });
    expect(res.status).toBe(200);
    expect(res.body.rollout.percentage).toBe(12.34);
  });

  it('an unknown query parameter named __proto__ is ignored like any other', async () => {
    expect((await call(h, 'GET', '/api/flags?__proto__=1')).status).toBe(200);
  });

  it('a scheduled system percentage with float noise is stored with two decimals too', async () => {
    const key = await createFlag(h);
    const at = Date.now() + 60_000;
    expect((await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: new Date(at).toISOString(), change: { percentage: 12.3400000001 } } })).status).toBe(201);
    const pool = checkPool();
    try {
      await applyDueSchedules(pool, at + 1000, { kv: h.kv });
    } finally {
      await pool.end();
    }
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout.percentage).toBe(12.34);
  });

  it('a ramp interval over a year: 422', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { every: '99999999999d', percentages: [5, 10] } });
    expect(res.status).toBe(422);
  });

  it('a forged keyset cursor: 422 naming query.cursor', async () => {
    const zero = '00000000-0000-0000-0000-000000000000';
    const tokens = await call(h, 'GET', `/api/tokens?cursor=${encodeCursor({ createdAt: 'x', id: zero })}`);
    const webhooks = await call(h, 'GET', `/api/webhooks?cursor=${encodeCursor({ createdAt: 'x', id: zero })}`);
    const key = await createFlag(h);
    const schedules = await call(h, 'GET', `/api/flags/${key}/schedules?cursor=${encodeCursor({ at: 'x', id: zero })}`);
    const badId = await call(h, 'GET', `/api/tokens?cursor=${encodeCursor({ createdAt: '2026-01-01T00:00:00Z', id: 'x' })}`);
    for (const r of [tokens, webhooks, schedules, badId]) {
      expect(r.status).toBe(422);
      expect(r.body.errors?.[0]?.path).toBe('query.cursor');
    }
  });

  it('a JSON value nested 2,000 deep (a 4 KB body): 422, not a stack overflow', async () => {
    const key = await createFlag(h, { type: 'json' });
    const depth = 2000;
    const res = await call(h, 'PATCH', `/api/flags/${key}`, { body: `{"defaultValue":${'['.repeat(depth)}${']'.repeat(depth)}}` });
    expect(res.status).toBe(422);
  });

  it('a revert answers only its own audit entries, even when a caller reuses a request id', async () => {
    const key = await createFlag(h);
    const rid = unique('rid-');
    await call(h, 'PATCH', `/api/flags/${key}`, { body: { description: 'one' }, headers: { 'X-Request-Id': rid } });
    const change = await call(h, 'PATCH', `/api/flags/${key}`, { body: { description: 'two' } });
    const [entry] = await sql<{ id: string }>('select id::text id from cmis.feature_flag_values where request_id = $1', [change.headers.get('X-Request-Id')]);
    const revert = await call(h, 'POST', `/api/audit/${entry!.id}/revert`, { headers: { 'X-Request-Id': rid } });
    expect(revert.body.entries).toHaveLength(1);
  });

  it('PUTs racing to create the same org value or override all succeed, and the row is created once', async () => {
    const key = await createFlag(h);
    const org = unique('race-');
    const puts = (path: string) => Promise.all(Array.from({ length: 6 }, () => call(h, 'PUT', path, { body: { value: true } })));
    for (const path of [`/api/orgs/${org}/flags/${key}`, `/api/orgs/${org}/flags/${key}/users/u-race`, `/api/flags/${key}/platforms/snapchat`]) {
      const answers = await puts(path);
      expect(answers.map((a) => a.status), path).toEqual([200, 200, 200, 200, 200, 200]);
    }
    // one creation each (the org value, the user override, the platform override), nothing else
    expect(await auditRows(key)).toBe(1 + 3);
  });
});
