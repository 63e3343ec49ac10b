import { describe, expect, it } from 'vitest';
import { evaluateKeyKey, globalLayerKey, layerKey, orgLayerKey } from './keys';

describe('KV keys', () => {
  it('names the layers and evaluate keys as DESIGN.md does', () => {
    expect(globalLayerKey).toBe('snap:v1:global');
    expect(orgLayerKey('org-a')).toBe('snap:v1:org:org-a');
    expect(evaluateKeyKey('ABCDEF01')).toBe('key:v1:abcdef01');
  });

  it('maps snapshot_versions layer names to KV keys', () => {
    expect(layerKey('global')).toBe(globalLayerKey);
    expect(layerKey('org:org:with:colons')).toBe('snap:v1:org:org:with:colons');
  });
});
