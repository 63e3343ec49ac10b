import type { Context } from 'hono';
import { enqueueMessages, type NotificationMessage } from '../../shared/events';
import type { AppEnv } from './env';

// Notifications of admin writes: the events come from the transaction's audit rows
// (shared/store `changeEvents`) and were staged in it (`stageNotifications`); this puts them on the
// queue without holding up the response. What the queue refuses, the cron sends again.

/** Enqueues after the response where the runtime allows it; never delays or fails the write. */
export async function notify(c: Context<AppEnv>, messages: readonly NotificationMessage[]): Promise<void> {
  if (messages.length === 0 || !c.env?.EVENTS) return;
  const sending = enqueueMessages(c.env.EVENTS, messages);
  try {
    c.executionCtx.waitUntil(sending);
  } catch {
    await sending; // no execution context (tests): enqueueMessages never throws
  }
}
