import type { Layers } from '../../shared/engine';
import { KeyCache } from './auth';
import { settingsOf, type Env } from './env';
import { createLayerCache, type LayerCache } from './layers';

/** The isolate-level state of the evaluate app: caches and the clock. One per app instance. */
export interface EvaluateRuntime {
  readonly clock: () => number;
  readonly keys: KeyCache;
  /** The layers for an org (undefined: global only); null when no good copy exists (fail closed). */
  layers(env: Env, orgId: string | undefined): Layers | null | Promise<Layers | null>;
}

export interface EvaluateRuntimeOptions {
  /** Epoch ms; tests inject a fake clock to cross `SNAPSHOT_MAX_AGE_MS` without waiting. */
  clock?: () => number;
  keys?: KeyCache;
  /** A prepared cache; otherwise one is built from the bindings on the first request. */
  layerCache?: LayerCache;
}

export function createRuntime(options: EvaluateRuntimeOptions = {}): EvaluateRuntime {
  const clock = options.clock ?? Date.now;
  let cache = options.layerCache;
  return {
    clock,
    keys: options.keys ?? new KeyCache(),
    layers(env, orgId) {
      cache ??= createLayerCache(settingsOf(env));
      return cache.layersFor(env.FLAGS_KV, orgId, clock());
    },
  };
}
