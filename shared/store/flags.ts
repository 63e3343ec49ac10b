import { and, eq, isNull } from 'drizzle-orm';
import { featureFlagOverrides, featureFlags, type Db } from '../db';
import { valueMatchesType, type FlagType } from '../engine';
import { ApiError } from '../http/problem';

/**
 * The flag and override rows as the admin routes change them. Every write here is audited and
 * versioned by the database triggers; callers only decide what to write. Writes that would not
 * change anything are skipped, so they leave no audit row and no stale layer.
 */

export type FlagRow = typeof featureFlags.$inferSelect;
export type OverrideRow = typeof featureFlagOverrides.$inferSelect;

/** The API's `Flag`. */
export function flagView(row: FlagRow) {
  return {
    key: row.featureKey,
    type: row.type ?? 'json',
    description: row.description,
    defaultValue: row.value,
    offValue: row.offValue,
    killed: row.killed,
    rollout: row.rollout ?? null,
    tags: row.tags,
    owner: row.owner,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    archivedAt: row.archivedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    version: row.version,
  };
}

export type Flag = ReturnType<typeof flagView>;

export function etagOf(version: number): string {
  return `"${version}"`;
}

export async function findFlag(tx: Db, key: string, options: { lock?: boolean } = {}): Promise<FlagRow | undefined> {
  const query = tx
    .select()
    .from(featureFlags)
    .where(and(eq(featureFlags.featureKey, key), isNull(featureFlags.orgId)));
  const [row] = await (options.lock ? query.for('update') : query);
  return row;
}

export async function requireFlag(tx: Db, key: string, options: { lock?: boolean } = {}): Promise<FlagRow> {
  const row = await findFlag(tx, key, options);
  if (!row) throw new ApiError(404, { detail: `No flag ${key}.`, errorCode: 'FLAG_NOT_FOUND' });
  return row;
}

/** Values must fit the flag's type; a mismatch is a 422 on the field that carried it. */
export function assertValueType(type: FlagType, value: unknown, path: string): void {
  if (value === null || !valueMatchesType(type, value)) {
    throw new ApiError(422, {
      detail: `The value does not fit the flag's type ${type}.`,
      errors: [{ path, message: value === null ? 'must not be null' : `must be a ${type} value` }],
    });
  }
}

/** JSON with object keys sorted, so `{a, b}` and jsonb's `{b, a}` compare equal. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  const record = value as Record<string, unknown>;
  return Object.fromEntries(Object.keys(record).sort().map((k) => [k, canonical(record[k])]));
}

/** Whether two JSON values are equal (key order ignored). */
export const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** Updates the system row; returns the row as it is afterwards. */
export async function updateSystemFlag(tx: Db, current: FlagRow, changes: Partial<typeof featureFlags.$inferInsert>): Promise<FlagRow> {
  const effective = Object.fromEntries(
    Object.entries(changes).filter(([field, value]) => value !== undefined && !sameJson(value, current[field as keyof FlagRow])),
  );
  if (Object.keys(effective).length === 0) return current;
  const [row] = await tx.update(featureFlags).set(effective).where(eq(featureFlags.id, current.id)).returning();
  return row!;
}

export interface OrgValue {
  value: unknown;
  percentage: number | null;
}

/**
 * An org's value of a flag. `lock`: FOR UPDATE, for a read that decides a write. It waits for a
 * concurrent write or delete of the row to commit and then reads what it left (a deleted row is
 * absent), so the write that follows never targets a row that is gone.
 */
export async function findOrgValue(tx: Db, key: string, orgId: string, options: { lock?: boolean } = {}): Promise<FlagRow | undefined> {
  const query = tx
    .select()
    .from(featureFlags)
    .where(and(eq(featureFlags.featureKey, key), eq(featureFlags.orgId, orgId)));
  const [row] = options.lock ? await query.for('update') : await query;
  return row;
}

/**
 * Creates or updates an org value. Two PUTs racing to create the same row: the insert of the later
 * one does nothing (it waits for the first to commit), and it updates that row instead: PUT stays an
 * upsert under concurrency, never a 409. A PUT meeting a delete of the row waits for it (the locked
 * read) and then creates the row again.
 */
export async function putOrgValue(tx: Db, key: string, orgId: string, next: OrgValue, raced = false): Promise<FlagRow> {
  const current = await findOrgValue(tx, key, orgId, { lock: true });
  if (current) {
    if (sameJson(current.value, next.value) && current.percentage === next.percentage) return current;
    const [row] = await tx
      .update(featureFlags)
      .set({ value: next.value, percentage: next.percentage })
      .where(eq(featureFlags.id, current.id))
      .returning();
    return row!;
  }
  const [row] = await tx
    .insert(featureFlags)
    .values({ featureKey: key, orgId, value: next.value, percentage: next.percentage })
    .onConflictDoNothing()
    .returning();
  if (row) return row;
  if (raced) throw new ApiError(409, `The value of ${key} in org ${orgId} is being written by another request; retry.`);
  return putOrgValue(tx, key, orgId, next, true);
}

export async function deleteOrgValue(tx: Db, key: string, orgId: string): Promise<boolean> {
  const rows = await tx
    .delete(featureFlags)
    .where(and(eq(featureFlags.featureKey, key), eq(featureFlags.orgId, orgId)))
    .returning({ id: featureFlags.id });
  return rows.length > 0;
}

/** Identifies one override: a platform one (orgId null = all orgs) or a user one. */
export type OverrideTarget =
  | { kind: 'platform'; key: string; platform: string; orgId: string | null }
  | { kind: 'user'; key: string; orgId: string; userId: string };

function overrideWhere(target: OverrideTarget) {
  const o = featureFlagOverrides;
  if (target.kind === 'platform') {
    return and(
      eq(o.featureKey, target.key),
      eq(o.overrideType, 'platform'),
      eq(o.platform, target.platform),
      target.orgId === null ? isNull(o.orgId) : eq(o.orgId, target.orgId),
    );
  }
  return and(eq(o.featureKey, target.key), eq(o.overrideType, 'user'), eq(o.orgId, target.orgId), eq(o.userId, target.userId));
}

/** One override; `lock` as in findOrgValue. */
export async function findOverride(tx: Db, target: OverrideTarget, options: { lock?: boolean } = {}): Promise<OverrideRow | undefined> {
  const query = tx.select().from(featureFlagOverrides).where(overrideWhere(target));
  const [row] = options.lock ? await query.for('update') : await query;
  return row;
}

/** Creates or updates an override; a create racing another is an update, as in putOrgValue. */
export async function putOverride(
  tx: Db,
  target: OverrideTarget,
  next: { value: unknown; expiresAt: Date | null },
  raced = false,
): Promise<OverrideRow> {
  const current = await findOverride(tx, target, { lock: true });
  if (current) {
    if (sameJson(current.value, next.value) && current.expiresAt?.getTime() === next.expiresAt?.getTime()) return current;
    const [row] = await tx
      .update(featureFlagOverrides)
      .set({ value: next.value, expiresAt: next.expiresAt })
      .where(eq(featureFlagOverrides.id, current.id))
      .returning();
    return row!;
  }
  const [row] = await tx
    .insert(featureFlagOverrides)
    .values({
      featureKey: target.key,
      overrideType: target.kind,
      platform: target.kind === 'platform' ? target.platform : null,
      orgId: target.orgId,
      userId: target.kind === 'user' ? target.userId : null,
      value: next.value,
      expiresAt: next.expiresAt,
    })
    .onConflictDoNothing()
    .returning();
  if (row) return row;
  if (raced) throw new ApiError(409, `The ${target.kind} override of ${target.key} is being written by another request; retry.`);
  return putOverride(tx, target, next, true);
}

export async function deleteOverride(tx: Db, target: OverrideTarget): Promise<boolean> {
  const rows = await tx.delete(featureFlagOverrides).where(overrideWhere(target)).returning({ id: featureFlagOverrides.id });
  return rows.length > 0;
}

export function overrideView(row: OverrideRow) {
  return {
    key: row.featureKey,
    ...(row.overrideType === 'platform' ? { platform: row.platform } : { userId: row.userId }),
    orgId: row.orgId,
    value: row.value,
    expiresAt: row.expiresAt?.toISOString() ?? null,
    updatedAt: row.updatedAt.toISOString(),
    version: row.version,
  };
}
