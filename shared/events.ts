// The EVENTS queue's messages. One queue carries several kinds (notifications, metrics batches,
// republish chunks), so every message has a `type` and the consumer (workers/cron/queue.ts) dispatches on it.
// Producers: the admin Worker (after a committed write; POST /api/publish), the cron pass (schedules, ramps) and the
// consumer itself (one delivery message per webhook, so each is retried on its own).
import { ellipsize } from './text';
import { sha256Hex } from './tokens';

export const NOTIFICATION_EVENTS = [
  'flag.changed',
  'schedule.changed',
  'schedule.applied',
  'schedule.failed',
  'rollout.changed',
  'rollout.step',
  'rollout.done',
  'rollout.failed',
  'stale.digest',
  'system.alert',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/** Events about no org (the weekly stale digest, health alerts): only global webhooks receive them. */
export const GLOBAL_ONLY_EVENTS: readonly NotificationEvent[] = ['stale.digest', 'system.alert'];

/** What happened, in the shape webhooks receive (generic) or render (Slack). */
export interface FlagEvent {
  event: NotificationEvent;
  flag: string | null;
  orgId: string | null;
  actor: string;
  /** ISO instant. */
  at: string;
  /** One human-readable line (the Slack text). */
  summary: string;
  details?: Record<string, unknown>;
}

export interface NotificationMessage {
  type: 'notification';
  /** Fans out once per webhook however often the queue delivers the message (0009); absent in older messages. */
  id?: string;
  event: FlagEvent;
}

export interface WebhookDeliveryMessage {
  type: 'webhook.delivery';
  deliveryId: string;
  webhookId: string;
  event: FlagEvent;
}

/**
 * One evaluation count of a metrics batch: flag key, org ('' = no org in the context), value as JSON
 * text (cut at METRICS_VALUE_MAX chars), reason, hour (epoch ms of the start of the UTC hour), count.
 */
export type MetricsCount = [flag: string, orgId: string, value: string, reason: string, hour: number, count: number];

/** Evaluation counts from an evaluate isolate (shared/metrics); `batchId` makes a redelivery add nothing. */
export interface MetricsMessage {
  type: 'metrics';
  batchId: string;
  counts: MetricsCount[];
}

/** Snapshot layers to republish (`global` / `org:<id>`), at most LAYERS_PER_CHUNK of them: POST /api/publish fans out with these. */
export interface PublishMessage {
  type: 'publish';
  layers: string[];
}

export type EventMessage = NotificationMessage | WebhookDeliveryMessage | MetricsMessage | PublishMessage;

/** The part of a Queue binding producers use. */
export interface EventQueue {
  sendBatch(messages: Iterable<{ body: unknown; delaySeconds?: number }>): Promise<unknown>;
}

/** Messages per sendBatch call, and bytes (the Queues limits: 100 messages, 256 KB per call, 128 KB per message). */
const MAX_BATCH = 100;
const MAX_BATCH_BYTES = 250_000;
/** A notification's event is made to fit this many bytes (see `fitForQueue`), leaving room for the message around it. */
export const MAX_EVENT_BYTES = 120_000;
/** The summary line is cut to this length when the details alone do not make an event fit. */
const SUMMARY_MAX = 1_000;

const encoder = new TextEncoder();
/** A value's size as UTF-8 JSON, which is what the Queues limits count. */
const jsonBytes = (value: unknown): number => encoder.encode(JSON.stringify(value) ?? '').length;

/** Groups messages into sendBatch calls within the Queues limits of messages and bytes per call. */
export function* queueBatches<T>(messages: readonly T[]): Generator<T[]> {
  let group: T[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = jsonBytes(message);
    if (group.length > 0 && (group.length === MAX_BATCH || bytes + size > MAX_BATCH_BYTES)) {
      yield group;
      group = [];
      bytes = 0;
    }
    group.push(message);
    bytes += size;
  }
  if (group.length > 0) yield group;
}

/**
 * An event that fits a queue message. Over MAX_EVENT_BYTES (a flag value of hundreds of KB), its
 * largest details are replaced by `{omitted, bytes}` one at a time until it fits (the audit log
 * keeps flag values), then the summary is cut. Without this the queue refuses the message and the
 * webhooks never hear of the change.
 */
export function fitForQueue(event: FlagEvent): FlagEvent {
  if (jsonBytes(event) <= MAX_EVENT_BYTES) return event;
  const details: Record<string, unknown> = { ...event.details };
  const fitted: FlagEvent = { ...event, details };
  const bySize = Object.entries(details)
    .map(([name, value]) => [name, jsonBytes(value)] as const)
    .sort((a, b) => b[1] - a[1]);
  for (const [name, bytes] of bySize) {
    if (jsonBytes(fitted) <= MAX_EVENT_BYTES) return fitted;
    details[name] = { omitted: 'too large for a notification', bytes };
  }
  fitted.summary = ellipsize(fitted.summary, SUMMARY_MAX);
  return fitted;
}

/**
 * Puts messages on the queue, in batches within its limits. Never throws: without a binding (tests, a
 * Worker deployed without the queue) or when the queue refuses, the messages are dropped and logged;
 * a committed write never fails because of them. Answers how many were accepted.
 */
export async function enqueueMessages(queue: EventQueue | undefined, messages: readonly EventMessage[]): Promise<number> {
  if (!queue || messages.length === 0) return 0;
  let sent = 0;
  for (const chunk of queueBatches(messages)) {
    try {
      await queue.sendBatch(chunk.map((body) => ({ body })));
      sent += chunk.length;
    } catch (error) {
      console.warn(JSON.stringify({ at: 'events', dropped: chunk.length, error: String(error) }));
    }
  }
  return sent;
}

/**
 * A notification id derived from a name (RFC 9562 version 8, from SHA-256): every notification
 * enqueued under the same name has the same id, so the consumer fans it out to each webhook once
 * however often it is enqueued (a sender that cannot know whether its earlier send counted).
 */
export async function namedNotificationId(name: string): Promise<string> {
  const hex = await sha256Hex(name);
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
