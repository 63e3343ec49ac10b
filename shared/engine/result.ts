import type { ErrorCode, EvalResult, FlagType, JsonValue, Reason, Source } from './types';

/**
 * Whether `value` has the flag's declared type. Checked on every answer because org layers are
 * validated without the global layer beside them: a stale org value must not reach `isActive`.
 */
export function valueMatchesType(type: FlagType, value: unknown): value is JsonValue {
  switch (type) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'json':
      return value !== undefined && typeof value !== 'function' && typeof value !== 'symbol' && typeof value !== 'bigint';
    default:
      return false;
  }
}

/** A successful answer, or TYPE_MISMATCH when the chosen value does not fit the flag (fail closed). */
export function answer(type: FlagType, value: unknown, reason: Reason, source: Source, version: string | undefined): EvalResult {
  if (!valueMatchesType(type, value)) return failure('TYPE_MISMATCH', version);
  return { value, reason, source, errorCode: undefined, version };
}

/** An error answer: value null so callers substitute their own default, never an exception. */
export function failure(errorCode: ErrorCode, version?: string): EvalResult {
  return { value: null, reason: 'ERROR', source: 'system', errorCode, version };
}
