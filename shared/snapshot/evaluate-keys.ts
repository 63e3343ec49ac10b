import { and, eq, inArray, isNull } from 'drizzle-orm';
import { apiTokens, type Db } from '../db';
import { toHex } from '../tokens';
import { evaluateKeyKey } from './keys';
import { putAll } from './bulk';
import type { LayerStore } from './publish';
import type { EvaluateKeyRecord } from './schema';

/**
 * Evaluate keys in KV (DESIGN.md "Snapshots in KV": `key:v1:<sha256(token)>`). Postgres holds every
 * key; KV holds a record for each live one, which is all the evaluate Worker sees. The admin Worker
 * puts a record when it creates a key and deletes it when it revokes one; these functions put records
 * back from Postgres when KV lost them (`POST /api/publish`, the cron's read-back).
 */

/** What the evaluate Worker learns about a key: its id, name and org (none for a global key). */
export function evaluateKeyRecord(row: { id: string; name: string; orgId: string | null }): EvaluateKeyRecord {
  return { id: row.id, name: row.name, ...(row.orgId ? { orgId: row.orgId } : {}) };
}

/** A live key's record as KV holds it: the key's hash names it, the text is exact (compared by the read-back). */
export function evaluateKeyEntry(row: { id: string; name: string; orgId: string | null; tokenHash: Uint8Array }): { kvKey: string; text: string } {
  return { kvKey: evaluateKeyKey(toHex(row.tokenHash)), text: JSON.stringify(evaluateKeyRecord(row)) };
}

export const liveEvaluateKeys = and(eq(apiTokens.role, 'evaluate'), isNull(apiTokens.revokedAt));

export const evaluateKeyColumns = { id: apiTokens.id, name: apiTokens.name, orgId: apiTokens.orgId, tokenHash: apiTokens.tokenHash };

/** Keys one `putEvaluateKeys` call puts at most: one transaction holds their row locks while they are put. */
export const KEYS_PER_CHUNK = 200;

export interface KeysPut {
  /** Records put. */
  put: number;
  /** The error of each record that could not be put. */
  errors: string[];
}

/**
 * Puts the KV record of the live evaluate keys named by `ids` (at most KEYS_PER_CHUNK) and answers
 * how many it put; never throws for a failed put. The rows stay locked (FOR SHARE) until the caller's
 * transaction ends, and every put has settled before this returns, so a revocation at the same time
 * either waits for the puts and then deletes the record, or commits first and the key is left out
 * here: a revoked key is never put back.
 */
export async function putEvaluateKeys(tx: Db, kv: LayerStore, ids: readonly string[]): Promise<KeysPut> {
  if (ids.length === 0) return { put: 0, errors: [] };
  if (ids.length > KEYS_PER_CHUNK) throw new RangeError(`putEvaluateKeys: ${ids.length} keys, at most ${KEYS_PER_CHUNK} per call`);
  const rows = await tx
    .select(evaluateKeyColumns)
    .from(apiTokens)
    .where(and(liveEvaluateKeys, inArray(apiTokens.id, [...ids])))
    .for('share');
  const errors = await putAll(
    kv,
    rows.map((row) => {
      const { kvKey, text } = evaluateKeyEntry(row);
      return { id: row.id, key: kvKey, text };
    }),
    { deadline: false }, // never abandoned while the rows are held: see above
  );
  return { put: rows.length - errors.size, errors: [...errors.values()] };
}
