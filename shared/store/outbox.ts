import { and, asc, eq, inArray, isNull, lt, or, sql } from 'drizzle-orm';
import { notificationOutbox, type Db } from '../db';
import { enqueueMessages, fitForQueue, type EventQueue, type FlagEvent, type NotificationMessage } from '../events';

/**
 * The notification outbox (migration 0011): a change's notifications are staged in the transaction
 * of the change, so they exist exactly when the change does, then sent after the commit under the
 * staged row's id. The queue consumer takes the row (deletes it) in its fan-out transaction; a row
 * still here a while later was never taken, and the cron pass sends it again under the same id, so
 * a consumer that did get the first copy fans out nothing more (0009). Delivery is at least once
 * to the queue and once per webhook.
 */

/** A staged row is sent again when it is this old: the writer's own send normally lands within seconds. */
export const OUTBOX_GRACE_MS = 2 * 60_000;
/** …and again this long after each resend while the queue does not take it. */
export const OUTBOX_RESEND_MS = 10 * 60_000;
/** Rows older than this are given up (logged): the queue has refused them for a week; the audit log keeps the changes. */
export const OUTBOX_KEEP_MS = 7 * 24 * 3_600_000;
/** Rows sent again per pass. */
const RESEND_BATCH = 100;

/**
 * Stages the notifications of `events` in the transaction `tx` (call it after the change's writes)
 * and answers the messages to send once it commits. Each message's id is its row's id. Staging never
 * costs the change: it runs under a savepoint, and if Postgres refuses the rows they are only logged
 * and the messages still go out after the commit, unstaged (as before the outbox: at most once).
 */
export async function stageNotifications(tx: Db, events: readonly FlagEvent[]): Promise<NotificationMessage[]> {
  if (events.length === 0) return [];
  const messages = events.map((event): NotificationMessage => ({ type: 'notification', id: crypto.randomUUID(), event: fitForQueue(event) }));
  await tx.execute(sql`SAVEPOINT stage_notifications`);
  try {
    await tx.insert(notificationOutbox).values(messages.map((m) => ({ id: m.id!, orgId: m.event.orgId, event: m.event })));
    await tx.execute(sql`RELEASE SAVEPOINT stage_notifications`);
  } catch (error) {
    await tx.execute(sql`ROLLBACK TO SAVEPOINT stage_notifications`);
    console.warn(JSON.stringify({ at: 'outbox', unstaged: messages.length, error: String(error) }));
  }
  return messages;
}

/** The consumer's side: the notification `id` reached its fan-out (call in that transaction). */
export async function takeStaged(tx: Db, id: string): Promise<void> {
  await tx.delete(notificationOutbox).where(eq(notificationOutbox.id, id));
}

interface Resent {
  /** Messages the queue took (those it refused are tried again after OUTBOX_RESEND_MS). */
  resent: number;
  /** Rows given up because they were older than OUTBOX_KEEP_MS. */
  expired: number;
}

/**
 * The cron's side (system context): sends again the staged notifications the consumer has not
 * taken, oldest first, at most RESEND_BATCH per call; rows older than OUTBOX_KEEP_MS are deleted and
 * logged.
 */
export async function resendStaged(tx: Db, queue: EventQueue, nowMs: number): Promise<Resent> {
  const expiredRows = await tx
    .delete(notificationOutbox)
    .where(lt(notificationOutbox.createdAt, new Date(nowMs - OUTBOX_KEEP_MS)))
    .returning({ id: notificationOutbox.id });
  if (expiredRows.length > 0) {
    console.warn(JSON.stringify({ at: 'outbox', gaveUp: expiredRows.length, olderThanMs: OUTBOX_KEEP_MS }));
  }
  const rows = await tx
    .select({ id: notificationOutbox.id, event: notificationOutbox.event })
    .from(notificationOutbox)
    .where(
      and(
        lt(notificationOutbox.createdAt, new Date(nowMs - OUTBOX_GRACE_MS)),
        or(isNull(notificationOutbox.resentAt), lt(notificationOutbox.resentAt, new Date(nowMs - OUTBOX_RESEND_MS))),
      ),
    )
    .orderBy(asc(notificationOutbox.seq))
    .limit(RESEND_BATCH)
    .for('update', { skipLocked: true });
  if (rows.length === 0) return { resent: 0, expired: expiredRows.length };
  const messages = rows.map((r): NotificationMessage => ({ type: 'notification', id: r.id, event: r.event as FlagEvent }));
  const sent = await enqueueMessages(queue, messages);
  // Every attempt is marked, taken or refused: a row goes out at most once per OUTBOX_RESEND_MS, so a
  // refusing queue is not sent the same rows every minute, and the rows behind them get their turn.
  await tx
    .update(notificationOutbox)
    .set({ resentAt: new Date(nowMs), resends: sql`${notificationOutbox.resends} + 1` })
    .where(inArray(notificationOutbox.id, rows.map((r) => r.id)));
  return { resent: sent, expired: expiredRows.length };
}
