import cascade from '../vectors/cascade.json';
import type { EvalContext } from '../../shared/engine';
import { SourceStateSchema, buildLayers, evaluateKeyKey, globalLayerKey, orgLayerKey, type SnapshotLayers } from '../../shared/snapshot';
import { sha256Hex } from '../../shared/tokens';

export { cascade };

export interface CascadeCase {
  name: string;
  flag: string;
  context: EvalContext;
  now: string;
  expect: { value?: unknown; reason?: string; source?: string; errorCode?: string };
}

export const cases = cascade.cases as CascadeCase[];

/** The layers of vectors/cascade.json, as the compiler would publish them. */
export function cascadeLayers(version = 7): SnapshotLayers {
  return buildLayers(SourceStateSchema.parse(cascade.state), { version, generatedAt: 1 });
}

/** Anything with KV's `put`: the test binding or a fake. */
interface KvPut {
  put(key: string, value: string): Promise<void>;
}

export async function putLayers(kv: KvPut, layers: SnapshotLayers): Promise<void> {
  await kv.put(globalLayerKey, JSON.stringify(layers.global));
  for (const [orgId, layer] of Object.entries(layers.orgs)) await kv.put(orgLayerKey(orgId), JSON.stringify(layer));
}

export async function putKey(kv: KvPut, token: string, record: { id: string; orgId?: string; name: string }): Promise<void> {
  await kv.put(evaluateKeyKey(await sha256Hex(token)), JSON.stringify(record));
}

export const GLOBAL_KEY = 'cmf_eval_test_global_0123456789';
export const ORG_A_KEY = 'cmf_eval_test_org_a_0123456789';

export const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });

/** `/v1/flags/:key` query string of a context. */
export function queryOf(context: EvalContext): string {
  const params = new URLSearchParams();
  for (const field of ['orgId', 'userId', 'platform'] as const) {
    const value = context[field];
    if (typeof value === 'string') params.set(field, value);
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** OFREP context of a cascade context: the user id travels as `targetingKey`. */
export function ofrepContext(context: EvalContext): Record<string, string> {
  const out: Record<string, string> = {};
  if (context.userId) out.targetingKey = context.userId;
  if (context.orgId) out.orgId = context.orgId;
  if (context.platform) out.platform = context.platform;
  return out;
}

/**
 * An in-memory KV with switchable failure, for cache tests that need KV to break after a good read.
 * Counts reads so tests can see when the cache went to KV.
 */
export class FakeKv {
  readonly data = new Map<string, string>();
  failing = false;
  reads = 0;

  async get(key: string, _type: 'text'): Promise<string | null> {
    this.reads++;
    if (this.failing) throw new Error('KV unavailable (test)');
    return this.data.get(key) ?? null;
  }

  async put(key: string, value: string): Promise<void> {
    this.data.set(key, value);
  }

  async delete(key: string): Promise<void> {
    this.data.delete(key);
  }
}
