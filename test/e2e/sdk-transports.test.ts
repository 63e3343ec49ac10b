// The SDK's three transports give the same answers for every case of vectors/cascade.json:
// local over a real (Miniflare) KV, HTTP and service binding against the stack's evaluate Worker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../scripts/stack';
import { createFlagClient, type FlagClient, type FlagResult } from '../../shared/sdk';
import { putLayers, startKv, vectorCases, vectorLayers } from '../sdk/fixtures';
import { startTestStack } from './stack';

/** A Fetcher-like object that sends service-binding requests to the evaluate Worker's port. */
function fetcherTo(origin: string, calls: string[]): Pick<Fetcher, 'fetch'> {
  return {
    fetch: (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      calls.push(url.pathname);
      return fetch(`${origin}${url.pathname}${url.search}`, init);
    },
  };
}

const comparable = (r: FlagResult | undefined) => r && { value: r.value, reason: r.reason, source: r.source, errorCode: r.errorCode };

describe('SDK transports agree on the cascade vectors', () => {
  let stack: Stack;
  let closeKv: () => Promise<void>;
  let localKv: KVNamespace;
  const serviceCalls: string[] = [];
  const reported: string[] = [];
  const onError = (error: { code: string }) => void reported.push(error.code);
  let http: FlagClient;
  let service: FlagClient;

  beforeAll(async () => {
    stack = await startTestStack();
    const layers = vectorLayers();
    await putLayers(await stack.kv(), layers);
    ({ kv: localKv, close: closeKv } = await startKv());
    await putLayers(localKv, layers);
    http = createFlagClient({ baseUrl: stack.urls.evaluate, apiKey: stack.evalKey, timeoutMs: 5000, onError });
    service = createFlagClient({ service: fetcherTo(stack.urls.evaluate, serviceCalls), apiKey: stack.evalKey, timeoutMs: 5000, onError });
  }, 120_000);

  afterAll(async () => {
    await closeKv?.();
    await stack?.close();
  });

  it.each(vectorCases)('$name', async ({ flag, context, now, expect: expected }) => {
    const local = createFlagClient({ kv: localKv, now: () => Date.parse(now), cacheMaxAgeMs: 60_000 });
    const [viaLocal, viaHttp, viaService] = await Promise.all([local.evaluate(flag, context), http.evaluate(flag, context), service.evaluate(flag, context)]);
    expect(comparable(viaHttp)).toEqual(comparable(viaLocal));
    expect(comparable(viaService)).toEqual(comparable(viaLocal));
    if (expected.errorCode) expect(viaLocal).toMatchObject({ reason: 'ERROR', errorCode: expected.errorCode, value: null });
    else expect(comparable(viaLocal)).toEqual({ ...expected, errorCode: undefined });
    // the boolean view agrees too
    const [a, b, c] = await Promise.all([local.isActive(flag, context), http.isActive(flag, context), service.isActive(flag, context)]);
    expect([b, c]).toEqual([a, a]);
  });

  it('evaluateAll agrees for every context of the vectors', async () => {
    const contexts = new Map(vectorCases.map((c) => [JSON.stringify(c.context), c]));
    for (const { context, now } of contexts.values()) {
      const local = createFlagClient({ kv: localKv, now: () => Date.parse(now), cacheMaxAgeMs: 60_000 });
      const [viaLocal, viaHttp, viaService] = await Promise.all([local.evaluateAll(context), http.evaluateAll(context), service.evaluateAll(context)]);
      const keys = Object.keys(viaLocal).sort();
      expect(keys.length).toBeGreaterThan(0);
      expect(Object.keys(viaHttp).sort()).toEqual(keys);
      expect(Object.keys(viaService).sort()).toEqual(keys);
      for (const key of keys) {
        expect(comparable(viaHttp[key]), `${key} ${JSON.stringify(context)}`).toEqual(comparable(viaLocal[key]));
        expect(comparable(viaService[key])).toEqual(comparable(viaLocal[key]));
      }
    }
  });

  it('the remote transports reported only flag-level errors (unknown flags, isActive on non-booleans)', () => {
    expect([...new Set(reported)].sort()).toEqual(['FLAG_NOT_FOUND', 'TYPE_MISMATCH']);
    expect(serviceCalls.length).toBeGreaterThan(0);
  });

  it('memoisation against the real Worker: one request per flag per request scope', async () => {
    const calls: string[] = [];
    const request = createFlagClient({ service: fetcherTo(stack.urls.evaluate, calls), apiKey: stack.evalKey }).forRequest({ orgId: 'org-a', userId: 'u1' });
    for (let i = 0; i < 10; i++) expect(await request.isPlatformEnabled('meta')).toBe(true);
    expect(calls).toEqual(['/v1/flags/platform.meta.enabled']);
  });
});
