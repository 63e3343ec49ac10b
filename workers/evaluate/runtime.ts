import type { Layers } from '../../shared/engine';
import { MetricsCollector } from '../../shared/metrics';
import type { WaitUntil } from '../../shared/snapshot/cache';
import { KeyCache } from './auth';
import { settingsOf, type Env } from './env';
import { createLayerCache, type LayerCache } from './layers';
import { metricsSettingsOf } from './metrics';

/** The isolate-level state of the evaluate app: caches and the clock. One per app instance. */
export interface EvaluateRuntime {
  readonly clock: () => number;
  readonly keys: KeyCache;
  /**
   * The layers for an org (undefined: global only); null when no good copy exists (fail closed).
   * With the request's `ctx`, a copy past half its max age is re-read in `ctx.waitUntil` (refresh ahead).
   */
  layers(env: Env, orgId: string | undefined, ctx: WaitUntil | undefined): Layers | null | Promise<Layers | null>;
  /** The isolate's evaluation counter; null when metrics are off (`METRICS=off` or no EVENTS binding). */
  metrics(env: Env): MetricsCollector | null;
}

export interface EvaluateRuntimeOptions {
  /** Epoch ms; tests inject a fake clock to cross `SNAPSHOT_MAX_AGE_MS` without waiting. */
  clock?: () => number;
  keys?: KeyCache;
  /** A prepared cache; otherwise one is built from the bindings on the first request. */
  layerCache?: LayerCache;
  /** A prepared counter (tests, benchmarks); null disables counting; otherwise built from the bindings. */
  metrics?: MetricsCollector | null;
}

export function createRuntime(options: EvaluateRuntimeOptions = {}): EvaluateRuntime {
  const clock = options.clock ?? Date.now;
  let cache = options.layerCache;
  let metrics: MetricsCollector | null | undefined = options.metrics;
  return {
    clock,
    keys: options.keys ?? new KeyCache(),
    layers(env, orgId, ctx) {
      cache ??= createLayerCache(settingsOf(env));
      return cache.layersFor(env.FLAGS_KV, orgId, clock(), undefined, ctx);
    },
    metrics(env) {
      if (metrics === undefined) {
        const settings = metricsSettingsOf(env);
        metrics = settings === null ? null : new MetricsCollector(settings);
      }
      return metrics;
    },
  };
}

/** Runs `then` over an org's layers: synchronously when they are cached and fresh (no extra turn on the hot path). */
export function withLayers<T>(
  runtime: EvaluateRuntime,
  env: Env,
  ctx: WaitUntil | undefined,
  orgId: string | undefined,
  then: (layers: Layers | null) => T,
): T | Promise<T> {
  const pending = runtime.layers(env, orgId, ctx);
  return pending instanceof Promise ? pending.then(then) : then(pending);
}
