import { asc, eq, inArray, isNotNull, isNull, or, type SQL } from 'drizzle-orm';
import type { Db } from '../db';
import { featureFlagOverrides, featureFlags } from '../db/schema';
import type { GlobalLayer, JsonValue, OrgLayer } from '../engine';
import { buildLayers, type SnapshotLayers } from './build';
import type { LayerName } from './keys';
import type { SourceState } from './state';

/**
 * Postgres rows → the neutral source state → layers. Reading happens inside the caller's RLS
 * transaction, so a context only ever compiles what it may read.
 */

export interface ReadScope {
  /**
   * undefined: every row (all orgs); null: system rows only (the global layer);
   * an org id: system rows plus that org's rows (its layer needs the flags beside it).
   */
  orgId?: string | null;
  /** System rows plus these orgs' rows (many org layers from one read); ignored when `orgId` is given. */
  orgIds?: readonly string[];
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

export async function readState(tx: Db, scope: ReadScope = {}): Promise<SourceState> {
  const scoped = <C extends typeof featureFlags.orgId | typeof featureFlagOverrides.orgId>(column: C): SQL | undefined => {
    if (scope.orgId === null) return isNull(column);
    if (scope.orgId !== undefined) return or(isNull(column), eq(column, scope.orgId));
    if (scope.orgIds !== undefined) return scope.orgIds.length ? or(isNull(column), inArray(column, [...scope.orgIds])) : isNull(column);
    return undefined;
  };
  const orgFilter = scoped(featureFlags.orgId);
  const overrideFilter = scoped(featureFlagOverrides.orgId);

  const [flagRows, overrideRows] = await Promise.all([
    tx.select().from(featureFlags).where(orgFilter).orderBy(asc(featureFlags.id)),
    tx.select().from(featureFlagOverrides).where(overrideFilter).orderBy(asc(featureFlagOverrides.id)),
  ]);

  const state: SourceState = { flags: [], archived: [], orgValues: [], platformOverrides: [], userOverrides: [] };
  for (const row of flagRows) {
    if (row.orgId === null) {
      state.flags.push({
        key: row.featureKey,
        type: row.type ?? 'json',
        defaultValue: row.value as JsonValue,
        offValue: (row.offValue ?? null) as JsonValue,
        killed: row.killed,
        rollout: row.rollout
          ? {
              percentage: row.rollout.percentage,
              value: row.rollout.value as JsonValue,
              stickiness: row.rollout.stickiness ?? 'userId',
            }
          : null,
      });
      if (row.archivedAt) state.archived.push(row.featureKey);
    } else {
      state.orgValues.push({ key: row.featureKey, orgId: row.orgId, value: row.value as JsonValue, percentage: row.percentage });
    }
  }
  for (const row of overrideRows) {
    if (row.overrideType === 'platform' && row.platform) {
      state.platformOverrides.push({
        key: row.featureKey,
        platform: row.platform,
        orgId: row.orgId,
        value: row.value as JsonValue,
        expiresAt: iso(row.expiresAt),
      });
    } else if (row.overrideType === 'user' && row.orgId && row.userId) {
      state.userOverrides.push({
        key: row.featureKey,
        orgId: row.orgId,
        userId: row.userId,
        value: row.value as JsonValue,
        expiresAt: iso(row.expiresAt),
      });
    }
  }
  return state;
}

/** All layers of a state, e.g. to evaluate an org's effective values without touching KV. */
export function compileLayers(
  state: SourceState,
  versions: { global?: number; orgs?: Record<string, number> } = {},
  nowMs = 0,
): SnapshotLayers {
  return buildLayers(state, { version: versions.global ?? 0, orgVersions: versions.orgs ?? {}, generatedAt: nowMs });
}

/** The one layer named as in snapshot_versions; an org without data gets an empty layer. */
export function compileLayer(state: SourceState, layer: LayerName, version: number, nowMs: number): GlobalLayer | OrgLayer {
  const built = buildLayers(state, { version, generatedAt: nowMs });
  if (layer === 'global') return built.global;
  const orgId = layer.slice('org:'.length);
  return built.orgs[orgId] ?? { version, orgId, flags: {} };
}

/** Orgs that have any row, for "republish everything". */
export async function orgsWithData(tx: Db): Promise<string[]> {
  const [flagOrgs, overrideOrgs] = await Promise.all([
    tx.selectDistinct({ orgId: featureFlags.orgId }).from(featureFlags).where(isNotNull(featureFlags.orgId)),
    tx
      .selectDistinct({ orgId: featureFlagOverrides.orgId })
      .from(featureFlagOverrides)
      .where(isNotNull(featureFlagOverrides.orgId)),
  ]);
  return [...new Set([...flagOrgs, ...overrideOrgs].map((r) => r.orgId).filter((o): o is string => o !== null))].sort();
}
