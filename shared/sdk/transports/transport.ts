import type { EvalContext, EvalResult } from '../../engine';
import type { FlagEvaluationError } from '../errors';
import type { TransportName } from '../types';

/** One upstream call: its deadline signal, and where side failures go (e.g. KV errors covered by a cached copy). */
export interface Call {
  signal: AbortSignal;
  report(error: FlagEvaluationError): void;
}

/**
 * How the client reaches a snapshot. Flag-level errors (FLAG_NOT_FOUND, TYPE_MISMATCH, ...) come back
 * as results with an errorCode; failures to reach or read the snapshot reject with FlagEvaluationError.
 */
export interface Transport {
  readonly name: TransportName;
  evaluate(key: string, ctx: EvalContext, call: Call): Promise<EvalResult>;
  /** The answer when it needs no I/O at all (local, layers fresh in memory); undefined otherwise. */
  evaluateCached?(key: string, ctx: EvalContext): EvalResult | undefined;
  /** Every live flag for `ctx`. */
  evaluateAll(ctx: EvalContext, call: Call): Promise<Record<string, EvalResult>>;
}
