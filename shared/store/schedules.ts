import { and, asc, eq, sql } from 'drizzle-orm';
import { flagSchedules, rollouts, type Db, type RampBaseline, type Stickiness } from '../db';
import type { FlagType } from '../engine';
import { roundPercentage, type LayerName } from '../snapshot';
import { layerOf } from '../snapshot/publish';
import { ApiError } from '../http/problem';
import { assertValueType, deleteOrgValue, findOrgValue, putOrgValue, requireFlag, updateSystemFlag, type FlagRow } from './flags';

/**
 * Scheduled changes and ramps over the flag store: what a schedule or a ramp step changes, checked
 * when it is created (admin API) and again when it is applied (cron pass, workers/cron/schedules.ts).
 * Both go through ./flags.ts, so the triggers audit the change at the level it touches.
 * Hono-free: everything takes a transaction (`Db`) that `withRls` opened.
 */

export type ScheduleRow = typeof flagSchedules.$inferSelect;
export type RampRow = typeof rollouts.$inferSelect;

/** `{value?, killed?, percentage?}`; ramp steps also carry the rollout's stickiness. */
export interface ScheduleChange {
  value?: unknown;
  killed?: boolean;
  percentage?: number;
  stickiness?: Stickiness;
}

/** The write a change amounts to on the flag as it is now. */
export type PlannedChange =
  | { level: 'system'; set: Partial<Pick<FlagRow, 'value' | 'killed' | 'rollout'>> }
  | { level: 'org'; orgId: string; value: unknown; percentage: number | null };

function invalid(path: string, message: string): ApiError {
  return new ApiError(422, { detail: `The change cannot apply to this flag: ${message}.`, errors: [{ path, message }] });
}

/**
 * System level: `value` alone sets the default value; `percentage` sets the rollout (to `value`, else
 * the current rollout's value, else `true` for a boolean flag); `killed` the kill switch.
 * Org level: the org row's value and percentage (each keeps its current setting when absent); the
 * kill switch is system-wide only.
 */
export function planChange(flag: FlagRow, orgId: string | null, orgRow: FlagRow | undefined, change: ScheduleChange, path = 'body.change'): PlannedChange {
  const type: FlagType = flag.type ?? 'json';
  if (change.value !== undefined) assertValueType(type, change.value, `${path}.value`);
  if (orgId === null) {
    const set: Partial<Pick<FlagRow, 'value' | 'killed' | 'rollout'>> = {};
    if (change.killed !== undefined) set.killed = change.killed;
    if (change.percentage !== undefined) {
      const value = change.value !== undefined ? change.value : (flag.rollout?.value ?? (type === 'boolean' ? true : undefined));
      if (value === undefined) throw invalid(`${path}.value`, `a percentage of a ${type} flag needs the value to roll out`);
      const stickiness = change.stickiness ?? flag.rollout?.stickiness;
      // rounded here too: schedules stored before PercentageSchema rounded may carry float noise
      set.rollout = { percentage: roundPercentage(change.percentage), value, ...(stickiness ? { stickiness } : {}) };
    } else if (change.value !== undefined) {
      set.value = change.value;
    }
    return { level: 'system', set };
  }
  if (change.killed !== undefined) throw invalid(`${path}.killed`, 'the kill switch is system-wide; schedule it without orgId');
  const value = change.value !== undefined ? change.value : (orgRow?.value ?? (type === 'boolean' ? true : undefined));
  if (value === undefined) throw invalid(`${path}.value`, `the org has no value for this ${type} flag yet; give one`);
  const percentage = change.percentage !== undefined ? change.percentage : (orgRow?.percentage ?? null);
  return { level: 'org', orgId, value, percentage };
}

/** Thrown when a due change cannot apply any more (e.g. its flag was archived). */
export class ScheduleConflictError extends ApiError {
  constructor(detail: string) {
    super(409, detail);
    this.name = 'ScheduleConflictError';
  }
}

/** Whether a change touches what a ramp of its level steers: the system rollout, or the org's value. */
export function touchesRampedLevel(orgId: string | null, change: ScheduleChange): boolean {
  return orgId !== null || change.percentage !== undefined;
}

/** The pending plain schedules of a flag and level that touch what a ramp there would steer (touchesRampedLevel, in SQL). */
export async function pendingSchedulesTouching(tx: Db, key: string, orgId: string | null): Promise<{ id: string }[]> {
  return tx
    .select({ id: flagSchedules.id })
    .from(flagSchedules)
    .where(
      and(
        eq(flagSchedules.featureKey, key),
        eq(flagSchedules.kind, 'schedule'),
        eq(flagSchedules.state, 'pending'),
        orgId === null ? sql`${flagSchedules.orgId} IS NULL AND ${flagSchedules.change} ? 'percentage'` : eq(flagSchedules.orgId, orgId),
      ),
    );
}

/**
 * Applies a schedule or ramp step to the flag as it is now; answers the layer it touched. A plain
 * schedule (no `rampId`) that would change what a live ramp steers fails instead: the ramp's next
 * step would overwrite it (schedules made before the ramp started, which creation could not refuse).
 */
export async function applyScheduledChange(
  tx: Db,
  target: { featureKey: string; orgId: string | null; change: ScheduleChange; rampId?: string | null },
): Promise<LayerName> {
  const flag = await requireFlag(tx, target.featureKey, { lock: true });
  if (flag.archivedAt) throw new ScheduleConflictError(`flag ${target.featureKey} is archived`);
  if (!target.rampId && touchesRampedLevel(target.orgId, target.change)) {
    await assertNoLiveRamp(tx, target.featureKey, target.orgId, (live) => {
      return new ScheduleConflictError(`ramp ${live.id} (${live.state}) steers this level of ${target.featureKey}; its next step would overwrite the change`);
    });
  }
  const orgRow = target.orgId === null ? undefined : await findOrgValue(tx, target.featureKey, target.orgId, { lock: true });
  const plan = planChange(flag, target.orgId, orgRow, target.change, 'change');
  if (plan.level === 'system') await updateSystemFlag(tx, flag, plan.set);
  else await putOrgValue(tx, target.featureKey, plan.orgId, { value: plan.value, percentage: plan.percentage });
  return layerOf(target.orgId);
}

/**
 * Orders, per flag and level, everything that checks for a live ramp and acts on the answer: ramp
 * creation, and the changes a live ramp refuses. Held until the transaction ends, so a ramp created
 * while an org value is being changed sees the change (its baseline), or the change sees the ramp.
 * Without it, an org PUT that had checked and a ramp that had read the org row both committed.
 */
export async function lockRampLevel(tx: Db, key: string, orgId: string | null): Promise<void> {
  await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtextextended(${`ramp:${key}:${orgId ?? ''}`}, 0))`);
}

/** A ramp that steers what it ramps: running or paused (done and aborted ones do not). */
const isLive = () => sql`${rollouts.state} IN ('running', 'paused')`;

/** The live (running or paused) ramp of a flag at one level (orgId null: the system rollout), if any. */
export async function liveRamp(tx: Db, key: string, orgId: string | null): Promise<Pick<RampRow, 'id' | 'state'> | undefined> {
  const [live] = await tx
    .select({ id: rollouts.id, state: rollouts.state })
    .from(rollouts)
    .where(
      and(
        eq(rollouts.featureKey, key),
        orgId === null ? sql`${rollouts.orgId} IS NULL` : eq(rollouts.orgId, orgId),
        isLive(),
      ),
    );
  return live;
}

/** The live (running or paused) ramps of an org's values, by flag key: what steers each org value now. */
export async function liveOrgRamps(tx: Db, orgId: string): Promise<Map<string, Pick<RampRow, 'id' | 'state'>>> {
  const rows = await tx
    .select({ key: rollouts.featureKey, id: rollouts.id, state: rollouts.state })
    .from(rollouts)
    .where(and(eq(rollouts.orgId, orgId), isLive()));
  return new Map(rows.map((r) => [r.key, { id: r.id, state: r.state }]));
}

/**
 * A change by hand of what a live ramp steers (the system rollout; an org's value) is refused with
 * 409: the ramp's next step would overwrite it (a raised percentage lowered again, a stopped rollout
 * started again). A paused ramp still steers it; aborting frees it. Call it before reading what the
 * change replaces: it takes the level's lock (lockRampLevel).
 */
export async function assertNoLiveRamp(
  tx: Db,
  key: string,
  orgId: string | null,
  refusal: (live: Pick<RampRow, 'id' | 'state'>) => ApiError = (live) => liveRampConflict(live, key, orgId),
): Promise<void> {
  await lockRampLevel(tx, key, orgId);
  const live = await liveRamp(tx, key, orgId);
  if (live !== undefined) throw refusal(live);
}

function liveRampConflict(live: Pick<RampRow, 'id' | 'state'>, key: string, orgId: string | null): ApiError {
  const what = orgId === null ? 'the system rollout' : `the value of org ${orgId}`;
  return new ApiError(409, {
    detail: `Ramp ${live.id} (${live.state}) steers ${what} of ${key}, and its next step would overwrite this change. Abort it first (the ramp's Abort button, or POST /api/rollouts/${live.id}/abort; {"restore": false} keeps what the ramp reached), or let it finish.`,
  });
}

/** What a ramp replaces, recorded when it is created. */
export function rampBaseline(flag: FlagRow, orgId: string | null, orgRow: FlagRow | undefined): RampBaseline {
  if (orgId === null) return { rollout: flag.rollout ?? null };
  return { org: orgRow ? { value: orgRow.value, percentage: orgRow.percentage } : null };
}

/** Puts back what the ramp replaced (audited by the triggers like any write); answers the layer. */
export async function restoreBaseline(tx: Db, ramp: RampRow): Promise<LayerName> {
  const baseline = ramp.previous;
  if ('rollout' in baseline) {
    const flag = await requireFlag(tx, ramp.featureKey, { lock: true });
    await updateSystemFlag(tx, flag, { rollout: baseline.rollout });
  } else if (ramp.orgId !== null) {
    if (baseline.org === null) await deleteOrgValue(tx, ramp.featureKey, ramp.orgId);
    else await putOrgValue(tx, ramp.featureKey, ramp.orgId, baseline.org);
  }
  return layerOf(ramp.orgId);
}

/** The API's `Schedule`. */
export function scheduleView(row: ScheduleRow) {
  return {
    id: row.id,
    flag: row.featureKey,
    orgId: row.orgId,
    at: row.at.toISOString(),
    change: row.change,
    state: row.state,
    error: row.error,
    appliedAt: row.appliedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    createdBy: row.createdBy,
  };
}

export type Schedule = ReturnType<typeof scheduleView>;

export async function rampSteps(tx: Db, rampId: string): Promise<ScheduleRow[]> {
  return tx.select().from(flagSchedules).where(eq(flagSchedules.rampId, rampId)).orderBy(asc(flagSchedules.at), asc(flagSchedules.id));
}

/** The API's ramp. */
export function rampView(ramp: RampRow, steps: readonly ScheduleRow[]) {
  return {
    id: ramp.id,
    flag: ramp.featureKey,
    orgId: ramp.orgId,
    value: ramp.value,
    stickiness: ramp.stickiness,
    steps: steps.map((s) => ({
      id: s.id,
      percentage: Number(s.change.percentage),
      at: s.at.toISOString(),
      state: s.state,
      appliedAt: s.appliedAt?.toISOString() ?? null,
      error: s.error,
    })),
    state: ramp.state,
    pausedAt: ramp.pausedAt?.toISOString() ?? null,
    createdAt: ramp.createdAt.toISOString(),
    createdBy: ramp.createdBy,
  };
}

export type Ramp = ReturnType<typeof rampView>;

/** A ramp with no pending step left is done. Answers whether it just finished. */
export async function finishRampIfComplete(tx: Db, rampId: string): Promise<boolean> {
  const [left] = await tx
    .select({ n: sql<number>`count(*)::int` })
    .from(flagSchedules)
    .where(and(eq(flagSchedules.rampId, rampId), eq(flagSchedules.state, 'pending')));
  if ((left?.n ?? 0) > 0) return false;
  const done = await tx
    .update(rollouts)
    .set({ state: 'done', updatedAt: new Date() })
    .where(and(eq(rollouts.id, rampId), eq(rollouts.state, 'running')))
    .returning({ id: rollouts.id });
  return done.length > 0;
}
