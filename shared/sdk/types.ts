import type { ErrorCode, EvalContext, JsonValue, Reason, Source } from '../engine';
import type { EventQueue } from '../events';
import type { LayerCache } from '../snapshot';
import type { FlagEvaluationError } from './errors';

export type { EvalContext, JsonValue };

/** Which way the client reaches the flags. */
export type TransportName = 'local' | 'service' | 'http';

/** One evaluation as the caller sees it: on any error `value` is the caller's default. */
export interface FlagResult<T = JsonValue> {
  value: T;
  reason: Reason;
  source: Source;
  variant?: string;
  /** Set exactly when `reason` is ERROR (FLAG_NOT_FOUND for unknown or archived flags). */
  errorCode?: ErrorCode;
  /** Snapshot version that answered, when known. */
  version?: string;
}

/** What `onError` hears besides the error: which flag (null for `evaluateAll`) and which transport. */
export interface ErrorInfo {
  key: string | null;
  transport: TransportName;
}

interface CommonOptions {
  /** Upper bound for one upstream lookup (KV reads or an HTTP round trip). Default 500. */
  timeoutMs?: number;
  /** Hears every failure that made a call answer its default; must not throw (if it does, it is ignored). */
  onError?: (error: FlagEvaluationError, info: ErrorInfo) => void;
  /**
   * Per-flag fallbacks used instead of `false` / `null` when a flag cannot be evaluated. Fail-closed
   * is the default; naming `true` here is how one flag opts into failing open.
   */
  defaults?: Record<string, JsonValue>;
  /** Epoch-ms clock; tests pin it. The remote transports evaluate at the server's clock. */
  now?: () => number;
  /** Platforms `isPlatformEnabled` accepts; others answer false without a lookup. Default: shared/config PLATFORMS. */
  platforms?: readonly string[];
}

/** Local: reads the snapshot layers from a KV binding and evaluates in this isolate (the fastest). */
export interface LocalOptions extends CommonOptions {
  kv: KVNamespace | Pick<KVNamespace, 'get'>;
  /** How long decoded layers are served before KV is read again. Default 1000 (the evaluate Worker's). */
  cacheMaxAgeMs?: number;
  /** An explicit cache; by default one per KV binding and max-age is kept for the isolate's lifetime. */
  cache?: LayerCache;
  /** Count evaluations like the evaluate Worker does (same `metrics` messages, same queue); off by default. */
  metrics?: LocalMetricsOptions;
  /**
   * `ctx.waitUntil` of the request: layers past half `cacheMaxAgeMs` are then re-read behind the
   * answer (refresh ahead, as the evaluate Worker does), so in steady traffic no check waits for KV.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
}

/**
 * Evaluation metrics of the local transport. Counts are kept per queue binding for the isolate and
 * sent once `flushMs` passed since the oldest unsent count or `flushCount` evaluations wait (checked
 * at each evaluation). Counting never changes an answer, never throws and never reaches `onError`.
 */
export interface LocalMetricsOptions {
  /** The EVENTS Queue binding the cron Worker consumes (a `Queue`). */
  queue: EventQueue;
  /** `ctx.waitUntil` of the request, so the send outlives the response. Without it the send is not awaited. */
  waitUntil?: (promise: Promise<unknown>) => void;
  /** Default 10000. 0 sends after every evaluation (tests). */
  flushMs?: number;
  /** Default 10000. */
  flushCount?: number;
}

/** Service binding: a Fetcher to the evaluate Worker (no public network hop). */
export interface ServiceOptions extends CommonOptions {
  service: Pick<Fetcher, 'fetch'>;
  apiKey: string;
}

/** HTTP: any runtime with a global `fetch` (Node, Workers, browsers). */
export interface HttpOptions extends CommonOptions {
  baseUrl: string;
  apiKey: string;
  /** Defaults to the global fetch; tests pass a counting wrapper. */
  fetch?: typeof fetch;
}

export type FlagClientOptions = LocalOptions | ServiceOptions | HttpOptions;

/**
 * The flag checks an app makes. Every method resolves (never rejects) with the fail-closed answer on
 * any error, except the `assert*` methods, which reject with `FeatureDisabledError` only.
 * `ctx` is optional on a client from `forRequest(ctx)`, whose context it extends.
 */
export interface FlagClient {
  readonly transport: TransportName;
  /** true only for the boolean `true`; errors, unknown flags and other types answer false. */
  isActive(key: string, ctx?: EvalContext): Promise<boolean>;
  isActiveForUser(key: string, userId: string, ctx?: EvalContext): Promise<boolean>;
  isActiveForPlatform(key: string, platform: string, ctx?: EvalContext): Promise<boolean>;
  /** `platform.<platform>.enabled` with the platform in the context; false for an unknown platform. */
  isPlatformEnabled(platform: string, ctx?: EvalContext): Promise<boolean>;
  /** The flag's value, or `defaultValue` when it cannot be evaluated or has another type. */
  getValue<T extends JsonValue>(key: string, defaultValue: T, ctx?: EvalContext): Promise<T>;
  /** Full result with `defaultValue` substituted on error or type mismatch. */
  variation<T extends JsonValue>(key: string, defaultValue: T, ctx?: EvalContext): Promise<FlagResult<T>>;
  /** Full result; on error the value is `defaults[key]` or null. */
  evaluate(key: string, ctx?: EvalContext): Promise<FlagResult>;
  /** Every live flag for one context; `{}` when the snapshot cannot be read. */
  evaluateAll(ctx?: EvalContext): Promise<Record<string, FlagResult>>;
  /** Rejects with FeatureDisabledError unless `key` is active. */
  assertActive(key: string, ctx?: EvalContext): Promise<void>;
  /** Rejects with FeatureDisabledError unless `platform.<platform>.enabled` (the AdPlatformFactory check). */
  assertPlatformEnabled(platform: string, ctx?: EvalContext): Promise<void>;
  /**
   * A client for one request: `ctx` becomes the base context, and every (flag, context) is looked up
   * at most once (concurrent checks share the lookup); after `evaluateAll` single checks of that
   * context are answered from it.
   */
  forRequest(ctx?: EvalContext): FlagClient;
}
