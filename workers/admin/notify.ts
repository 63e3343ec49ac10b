import type { Context } from 'hono';
import { enqueueEvents, type FlagEvent } from '../../shared/events';
import type { AppEnv } from './env';

// Notifications of admin writes: the events come from the transaction's audit rows
// (shared/store `changeEvents`); this puts them on the queue without holding up the response.

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
