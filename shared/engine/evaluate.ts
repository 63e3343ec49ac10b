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
  let requested: readonly unknown[];
  let input: Prepared | ErrorCode;
  try {
    const global = globalOf(layers);
    requested = Array.isArray(keys) ? keys : global === undefined ? [] : Object.keys(global.flags);
    input = prepare(layers, context);
  } catch {
    return results;
  }
  for (let i = 0; i < requested.length; i++) {
    const key = requested[i];
    if (typeof key !== 'string') continue;
    results[key] = typeof input === 'string' ? failure(input) : resolveGuarded(input, key, nowMs);
  }
  return results;
}

function resolveGuarded(input: Prepared, key: string, nowMs: number): EvalResult {
  try {
    return resolveFlag(input, key, nowMs);
  } catch {
    return failure('GENERAL', input.version);
  }
}
