/**
 * The client SDK (DESIGN.md "Where CMIS plugs in"): `createFlagClient` over KV (local), a service
 * binding or HTTP; fail closed, per-request memoisation. Hono middleware lives in `shared/sdk/hono`.
 */
export { createFlagClient, DEFAULT_CACHE_MAX_AGE_MS, DEFAULT_TIMEOUT_MS } from './client';
export { FeatureDisabledError, FlagEvaluationError } from './errors';
export type { FailureKind } from './errors';
export type {
  ErrorInfo,
  EvalContext,
  FlagClient,
  FlagClientOptions,
  FlagResult,
  HttpOptions,
  JsonValue,
  LocalMetricsOptions,
  LocalOptions,
  ServiceOptions,
  TransportName,
} from './types';
