import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { closedPortUrl, putLayers, startKv, startServer, vectorLayers, type TestServer } from '../../test/sdk/fixtures';
import { LayerCache, globalLayerKey, orgLayerKey } from '../snapshot';
import { createFlagClient } from './client';
import { FeatureDisabledError, FlagEvaluationError } from './errors';
import type { FlagClient } from './types';

// `platform.meta.enabled` is true for org-a in the vectors: every failure below must still answer false.
const CTX = { orgId: 'org-a', userId: 'u1' };
const KEY = 'platform.meta.enabled';
const TIMEOUT = 200;

async function expectClosed(flags: FlagClient, onError: ReturnType<typeof vi.fn>, code?: string) {
  const started = Date.now();
  expect(await flags.isActive(KEY, CTX)).toBe(false);
  expect(Date.now() - started).toBeLessThan(TIMEOUT + 400);
  expect(await flags.getValue(KEY, 'default')).toBe('default');
  expect(await flags.evaluate(KEY, CTX)).toMatchObject({ value: null, reason: 'ERROR' });
  await expect(flags.assertPlatformEnabled('meta', CTX)).rejects.toBeInstanceOf(FeatureDisabledError);
  expect(await flags.evaluateAll(CTX)).toEqual({});
  expect(onError).toHaveBeenCalled();
  const [error, info] = onError.mock.calls[0]!;
  expect(error).toBeInstanceOf(FlagEvaluationError);
  expect(info).toEqual({ key: KEY, transport: flags.transport });
  if (code) expect((error as FlagEvaluationError).code).toBe(code);
  return error as FlagEvaluationError;
}

describe('fail closed: HTTP transport', () => {
  const servers: TestServer[] = [];
  const serve = async (handler: Parameters<typeof startServer>[0]) => {
    const server = await startServer(handler);
    servers.push(server);
    return server;
  };
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  const http = (baseUrl: string) => {
    const onError = vi.fn();
    return { onError, flags: createFlagClient({ baseUrl, apiKey: 'k', timeoutMs: TIMEOUT, onError }) };
  };

  it('evaluate Worker down (closed port)', async () => {
    const { flags, onError } = http(await closedPortUrl());
    expect((await expectClosed(flags, onError, 'GENERAL')).kind).toBe('network');
  });

  it('evaluate Worker never answers: false within the timeout', async () => {
    const server = await serve(() => {});
    const { flags, onError } = http(server.url);
    expect((await expectClosed(flags, onError, 'GENERAL')).kind).toBe('timeout');
  });

  it('headers sent, body never finishes: still bounded by the timeout', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.write('{"value": tr');
    });
    const { flags, onError } = http(server.url);
    expect((await expectClosed(flags, onError, 'GENERAL')).kind).toBe('timeout');
  });

  it('answering 500', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(500, { 'Content-Type': 'application/problem+json' });
      res.end(JSON.stringify({ status: 500, detail: 'boom' }));
    });
    const { flags, onError } = http(server.url);
    const error = await expectClosed(flags, onError, 'GENERAL');
    expect(error.status).toBe(500);
  });

  it('answering garbage', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end('<html>captive portal</html>');
    });
    const { flags, onError } = http(server.url);
    await expectClosed(flags, onError, 'PARSE_ERROR');
  });

  it('answering JSON of the wrong shape (a truthy value is not enough)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ value: true, reason: 'BECAUSE', flags: 'all' }));
    });
    const { flags, onError } = http(server.url);
    await expectClosed(flags, onError, 'PARSE_ERROR');
  });

  it('a 404 without FLAG_NOT_FOUND (wrong base URL) is an error, not an unknown flag', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(404);
      res.end('Not Found');
    });
    const { flags, onError } = http(server.url);
    const error = await expectClosed(flags, onError, 'GENERAL');
    expect(error.status).toBe(404);
  });

  it('a rejected API key (401)', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(401, { 'Content-Type': 'application/problem+json' });
      res.end(JSON.stringify({ status: 401, detail: 'The evaluate key is unknown or revoked.' }));
    });
    const { flags, onError } = http(server.url);
    expect((await expectClosed(flags, onError)).message).toContain('refused the API key');
  });
});

describe('fail closed: service binding transport', () => {
  it('a Fetcher that throws', async () => {
    const onError = vi.fn();
    const flags = createFlagClient({ service: { fetch: async () => { throw new Error('binding gone'); } }, apiKey: 'k', timeoutMs: TIMEOUT, onError });
    expect((await expectClosed(flags, onError, 'GENERAL')).message).toContain('binding gone');
  });

  it('a Fetcher that ignores the abort signal and never settles', async () => {
    const onError = vi.fn();
    const flags = createFlagClient({ service: { fetch: () => new Promise<Response>(() => {}) }, apiKey: 'k', timeoutMs: TIMEOUT, onError });
    expect((await expectClosed(flags, onError, 'GENERAL')).kind).toBe('timeout');
  });
});

describe('fail closed: local transport', () => {
  let kv: KVNamespace;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ kv, close } = await startKv());
  });
  afterAll(() => close());
  afterEach(async () => {
    await kv.delete(globalLayerKey);
    await kv.delete(orgLayerKey('org-a'));
  });
  const local = (binding: Pick<KVNamespace, 'get'>) => {
    const onError = vi.fn();
    // A cache of its own per test: the default one is shared per binding and would carry a last good copy over.
    return { onError, flags: createFlagClient({ kv: binding, timeoutMs: TIMEOUT, cacheMaxAgeMs: 0, cache: new LayerCache({ maxAgeMs: 0 }), onError }) };
  };

  it('KV binding throwing', async () => {
    const { flags, onError } = local({ get: async () => { throw new Error('KV GET failed: 503'); } } as unknown as KVNamespace);
    expect((await expectClosed(flags, onError, 'GENERAL')).kind).toBe('kv');
  });

  it('KV binding hanging: false within the timeout', async () => {
    const { flags, onError } = local({ get: () => new Promise(() => {}) } as unknown as KVNamespace);
    expect((await expectClosed(flags, onError, 'GENERAL')).kind).toBe('timeout');
  });

  it('no snapshot published yet', async () => {
    const { flags, onError } = local(kv);
    await expectClosed(flags, onError);
  });

  it('a schema-invalid layer', async () => {
    const layers = vectorLayers();
    await putLayers(kv, layers);
    await kv.put(orgLayerKey('org-a'), JSON.stringify({ ...layers.orgs['org-a'], flags: { [KEY]: { value: true, percentage: 250 } } }));
    const { flags, onError } = local(kv);
    await expectClosed(flags, onError, 'PARSE_ERROR');
  });

  it('a context the evaluate Worker refuses (bad id, unknown or mis-cased platform): INVALID_CONTEXT, as over HTTP', async () => {
    await putLayers(kv, vectorLayers());
    for (const ctx of [{ orgId: 'org-a', platform: 'TikTok' }, { orgId: 'org-a', userId: 'a+b@example.com' }, { orgId: 'org a' }]) {
      const { flags, onError } = local(kv);
      expect(await flags.evaluate(KEY, ctx), JSON.stringify(ctx)).toMatchObject({ value: null, reason: 'ERROR', errorCode: 'INVALID_CONTEXT' });
      expect(await flags.isActive(KEY, ctx)).toBe(false);
      expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'INVALID_CONTEXT' }), { key: KEY, transport: 'local' });
    }
    const { flags } = local(kv);
    expect(await flags.evaluate(KEY, { orgId: 'org-a', userId: '', platform: 'tiktok' })).not.toMatchObject({ reason: 'ERROR' }); // empty ids are absent
  });

  it('a layer that is not JSON', async () => {
    await kv.put(globalLayerKey, '{"version": 1, "flags": {');
    const { flags, onError } = local(kv);
    await expectClosed(flags, onError, 'PARSE_ERROR');
  });

  it('keeps the last good copy when KV starts failing, and reports the failed refresh', async () => {
    const layers = vectorLayers();
    await putLayers(kv, layers);
    let broken = false;
    const flaky = { get: (key: string, type: 'text') => (broken ? Promise.reject(new Error('KV down')) : kv.get(key, type)) };
    const { flags, onError } = local(flaky as unknown as KVNamespace);
    expect(await flags.isActive(KEY, CTX)).toBe(true);
    broken = true;
    expect(await flags.isActive(KEY, CTX)).toBe(true);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ kind: 'kv' }), { key: KEY, transport: 'local' });
  });
});
