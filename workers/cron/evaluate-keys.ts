import type { Pool } from '@neondatabase/serverless';
import { and, asc, eq, gt, lt, sql, type SQL } from 'drizzle-orm';
import { apiTokens, withRls } from '../../shared/db';
import type { LayerSource } from '../../shared/snapshot/cache';
import { evaluateKeyColumns, evaluateKeyEntry, liveEvaluateKeys, putEvaluateKeys } from '../../shared/snapshot/evaluate-keys';
import type { LayerStore } from '../../shared/snapshot/publish';
import { RECONCILE_CONTEXT, rotatingWindow, VERIFY_SETTLE_MS } from './reconcile';

/** Evaluate keys one pass reads back besides the layers (at most KEYS_PER_CHUNK). */
export const VERIFY_KEYS_PER_PASS = 50;

/** How far back the read-back looks for revoked keys whose record a late put may have brought back. */
export const REVOKED_LOOKBACK_MS = 24 * 3_600_000;

/** What stores evaluate-key records: put, read and delete (a Workers KV binding). */
export type KeyStore = LayerStore & LayerSource & { delete(key: string): Promise<void> };

export interface KeyVerifyOutcome {
  checked: number;
  /** Live keys whose KV record was missing or different, put back from Postgres. */
  restored: number;
  /** Revoked keys whose KV record was still there, deleted. */
  removed: number;
}

/**
 * Reads back the KV record of evaluate keys, live and revoked, and makes KV agree with Postgres:
 * - a live key's record missing or different is put back (KV lost or recreated; a revocation whose
 *   COMMIT failed after it had deleted the record, which leaves the key live in Postgres and refused
 *   by the evaluate Worker); the put re-checks the key under a row lock, so a key revoked meanwhile
 *   is not put back (putEvaluateKeys);
 * - a revoked key's record still there is deleted (a put that outlived its row lock, as when a
 *   Worker was stopped in the middle of one), so a revoked key cannot stay usable. Such a put
 *   lands within a request's lifetime, so only keys revoked in the last REVOKED_LOOKBACK_MS are read
 *   (a window of `limit` moving on every minute, like the live keys'), and not those revoked within
 *   VERIFY_SETTLE_MS (their delete may not be visible everywhere yet).
 * Live keys: all of them when they are at most `limit`, else a window moving on every minute, as for
 * layers; keys created within VERIFY_SETTLE_MS are skipped (their put may not be visible yet).
 */
export async function verifyEvaluateKeys(pool: Pool, kv: KeyStore, nowMs: number, limit = VERIFY_KEYS_PER_PASS): Promise<KeyVerifyOutcome> {
  const settleBefore = new Date(nowMs - VERIFY_SETTLE_MS);
  const live = and(liveEvaluateKeys, lt(apiTokens.createdAt, settleBefore));
  const recentlyRevoked = and(eq(apiTokens.role, 'evaluate'), gt(apiTokens.revokedAt, new Date(nowMs - REVOKED_LOOKBACK_MS)), lt(apiTokens.revokedAt, settleBefore));
  const columns = { ...evaluateKeyColumns, revokedAt: apiTokens.revokedAt };
  const candidates = await withRls(pool, RECONCILE_CONTEXT, async (tx) => {
    const [[liveCount], [revokedCount]] = await Promise.all([
      tx.select({ n: sql<number>`count(*)::int` }).from(apiTokens).where(live),
      tx.select({ n: sql<number>`count(*)::int` }).from(apiTokens).where(recentlyRevoked),
    ]);
    const among = (where: SQL | undefined) => (rows: number, offset: number) => tx.select(columns).from(apiTokens).where(where).orderBy(asc(apiTokens.id)).limit(rows).offset(offset);
    return [
      ...(await rotatingWindow(liveCount?.n ?? 0, limit, nowMs, among(live))),
      ...(await rotatingWindow(revokedCount?.n ?? 0, limit, nowMs, among(recentlyRevoked))),
    ];
  });
  const missing: string[] = [];
  let removed = 0;
  await Promise.all(
    candidates.map(async (row) => {
      const { kvKey, text } = evaluateKeyEntry(row);
      try {
        const found = await kv.get(kvKey, 'text');
        if (row.revokedAt === null) {
          if (found !== text) missing.push(row.id);
        } else if (found !== null) {
          await kv.delete(kvKey);
          removed += 1;
        }
      } catch {
        // KV failing right now says nothing about the record; the next pass reads it again
      }
    }),
  );
  const restored = missing.length === 0 ? 0 : (await withRls(pool, RECONCILE_CONTEXT, (tx) => putEvaluateKeys(tx, kv, missing))).put;
  if (restored + removed > 0) console.warn(JSON.stringify({ at: 'cron.verify', evaluateKeys: { restored, removed } }));
  return { checked: candidates.length, restored, removed };
}
