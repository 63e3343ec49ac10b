/**
 * Snapshot layers: the one zod schema of what sits in KV, the KV key names, the neutral source state
 * and the pure compiler from that state to layers. Reading Postgres and writing KV live elsewhere.
 */
export { EvaluateKeyRecordSchema, GlobalLayerSchema, OrgLayerSchema } from './schema';
export type { EvaluateKeyRecord } from './schema';
export { evaluateKeyKey, globalLayerKey, layerKey, orgLayerKey } from './keys';
export type { LayerName } from './keys';
export {
  SourceFlagSchema,
  SourceOrgValueSchema,
  SourcePlatformOverrideSchema,
  SourceStateSchema,
  SourceUserOverrideSchema,
} from './state';
export type { SourceFlag, SourceOrgValue, SourcePlatformOverride, SourceState, SourceUserOverride } from './state';
export { buildLayers } from './build';
export type { BuildOptions, SnapshotLayers } from './build';
export { FlagKeySchema, OrgIdSchema, PercentageSchema, PlatformSchema, UserIdSchema, roundPercentage } from './identifiers';
export { DEFAULT_LAYER_CACHE, LayerCache } from './cache';
export type { LayerCacheSettings, LayerReadError, LayerSource } from './cache';
