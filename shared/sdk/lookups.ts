import type { EvalContext, EvalResult } from '../engine';
import { FlagKeySchema } from '../snapshot';
import { contextId } from './context';
import { withDeadline } from './deadline';
import { FlagEvaluationError } from './errors';
import type { Transport } from './transports/transport';
import type { ErrorInfo, TransportName } from './types';

/**
 * The two upstream questions every client method is built on. They never reject: a failure is an
 * ERROR result (or null for `all`) and has already been reported once to `onError`.
 */
export interface Lookups {
  readonly transport: TransportName;
  one(key: string, ctx: EvalContext): Promise<EvalResult>;
  /** Every live flag for `ctx`, or null when the snapshot could not be read. */
  all(ctx: EvalContext): Promise<Record<string, EvalResult> | null>;
  report(error: FlagEvaluationError, key: string | null): void;
}

export type ErrorListener = (error: FlagEvaluationError, info: ErrorInfo) => void;

function asFlagError(err: unknown): FlagEvaluationError {
  if (err instanceof FlagEvaluationError) return err;
  return new FlagEvaluationError('GENERAL', 'network', err instanceof Error ? err.message : String(err), { cause: err });
}

function errorResult(error: FlagEvaluationError): EvalResult {
  return { value: null, reason: 'ERROR', source: 'system', errorCode: error.code };
}

/** The flag-level error a result carries (FLAG_NOT_FOUND, engine errors), for `onError`. */
export function resultFailure(key: string, result: EvalResult): FlagEvaluationError {
  const code = result.errorCode ?? 'GENERAL';
  const kind = code === 'FLAG_NOT_FOUND' ? 'flag' : code === 'TYPE_MISMATCH' ? 'type' : code === 'INVALID_CONTEXT' ? 'context' : 'snapshot';
  return new FlagEvaluationError(code, kind, code === 'FLAG_NOT_FOUND' ? `flag ${key} does not exist (or is archived)` : `flag ${key} could not be evaluated: ${code}`);
}

/** Lookups straight to the transport, each bounded by `timeoutMs`. */
export function directLookups(transport: Transport, timeoutMs: number, onError: ErrorListener | undefined): Lookups {
  const report = (error: FlagEvaluationError, key: string | null) => {
    if (onError === undefined) return;
    try {
      onError(error, { key, transport: transport.name });
    } catch {
      // A broken error listener must not turn a flag check into an exception.
    }
  };
  return {
    transport: transport.name,
    report,
    async one(key, ctx) {
      // Hot path: layers fresh in this isolate, no promise to race, no timer to set. It must not
      // throw into the caller either: anything it throws sends the check the long way round.
      let cached: EvalResult | undefined;
      try {
        cached = transport.evaluateCached?.(key, ctx);
      } catch {
        cached = undefined;
      }
      if (cached !== undefined) {
        if (cached.errorCode !== undefined) report(resultFailure(key, cached), key);
        return cached;
      }
      if (!FlagKeySchema.safeParse(key).success) {
        const result: EvalResult = { value: null, reason: 'ERROR', source: 'system', errorCode: 'FLAG_NOT_FOUND' };
        report(resultFailure(key, result), key);
        return result;
      }
      try {
        const result = await withDeadline(timeoutMs, (signal) => transport.evaluate(key, ctx, { signal, report: (e) => report(e, key) }));
        if (result.errorCode !== undefined) report(resultFailure(key, result), key);
        return result;
      } catch (err) {
        const error = asFlagError(err);
        report(error, key);
        return errorResult(error);
      }
    },
    async all(ctx) {
      try {
        return await withDeadline(timeoutMs, (signal) => transport.evaluateAll(ctx, { signal, report: (e) => report(e, null) }));
      } catch (err) {
        report(asFlagError(err), null);
        return null;
      }
    },
  };
}

/**
 * Lookups for one request: each (flag, context) and each context's `all` goes upstream at most once,
 * concurrent callers share the pending lookup, and once `all` has answered for a context its single
 * flags are read from that answer (a flag absent from it does not exist).
 */
export function memoisedLookups(inner: Lookups): Lookups {
  const singles = new Map<string, Promise<EvalResult>>();
  const alls = new Map<string, Promise<Record<string, EvalResult> | null>>();

  async function fromAllOrUpstream(key: string, ctx: EvalContext, pendingAll: Promise<Record<string, EvalResult> | null> | undefined): Promise<EvalResult> {
    const everything = pendingAll === undefined ? null : await pendingAll;
    if (everything === null) return inner.one(key, ctx);
    const found = Object.hasOwn(everything, key) ? everything[key] : undefined;
    if (found !== undefined) return found;
    const missing: EvalResult = { value: null, reason: 'ERROR', source: 'system', errorCode: 'FLAG_NOT_FOUND' };
    inner.report(resultFailure(key, missing), key);
    return missing;
  }

  return {
    transport: inner.transport,
    report: inner.report,
    one(key, ctx) {
      const id = contextId(ctx);
      const memoKey = `${key}\u0000${id}`;
      let pending = singles.get(memoKey);
      if (pending === undefined) {
        pending = fromAllOrUpstream(key, ctx, alls.get(id));
        singles.set(memoKey, pending);
      }
      return pending;
    },
    all(ctx) {
      const id = contextId(ctx);
      let pending = alls.get(id);
      if (pending === undefined) {
        pending = inner.all(ctx);
        alls.set(id, pending);
      }
      return pending;
    },
  };
}
