import { env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { MetricsCollector } from '../../shared/metrics';
import { createEvaluateWorker } from '../../workers/evaluate/app';
import type { Env } from '../../workers/evaluate/env';
import { GLOBAL_KEY, ORG_A_KEY, bearer, cases, cascadeLayers, ofrepContext, putKey, putLayers, queryOf } from './helpers';

/**
 * The hot path (workers/evaluate/hot.ts) answers the common evaluation requests without Hono. These
 * tests send each request twice, once through the Worker's entry (hot path first) and once through the
 * Hono app alone, and require the same status, headers and body bytes; and they check which requests
 * the hot path takes and which it leaves to the app.
 */
const base = 'https://eval.test';
const NOW = Date.parse('2026-06-01T12:00:00Z');

/** A KV that has the keys but no snapshot layers: the fail-closed answers. */
const withoutLayers: Env = {
  ...(env as Env),
  FLAGS_KV: {
    get: (key: string, type: 'text') => (key.startsWith('snap:') ? Promise.resolve(null) : env.FLAGS_KV.get(key, type)),
  } as unknown as KVNamespace,
};

const ctx = { waitUntil: () => {}, passThroughOnException: () => {}, props: {} } as unknown as ExecutionContext;

beforeAll(async () => {
  await putLayers(env.FLAGS_KV, cascadeLayers(7));
  await putKey(env.FLAGS_KV, GLOBAL_KEY, { id: 'k-global', name: 'global' });
  await putKey(env.FLAGS_KV, ORG_A_KEY, { id: 'k-org-a', orgId: 'org-a', name: 'org-a app' });
});

type MakeRequest = () => Request;

function get(path: string, headers: Record<string, string> = bearer(GLOBAL_KEY)): MakeRequest {
  return () => new Request(base + path, { headers: { 'X-Request-Id': 'same-id', ...headers } });
}

/** A POST as it arrives over HTTP: with its Content-Length. */
function post(path: string, body: unknown, headers: Record<string, string> = bearer(GLOBAL_KEY)): MakeRequest {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return () =>
    new Request(base + path, {
      method: 'POST',
      headers: { 'X-Request-Id': 'same-id', 'Content-Type': 'application/json', 'Content-Length': String(new TextEncoder().encode(text).length), ...headers },
      body: text,
    });
}

async function snapshot(res: Response): Promise<{ status: number; headers: [string, string][]; body: string }> {
  return { status: res.status, headers: [...res.headers], body: await res.text() };
}

/**
 * Both ways over one runtime (one worker), at one instant. The app answers first (its key lookup and
 * layer reads warm the caches), then the hot path must take the request and answer the same.
 */
async function expectSameAnswer(make: MakeRequest, bindings: Env = env as Env): Promise<{ status: number; body: string }> {
  const worker = createEvaluateWorker({ clock: () => NOW, metrics: null });
  const viaApp = await snapshot(await worker.app.fetch(make(), bindings, ctx));
  const hot = worker.hot(make(), bindings, ctx);
  expect(hot, 'the hot path takes this request').toBeDefined();
  const viaHot = await snapshot(await hot!);
  expect(viaHot).toEqual(viaApp);
  return viaApp;
}

describe('the hot path answers exactly as the Hono app', () => {
  it.each(cases.map((c) => [c.name, c] as const))('cascade vector: %s (all four routes)', async (_name, c) => {
    const single = await expectSameAnswer(get(`/v1/flags/${c.flag}${queryOf(c.context)}`));
    expect([200, 404, 422]).toContain(single.status);
    await expectSameAnswer(post('/v1/evaluate', { context: c.context, flags: [c.flag] }));
    await expectSameAnswer(post(`/ofrep/v1/evaluate/flags/${c.flag}`, { context: ofrepContext(c.context) }));
    await expectSameAnswer(post('/ofrep/v1/evaluate/flags', { context: ofrepContext(c.context) }));
  });

  it.each([
    ['a valid single check', get('/v1/flags/campaign.creation.enabled?orgId=org-a&userId=u1&platform=meta'), 200],
    ['an unknown flag, with a caller default → 404', get('/v1/flags/no.such.flag?default=false'), 404],
    ['an org key filling in its org', get('/v1/flags/platform.meta.enabled', bearer(ORG_A_KEY)), 200],
    ['X-API-Key instead of Bearer', get('/v1/flags/platform.meta.enabled?orgId=org-a', { 'X-API-Key': GLOBAL_KEY }), 200],
    ['a repeated query name (first wins)', get('/v1/flags/platform.meta.enabled?orgId=org-a&orgId=org-b'), 200],
    ['a name without a value', get('/v1/flags/platform.meta.enabled?orgId&platform=meta'), 422],
    ['an empty value', get('/v1/flags/platform.meta.enabled?orgId='), 422],
    ['an unknown query name', get('/v1/flags/platform.meta.enabled?color=blue&orgId=org-a'), 200],
    ['an encoded query value', get('/v1/flags/platform.meta.enabled?orgId=org%2Da&default=%7B%22a%22%3A1%7D'), 200],
    ['a plus in the query', get('/v1/flags/platform.meta.enabled?default=a+b'), 200],
    ['an invalid platform → 422', get('/v1/flags/platform.meta.enabled?platform=myspace'), 422],
    ['an invalid key → 422', get('/v1/flags/Not_A_Key!'), 422],
    ['another org with an org key → 403', get('/v1/flags/platform.meta.enabled?orgId=org-b', bearer(ORG_A_KEY)), 403],
    ['a value with "=" in it', get('/v1/flags/platform.meta.enabled?orgId=org-a&default=a=b=c'), 200],
    ['empty pairs and a trailing &', get('/v1/flags/platform.meta.enabled?&&orgId=org-a&'), 200],
    ['a pair without a name', get('/v1/flags/platform.meta.enabled?=x&orgId=org-a'), 200],
    ['names of Object.prototype', get('/v1/flags/platform.meta.enabled?constructor=x&__proto__=y&toString=z&orgId=org-a'), 200],
    ['a "?" inside a value', get('/v1/flags/platform.meta.enabled?orgId=org-a&default=why?'), 200],
    ['bulk: all flags', post('/v1/evaluate', { context: { orgId: 'org-a', userId: 'u1', platform: 'meta' } }), 200],
    ['bulk: a flag named twice', post('/v1/evaluate', { flags: ['platform.meta.enabled', 'campaign.creation.enabled', 'platform.meta.enabled'] }), 200],
    ['bulk: named flags with defaults (zod path)', post('/v1/evaluate', { flags: ['no.such.flag', 'platform.meta.enabled'], defaults: { 'no.such.flag': 3 } }), 200],
    ['bulk: empty body', post('/v1/evaluate', ''), 200],
    ['bulk: whitespace body', post('/v1/evaluate', '  \n'), 200],
    ['bulk: malformed JSON → 400', post('/v1/evaluate', '{"context":'), 400],
    ['bulk: invalid context → 422', post('/v1/evaluate', { context: { platform: 'myspace' } }), 422],
    ['bulk: another org → 403', post('/v1/evaluate', { context: { orgId: 'org-b' } }, bearer(ORG_A_KEY)), 403],
    ['OFREP: valid', post('/ofrep/v1/evaluate/flags/platform.meta.enabled', { context: { targetingKey: 'u1', orgId: 'org-a' } }), 200],
    ['OFREP: unknown flag → 404', post('/ofrep/v1/evaluate/flags/no.such.flag', { context: {} }), 404],
    ['OFREP: invalid key → 404', post('/ofrep/v1/evaluate/flags/NOT_A_KEY', { context: {} }), 404],
    ['OFREP: malformed JSON → 400', post('/ofrep/v1/evaluate/flags/platform.meta.enabled', 'nope'), 400],
    ['OFREP: targetingKey and userId differ → 400', post('/ofrep/v1/evaluate/flags/platform.meta.enabled', { context: { targetingKey: 'a', userId: 'b' } }), 400],
    ['OFREP: extra context attributes', post('/ofrep/v1/evaluate/flags/platform.meta.enabled', { context: { orgId: 'org-a', email: 'x@y.z', plan: 3 } }), 200],
    ['OFREP: another org → 403', post('/ofrep/v1/evaluate/flags/platform.meta.enabled', { context: { orgId: 'org-b' } }, bearer(ORG_A_KEY)), 403],
    ['a browser (Origin): CORS headers', get('/v1/flags/platform.meta.enabled?orgId=org-a', { ...bearer(GLOBAL_KEY), Origin: 'https://app.example' }), 200],
    ['a browser (Origin): an error answer', get('/v1/flags/no.such.flag', { ...bearer(GLOBAL_KEY), Origin: 'https://app.example' }), 404],
    ['a browser (Origin): bulk', post('/v1/evaluate', { context: { orgId: 'org-a' } }, { ...bearer(GLOBAL_KEY), Origin: 'https://app.example' }), 200],
    ['a browser (Origin): OFREP bulk with its ETag', post('/ofrep/v1/evaluate/flags', { context: { orgId: 'org-a' } }, { ...bearer(GLOBAL_KEY), Origin: 'https://app.example' }), 200],
    ['OFREP bulk', post('/ofrep/v1/evaluate/flags', { context: { orgId: 'org-a' } }), 200],
    ['OFREP bulk: invalid context → 400', post('/ofrep/v1/evaluate/flags', { context: { orgId: 7 } }), 400],
  ])('%s', async (_name, make, status) => {
    expect((await expectSameAnswer(make)).status).toBe(status);
  });

  it('OFREP bulk: 304 when If-None-Match names the ETag', async () => {
    const worker = createEvaluateWorker({ clock: () => NOW, metrics: null });
    const first = await worker.fetch(post('/ofrep/v1/evaluate/flags', { context: { orgId: 'org-a' } })(), env as Env, ctx);
    const etag = first.headers.get('ETag')!;
    const answer = await expectSameAnswer(post('/ofrep/v1/evaluate/flags', { context: { orgId: 'org-a' } }, { ...bearer(GLOBAL_KEY), 'If-None-Match': `W/${etag}` }));
    expect(answer).toMatchObject({ status: 304, body: '' });
  });

  it.each([
    ['GET', get('/v1/flags/platform.meta.enabled?orgId=org-a&default=true'), 200],
    ['bulk', post('/v1/evaluate', { flags: ['platform.meta.enabled'], defaults: { 'platform.meta.enabled': true } }), 200],
    ['OFREP', post('/ofrep/v1/evaluate/flags/platform.meta.enabled', { context: {} }), 503],
    ['OFREP bulk', post('/ofrep/v1/evaluate/flags', { context: {} }), 503],
  ])('without any snapshot (fail closed): %s', async (_name, make, status) => {
    expect((await expectSameAnswer(make, withoutLayers)).status).toBe(status);
  });

  it('re-reads stale layers (a promise) and still answers as the app does', async () => {
    let now = NOW;
    const worker = createEvaluateWorker({ clock: () => now, metrics: null });
    const make = get('/v1/flags/platform.meta.enabled?orgId=org-a');
    const first = await snapshot(await worker.app.fetch(make(), env as Env, ctx));
    now += 5_000; // past SNAPSHOT_MAX_AGE_MS (1 s), within the key cache (10 s): the next answer waits for KV
    const pending = worker.hot(make(), env as Env, ctx);
    expect(pending).toBeInstanceOf(Promise);
    expect(await snapshot(await pending!)).toEqual(first);
    const bulk = worker.hot(post('/v1/evaluate', { context: { orgId: 'org-a' } })(), env as Env, ctx);
    expect((await bulk!).status).toBe(200);
  });

  it.each([
    ['none', undefined],
    ['empty', ''],
    ['unsafe', 'bad id!'],
    ['too long', 'x'.repeat(256)],
  ])('X-Request-Id %s: a fresh id either way; everything else is equal', async (_name, sent) => {
    const worker = createEvaluateWorker({ clock: () => NOW, metrics: null });
    const headers: Record<string, string> = { ...bearer(GLOBAL_KEY), ...(sent === undefined ? {} : { 'X-Request-Id': sent }) };
    const make = () => new Request(`${base}/v1/flags/platform.meta.enabled?orgId=org-a`, { headers });
    const viaApp = await snapshot(await worker.app.fetch(make(), env as Env, ctx));
    const viaHot = await snapshot(await worker.hot(make(), env as Env, ctx)!);
    const id = (s: typeof viaApp) => s.headers.find(([name]) => name === 'x-request-id')?.[1];
    expect(id(viaHot)).toMatch(/^[0-9a-f-]{36}$/);
    expect(id(viaApp)).toMatch(/^[0-9a-f-]{36}$/);
    expect(id(viaHot)).not.toBe(id(viaApp));
    const rest = (s: typeof viaApp) => ({ ...s, headers: s.headers.filter(([name]) => name !== 'x-request-id') });
    expect(rest(viaHot)).toEqual(rest(viaApp));
  });

  it('counts the same evaluations and schedules the same flushes as the app', async () => {
    const requests = [
      get('/v1/flags/platform.meta.enabled?orgId=org-a&userId=u1'),
      get('/v1/flags/no.such.flag'),
      post('/v1/evaluate', { context: { orgId: 'org-a' }, flags: ['platform.meta.enabled', 'platform.meta.enabled', 'campaign.creation.enabled'] }),
      post('/v1/evaluate', { context: { orgId: 'org-b', userId: 'u2', platform: 'google' } }),
      post('/ofrep/v1/evaluate/flags/campaign.creation.enabled', { context: { targetingKey: 'u1', orgId: 'org-a' } }),
      post('/ofrep/v1/evaluate/flags', { context: { orgId: 'org-a' } }),
    ];
    const run = async (through: 'app' | 'hot', flushMs: number) => {
      const metrics = new MetricsCollector({ flushMs });
      const worker = createEvaluateWorker({ clock: () => NOW, metrics });
      const flushes: Promise<unknown>[] = [];
      const recording = { ...ctx, waitUntil: (promise: Promise<unknown>) => flushes.push(promise) } as unknown as ExecutionContext;
      await (await worker.app.fetch(get('/v1/flags/platform.meta.enabled')(), env as Env, recording)).text(); // warm the caches
      metrics.drain();
      for (const make of requests) {
        const res = through === 'app' ? await worker.app.fetch(make(), env as Env, recording) : await worker.hot(make(), env as Env, recording)!;
        await res.text();
      }
      await Promise.all(flushes);
      let n = 0;
      return { counts: metrics.drain(() => `m${++n}`), flushes: flushes.length };
    };
    const app = await run('app', 60_000);
    expect(app.counts.length).toBeGreaterThan(0);
    expect(await run('hot', 60_000)).toEqual(app);
    // flushMs 0: every answer schedules one flush, whichever door it came through
    const appFlushes = (await run('app', 0)).flushes;
    expect(appFlushes).toBeGreaterThan(0);
    expect((await run('hot', 0)).flushes).toBe(appFlushes);
  });
});

describe('what the hot path leaves to the Hono app', () => {
  const worker = createEvaluateWorker({ clock: () => NOW, metrics: null });
  beforeAll(async () => {
    // The global key is now in this worker's key cache.
    await worker.fetch(get('/v1/flags/platform.meta.enabled')(), env as Env, ctx);
  });

  it.each([
    ['a key not yet in the isolate cache', get('/v1/flags/platform.meta.enabled', bearer(ORG_A_KEY))],
    ['an unknown key', get('/v1/flags/platform.meta.enabled', bearer('cmf_eval_nobody'))],
    ['no key at all', get('/v1/flags/platform.meta.enabled', {})],
    ['a percent-encoded path', get('/v1/flags/platform%2Emeta.enabled')],
    ['an empty flag key', get('/v1/flags/')],
    ['a deeper path', get('/v1/flags/platform.meta.enabled/x')],
    ['a trailing slash on a POST route', post('/v1/evaluate/', {})],
    ['another case', get('/V1/flags/platform.meta.enabled')],
    ['HEAD', () => new Request(`${base}/v1/flags/platform.meta.enabled`, { method: 'HEAD', headers: bearer(GLOBAL_KEY) })],
    ['a preflight', () => new Request(`${base}/v1/flags/platform.meta.enabled`, { method: 'OPTIONS' })],
    ['/health', get('/health')],
    ['an unknown route', get('/v2/flags/platform.meta.enabled')],
    ['a body without Content-Length', () => new Request(`${base}/v1/evaluate`, { method: 'POST', headers: bearer(GLOBAL_KEY), body: '{}' })],
    ['a Content-Length that is not plain digits', post('/v1/evaluate', {}, { ...bearer(GLOBAL_KEY), 'Content-Length': '2e0' })],
    ['Transfer-Encoding beside Content-Length', post('/v1/evaluate', {}, { ...bearer(GLOBAL_KEY), 'Transfer-Encoding': 'chunked' })],
    ['a body over 1 MiB', post('/v1/evaluate', { pad: 'x'.repeat(1024 * 1024) })],
  ])('%s', async (_name, make) => {
    const req = make();
    expect(worker.hot(req, env as Env, ctx)).toBeUndefined();
    expect(req.bodyUsed).toBe(false); // nothing read: the app gets the request as it came
    const res = await worker.fetch(req, env as Env, ctx);
    expect(res.headers.get('X-Request-Id')).toBeTruthy();
  });

  it('a fragment in the URL, if a Request carries one, leaves the request to the app', async () => {
    const req = get('/v1/flags/platform.meta.enabled#x')();
    if (req.url.includes('#')) expect(worker.hot(req, env as Env, ctx)).toBeUndefined();
    const viaEntry = await snapshot(await worker.fetch(get('/v1/flags/platform.meta.enabled#x')(), env as Env, ctx));
    const viaApp = await snapshot(await worker.app.fetch(get('/v1/flags/platform.meta.enabled#x')(), env as Env, ctx));
    expect(viaEntry).toEqual(viaApp);
  });
});
