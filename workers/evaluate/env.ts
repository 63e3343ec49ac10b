import type { EvaluateKeyRecord } from '../../shared/snapshot';
import { DEFAULT_LAYER_CACHE, type LayerCacheSettings } from '../../shared/snapshot/cache';

/** Bindings of the evaluate Worker (wrangler.toml `[env.evaluate]`). It reads KV only, never Postgres. */
export interface Env {
  FLAGS_KV: KVNamespace;
  /** Evaluation metrics batches go here (workers/evaluate/metrics.ts); without it nothing is counted. */
  EVENTS?: Queue;
  /** `off` disables evaluation counting. */
  METRICS?: string;
  /** Flush policy of the counts (see workers/evaluate/metrics.ts). */
  METRICS_FLUSH_MS?: string;
  METRICS_FLUSH_COUNT?: string;
  METRICS_MAX_KEYS?: string;
  /** How long a decoded layer is served before it is re-read from KV; default 1000. */
  SNAPSHOT_MAX_AGE_MS?: string;
  /** Bounds of the isolate's layer cache (org entries; estimated bytes); defaults in `DEFAULT_LAYER_CACHE`. */
  SNAPSHOT_CACHE_MAX_ENTRIES?: string;
  SNAPSHOT_CACHE_MAX_BYTES?: string;
}

/** The cache settings the bindings choose (defaults: `DEFAULT_LAYER_CACHE`, max age 1000 ms). */
export type EvaluateSettings = LayerCacheSettings;
const DEFAULT_SETTINGS = DEFAULT_LAYER_CACHE;

/**
 * A misconfigured number falls back to its default instead of failing requests: evaluation must keep
 * answering (fail closed is for data, not for a typo in a var).
 */
function intVar(raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value >= min ? value : fallback;
}

export function settingsOf(env: Partial<Env> | undefined): EvaluateSettings {
  return {
    maxAgeMs: intVar(env?.SNAPSHOT_MAX_AGE_MS, DEFAULT_SETTINGS.maxAgeMs, 0),
    maxEntries: intVar(env?.SNAPSHOT_CACHE_MAX_ENTRIES, DEFAULT_SETTINGS.maxEntries, 1),
    maxBytes: intVar(env?.SNAPSHOT_CACHE_MAX_BYTES, DEFAULT_SETTINGS.maxBytes, 1),
  };
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    /** The evaluate key that authenticated the request. */
    caller: EvaluateKeyRecord;
  };
}

export { executionCtxOf } from '../../shared/http/execution-context';
