/** KV key names (DESIGN.md "Snapshots in KV"); the `v1` segment lets a future layout live beside this one. */

/** The global layer. */
export const globalLayerKey = 'snap:v1:global';

/** One organization's layer. */
export function orgLayerKey(orgId: string): string {
  return `snap:v1:org:${orgId}`;
}

/** An evaluate-key record, found by the SHA-256 of the presented token (lower-case hex, as stored). */
export function evaluateKeyKey(sha256hex: string): string {
  return `key:v1:${sha256hex.toLowerCase()}`;
}

/** Layer names as snapshot_versions records them: `global` or `org:<orgId>`. */
export type LayerName = 'global' | `org:${string}`;

/** The KV key of a layer named as in snapshot_versions, so the reconciler can go from row to key. */
export function layerKey(layer: LayerName): string {
  return layer === 'global' ? globalLayerKey : orgLayerKey(layer.slice('org:'.length));
}
