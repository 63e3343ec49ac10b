import type { MiddlewareHandler } from 'hono';
import { ApiError } from '../../shared/http/problem';
import { sha256Hex } from '../../shared/tokens';
import { EvaluateKeyRecordSchema, evaluateKeyKey, type EvaluateKeyRecord } from '../../shared/snapshot';
import type { WaitUntil } from '../../shared/snapshot/cache';
import { executionCtxOf, type AppEnv } from './env';

/** What the key cache reads: a KV binding, or anything with its `get(key, 'text')`. */
export interface KeySource {
  get(key: string, type: 'text'): Promise<string | null>;
}

export interface KeyCacheOptions {
  /** How long a found key is trusted without asking KV (revocation takes at most this long). */
  hitTtlMs: number;
  /** How long "no such key" is remembered (a new key works after at most this long). */
  missTtlMs: number;
  maxEntries: number;
}

export const DEFAULT_KEY_CACHE: KeyCacheOptions = { hitTtlMs: 10_000, missTtlMs: 1_000, maxEntries: 1000 };

/** Longer strings are not keys we ever issue: refused without hashing or reading KV. */
const MAX_KEY_LENGTH = 256;
const KEY_SHAPE = /^[\x21-\x7e]+$/;

interface CachedKey {
  record: EvaluateKeyRecord | null;
  /** Clock reading at which the read that produced this entry started; it is trusted for a hit or miss time from then. */
  readAt: number;
  /** Clock reading at which a background re-read of a known key started (refresh ahead); NaN: none yet. */
  aheadAt: number;
}

function decodeRecord(text: string): EvaluateKeyRecord | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = EvaluateKeyRecordSchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

/**
 * Evaluate keys by presented token, per isolate: hits and misses are remembered briefly, the map is
 * bounded (oldest entry dropped first). Keyed by the token itself so a cached request hashes nothing.
 * A known key in its second half of life is re-read from KV in the background (when the caller can
 * run background work), so a key in steady use is never looked up while a request waits, and a
 * revocation still takes effect within `hitTtlMs`.
 */
export class KeyCache {
  private readonly options: KeyCacheOptions;
  private readonly entries = new Map<string, CachedKey>();

  constructor(options: KeyCacheOptions = DEFAULT_KEY_CACHE) {
    this.options = options;
  }

  /**
   * The cached answer for a token while it is fresh (a record, or null for a remembered unknown key);
   * undefined when KV must be asked (then call `lookup`). Synchronous: a cache hit is one Map lookup.
   * With `kv` and `background`, a known key past half its time is re-read in `background.waitUntil`.
   */
  peek(token: string, nowMs: number, kv?: KeySource, background?: WaitUntil): EvaluateKeyRecord | null | undefined {
    const cached = this.entries.get(token);
    if (cached === undefined || !this.fresh(cached, nowMs)) return undefined;
    if (kv !== undefined && background !== undefined && cached.record !== null && nowMs - cached.readAt >= this.options.hitTtlMs / 2) {
      this.readAhead(kv, token, cached, nowMs, background);
    }
    return cached.record;
  }

  /** The key's record, null for an unknown key; throws ApiError 503 when KV fails and nothing is cached. */
  async lookup(kv: KeySource, token: string, nowMs: number): Promise<EvaluateKeyRecord | null> {
    const cached = this.entries.get(token);
    if (cached !== undefined && this.fresh(cached, nowMs)) return cached.record;
    return this.read(kv, token, nowMs, cached);
  }

  /** A found key is trusted for `hitTtlMs` after its read started, "no such key" for `missTtlMs`. */
  private fresh(cached: CachedKey, nowMs: number): boolean {
    return nowMs - cached.readAt < (cached.record === null ? this.options.missTtlMs : this.options.hitTtlMs);
  }

  /** One background re-read per key per half of its time (a failed one is not retried sooner). */
  private readAhead(kv: KeySource, token: string, cached: CachedKey, nowMs: number, background: WaitUntil): void {
    if (nowMs - cached.aheadAt < this.options.hitTtlMs / 2) return;
    cached.aheadAt = nowMs;
    // When KV fails, `read` answers the cached record and the entry stays until it expires.
    background.waitUntil(this.read(kv, token, nowMs, cached));
  }

  private async read(kv: KeySource, token: string, nowMs: number, cached: CachedKey | undefined): Promise<EvaluateKeyRecord | null> {
    let text: string | null;
    try {
      text = await kv.get(evaluateKeyKey(await sha256Hex(token)), 'text');
    } catch (err) {
      // A key that was valid a moment ago stays valid while KV is unreachable.
      if (cached !== undefined) return cached.record;
      console.error(JSON.stringify({ at: 'evaluate.auth', kind: 'kv', message: err instanceof Error ? err.message : String(err) }));
      throw new ApiError(503, { detail: 'Evaluate keys cannot be checked right now; retry shortly.' });
    }
    const record = text === null ? null : decodeRecord(text);
    // A read that started later has already landed (a slow background read overtaken): it stands.
    const current = this.entries.get(token);
    if (current !== undefined && current.readAt > nowMs) return current.record;
    this.remember(token, { record, readAt: nowMs, aheadAt: Number.NaN });
    return record;
  }

  private remember(token: string, entry: CachedKey): void {
    this.entries.delete(token);
    this.entries.set(token, entry);
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }
}

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The presented key: `Authorization: Bearer <key>` first, else `X-API-Key` (read only when needed). */
export function presentedKey(authorization: string | undefined, apiKey: () => string | undefined): string | undefined {
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization);
    if (match) return match[1];
  }
  const trimmed = apiKey()?.trim();
  return trimmed ? trimmed : undefined;
}

/**
 * Authenticates every request below it with an evaluate key and sets `caller`.
 * 401 problem (with `WWW-Authenticate`) for a missing or unknown key.
 */
export function requireEvaluateKey(keys: KeyCache, clock: () => number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const token = presentedKey(c.req.header('Authorization'), () => c.req.header('X-API-Key'));
    if (token === undefined) {
      c.header('WWW-Authenticate', 'Bearer realm="cmis-flags-evaluate"');
      throw new ApiError(401, { detail: 'An evaluate key is required (Authorization: Bearer <key> or X-API-Key).', slug: 'unauthorized' });
    }
    // Only well-shaped tokens are ever cached, so a hit needs no shape check and no await.
    const now = clock();
    let record = keys.peek(token, now, c.env.FLAGS_KV, executionCtxOf(c));
    if (record === undefined) record = token.length <= MAX_KEY_LENGTH && KEY_SHAPE.test(token) ? await keys.lookup(c.env.FLAGS_KV, token, now) : null;
    if (record === null) {
      c.header('WWW-Authenticate', 'Bearer realm="cmis-flags-evaluate", error="invalid_token"');
      throw new ApiError(401, { detail: 'The evaluate key is unknown or revoked.' });
    }
    c.set('caller', record);
    await next();
  };
}

/**
 * The org a request evaluates for: an org-scoped key answers only for its own org and fills it in
 * when the request names none (403 for another org); a global key takes the request's org as is.
 */
export function scopedOrgId(caller: EvaluateKeyRecord, requested: string | undefined): string | undefined {
  if (caller.orgId === undefined) return requested;
  if (requested !== undefined && requested !== caller.orgId) {
    throw new ApiError(403, { detail: `This evaluate key only answers for its own organization, not "${requested}".` });
  }
  return caller.orgId;
}
