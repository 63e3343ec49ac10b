import { resolveFlag } from './cascade';
import type { Prepared } from './prepare';
import { globalOf, prepare } from './prepare';
import { failure } from './result';
import type { ErrorCode, EvalContext, EvalResult, Layers } from './types';

/**
 * The value of flag `key` for `context` at `nowMs` (epoch ms). Pure and total: it never throws and
 * never does I/O; any failure is a result with reason ERROR and an errorCode (FLAG_NOT_FOUND for
 * unknown or archived keys), value null, so the caller substitutes its default (fail closed).
 *
 * @example evaluate({ global, org: orgs[ctx.orgId] ?? null }, 'campaign.creation.enabled', ctx, Date.now())
 */
export function evaluate(layers: Layers, key: string, context: EvalContext | null | undefined, nowMs: number): EvalResult {
  let version: string | undefined;
  try {
    const input = prepare(layers, context);
    if (typeof input === 'string') return failure(input);
    version = input.version;
    return resolveFlag(input, key, nowMs);
  } catch {
    return failure('GENERAL', version);
  }
}

/**
 * Evaluates `keys` (default: every live flag) for one context, checking the layers and the context
 * once. Requested unknown keys come back as FLAG_NOT_FOUND; a failure in one flag does not affect the
 * others. The record has no prototype, so a requested key such as `__proto__` is just a key.
 */
export function evaluateAll(
  layers: Layers,
  context: EvalContext | null | undefined,
  nowMs: number,
  keys?: readonly string[],
): Record<string, EvalResult> {
  const results = Object.create(null) as Record<string, EvalResult>;
  evaluateEach(layers, context, nowMs, keys, (key, result) => {
    results[key] = result;
  });
  return results;
}

/** Every live flag's key of a global layer, computed once per layer (layers are immutable). */
const liveKeys = new WeakMap<object, readonly string[]>();

function keysOf(flags: object): readonly string[] {
  let keys = liveKeys.get(flags);
  if (keys === undefined) liveKeys.set(flags, (keys = Object.keys(flags)));
  return keys;
}

/**
 * `evaluateAll` without the record: hands each key's result to `visit`, in order (a key requested
 * twice is visited twice). For callers that turn results into something else (an HTTP answer, counts)
 * and need no intermediate record. Never throws, unless `visit` does.
 */
export function evaluateEach(
  layers: Layers,
  context: EvalContext | null | undefined,
  nowMs: number,
  keys: readonly string[] | undefined,
  visit: (key: string, result: EvalResult) => void,
): void {
  let requested: readonly unknown[];
  let input: Prepared | ErrorCode;
  try {
    const global = globalOf(layers);
    requested = Array.isArray(keys) ? keys : global === undefined ? [] : keysOf(global.flags);
    input = prepare(layers, context);
  } catch {
    return;
  }
  for (let i = 0; i < requested.length; i++) {
    const key = requested[i];
    if (typeof key !== 'string') continue;
    visit(key, typeof input === 'string' ? failure(input) : resolveGuarded(input, key, nowMs));
  }
}

function resolveGuarded(input: Prepared, key: string, nowMs: number): EvalResult {
  try {
    return resolveFlag(input, key, nowMs);
  } catch {
    return failure('GENERAL', input.version);
  }
}
