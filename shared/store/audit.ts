import { and, asc, sql } from 'drizzle-orm';
import { featureFlagValues, type AuditLevel, type Db } from '../db';
import type { FlagEvent, NotificationEvent } from '../events';

/**
 * The audit trail beyond what the triggers write: bookkeeping rows (schedules, ramps, webhooks), and
 * the notifications of a transaction's changes. The audit rows ARE the description of a change, so
 * the events are read back from the rows the transaction wrote (same request id, same transaction
 * time), whoever wrote them: the triggers or a caller's bookkeeping row.
 */

/**
 * A bookkeeping audit row (levels schedule, rollout, webhook): these are not flag rows, so no
 * trigger writes them. Actor, reason and request id come from the transaction's RLS context.
 */
export async function writeAuditNote(
  tx: Db,
  note: { level: AuditLevel; featureKey: string | null; orgId: string | null; target: string; oldValue: unknown; newValue: unknown },
): Promise<void> {
  await tx.insert(featureFlagValues).values({
    featureKey: note.featureKey,
    orgId: note.orgId,
    level: note.level,
    target: note.target,
    oldValue: note.oldValue,
    newValue: note.newValue,
    actor: sql`current_setting('app.actor', true)`,
    reason: sql`nullif(current_setting('app.reason', true), '')`,
    requestId: sql`nullif(current_setting('app.request_id', true), '')`,
  });
}

type AuditRow = typeof featureFlagValues.$inferSelect;

const EVENT_OF_LEVEL: Partial<Record<AuditRow['level'], NotificationEvent>> = {
  system: 'flag.changed',
  org: 'flag.changed',
  platform: 'flag.changed',
  user: 'flag.changed',
  schedule: 'schedule.changed',
  rollout: 'rollout.changed',
};

export function eventOfAudit(row: AuditRow): FlagEvent | null {
  const event = EVENT_OF_LEVEL[row.level];
  if (!event) return null;
  const where = row.orgId ? ` in org ${row.orgId}` : '';
  const what = row.level === 'system' ? '' : ` (${row.level}${row.target && row.target !== row.orgId ? ` ${row.target}` : ''})`;
  return {
    event,
    flag: row.featureKey,
    orgId: row.orgId,
    actor: row.actor,
    at: row.at.toISOString(),
    summary: `${row.featureKey ?? '?'}${what}${where} changed by ${row.actor}${row.reason ? `: ${row.reason}` : ''}`,
    // auditId orders the changes of one row as they were applied (`at` is the transaction's start).
    details: { auditId: row.id, level: row.level, target: row.target, oldValue: row.oldValue, newValue: row.newValue, reason: row.reason, requestId: row.requestId },
  };
}

/** The events of this transaction's audit rows (call inside the transaction, after the writes). */
export async function changeEvents(tx: Db): Promise<FlagEvent[]> {
  const rows = await tx
    .select()
    .from(featureFlagValues)
    .where(
      and(
        sql`${featureFlagValues.requestId} = nullif(current_setting('app.request_id', true), '')`,
        // now() is the transaction's start: the rows of this transaction, not of an earlier reuse of the id
        sql`${featureFlagValues.at} = now()`,
      ),
    )
    .orderBy(asc(featureFlagValues.id));
  return rows.map(eventOfAudit).filter((e): e is FlagEvent => e !== null);
}
