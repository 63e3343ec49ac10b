import { SELF, env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { GLOBAL_KEY, ORG_A_KEY, bearer, cascadeLayers, putKey, putLayers } from './helpers';

/** The HTTP surface of the evaluate Worker through its real entry: auth, org scope, CORS, input errors, OFREP bulk. */
const BOOTSTRAP_KEY = 'cmf_eval_test_bootstrap_0123456789';
const base = 'https://eval.test';

beforeAll(async () => {
  await putLayers(env.FLAGS_KV, cascadeLayers(7));
  await putKey(env.FLAGS_KV, GLOBAL_KEY, { id: 'k-global', name: 'global' });
  await putKey(env.FLAGS_KV, ORG_A_KEY, { id: 'k-org-a', orgId: 'org-a', name: 'org-a app' });
  // The shape the local stack writes for its bootstrap key.
  await putKey(env.FLAGS_KV, BOOTSTRAP_KEY, { id: 'bootstrap', name: 'bootstrap' });
});

const get = (path: string, headers: Record<string, string> = bearer(GLOBAL_KEY)) => SELF.fetch(base + path, { headers });
const post = (path: string, body: unknown, headers: Record<string, string> = bearer(GLOBAL_KEY)) =>
  SELF.fetch(base + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function problemOf(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get('Content-Type')).toContain('application/problem+json');
  return (await res.json()) as Record<string, unknown>;
}

describe('health and request ids', () => {
  it('GET /health needs no key and names the snapshot it answers from', async () => {
    const res = await SELF.fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(await res.json()).toEqual({ ok: true, snapshot: { version: expect.stringMatching(/^\d+$/), generatedAt: expect.any(String) } });
    expect(res.headers.get('X-Request-Id')).toBeTruthy();
  });

  it('echoes a valid incoming X-Request-Id', async () => {
    const res = await get('/v1/flags/campaign.creation.enabled', { ...bearer(GLOBAL_KEY), 'X-Request-Id': 'req-123' });
    expect(res.headers.get('X-Request-Id')).toBe('req-123');
  });

  it('unknown routes are 404 problems', async () => {
    const res = await get('/v2/nothing');
    expect(res.status).toBe(404);
    expect(await problemOf(res)).toMatchObject({ status: 404 });
  });
});

describe('authentication', () => {
  it.each([
    ['/v1/flags/campaign.creation.enabled', 'GET'],
    ['/v1/evaluate', 'POST'],
    ['/ofrep/v1/evaluate/flags/campaign.creation.enabled', 'POST'],
    ['/ofrep/v1/evaluate/flags', 'POST'],
  ])('%s without a key → 401 problem', async (path, method) => {
    const res = await SELF.fetch(base + path, { method, body: method === 'POST' ? '{}' : undefined });
    expect(res.status).toBe(401);
    expect(res.headers.get('WWW-Authenticate')).toMatch(/^Bearer/);
    expect(await problemOf(res)).toMatchObject({ status: 401, title: 'Unauthorized' });
  });

  it('an unknown key → 401', async () => {
    const res = await get('/v1/flags/campaign.creation.enabled', bearer('cmf_eval_nobody'));
    expect(res.status).toBe(401);
    expect(await problemOf(res)).toMatchObject({ detail: expect.stringContaining('unknown') });
  });

  it('a non-Bearer Authorization does not authenticate', async () => {
    const res = await get('/v1/flags/campaign.creation.enabled', { Authorization: `Basic ${GLOBAL_KEY}` });
    expect(res.status).toBe(401);
  });

  it('X-API-Key works as well as Bearer (any case of the scheme)', async () => {
    expect((await get('/v1/flags/campaign.creation.enabled', { 'X-API-Key': GLOBAL_KEY })).status).toBe(200);
    expect((await get('/v1/flags/campaign.creation.enabled', { Authorization: `bearer ${GLOBAL_KEY}` })).status).toBe(200);
  });

  it('accepts a key record with orgId null (the local stack bootstrap key) as a global key', async () => {
    const res = await get('/v1/flags/campaign.creation.enabled?orgId=org-b', bearer(BOOTSTRAP_KEY));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ value: false, source: 'org' });
  });
});

describe('org-scoped keys', () => {
  it('fill in their org when the request names none', async () => {
    const res = await get('/v1/flags/platform.meta.enabled', bearer(ORG_A_KEY));
    expect(await res.json()).toMatchObject({ value: true, reason: 'TARGETING_MATCH', source: 'org' });
    const ofrep = await post('/ofrep/v1/evaluate/flags/platform.meta.enabled', { context: { targetingKey: 'u1' } }, bearer(ORG_A_KEY));
    expect(await ofrep.json()).toMatchObject({ value: true, metadata: { source: 'org' } });
  });

  it('answer for their own org when named', async () => {
    const res = await get('/v1/flags/platform.meta.enabled?orgId=org-a', bearer(ORG_A_KEY));
    expect(res.status).toBe(200);
  });

  it.each([
    ['GET /v1/flags', () => get('/v1/flags/platform.meta.enabled?orgId=org-b', bearer(ORG_A_KEY))],
    ['POST /v1/evaluate', () => post('/v1/evaluate', { context: { orgId: 'org-b' } }, bearer(ORG_A_KEY))],
    ['OFREP single', () => post('/ofrep/v1/evaluate/flags/platform.meta.enabled', { context: { orgId: 'org-b' } }, bearer(ORG_A_KEY))],
    ['OFREP bulk', () => post('/ofrep/v1/evaluate/flags', { context: { orgId: 'org-b' } }, bearer(ORG_A_KEY))],
  ])('refuse another org: %s → 403 problem', async (_name, call) => {
    const res = await call();
    expect(res.status).toBe(403);
    expect(await problemOf(res)).toMatchObject({ status: 403, detail: expect.stringContaining('org-b') });
  });

  it('a global key answers for any org', async () => {
    const res = await get('/v1/flags/platform.meta.enabled?orgId=org-c');
    expect(await res.json()).toMatchObject({ value: false, reason: 'STATIC' });
  });
});

describe('CORS and caching headers', () => {
  it('answers a preflight from any origin with the headers browsers need', async () => {
    const res = await SELF.fetch(`${base}/ofrep/v1/evaluate/flags`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'authorization, content-type, if-none-match, x-api-key',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    const allowed = (res.headers.get('Access-Control-Allow-Headers') ?? '').toLowerCase();
    for (const h of ['authorization', 'x-api-key', 'content-type', 'if-none-match']) expect(allowed).toContain(h);
    expect(res.headers.get('Access-Control-Allow-Methods')).toContain('POST');
  });

  it('lets browsers read ETag and keeps shared caches out', async () => {
    const res = await SELF.fetch(`${base}/ofrep/v1/evaluate/flags`, {
      method: 'POST',
      headers: { ...bearer(GLOBAL_KEY), Origin: 'https://app.example' },
      body: '{}',
    });
    expect(res.headers.get('Access-Control-Allow-Origin')).toBe('*');
    expect((res.headers.get('Access-Control-Expose-Headers') ?? '').toLowerCase()).toContain('etag');
    expect(res.headers.get('Cache-Control')).toBe('private, max-age=0, must-revalidate');
    expect(res.headers.get('Vary')).toContain('Authorization');
  });

  it('every /v1 answer carries Cache-Control', async () => {
    const res = await get('/v1/flags/campaign.creation.enabled');
    expect(res.headers.get('Cache-Control')).toContain('max-age=0');
  });

  it('sends CORS headers only to a request with Origin, and says the answer varies with it', async () => {
    for (const path of ['/v1/flags/campaign.creation.enabled', '/v1/flags/no.such.flag', '/nowhere']) {
      const server = await SELF.fetch(`${base}${path}`, { headers: bearer(GLOBAL_KEY) });
      expect(server.headers.get('Access-Control-Allow-Origin'), path).toBeNull();
      expect(server.headers.get('Access-Control-Expose-Headers'), path).toBeNull();
      expect(server.headers.get('Vary'), path).toBe('Authorization, X-API-Key, Origin');
      expect(server.headers.get('X-Request-Id'), path).toBeTruthy();
      const browser = await SELF.fetch(`${base}${path}`, { headers: { ...bearer(GLOBAL_KEY), Origin: 'https://app.example' } });
      expect(browser.headers.get('Access-Control-Allow-Origin'), path).toBe('*');
      expect(browser.headers.get('Access-Control-Expose-Headers'), path).toBe('ETag,X-Request-Id,Retry-After');
      expect(browser.headers.get('Vary'), path).toBe('Authorization, X-API-Key, Origin');
    }
    const post = await SELF.fetch(`${base}/v1/evaluate`, { method: 'POST', headers: { ...bearer(GLOBAL_KEY), 'Content-Type': 'application/json' }, body: '{}' });
    expect(post.status).toBe(200);
    expect(post.headers.get('Access-Control-Allow-Origin')).toBeNull();
  });
});

describe('bad input → 4xx naming the field, never 500', () => {
  it.each([
    ['orgId', '/v1/flags/campaign.creation.enabled?orgId=has%20space'],
    ['userId', `/v1/flags/campaign.creation.enabled?userId=${'u'.repeat(129)}`],
    ['platform', '/v1/flags/campaign.creation.enabled?platform=myspace'],
    ['key', '/v1/flags/Not_A_Key'],
  ])('GET /v1/flags with a bad %s → 422', async (field, path) => {
    const res = await get(path);
    expect(res.status).toBe(422);
    const body = await problemOf(res);
    expect(body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: field })]));
    expect(body.detail).toContain(field);
  });

  it('POST /v1/evaluate: malformed JSON → 400', async () => {
    const res = await post('/v1/evaluate', '{"context": ');
    expect(res.status).toBe(400);
    expect(await problemOf(res)).toMatchObject({ status: 400 });
  });

  it.each([
    ['context.orgId', { context: { orgId: '' } }],
    ['context.platform', { context: { platform: 'meta ' } }],
    ['flags', { flags: 'campaign.creation.enabled' }],
    ['flags.1', { flags: ['ui.theme', 'BAD KEY'] }],
    ['context', { context: 'org-a' }],
    // 4 KB of nested arrays: zod's recursive JSON check overflowed the stack (a 500)
    ['defaults.x', JSON.parse(`{"defaults":{"x":${'['.repeat(2000)}${']'.repeat(2000)}}}`)],
  ])('POST /v1/evaluate: bad %s → 422', async (field, body) => {
    const res = await post('/v1/evaluate', body);
    expect(res.status).toBe(422);
    const problem = await problemOf(res);
    expect(problem.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path: field })]));
  });

  it('OFREP single: malformed JSON → 400 PARSE_ERROR with the key', async () => {
    const res = await post('/ofrep/v1/evaluate/flags/ui.theme', 'not json');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ key: 'ui.theme', errorCode: 'PARSE_ERROR', errorDetails: expect.any(String) });
  });

  it('OFREP single: invalid context → 400 INVALID_CONTEXT naming the field', async () => {
    const res = await post('/ofrep/v1/evaluate/flags/ui.theme', { context: { platform: 'myspace' } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ key: 'ui.theme', errorCode: 'INVALID_CONTEXT', errorDetails: expect.stringContaining('context.platform') });
  });

  it('OFREP single: a malformed key cannot exist → 404 FLAG_NOT_FOUND', async () => {
    const res = await post('/ofrep/v1/evaluate/flags/NOPE', {});
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ key: 'NOPE', errorCode: 'FLAG_NOT_FOUND' });
  });

  it('OFREP bulk: invalid context → 400 {errorCode}', async () => {
    const res = await post('/ofrep/v1/evaluate/flags', { context: { targetingKey: 42 } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errorCode: 'INVALID_CONTEXT', errorDetails: expect.stringContaining('targetingKey') });
  });

  it('OFREP ignores context attributes the cascade does not read', async () => {
    const res = await post('/ofrep/v1/evaluate/flags/ui.theme', { context: { targetingKey: 'u1', orgId: 'org-a', email: 'x@y', plan: { tier: 2 } } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ value: 'dark' });
  });

  it('a body over 1 MiB → 413 problem', async () => {
    const res = await post('/v1/evaluate', JSON.stringify({ context: {}, pad: 'x'.repeat(1024 * 1024) }));
    expect(res.status).toBe(413);
    expect(await problemOf(res)).toMatchObject({ status: 413 });
  });
});

describe('POST /v1/evaluate', () => {
  it('without `flags` answers every live flag', async () => {
    const res = await post('/v1/evaluate', { context: { orgId: 'org-a', userId: 'u1' } });
    const body = (await res.json()) as { version: string; flags: Record<string, unknown> };
    expect(body.version).toBe('7:7');
    expect(Object.keys(body.flags).sort()).toEqual(Object.keys(cascadeLayers().global.flags).sort());
    expect(body.flags['legacy.export.enabled']).toBeUndefined();
    expect(body.flags['ui.theme']).toEqual({ value: 'dark', reason: 'TARGETING_MATCH', source: 'org' });
  });

  it('requested unknown keys carry FLAG_NOT_FOUND and the caller default when given', async () => {
    const res = await post('/v1/evaluate', { context: {}, flags: ['no.such.flag', 'other.missing'], defaults: { 'no.such.flag': true } });
    const body = (await res.json()) as { flags: Record<string, unknown> };
    expect(body.flags['no.such.flag']).toEqual({ value: true, reason: 'ERROR', source: 'system', errorCode: 'FLAG_NOT_FOUND' });
    expect(body.flags['other.missing']).toMatchObject({ value: null, errorCode: 'FLAG_NOT_FOUND' });
  });
});

describe('OFREP bulk: ETag and 304', () => {
  const bulk = (context: unknown, ifNoneMatch?: string) =>
    post('/ofrep/v1/evaluate/flags', { context }, ifNoneMatch ? { ...bearer(GLOBAL_KEY), 'If-None-Match': ifNoneMatch } : bearer(GLOBAL_KEY));

  it('answers every live flag in OFREP shape with a strong ETag', async () => {
    const res = await bulk({ targetingKey: 'u1', orgId: 'org-a', platform: 'google' });
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
    const etag = res.headers.get('ETag');
    expect(etag).toMatch(/^"7:7-[0-9a-f]{24}"$/);
    const body = (await res.json()) as { flags: { key: string; value?: unknown; reason?: string; metadata?: unknown }[]; metadata: unknown };
    expect(body.metadata).toEqual({ version: '7:7' });
    expect(body.flags.map((f) => f.key).sort()).toEqual(Object.keys(cascadeLayers().global.flags).sort());
    expect(body.flags.find((f) => f.key === 'ui.theme')).toEqual({
      key: 'ui.theme',
      value: 'google-blue',
      reason: 'TARGETING_MATCH',
      metadata: { source: 'platform' }, // the version once, in the answer's metadata: a publish is not a change of every flag
    });
  });

  it('304 with no body when If-None-Match matches (also weak or in a list); 200 otherwise', async () => {
    const context = { targetingKey: 'u1', orgId: 'org-a' };
    const first = await bulk(context);
    const etag = first.headers.get('ETag')!;
    const again = await bulk(context, etag);
    expect(again.status).toBe(304);
    expect(again.headers.get('ETag')).toBe(etag);
    expect(await again.text()).toBe('');
    expect((await bulk(context, `"other", W/${etag}`)).status).toBe(304);
    expect((await bulk(context, '"stale"')).status).toBe(200);
  });

  it('another context gets another ETag', async () => {
    const a = (await bulk({ targetingKey: 'u1', orgId: 'org-a' })).headers.get('ETag');
    const b = (await bulk({ targetingKey: 'u1', orgId: 'org-b' })).headers.get('ETag');
    const c = (await bulk({ targetingKey: 'u-blocked', orgId: 'org-a' })).headers.get('ETag');
    expect(new Set([a, b, c]).size).toBe(3);
    expect((await bulk({ targetingKey: 'u1', orgId: 'org-b' }, a!)).status).toBe(200);
  });
});
