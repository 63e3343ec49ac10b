// A KV stand-in over a Map holding the vectors' layers, counting reads: for middleware tests that
// need no workerd. Real KV behaviour is covered with Miniflare in shared/sdk/*.test.ts.
import { vi } from 'vitest';
import { globalLayerKey, orgLayerKey } from '../../shared/snapshot';
import type { SnapshotLayers } from '../../shared/snapshot';
import { vectorLayers } from './fixtures';

export function memoryKv(layers: SnapshotLayers = vectorLayers()) {
  const data = new Map<string, string>();
  data.set(globalLayerKey, JSON.stringify(layers.global));
  for (const [orgId, layer] of Object.entries(layers.orgs)) data.set(orgLayerKey(orgId), JSON.stringify(layer));
  const get = vi.fn(async (key: string) => data.get(key) ?? null);
  return { data, get, kv: { get } as unknown as KVNamespace };
}
