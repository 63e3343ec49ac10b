/**
 * The pure evaluation engine: the cascade, the bucketing hash and the layer types. No I/O, no
 * clock, no imports from Workers, the database or Hono; it never throws.
 */
export type {
  ErrorCode,
  EvalContext,
  EvalResult,
  FlagType,
  GlobalFlag,
  GlobalLayer,
  JsonValue,
  Layers,
  OrgFlag,
  OrgLayer,
  Override,
  Reason,
  Source,
  Stickiness,
  SystemRollout,
} from './types';
export { ERROR_CODES, FLAG_TYPES, REASONS, SOURCES, STICKINESS } from './types';
export { evaluate, evaluateAll, evaluateEach } from './evaluate';
export { snapshotVersion } from './prepare';
export { valueMatchesType } from './result';
export { BUCKET_COUNT, bucketOf, inRollout } from './bucket';
export { murmur3 } from './murmur3';
