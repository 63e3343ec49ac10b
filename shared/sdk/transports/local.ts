import { evaluate, evaluateAll } from '../../engine';
import type { EvalContext, EvalResult, Layers } from '../../engine';
import { PLATFORMS, isPlatform } from '../../config';
import { LayerCache } from '../../snapshot';
import { SUBJECT_ID_PATTERN } from '../../snapshot/identifiers';
import type { LayerReadError, LayerSource } from '../../snapshot';
import { FlagEvaluationError } from '../errors';
import type { LocalMetricsOptions } from '../types';
import { localMetrics } from './local-metrics';
import type { Call, Transport } from './transport';

/**
 * Caches shared by every client of an isolate that reads the same KV binding with the same max age:
 * apps typically build a client per request from `env.FLAGS_KV`, and the decoded layers must outlive it.
 */
const sharedCaches = new WeakMap<object, Map<number, LayerCache>>();

function sharedCacheFor(kv: object, maxAgeMs: number): LayerCache {
  let byAge = sharedCaches.get(kv);
  if (byAge === undefined) {
    byAge = new Map();
    sharedCaches.set(kv, byAge);
  }
  let cache = byAge.get(maxAgeMs);
  if (cache === undefined) {
    cache = new LayerCache({ maxAgeMs });
    byAge.set(maxAgeMs, cache);
  }
  return cache;
}

function readFailure(error: LayerReadError): FlagEvaluationError {
  const kind = error.kind === 'kv' ? 'kv' : 'snapshot';
  const code = error.kind === 'json' || error.kind === 'schema' ? 'PARSE_ERROR' : 'GENERAL';
  return new FlagEvaluationError(code, kind, `snapshot layer ${error.kvKey}: ${error.kind}: ${error.message}`);
}

export interface LocalTransportOptions {
  kv: LayerSource;
  cache?: LayerCache | undefined;
  cacheMaxAgeMs: number;
  now: () => number;
  metrics?: LocalMetricsOptions | undefined;
  /** Background work after the answer (`ctx.waitUntil`): enables reading layers ahead of their max age. */
  waitUntil?: ((promise: Promise<unknown>) => void) | undefined;
}

/**
 * The evaluate Worker refuses a context whose ids or platform break API.md's rules (422, which the
 * remote transports report as INVALID_CONTEXT); the same context fails the same way here instead of
 * being evaluated (a mis-cased `TikTok` would miss TikTok's overrides). Empty ids count as absent, as
 * the remote transports leave them out.
 */
function contextError(ctx: EvalContext): FlagEvaluationError | undefined {
  for (const [name, id] of [['orgId', ctx.orgId], ['userId', ctx.userId]] as const) {
    if (typeof id === 'string' && id !== '' && !SUBJECT_ID_PATTERN.test(id)) {
      return new FlagEvaluationError('INVALID_CONTEXT', 'context', `${name} must be 1-128 of A-Z a-z 0-9 . _ : @ -`);
    }
  }
  if (typeof ctx.platform === 'string' && ctx.platform !== '' && !isPlatform(ctx.platform)) {
    return new FlagEvaluationError('INVALID_CONTEXT', 'context', `platform must be one of ${PLATFORMS.join(', ')}`);
  }
  return undefined;
}

/** Evaluates in the caller's isolate with the shared engine over layers read from KV. */
export function localTransport(options: LocalTransportOptions): Transport {
  const kv = options.kv;
  const cache = options.cache ?? sharedCacheFor(kv, options.cacheMaxAgeMs);
  // KV.get demands its own `this`; a bound view keeps the binding intact for the cache.
  const source: LayerSource = { get: (key, type) => kv.get(key, type) };

  const orgIdOf = (ctx: EvalContext) => (typeof ctx.orgId === 'string' && ctx.orgId !== '' ? ctx.orgId : undefined);
  const metrics = options.metrics ? localMetrics(options.metrics) : undefined;
  const waitUntil = options.waitUntil;
  // A waitUntil that throws (a request already answered, a test double) only costs the read-ahead.
  const background =
    waitUntil === undefined
      ? undefined
      : {
          waitUntil(promise: Promise<unknown>): void {
            try {
              waitUntil(promise);
            } catch {
              // the read runs anyway; nobody waits for it
            }
          },
        };

  async function layersOf(ctx: EvalContext, call: Call): Promise<Layers> {
    const invalid = contextError(ctx);
    if (invalid) throw invalid;
    const failures: LayerReadError[] = [];
    const layers = await cache.layersFor(source, orgIdOf(ctx), options.now(), (error) => failures.push(error), background);
    if (layers === null) {
      const first = failures[0];
      if (first) throw readFailure(first);
      throw new FlagEvaluationError('PROVIDER_NOT_READY', 'snapshot', 'no usable snapshot layer yet');
    }
    // The answer comes from the last good copy; the failed refresh is still worth hearing about.
    for (const failure of failures) call.report(readFailure(failure));
    return layers;
  }

  return {
    name: 'local',
    evaluateCached(key: string, ctx: EvalContext): EvalResult | undefined {
      if (contextError(ctx)) return undefined; // the async path reports it
      const now = options.now();
      const layers = cache.freshLayersFor(orgIdOf(ctx), now, source, background);
      if (!layers) return undefined;
      const result = evaluate(layers, key, ctx, now);
      metrics?.record(key, orgIdOf(ctx), result, now);
      return result;
    },
    async evaluate(key: string, ctx: EvalContext, call: Call): Promise<EvalResult> {
      const layers = await layersOf(ctx, call);
      const now = options.now();
      const result = evaluate(layers, key, ctx, now);
      metrics?.record(key, orgIdOf(ctx), result, now);
      return result;
    },
    async evaluateAll(ctx: EvalContext, call: Call): Promise<Record<string, EvalResult>> {
      const layers = await layersOf(ctx, call);
      const now = options.now();
      const results = evaluateAll(layers, ctx, now);
      metrics?.recordAll(orgIdOf(ctx), results, now);
      return results;
    },
  };
}
