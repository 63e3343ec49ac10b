import { and, asc, sql } from 'drizzle-orm';
import type { Context } from 'hono';
import { featureFlagValues, type Db } from '../../shared/db';
import { enqueueEvents, type FlagEvent, type NotificationEvent } from '../../shared/events';
import type { AppEnv } from './env';

/**
 * Notifications of admin writes. The audit rows ARE the description of a change, so the events are
 * read back from the rows the transaction wrote (same request id, same transaction time), whoever
 * wrote them: the triggers or a route's bookkeeping row.
 */

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
    details: { level: row.level, target: row.target, oldValue: row.oldValue, newValue: row.newValue, reason: row.reason, requestId: row.requestId },
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

/** Enqueues after the response where the runtime allows it; never delays or fails the write. */
export async function notify(c: Context<AppEnv>, events: readonly FlagEvent[]): Promise<void> {
  if (events.length === 0 || !c.env?.EVENTS) return;
  const sending = enqueueEvents(c.env.EVENTS, events);
  try {
    c.executionCtx.waitUntil(sending);
  } catch {
    await sending; // no execution context (tests): enqueueEvents never throws
  }
}
