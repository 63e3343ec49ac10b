import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startServer, type TestServer } from '../../../test/sdk/fixtures';
import { createFlagClient } from '../client';

/** Answers like the evaluate Worker: one flag known (`campaign.creation.enabled`, true), bulk with two. */
function answer(method: string, url: URL): { status: number; body: unknown } {
  if (method === 'GET' && url.pathname === '/v1/flags/campaign.creation.enabled') {
    return { status: 200, body: { key: 'campaign.creation.enabled', value: true, reason: 'TARGETING_MATCH', source: 'org', version: '3:7' } };
  }
  if (method === 'GET' && url.pathname.startsWith('/v1/flags/')) {
    return { status: 404, body: { type: 'https://cmis-flags.dev/problems/not-found', title: 'Not Found', status: 404, detail: 'No live flag.', errorCode: 'FLAG_NOT_FOUND' } };
  }
  if (method === 'POST' && url.pathname === '/v1/evaluate') {
    return {
      status: 200,
      body: {
        version: '3:7',
        flags: {
          'campaign.creation.enabled': { value: true, reason: 'TARGETING_MATCH', source: 'org' },
          'ui.theme': { value: 'dark', reason: 'STATIC', source: 'system' },
        },
      },
    };
  }
  return { status: 404, body: { status: 404 } };
}

describe('remote transports (HTTP and service binding)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer((req, res) => {
      const { status, body } = answer(req.method ?? 'GET', new URL(req.url ?? '/', 'http://x'));
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    });
  });
  afterAll(() => server.close());

  it('GET /v1/flags/:key with the context in the query and the key as Bearer', async () => {
    server.requests.length = 0;
    const flags = createFlagClient({ baseUrl: `${server.url}/`, apiKey: 'cmf_eval_x' });
    const result = await flags.evaluate('campaign.creation.enabled', { orgId: 'org-a', userId: 'u 1', platform: 'meta' });
    expect(result).toEqual({ value: true, reason: 'TARGETING_MATCH', source: 'org', version: '3:7' });
    expect(server.requests).toEqual([
      { method: 'GET', url: '/v1/flags/campaign.creation.enabled?orgId=org-a&userId=u+1&platform=meta', authorization: 'Bearer cmf_eval_x' },
    ]);
  });

  it('a FLAG_NOT_FOUND 404 is an unknown flag: default, errorCode, reported', async () => {
    const onError = vi.fn();
    const flags = createFlagClient({ baseUrl: server.url, apiKey: 'k', onError });
    expect(await flags.variation('no.such.flag', 'x')).toMatchObject({ value: 'x', reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'FLAG_NOT_FOUND' }), { key: 'no.such.flag', transport: 'http' });
  });

  it('memoisation: N checks of one flag in a request → one upstream call', async () => {
    server.requests.length = 0;
    const flags = createFlagClient({ baseUrl: server.url, apiKey: 'k' });
    const request = flags.forRequest({ orgId: 'org-a', userId: 'u1' });
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => request.isActive('campaign.creation.enabled')));
    for (let i = 0; i < 5; i++) await request.assertActive('campaign.creation.enabled');
    expect(concurrent).toEqual(Array(5).fill(true));
    expect(server.requests).toHaveLength(1);
    // without the request scope every check is a round trip
    await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' });
    await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' });
    expect(server.requests).toHaveLength(3);
  });

  it('evaluateAll is one POST /v1/evaluate; single checks of that context then cost nothing', async () => {
    server.requests.length = 0;
    const request = createFlagClient({ baseUrl: server.url, apiKey: 'k' }).forRequest({ orgId: 'org-a' });
    const all = await request.evaluateAll();
    expect(all['ui.theme']).toEqual({ value: 'dark', reason: 'STATIC', source: 'system', version: '3:7' });
    expect(await request.getValue('ui.theme', 'light')).toBe('dark');
    expect(await request.isActive('campaign.creation.enabled')).toBe(true);
    expect(await request.isActive('not.in.snapshot')).toBe(false);
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /v1/evaluate']);
  });

  it('service binding: the same requests through the Fetcher', async () => {
    const seen: string[] = [];
    const service = {
      fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        seen.push(`${init?.method} ${url.origin}${url.pathname}`);
        return fetch(`${server.url}${url.pathname}${url.search}`, init);
      },
    };
    const flags = createFlagClient({ service, apiKey: 'k' });
    expect(flags.transport).toBe('service');
    expect(await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' })).toBe(true);
    expect(seen).toEqual(['GET https://evaluate.internal/v1/flags/campaign.creation.enabled']);
  });
});
