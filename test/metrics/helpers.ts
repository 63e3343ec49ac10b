// Shared by the metrics tests: fake queue messages for the cron consumer, and a batch builder.
import { randomUUID } from 'node:crypto';
import type { Pool } from '@neondatabase/serverless';
import type { MetricsCount, MetricsMessage } from '../../shared/events';
import { handleEventMessages, type QueueMessage } from '../../workers/cron/queue';

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

export const hourOf = (ms: number) => Math.floor(ms / HOUR) * HOUR;

export function batch(counts: MetricsCount[], batchId: string = randomUUID()): MetricsMessage {
  return { type: 'metrics', batchId, counts };
}

export interface FakeMessage extends QueueMessage {
  acked: number;
  retried: number;
}

export function queueMessage(body: unknown, attempts = 1): FakeMessage {
  const message: FakeMessage = {
    id: randomUUID(),
    body,
    attempts,
    acked: 0,
    retried: 0,
    ack() {
      message.acked += 1;
    },
    retry() {
      message.retried += 1;
    },
  };
  return message;
}

/** Delivers the bodies to the consumer as one queue batch, as the cron Worker's `queue()` would. */
export async function deliver(pool: Pool, ...bodies: unknown[]): Promise<FakeMessage[]> {
  const messages = bodies.map((body) => queueMessage(body));
  await handleEventMessages(messages, { pool });
  return messages;
}
