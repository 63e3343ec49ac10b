import type { Pool } from '@neondatabase/serverless';
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm';
import { z } from 'zod';
import { createPool, webhookDeliveries, webhooks, withRls } from '../../shared/db';
import { NOTIFICATION_EVENTS, enqueueMessages, type EventMessage, type MetricsMessage, type EventQueue, type FlagEvent, type PublishMessage, type WebhookDeliveryMessage } from '../../shared/events';
import type { LayerStore } from '../../shared/snapshot/publish';
import type { CronEnv } from './env';
import { recordMetricsBatch } from './metrics';
import { republishChunk } from './republish';
import { CRON_ACTOR } from './schedules';
import { isLoopbackHost } from '../../shared/http/loopback';
import { deliverWebhook, retryDelaySeconds, type WebhookTarget } from './webhooks';
import { takeStaged } from '../../shared/store';

/** Attempts per delivery; after the last one it is marked failed and acknowledged. */
export const MAX_DELIVERY_ATTEMPTS = 5;

const CONTEXT = { orgId: null, role: 'system', actor: CRON_ACTOR } as const;

// What a notification or delivery message must hold before it is acted on. A message that does not
// fit is acknowledged and logged, like an unknown type: retrying cannot mend it.
const FlagEventSchema = z.object({
  event: z.enum(NOTIFICATION_EVENTS),
  flag: z.string().nullable(),
  orgId: z.string().nullable(),
  actor: z.string(),
  at: z.string(),
  summary: z.string(),
  details: z.record(z.string(), z.unknown()).optional(),
});
const NotificationMessageSchema = z.object({ type: z.literal('notification'), id: z.uuid().optional(), event: FlagEventSchema });
const WebhookDeliveryMessageSchema = z.object({ type: z.literal('webhook.delivery'), deliveryId: z.uuid(), webhookId: z.uuid(), event: FlagEventSchema });

/** The message as `schema` reads it, or undefined after acknowledging and logging a malformed one. */
function readOrDrop<S extends z.ZodType>(message: QueueMessage, schema: S): z.output<S> | undefined {
  const parsed = schema.safeParse(message.body);
  if (parsed.success) return parsed.data;
  console.warn(JSON.stringify({ at: 'queue', malformed: (message.body as { type?: unknown } | null)?.type, id: message.id, error: parsed.error.issues[0]?.message }));
  message.ack();
  return undefined;
}

/** The part of a queue message the handlers use (a real `Message`, or a test double). */
export interface QueueMessage {
  readonly id: string;
  readonly body: unknown;
  readonly attempts: number;
  ack(): void;
  retry(options?: { delaySeconds?: number }): void;
}

export interface QueueDeps {
  pool: Pool;
  queue?: EventQueue;
  fetch?: typeof fetch;
  /** FLAGS_KV, for `publish` messages. */
  kv?: LayerStore;
  /** Deliver to webhooks on this machine (WEBHOOKS_ALLOW_LOOPBACK=1: the local stack, tests). */
  allowLoopback?: boolean;
}

/**
 * Notification → one delivery row and one delivery message per matching webhook (global webhooks
 * get every event, an org's only that org's; an empty `events` list means all). Sending inside the
 * transaction: if the queue refuses, no row is left behind and the notification is retried; if the
 * commit fails after sending, the messages find no row and `deliver` drops them unsent.
 * Without a queue binding the deliveries are attempted inline, once. The notification's staged copy
 * in the outbox (shared/store/outbox.ts) is taken in the same transaction.
 */
async function fanOut(deps: QueueDeps, event: FlagEvent, notificationId: string | undefined): Promise<number> {
  const deliveries = await withRls(deps.pool, CONTEXT, async (tx) => {
    // The notification reached its fan-out: its staged copy (0011) need not be sent again. In this
    // transaction, so a fan-out that rolls back leaves it staged.
    if (notificationId !== undefined) await takeStaged(tx, notificationId);
    const targets = await tx
      .select()
      .from(webhooks)
      .where(
        and(
          event.orgId === null ? isNull(webhooks.orgId) : or(isNull(webhooks.orgId), eq(webhooks.orgId, event.orgId)),
          sql`(cardinality(${webhooks.events}) = 0 OR ${event.event} = ANY(${webhooks.events}))`,
        ),
      );
    if (targets.length === 0) return [];
    // A notification delivered twice finds its rows from the first time: only new rows are sent.
    const rows = await tx
      .insert(webhookDeliveries)
      .values(targets.map((t) => ({ webhookId: t.id, orgId: t.orgId, event: event.event, notificationId })))
      .onConflictDoNothing()
      .returning({ id: webhookDeliveries.id, webhookId: webhookDeliveries.webhookId });
    const messages = rows.map((r): WebhookDeliveryMessage => ({ type: 'webhook.delivery', deliveryId: r.id, webhookId: r.webhookId, event }));
    if (deps.queue) {
      const sent = await enqueueMessages(deps.queue, messages);
      if (sent !== messages.length) throw new Error('the queue refused the delivery messages');
    }
    return messages;
  });
  if (!deps.queue) for (const message of deliveries) await deliver(deps, message, 1);
  return deliveries.length;
}

/**
 * One attempt; records it on the delivery row. Answers whether to retry. Queues deliver at least
 * once, and the fan-out enqueues before its transaction commits, so the row decides:
 * - a settled row (delivered, or failed for good) is a repeated message: nothing is sent again, and
 *   each attempt number is claimed on the row before sending, so two copies handled at once send once;
 * - no row yet is a fan-out still committing (retried later) or one that rolled back after sending,
 *   whose notification is retried with new rows: after the last attempt the message is dropped
 *   without a POST, so the receiver hears the event once.
 */
async function deliver(deps: QueueDeps, message: WebhookDeliveryMessage, attempt: number): Promise<'done' | 'retry'> {
  const [target] = await withRls(deps.pool, CONTEXT, (tx) =>
    tx
      .select({ id: webhooks.id, url: webhooks.url, kind: webhooks.kind, secret: webhooks.secret, state: webhookDeliveries.state })
      .from(webhooks)
      .leftJoin(webhookDeliveries, and(eq(webhookDeliveries.id, message.deliveryId), eq(webhookDeliveries.webhookId, webhooks.id)))
      .where(eq(webhooks.id, message.webhookId)),
  );
  if (!target) return 'done'; // deleted since: nothing to deliver to
  const last = attempt >= MAX_DELIVERY_ATTEMPTS;
  if (target.state === null) {
    console.warn(JSON.stringify({ at: 'webhook', webhook: target.id, delivery: message.deliveryId, attempt, error: last ? 'no delivery row: dropped' : 'no delivery row yet' }));
    return last ? 'done' : 'retry';
  }
  // Claim this attempt: a settled row, or one whose attempt another copy of the message has claimed,
  // sends nothing.
  const [claimed] = await withRls(deps.pool, CONTEXT, (tx) =>
    tx
      .update(webhookDeliveries)
      .set({ attempts: attempt, updatedAt: new Date() })
      .where(and(eq(webhookDeliveries.id, message.deliveryId), eq(webhookDeliveries.state, 'pending'), lt(webhookDeliveries.attempts, attempt)))
      .returning({ id: webhookDeliveries.id }),
  );
  if (!claimed) return 'done';
  const result =
    !deps.allowLoopback && isLoopbackHost(new URL(target.url).hostname)
      ? { ok: false, status: null, error: 'refused: a target on this machine (WEBHOOKS_ALLOW_LOOPBACK is not set)' }
      : await deliverWebhook(target as WebhookTarget, message.event, message.deliveryId, deps.fetch);
  const state = result.ok ? 'delivered' : last ? 'failed' : 'pending';
  await withRls(deps.pool, CONTEXT, (tx) =>
    tx
      .update(webhookDeliveries)
      .set({ state, attempts: attempt, lastStatus: result.status, lastError: result.error, updatedAt: new Date() })
      .where(eq(webhookDeliveries.id, message.deliveryId)),
  );
  if (!result.ok) console.warn(JSON.stringify({ at: 'webhook', webhook: target.id, delivery: message.deliveryId, attempt, error: result.error }));
  return result.ok || last ? 'done' : 'retry';
}

/**
 * The EVENTS consumer. Dispatches on `type`; a message of a type this Worker does not know yet is
 * acknowledged and logged (so it cannot loop), which is where the metrics batches plug in.
 */
export async function handleEventMessages(messages: readonly QueueMessage[], deps: QueueDeps): Promise<{ settled: number; retried: number }> {
  let settled = 0;
  let retried = 0;
  for (const message of messages) {
    const body = message.body as Partial<EventMessage> | null;
    try {
      switch (body?.type) {
        case 'notification': {
          const notification = readOrDrop(message, NotificationMessageSchema);
          if (notification === undefined) break;
          await fanOut(deps, notification.event, notification.id);
          message.ack();
          break;
        }
        case 'webhook.delivery': {
          const delivery = readOrDrop(message, WebhookDeliveryMessageSchema);
          if (delivery === undefined) {
            settled += 1;
            break;
          }
          if ((await deliver(deps, delivery, message.attempts)) === 'retry') {
            message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
            retried += 1;
          } else {
            message.ack();
            settled += 1;
          }
          break;
        }
        case 'publish':
          await republishChunk(deps, body as PublishMessage);
          message.ack();
          break;
        case 'metrics':
          await recordMetricsBatch(deps.pool, body as MetricsMessage);
          message.ack();
          break;
        default:
          console.warn(JSON.stringify({ at: 'queue', unknownType: String(body?.type), id: message.id }));
          message.ack();
      }
    } catch (error) {
      // e.g. the database is down: try again later
      console.warn(JSON.stringify({ at: 'queue', id: message.id, error: String(error) }));
      message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
      retried += 1;
    }
  }
  return { settled, retried };
}

/** `queue()` of the cron Worker: one pool per batch. */
export async function handleEventBatch(batch: MessageBatch<unknown>, env: CronEnv): Promise<void> {
  const pool = createPool({ databaseUrl: env.DATABASE_URL, wsProxy: env.DATABASE_WS_PROXY, max: 1 });
  try {
    await handleEventMessages(batch.messages, { pool, queue: env.EVENTS, kv: env.FLAGS_KV, allowLoopback: env.WEBHOOKS_ALLOW_LOOPBACK === '1' });
  } finally {
    await pool.end();
  }
}
