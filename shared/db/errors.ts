/** Reading Postgres errors through the wrapping of drizzle and the driver (`cause` chains). */

export function* causes(err: unknown): Generator<unknown> {
  let current = err;
  for (let depth = 0; current && depth < 6; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

/** The SQLSTATE of a Postgres error, looking through drizzle's wrapping. */
export function pgErrorCode(err: unknown): string | undefined {
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * SQLSTATEs of a statement that failed because of other transactions, not because of what it asked:
 * serialization failure, deadlock, lock not available. The same work can succeed when tried again.
 * (A statement timeout is not among them: a statement too slow for it may be too slow every time.)
 */
const CONTENTION_CODES = new Set(['40001', '40P01', '55P03']);

export function isContentionError(err: unknown): boolean {
  const code = pgErrorCode(err);
  return code !== undefined && CONTENTION_CODES.has(code);
}
