import { PLATFORMS } from '../config';
import type { EvalContext, EvalResult, JsonValue } from '../engine';
import { mergeContext } from './context';
import { FeatureDisabledError, FlagEvaluationError } from './errors';
import { directLookups, memoisedLookups } from './lookups';
import type { Lookups } from './lookups';
import { localTransport } from './transports/local';
import { remoteTransport } from './transports/remote';
import type { Transport } from './transports/transport';
import type { FlagClient, FlagClientOptions, FlagResult } from './types';

export const DEFAULT_TIMEOUT_MS = 500;
export const DEFAULT_CACHE_MAX_AGE_MS = 1000;

/** Service bindings ignore the host; this one only makes the URL well-formed and readable in logs. */
const SERVICE_ORIGIN = 'https://evaluate.internal';

function transportOf(options: FlagClientOptions, now: () => number): Transport {
  if ('kv' in options) {
    return localTransport({
      kv: options.kv,
      cache: options.cache,
      cacheMaxAgeMs: options.cacheMaxAgeMs ?? DEFAULT_CACHE_MAX_AGE_MS,
      now,
      metrics: options.metrics,
      waitUntil: options.waitUntil,
    });
  }
  if ('service' in options) {
    const service = options.service;
    return remoteTransport({ name: 'service', baseUrl: SERVICE_ORIGIN, apiKey: options.apiKey, fetch: (url, init) => service.fetch(url, init) });
  }
  if ('baseUrl' in options) {
    const fetchImpl = options.fetch ?? ((url: string, init: RequestInit) => fetch(url, init));
    return remoteTransport({ name: 'http', baseUrl: options.baseUrl, apiKey: options.apiKey, fetch: fetchImpl });
  }
  throw new TypeError('createFlagClient needs one of { kv }, { service, apiKey } or { baseUrl, apiKey }');
}

/** The longest delay a timer takes (setTimeout's 32-bit limit). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A flag client over one of three transports: `{ kv }` evaluates locally from the KV snapshot,
 * `{ service, apiKey }` asks the evaluate Worker through a service binding, `{ baseUrl, apiKey }`
 * asks it over HTTP. Checks fail closed: any error answers the default (false for `isActive`),
 * is reported to `onError`, and is never thrown (only `assert*` throw, and only FeatureDisabledError).
 *
 * @example
 * const flags = createFlagClient({ kv: env.FLAGS_KV });
 * if (await flags.isActive('campaign.creation.enabled', { orgId, userId })) { ... }
 *
 * @example
 * const flags = createFlagClient({ baseUrl: 'https://flags.example.com', apiKey, timeoutMs: 300, onError: console.warn });
 * const request = flags.forRequest({ orgId, userId }); // one upstream lookup per flag for this request
 * await request.assertPlatformEnabled('meta');
 */
export function createFlagClient(options: FlagClientOptions): FlagClient {
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // A timer longer than 2^31 - 1 ms (or NaN) fires after 1 ms: every check would time out.
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
    throw new TypeError(`createFlagClient: timeoutMs must be a number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${String(timeoutMs)}`);
  }
  const lookups = directLookups(transportOf(options, now), timeoutMs, options.onError);
  return clientOver(lookups, undefined, options.defaults ?? {}, options.platforms ?? PLATFORMS);
}

/** Whether `value` has the JSON type of `fallback` (a null fallback accepts anything). */
function sameType(value: JsonValue, fallback: JsonValue): boolean {
  if (fallback === null) return true;
  if (Array.isArray(fallback)) return Array.isArray(value);
  if (typeof fallback === 'object') return typeof value === 'object' && value !== null && !Array.isArray(value);
  if (typeof fallback === 'number') return typeof value === 'number' && Number.isFinite(value);
  return typeof value === typeof fallback;
}

function withValue<T>(result: EvalResult, value: T): FlagResult<T> {
  const out: FlagResult<T> = { value, reason: result.reason, source: result.source };
  if (result.variant !== undefined) out.variant = result.variant;
  if (result.errorCode !== undefined) out.errorCode = result.errorCode;
  if (result.version !== undefined) out.version = result.version;
  return out;
}

function clientOver(lookups: Lookups, base: EvalContext | undefined, defaults: Record<string, JsonValue>, platforms: readonly string[]): FlagClient {
  const fallbackOf = (key: string): JsonValue => (Object.hasOwn(defaults, key) ? (defaults[key] ?? null) : null);

  async function variation<T extends JsonValue>(key: string, defaultValue: T, ctx?: EvalContext): Promise<FlagResult<T>> {
    const result = await lookups.one(key, mergeContext(base, ctx));
    if (result.errorCode !== undefined) return withValue(result, defaultValue);
    if (!sameType(result.value, defaultValue)) {
      lookups.report(new FlagEvaluationError('TYPE_MISMATCH', 'type', `flag ${key} is not a ${Array.isArray(defaultValue) ? 'array' : typeof defaultValue}`), key);
      return { value: defaultValue, reason: 'ERROR', source: result.source, errorCode: 'TYPE_MISMATCH' };
    }
    return withValue(result, result.value as T);
  }

  async function isActive(key: string, ctx?: EvalContext): Promise<boolean> {
    return (await variation(key, fallbackOf(key) === true, ctx)).value;
  }

  async function isPlatformEnabled(platform: string, ctx?: EvalContext): Promise<boolean> {
    const key = `platform.${platform}.enabled`;
    if (!platforms.includes(platform)) {
      lookups.report(new FlagEvaluationError('INVALID_CONTEXT', 'context', `unknown platform ${JSON.stringify(platform)}`), key);
      return false;
    }
    return isActive(key, { ...ctx, platform });
  }

  const client: FlagClient = {
    transport: lookups.transport,
    isActive,
    isActiveForUser: (key, userId, ctx) => isActive(key, { ...ctx, userId }),
    isActiveForPlatform: (key, platform, ctx) => isActive(key, { ...ctx, platform }),
    isPlatformEnabled,
    getValue: async (key, defaultValue, ctx) => (await variation(key, defaultValue, ctx)).value,
    variation,
    async evaluate(key, ctx) {
      const result = await lookups.one(key, mergeContext(base, ctx));
      return withValue(result, result.errorCode === undefined ? result.value : fallbackOf(key));
    },
    async evaluateAll(ctx) {
      const everything = await lookups.all(mergeContext(base, ctx));
      const out: Record<string, FlagResult> = {};
      for (const [key, result] of Object.entries(everything ?? {})) {
        out[key] = withValue(result, result.errorCode === undefined ? result.value : fallbackOf(key));
      }
      return out;
    },
    async assertActive(key, ctx) {
      if (!(await isActive(key, ctx))) throw new FeatureDisabledError({ key, orgId: mergeContext(base, ctx).orgId });
    },
    async assertPlatformEnabled(platform, ctx) {
      if (!(await isPlatformEnabled(platform, ctx))) {
        throw new FeatureDisabledError({ key: `platform.${platform}.enabled`, orgId: mergeContext(base, ctx).orgId, platform });
      }
    },
    forRequest: (ctx) => clientOver(memoisedLookups(lookups), mergeContext(base, ctx), defaults, platforms),
  };
  return client;
}
