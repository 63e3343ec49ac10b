import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, createFlag, sql, startHarness, unique, type Harness } from './helpers';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number): void {
  expect(res.status).toBe(status);
  expect(res.headers.get('Content-Type')).toContain('application/problem+json');
  expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) });
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .*\.(ts|js):\d+/);
}

async function auditRowsOf(requestId: string): Promise<number> {
  const [row] = await sql<{ n: string }>('select count(*)::text as n from cmis.feature_flag_values where request_id = $1', [requestId]);
  return Number(row!.n);
}

describe('flags: errors', () => {
  it('malformed JSON → 400 problem', async () => {
    const res = await call(h, 'POST', '/api/flags', { body: '{"key": ' });
    expectProblem(res, 400);
  });

  it('schema violations → 422 with one errors entry per problem', async () => {
    const res = await call(h, 'POST', '/api/flags', { body: { key: 'Bad Key', type: 'colour', tags: 'x' } });
    expectProblem(res, 422);
    const paths = res.body.errors.map((e: { path: string }) => e.path).sort();
    expect(paths).toEqual(['body.key', 'body.tags', 'body.type']);
    for (const e of res.body.errors) expect(e.message).toEqual(expect.any(String));
  });

  it('unknown fields are refused rather than ignored', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'PATCH', `/api/flags/${key}`, { body: { type: 'string' } });
    expectProblem(res, 422);
  });

  it('a value of the wrong type → 422 on that field', async () => {
    const res = await call(h, 'POST', '/api/flags', { body: { key: unique('err.type-'), type: 'number', defaultValue: 'ten' } });
    expectProblem(res, 422);
    expect(res.body.errors).toEqual([{ path: 'body.defaultValue', message: 'must be a number value' }]);
  });

  it('percentages with more than two decimals → 422', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 10.123, value: true } } });
    expectProblem(res, 422);
    expect(res.body.errors[0].path).toBe('body.rollout.percentage');
  });

  it('an existing key → 409', async () => {
    const key = await createFlag(h);
    expectProblem(await call(h, 'POST', '/api/flags', { body: { key } }), 409);
  });

  it('unknown flag → 404 with FLAG_NOT_FOUND; unknown route → 404 problem', async () => {
    const res = await call(h, 'GET', `/api/flags/${unique('nope-')}`);
    expectProblem(res, 404);
    expect(res.body.errorCode).toBe('FLAG_NOT_FOUND');
    expectProblem(await call(h, 'GET', '/api/nothing-here'), 404);
  });

  it('If-Match mismatch → 412, nothing changed, no audit row', async () => {
    const key = await createFlag(h);
    const requestId = unique('req-');
    const res = await call(h, 'PATCH', `/api/flags/${key}`, {
      body: { defaultValue: true },
      headers: { 'If-Match': '"7"', 'X-Request-Id': requestId },
    });
    expectProblem(res, 412);
    expect(res.headers.get('X-Request-Id')).toBe(requestId);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body).toMatchObject({ defaultValue: false, version: 1 });
    expect(await auditRowsOf(requestId)).toBe(0);
  });

  it('a failed write leaves nothing: 409 on enable of a string flag', async () => {
    const key = await createFlag(h, { type: 'string', defaultValue: 'x' });
    const requestId = unique('req-');
    const res = await call(h, 'POST', `/api/flags/${key}/enable`, { headers: { 'X-Request-Id': requestId } });
    expectProblem(res, 409);
    expect(await auditRowsOf(requestId)).toBe(0);
  });

  it('oversized body → 413', async () => {
    const res = await call(h, 'POST', '/api/flags', { body: { key: 'big', description: 'x'.repeat(1024 * 1024 + 10) } });
    expectProblem(res, 413);
  });

  it('bad query parameters → 422', async () => {
    expectProblem(await call(h, 'GET', '/api/flags?limit=0'), 422);
    expectProblem(await call(h, 'GET', '/api/flags?limit=101'), 422);
    expectProblem(await call(h, 'GET', '/api/flags?cursor=%%%'), 422);
  });

  it('unknown platform → 422', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'PUT', `/api/flags/${key}/platforms/myspace`, { body: { value: true } });
    expectProblem(res, 422);
    expect(res.body.errors[0].path).toBe('params.platform');
  });

  it('echoes a valid X-Request-Id, replaces an invalid one', async () => {
    const ok = await call(h, 'GET', '/api/health', { headers: { 'X-Request-Id': 'abc-123' } });
    expect(ok.headers.get('X-Request-Id')).toBe('abc-123');
    const bad = await call(h, 'GET', '/api/health', { headers: { 'X-Request-Id': 'a b<script>' } });
    expect(bad.headers.get('X-Request-Id')).toMatch(/^[0-9a-f-]{36}$/);
    const problem = await call(h, 'GET', '/api/flags', { token: null, headers: { 'X-Request-Id': 'r-401' } });
    expect(problem.headers.get('X-Request-Id')).toBe('r-401');
  });

  it('database unavailable → 503 problem, quickly, with nothing written', async () => {
    const env = { ...h.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATABASE_WS_PROXY: '127.0.0.1:1/v1' };
    const started = Date.now();
    const res = await call(h, 'POST', '/api/flags', { env, body: { key: unique('down-') } });
    expectProblem(res, 503);
    expect(Date.now() - started).toBeLessThan(6_000);
  });
});
