import { SELF, env } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { GLOBAL_KEY, bearer, cascadeLayers, cases, ofrepContext, putKey, putLayers, queryOf } from './helpers';

/** Every case of vectors/cascade.json through the deployed Worker entry, over /v1 and over OFREP. */
const VERSION = 7;

beforeAll(async () => {
  await putLayers(env.FLAGS_KV, cascadeLayers(VERSION));
  await putKey(env.FLAGS_KV, GLOBAL_KEY, { id: 'k-global', name: 'global test key' });
});

describe('GET /v1/flags/:key — cascade vectors', () => {
  it.each(cases)('$name', async ({ flag, context, expect: expected }) => {
    const res = await SELF.fetch(`https://eval.test/v1/flags/${flag}${queryOf(context)}`, { headers: bearer(GLOBAL_KEY) });
    const body = (await res.json()) as Record<string, unknown>;
    if (expected.errorCode) {
      expect(res.status).toBe(404);
      expect(res.headers.get('Content-Type')).toContain('application/problem+json');
      expect(body).toMatchObject({ status: 404, errorCode: expected.errorCode });
      return;
    }
    expect(res.status).toBe(200);
    expect(body).toEqual({
      key: flag,
      value: expected.value,
      reason: expected.reason,
      source: expected.source,
      version: context.orgId && ['org-a', 'org-b'].includes(context.orgId) ? `${VERSION}:${VERSION}` : `${VERSION}`,
    });
  });
});

describe('POST /ofrep/v1/evaluate/flags/:key — cascade vectors', () => {
  it.each(cases)('$name', async ({ flag, context, expect: expected }) => {
    const res = await SELF.fetch(`https://eval.test/ofrep/v1/evaluate/flags/${flag}`, {
      method: 'POST',
      headers: { ...bearer(GLOBAL_KEY), 'Content-Type': 'application/json' },
      body: JSON.stringify({ context: ofrepContext(context) }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (expected.errorCode) {
      expect(res.status).toBe(404);
      expect(body).toMatchObject({ key: flag, errorCode: 'FLAG_NOT_FOUND' });
      expect(typeof body.errorDetails).toBe('string');
      return;
    }
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Type')).toMatch(/^application\/json/);
    expect(body).toMatchObject({ key: flag, value: expected.value, reason: expected.reason, metadata: { source: expected.source } });
    expect(body).not.toHaveProperty('errorCode');
  });
});

describe('POST /v1/evaluate — cascade vectors, one context at a time', () => {
  it.each(cases)('$name', async ({ flag, context, expect: expected }) => {
    const res = await SELF.fetch('https://eval.test/v1/evaluate', {
      method: 'POST',
      headers: { ...bearer(GLOBAL_KEY), 'Content-Type': 'application/json' },
      body: JSON.stringify({ context, flags: [flag] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { version: string; flags: Record<string, Record<string, unknown>> };
    const answer = body.flags[flag];
    if (expected.errorCode) expect(answer).toMatchObject({ value: null, reason: 'ERROR', errorCode: expected.errorCode });
    else expect(answer).toEqual({ value: expected.value, reason: expected.reason, source: expected.source });
  });
});
