import type { Pool } from '@neondatabase/serverless';
import { and, asc, count, eq, isNotNull, lt, min, sql } from 'drizzle-orm';
import { alerts, notificationOutbox, snapshotVersions, withRls, type AlertName, type Db } from '../../shared/db';
import { enqueueMessages, type EventQueue, type FlagEvent, type NotificationMessage } from '../../shared/events';
import { stageNotifications } from '../../shared/store';
import { cutText } from '../../shared/text';
import { CRON_ACTOR } from './schedules';

/**
 * Health alerts (migration 0012): at the end of every pass the cron checks what an operator must
 * hear about without watching the status page, and sends a `system.alert` notification when a
 * condition has held for its threshold (`firing`), again once a day while it holds, and once more
 * when it clears (`resolved`). Alerts have no org, so they reach global webhooks only (the ops
 * channel). A condition is tracked in `cmis.alerts` from the pass that first sees it, so one slow
 * pass or one KV hiccup that the next pass repairs says nothing.
 */

interface Check {
  name: AlertName;
  /** How long the condition must hold before it fires. */
  afterMs: number;
}

export const ALERT_CHECKS: readonly Check[] = [
  // layers behind whose last put failed: the reconcile step retries them every pass, so 10 minutes of
  // it means KV writes keep failing (a backlog that is being worked through, as after POST /api/publish
  // at many orgs, has no error and says nothing)
  { name: 'kv.behind', afterMs: 10 * 60_000 },
  // a step of the cron pass failed in every pass for 5 minutes
  { name: 'cron.failing', afterMs: 5 * 60_000 },
  // a notification staged more than 15 minutes ago that no resend got taken (the outbox's own delay is 2 minutes)
  { name: 'notifications.waiting', afterMs: 0 },
];

/** A firing alert is sent again this often while it holds. */
export const ALERT_REMINDER_MS = 24 * 3_600_000;
/** A staged notification this old is a stuck outbox. */
const OUTBOX_STUCK_MS = 15 * 60_000;

/** What holds now, per check: details for the notification, or null when it does not hold. */
type Observed = Record<AlertName, Record<string, unknown> | null>;

async function observe(tx: Db, nowMs: number, passErrors: readonly string[]): Promise<Observed> {
  const behind = await tx
    .select({ layer: snapshotVersions.layer, lastError: snapshotVersions.lastError })
    .from(snapshotVersions)
    .where(and(lt(snapshotVersions.kvVersion, snapshotVersions.dbVersion), isNotNull(snapshotVersions.lastError)))
    .orderBy(asc(snapshotVersions.layer));
  const [waiting] = await tx
    .select({ n: count(), oldest: min(notificationOutbox.createdAt) })
    .from(notificationOutbox)
    .where(lt(notificationOutbox.createdAt, new Date(nowMs - OUTBOX_STUCK_MS)));
  return {
    'kv.behind': behind.length === 0 ? null : { layers: behind.length, sample: behind.slice(0, 5).map((b) => b.layer), lastError: behind[0]!.lastError },
    'cron.failing': passErrors.length === 0 ? null : { errors: passErrors.slice(0, 5).map(shortError) },
    'notifications.waiting': waiting && waiting.n > 0 ? { count: waiting.n, oldestAt: waiting.oldest?.toISOString() ?? null } : null,
  };
}

/** A step's error for an alert line: without the SQL parameters drizzle adds, at most ERROR_MAX characters. */
const ERROR_MAX = 300;
function shortError(error: string): string {
  return cutText(error.replace(/\nparams: [\s\S]*$/, ''), ERROR_MAX);
}

function describe(name: AlertName, details: Record<string, unknown>): string {
  switch (name) {
    case 'kv.behind':
      return `KV writes keep failing: ${String(details.layers)} snapshot layer(s) behind Postgres (${(details.sample as string[]).join(', ')}); evaluations serve older values until they are put${details.lastError ? `: ${shortError(String(details.lastError))}` : ''}`;
    case 'cron.failing':
      return `The cron pass keeps failing: ${(details.errors as string[]).join('; ')}`;
    case 'notifications.waiting':
      return `${String(details.count)} notification(s) staged more than ${OUTBOX_STUCK_MS / 60_000} minutes ago have not been taken from the outbox (is the queue or its consumer down?)`;
  }
}

function alertEvent(name: AlertName, state: 'firing' | 'resolved', since: Date, details: Record<string, unknown>, nowMs: number): FlagEvent {
  const summary = state === 'firing' ? `Alert ${name}: ${describe(name, details)}` : `Resolved ${name} (since ${since.toISOString()})`;
  return { event: 'system.alert', flag: null, orgId: null, actor: CRON_ACTOR, at: new Date(nowMs).toISOString(), summary, details: { alert: name, state, since: since.toISOString(), ...details } };
}

export interface AlertOutcome {
  /** Alerts whose condition holds now (firing or not yet). */
  holding: AlertName[];
  /** Notifications sent (firing, reminders, resolved). */
  notified: number;
}

/**
 * One alert pass at `nowMs` (the real clock) with the errors of this cron pass so far. In one system
 * transaction: conditions observed, tracking rows kept, notifications staged (shared/store/outbox.ts);
 * sent after the commit.
 */
export async function checkAlerts(pool: Pool, nowMs: number, options: { passErrors: readonly string[]; queue?: EventQueue | undefined }): Promise<AlertOutcome> {
  const now = new Date(nowMs);
  const { holding, messages } = await withRls(pool, { orgId: null, role: 'system', actor: CRON_ACTOR }, async (tx) => {
    // Overlapping passes take turns (a row lock would lock nothing while no alert row exists yet).
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('cmis.alerts'))`);
    const observed = await observe(tx, nowMs, options.passErrors);
    const tracked = new Map((await tx.select().from(alerts)).map((a) => [a.name, a]));
    const events: FlagEvent[] = [];
    const holding: AlertName[] = [];
    for (const check of ALERT_CHECKS) {
      const details = observed[check.name];
      const row = tracked.get(check.name);
      if (details === null) {
        if (row) {
          if (row.firedAt) events.push(alertEvent(check.name, 'resolved', row.observedSince, row.details as Record<string, unknown>, nowMs));
          await tx.delete(alerts).where(eq(alerts.name, check.name));
        }
        continue;
      }
      holding.push(check.name);
      const since = row?.observedSince ?? now;
      const due = row?.firedAt ? nowMs - row.firedAt.getTime() >= ALERT_REMINDER_MS : nowMs - since.getTime() >= check.afterMs;
      if (due) events.push(alertEvent(check.name, 'firing', since, details, nowMs));
      const firedAt = due ? now : (row?.firedAt ?? null);
      if (row) await tx.update(alerts).set({ details, firedAt }).where(eq(alerts.name, check.name));
      else await tx.insert(alerts).values({ name: check.name, observedSince: since, firedAt, details });
    }
    // Also a log line each: log-based alerting still hears an alert when the queue is what is down.
    for (const event of events) console.error(JSON.stringify({ at: 'alert', alert: event.details?.alert, state: event.details?.state, summary: event.summary }));
    return { holding, messages: options.queue ? await stageNotifications(tx, events) : ([] as NotificationMessage[]) };
  });
  return { holding, notified: await enqueueMessages(options.queue, messages) };
}
