import type { Pool, PoolClient } from '@neondatabase/serverless';
import { and, asc, eq, inArray, isNull, lte, notExists, or, sql } from 'drizzle-orm';
import { alias } from 'drizzle-orm/pg-core';
import { causes, flagSchedules, isContentionError, pgErrorCode, rollouts, withRls, type Db, type RlsContext } from '../../shared/db';
import { enqueueMessages, type EventQueue, type FlagEvent, type NotificationMessage } from '../../shared/events';
import type { LayerName } from '../../shared/snapshot';
import { cutText, ellipsize } from '../../shared/text';
import { publishLayer, type LayerStore, type PublishOutcome } from '../../shared/snapshot/publish';
// One write path: cron applies through the same store as the admin API (shared/store).
import { applyScheduledChange, changeEvents, finishRampIfComplete, stageNotifications, writeAuditNote, type ScheduleRow } from '../../shared/store';

export const CRON_ACTOR = 'cron';

/** A pass applies at most this many due schedules; the rest wait for the next minute. */
const BATCH = 200;

export interface ScheduleResult {
  id: string;
  rampId: string | null;
  state: 'applied' | 'failed' | 'skipped';
  error?: string;
}

export interface DueScheduleOutcome {
  applied: number;
  failed: number;
  results: ScheduleResult[];
  /** Layers the applied changes touched (published when `kv` was given). */
  layers: LayerName[];
  published: PublishOutcome[];
  events: FlagEvent[];
  /** Notifications accepted by the queue. */
  notified: number;
}

export interface ApplyOptions {
  /** Publish the touched layers right away (else the reconciler does it). */
  kv?: LayerStore;
  /** The EVENTS queue; absent → no notifications. */
  queue?: EventQueue;
}

function contextFor(row: { id: string; rampId: string | null }): RlsContext {
  const reason = row.rampId ? `ramp ${row.rampId} step ${row.id}` : `schedule ${row.id}`;
  // A request id of its own, as an API write has: its audit rows are found again for flag.changed.
  return { orgId: null, role: 'system', actor: CRON_ACTOR, reason, requestId: crypto.randomUUID() };
}

/** How long a change that meets deadlocks or lock timeouts is retried, from the first one, before it fails. */
export const CONTENTION_RETRY_MS = 15 * 60_000;

/**
 * What went wrong, for the row, the audit note and the notification: Postgres's own words and
 * SQLSTATE when the database refused (drizzle wraps them in "Failed query: <the SQL>").
 */
function message(error: unknown): string {
  const code = pgErrorCode(error);
  const refusal = code === undefined ? undefined : [...causes(error)].find((e): e is Error => e instanceof Error && (e as { code?: unknown }).code === code);
  const text = refusal ? `${refusal.message} (SQLSTATE ${code})` : error instanceof Error ? error.message : String(error);
  return cutText(text, 500);
}

/** Longest JSON of one change field in a summary line (a string value can be hundreds of KB). */
const SUMMARY_FIELD_MAX = 200;

function describe(row: ScheduleRow): string {
  const parts = Object.entries(row.change).map(([k, v]) => {
    const json = JSON.stringify(v) ?? 'null';
    return `${k}=${ellipsize(json, SUMMARY_FIELD_MAX)}`;
  });
  return `${row.featureKey}${row.orgId ? ` in org ${row.orgId}` : ''}: ${parts.join(', ')}`;
}

/**
 * One due schedule or ramp step in its own transaction. `events` and `layers` are filled as it goes;
 * they count only if the transaction commits. With `staged`, the events are staged in the outbox in
 * that transaction (shared/store/outbox.ts) and their messages added to it.
 */
function applyOne(
  pool: Pool,
  candidate: { id: string; rampId: string | null },
  now: Date,
  events: FlagEvent[],
  layers: LayerName[],
  staged: NotificationMessage[] | undefined,
): Promise<ScheduleResult> {
  return withRls(pool, contextFor(candidate), async (tx, client) => {
    const result = await claimAndApply(tx, client, candidate, now, events, layers);
    staged?.push(...(await stageNotifications(tx, events)));
    return result;
  });
}

/** applyOne's work in its transaction. */
async function claimAndApply(
  tx: Db,
  client: PoolClient,
  candidate: { id: string; rampId: string | null },
  now: Date,
  events: FlagEvent[],
  layers: LayerName[],
): Promise<ScheduleResult> {
  if (candidate.rampId) {
    // The ramp row first, as pause/resume/abort take it (ramp, then its steps): no lock-order
    // inversion, and the steps of one ramp are applied one at a time by overlapping passes.
    const [ramp] = await tx.select({ state: rollouts.state }).from(rollouts).where(eq(rollouts.id, candidate.rampId)).for('update');
    if (ramp?.state !== 'running') return { id: candidate.id, rampId: candidate.rampId, state: 'skipped' };
  }
  // Not before an earlier change of the same ramp, or of the same flag and level, that is still
  // pending (claimed right now by an overlapping pass): that one lands first, this one next pass.
  const earlier = alias(flagSchedules, 'earlier');
  const sameTarget = candidate.rampId
    ? eq(earlier.rampId, flagSchedules.rampId)
    : and(isNull(earlier.rampId), eq(earlier.featureKey, flagSchedules.featureKey), sql`${earlier.orgId} IS NOT DISTINCT FROM ${flagSchedules.orgId}`);
  const earlierPending = tx
    .select({ one: sql`1` })
    .from(earlier)
    .where(and(eq(earlier.state, 'pending'), sameTarget, sql`(${earlier.at}, ${earlier.createdAt}, ${earlier.id}) < (${flagSchedules.at}, ${flagSchedules.createdAt}, ${flagSchedules.id})`));
  const [row] = await tx
    .select()
    .from(flagSchedules)
    .where(and(eq(flagSchedules.id, candidate.id), eq(flagSchedules.state, 'pending'), lte(flagSchedules.at, now), notExists(earlierPending)))
    .for('update', { skipLocked: true });
  if (!row) return { id: candidate.id, rampId: candidate.rampId, state: 'skipped' };

  await client.query('SAVEPOINT apply_schedule');
  try {
    const layer = await applyScheduledChange(tx, row);
    await client.query('RELEASE SAVEPOINT apply_schedule');
    await tx.update(flagSchedules).set({ state: 'applied', appliedAt: now, error: null, contendedSince: null }).where(eq(flagSchedules.id, row.id));
    layers.push(layer);
    // flag.changed for what changed (old → new, from the audit rows), as for a change made through
    // the API, then the schedule's own event.
    events.push(...(await changeEvents(tx)));
    events.push({
      event: row.rampId ? 'rollout.step' : 'schedule.applied',
      flag: row.featureKey,
      orgId: row.orgId,
      actor: CRON_ACTOR,
      at: now.toISOString(),
      summary: `${row.rampId ? 'Ramp step' : 'Scheduled change'} applied: ${describe(row)}`,
      details: { scheduleId: row.id, rampId: row.rampId, change: row.change },
    });
    if (row.rampId && (await finishRampIfComplete(tx, row.rampId))) {
      await writeAuditNote(tx, {
        level: 'rollout',
        featureKey: row.featureKey,
        orgId: row.orgId,
        target: row.rampId,
        oldValue: { state: 'running' },
        newValue: { state: 'done' },
      });
      events.push({
        event: 'rollout.done',
        flag: row.featureKey,
        orgId: row.orgId,
        actor: CRON_ACTOR,
        at: now.toISOString(),
        summary: `Ramp finished: ${describe(row)}`,
        details: { rampId: row.rampId },
      });
    }
    return { id: row.id, rampId: row.rampId, state: 'applied' };
  } catch (error) {
    // A deadlock or lock timeout says nothing about the change: the whole transaction goes and the
    // row stays pending for the next pass (applyDueSchedules records when this first happened),
    // for a while; after that it fails like any other error, so a change that can never land is
    // reported instead of holding back the later changes of its flag and ramp.
    const since = row.contendedSince ?? now;
    if (isContentionError(error) && now.getTime() - since.getTime() < CONTENTION_RETRY_MS) throw error;
    await client.query('ROLLBACK TO SAVEPOINT apply_schedule');
    const reason = message(error);
    await tx.update(flagSchedules).set({ state: 'failed', error: reason }).where(eq(flagSchedules.id, row.id));
    if (row.rampId) {
      await tx
        .update(rollouts)
        .set({ state: 'paused', pausedAt: now, updatedAt: now })
        .where(and(eq(rollouts.id, row.rampId), eq(rollouts.state, 'running')));
    }
    await writeAuditNote(tx, {
      level: row.rampId ? 'rollout' : 'schedule',
      featureKey: row.featureKey,
      orgId: row.orgId,
      target: row.rampId ?? row.id,
      oldValue: { state: 'pending' },
      newValue: { state: 'failed', error: reason, scheduleId: row.id, ...(row.rampId ? { ramp: 'paused' } : {}) },
    });
    events.push({
      event: row.rampId ? 'rollout.failed' : 'schedule.failed',
      flag: row.featureKey,
      orgId: row.orgId,
      actor: CRON_ACTOR,
      at: now.toISOString(),
      summary: `${row.rampId ? 'Ramp step failed (ramp paused)' : 'Scheduled change failed'}: ${describe(row)}: ${reason}`,
      details: { scheduleId: row.id, rampId: row.rampId, change: row.change, error: reason },
    });
    return { id: row.id, rampId: row.rampId, state: 'failed' as const, error: reason };
  }
}

/**
 * Records on a still-pending row that its change met other transactions' locks (the first time, and
 * why). Best effort: a row locked right now (by the very transaction it contended with) is left as
 * it is, the next contention records it.
 */
async function noteContention(pool: Pool, id: string, now: Date, reason: string): Promise<void> {
  await withRls(pool, { orgId: null, role: 'system', actor: CRON_ACTOR }, (tx) => {
    const unlocked = tx
      .select({ id: flagSchedules.id })
      .from(flagSchedules)
      .where(and(eq(flagSchedules.id, id), eq(flagSchedules.state, 'pending')))
      .for('update', { skipLocked: true });
    return tx
      .update(flagSchedules)
      .set({ contendedSince: sql`coalesce(${flagSchedules.contendedSince}, ${now})`, error: cutText(`retrying: ${reason}`, 500) })
      .where(inArray(flagSchedules.id, unlocked));
  }).catch(() => {});
}

/**
 * Applies every schedule and ramp step that is due at `nowMs`, each exactly once.
 *
 * Each one gets its own transaction that first claims the row (`FOR UPDATE SKIP LOCKED`, still
 * pending): a pass that overlaps or repeats skips what another claimed or finished. A ramp step locks
 * its ramp row before that, and a change waits for the next pass while an earlier change of its ramp,
 * or of its flag and level, is still pending, so overlapping passes apply them in time order. The change goes
 * through the flag store under a savepoint, so the triggers audit it once (actor `cron`, the schedule
 * id in the reason); if it fails, the savepoint is rolled back and the row is marked failed with the
 * error in that same transaction, and the next schedule goes on. A failed ramp step pauses its ramp.
 * Steps of paused ramps wait. A transaction that fails as a whole (a lost connection), or a change
 * that fails only because of other transactions (a deadlock, a lock timeout) within
 * CONTENTION_RETRY_MS of the first such failure, leaves its row pending and the pass goes on.
 * Afterwards the touched layers are published (a failed publish is left to the reconciler) and
 * the notifications, staged with their changes when there is a queue, enqueued (what the queue
 * refuses, a later pass sends again: shared/store/outbox.ts).
 */
export async function applyDueSchedules(pool: Pool, nowMs: number, options: ApplyOptions = {}): Promise<DueScheduleOutcome> {
  const now = new Date(nowMs);
  const due = await withRls(pool, { orgId: null, role: 'system', actor: CRON_ACTOR }, (tx) =>
    tx
      .select({ id: flagSchedules.id, rampId: flagSchedules.rampId })
      .from(flagSchedules)
      .leftJoin(rollouts, eq(rollouts.id, flagSchedules.rampId))
      .where(and(eq(flagSchedules.state, 'pending'), lte(flagSchedules.at, now), or(isNull(flagSchedules.rampId), eq(rollouts.state, 'running'))))
      .orderBy(asc(flagSchedules.at), asc(flagSchedules.createdAt), asc(flagSchedules.id))
      .limit(BATCH),
  );

  const outcome: DueScheduleOutcome = { applied: 0, failed: 0, results: [], layers: [], published: [], events: [], notified: 0 };
  // staged with their changes (with a queue to send them to), sent after the commits
  const notifications: NotificationMessage[] = [];
  for (const candidate of due) {
    // events, layers and staged notifications count only once the transaction committed
    const events: FlagEvent[] = [];
    const layers: LayerName[] = [];
    const staged: NotificationMessage[] | undefined = options.queue ? [] : undefined;
    let result: ScheduleResult;
    try {
      result = await applyOne(pool, candidate, now, events, layers, staged);
    } catch (error) {
      // The transaction itself failed (a deadlock, a lost connection): nothing of it committed and the
      // row is still pending for the next pass. Go on, so that what did commit is published and notified.
      result = { id: candidate.id, rampId: candidate.rampId, state: 'skipped', error: message(error) };
      events.length = 0;
      layers.length = 0;
      staged?.splice(0);
      console.warn(JSON.stringify({ at: 'cron.schedules', schedule: candidate.id, error: result.error }));
      if (isContentionError(error)) await noteContention(pool, candidate.id, now, result.error!);
    }
    outcome.results.push(result);
    outcome.events.push(...events);
    outcome.layers.push(...layers);
    if (staged) notifications.push(...staged);
    if (result.state === 'applied') outcome.applied += 1;
    if (result.state === 'failed') outcome.failed += 1;
  }

  outcome.layers = [...new Set(outcome.layers)];
  if (options.kv) {
    for (const layer of outcome.layers) {
      try {
        outcome.published.push(
          await withRls(pool, { orgId: null, role: 'system', actor: CRON_ACTOR, reason: 'publish after schedules' }, (tx) =>
            publishLayer(tx, options.kv!, layer, nowMs),
          ),
        );
      } catch (error) {
        // db_version moved with the change, so the reconciler publishes it; the notifications still go out
        outcome.published.push({ layer, version: 0, ok: false, error: message(error) });
      }
    }
  }
  outcome.notified = await enqueueMessages(options.queue, notifications);
  return outcome;
}
