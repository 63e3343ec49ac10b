// OFREP conformance against the real local stack, through the official OpenFeature server SDK and
// OFREP provider: every case of vectors/cascade.json, FLAG_NOT_FOUND, no snapshot, auth, bulk ETag/304.
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature, type Client, type EvaluationContext, type EvaluationDetails, type JsonValue } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../scripts/stack';
import { sha256Hex } from '../../shared/tokens';
import type { EvalContext } from '../../shared/engine';
import { SourceStateSchema, buildLayers, evaluateKeyKey, globalLayerKey, orgLayerKey } from '../../shared/snapshot';
import cascade from '../vectors/cascade.json';
import { startTestStack } from './stack';

interface CascadeCase {
  name: string;
  flag: string;
  context: EvalContext;
  expect: { value?: unknown; reason?: string; source?: string; errorCode?: string };
}

const cases = cascade.cases as CascadeCase[];
const ORG_KEY = 'cmf_eval_e2e_org_a_key_0123456789';
let stack: Stack;
let kv: KVNamespace;
let client: Client;

function contextOf(context: EvalContext): EvaluationContext {
  const out: EvaluationContext = {};
  if (context.userId) out.targetingKey = context.userId;
  if (context.orgId) out.orgId = context.orgId;
  if (context.platform) out.platform = context.platform;
  return out;
}

function provider(key: string): OFREPProvider {
  return new OFREPProvider({ baseUrl: stack.urls.evaluate, headers: [['Authorization', `Bearer ${key}`]] });
}

/** Resolves with the SDK call that matches the expected value's type, as an application would. */
function resolve(c: Client, flag: string, expected: unknown, context: EvaluationContext): Promise<EvaluationDetails<JsonValue>> {
  switch (typeof expected) {
    case 'string':
      return c.getStringDetails(flag, 'fallback', context);
    case 'number':
      return c.getNumberDetails(flag, -1, context);
    case 'object':
      return c.getObjectDetails(flag, { fallback: true }, context);
    default:
      return c.getBooleanDetails(flag, false, context);
  }
}

beforeAll(async () => {
  stack = await startTestStack();
  kv = await stack.kv();
  await OpenFeature.setProviderAndWait('e2e-ofrep', provider(stack.evalKey));
  client = OpenFeature.getClient('e2e-ofrep');
}, 120_000);

afterAll(async () => {
  await OpenFeature.close();
  await stack?.close();
});

describe('OFREP through @openfeature/server-sdk + @openfeature/ofrep-provider', () => {
  // First, while the evaluate isolate has never read a layer: with no snapshot the SDK falls back.
  it('no snapshot at all → the caller default with reason ERROR', async () => {
    await kv.delete(globalLayerKey);
    const details = await client.getBooleanDetails('campaign.creation.enabled', false, {});
    expect(details).toMatchObject({ value: false, reason: 'ERROR', errorCode: 'GENERAL' });
  });

  it('publishes the cascade layers', async () => {
    const layers = buildLayers(SourceStateSchema.parse(cascade.state), { version: 3, generatedAt: Date.now() });
    await kv.put(globalLayerKey, JSON.stringify(layers.global));
    for (const [orgId, layer] of Object.entries(layers.orgs)) await kv.put(orgLayerKey(orgId), JSON.stringify(layer));
    await kv.put(evaluateKeyKey(await sha256Hex(ORG_KEY)), JSON.stringify({ id: 'e2e-org-a', orgId: 'org-a', name: 'e2e org-a' }));
    const details = await client.getBooleanDetails('platform.meta.enabled', false, { orgId: 'org-a' });
    expect(details).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
  });

  describe('cascade vectors', () => {
    it.each(cases)('$name', async ({ flag, context, expect: expected }) => {
      const details = await resolve(client, flag, expected.value, contextOf(context));
      if (expected.errorCode) {
        expect(details).toMatchObject({ value: false, reason: 'ERROR', errorCode: expected.errorCode });
        return;
      }
      expect(details.errorCode).toBeUndefined();
      expect(details.value).toEqual(expected.value);
      expect(details.reason).toBe(expected.reason);
      expect(details.flagMetadata).toMatchObject({ source: expected.source, version: expect.stringMatching(/^3(:3)?$/) });
    });
  });

  it('a type the flag does not have → TYPE_MISMATCH, default value', async () => {
    const details = await client.getNumberDetails('ui.theme', 7, { orgId: 'org-a' });
    expect(details).toMatchObject({ value: 7, reason: 'ERROR', errorCode: 'TYPE_MISMATCH' });
  });

  it('an invalid context → INVALID_CONTEXT, default value', async () => {
    const details = await client.getBooleanDetails('campaign.creation.enabled', false, { orgId: 'has space' });
    expect(details).toMatchObject({ value: false, reason: 'ERROR', errorCode: 'INVALID_CONTEXT' });
  });

  it('an unknown key (401) and another org for an org-scoped key (403) fall back to the default', async () => {
    await OpenFeature.setProviderAndWait('e2e-bad', provider('cmf_eval_not_a_key'));
    const bad = await OpenFeature.getClient('e2e-bad').getBooleanDetails('campaign.creation.enabled', false, {});
    expect(bad).toMatchObject({ value: false, reason: 'ERROR', errorCode: 'GENERAL' });

    await OpenFeature.setProviderAndWait('e2e-org', provider(ORG_KEY));
    const org = OpenFeature.getClient('e2e-org');
    expect(await org.getBooleanDetails('platform.meta.enabled', false, { targetingKey: 'u1' })).toMatchObject({ value: true, reason: 'TARGETING_MATCH' });
    expect(await org.getBooleanDetails('campaign.creation.enabled', true, { orgId: 'org-b' })).toMatchObject({ value: true, reason: 'ERROR' });
  });
});

describe('OFREP bulk over plain fetch', () => {
  const bulk = (context: unknown, ifNoneMatch?: string) =>
    fetch(`${stack.urls.evaluate}/ofrep/v1/evaluate/flags`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${stack.evalKey}`,
        'Content-Type': 'application/json',
        ...(ifNoneMatch ? { 'If-None-Match': ifNoneMatch } : {}),
      },
      body: JSON.stringify({ context }),
    });

  it('answers 200 with an ETag, then 304 for the same tag, 200 again after a publish', async () => {
    const context = { targetingKey: 'u1', orgId: 'org-a' };
    const first = await bulk(context);
    expect(first.status).toBe(200);
    const etag = first.headers.get('ETag')!;
    expect(etag).toMatch(/^"3:3-[0-9a-f]+"$/);
    const body = (await first.json()) as { flags: { key: string; value: unknown }[] };
    expect(body.flags.find((f) => f.key === 'ui.theme')).toMatchObject({ value: 'dark', reason: 'TARGETING_MATCH', metadata: { source: 'org' } });

    const again = await bulk(context, etag);
    expect(again.status).toBe(304);
    expect(again.headers.get('ETag')).toBe(etag);

    const next = buildLayers(SourceStateSchema.parse(cascade.state), { version: 4 });
    await kv.put(globalLayerKey, JSON.stringify(next.global));
    await new Promise((r) => setTimeout(r, 1100)); // SNAPSHOT_MAX_AGE_MS of the stack
    const changed = await bulk(context, etag);
    expect(changed.status).toBe(200);
    expect(changed.headers.get('ETag')).toMatch(/^"4:3-/);
  });
});
