import { describe, expect, it } from 'vitest';
import { MAX_EVENT_BYTES, enqueueMessages, fitForQueue, queueBatches, type EventMessage, type FlagEvent } from './events';

const QUEUE_MESSAGE_LIMIT = 128_000;
const event = (details: Record<string, unknown>): FlagEvent => ({
  event: 'flag.changed',
  flag: 'f',
  orgId: 'org-1',
  actor: 'token:ops#12345678',
  at: '2026-11-26T10:00:00.000Z',
  summary: 'f (org) in org org-1 changed by token:ops#12345678',
  details,
});
const utf8Bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

describe('fitForQueue', () => {
  it('leaves an event that fits as it is', () => {
    const small = event({ level: 'org', oldValue: false, newValue: true });
    expect(fitForQueue(small)).toBe(small);
  });

  it('replaces the large details of an oversized event, keeping the rest, so the queue takes it', () => {
    const big = event({ level: 'org', target: 'org-1', oldValue: 'é'.repeat(100_000), newValue: { text: 'y'.repeat(200_000) }, reason: 'import' });
    expect(utf8Bytes({ type: 'notification', event: big })).toBeGreaterThan(QUEUE_MESSAGE_LIMIT);
    const fitted = fitForQueue(big);
    expect(fitted.details).toEqual({
      level: 'org',
      target: 'org-1',
      oldValue: { omitted: expect.stringContaining('audit log'), jsonLength: 100_002 },
      newValue: { omitted: expect.stringContaining('audit log'), jsonLength: 200_011 },
      reason: 'import',
    });
    expect(fitted.summary).toBe(big.summary);
    expect(utf8Bytes({ type: 'notification', event: fitted })).toBeLessThan(MAX_EVENT_BYTES);
  });
});

describe('enqueueMessages', () => {
  it('sends within the Queues limits: 100 messages and 256 KB per sendBatch call', async () => {
    const calls: number[][] = [];
    const queue = {
      sendBatch: async (messages: Iterable<{ body: unknown }>) => {
        const list = [...messages];
        calls.push([list.length, utf8Bytes(list.map((m) => m.body))]);
      },
    };
    const many: EventMessage[] = Array.from({ length: 250 }, () => ({ type: 'publish', layers: ['global'] }));
    const large: EventMessage[] = Array.from({ length: 10 }, (_, i) => ({ type: 'notification', event: event({ note: `${i}`.repeat(40_000) }) }));
    expect(await enqueueMessages(queue, [...many, ...large])).toBe(260);
    expect(calls.every(([count, bytes]) => count! <= 100 && bytes! <= 256_000)).toBe(true);
    expect([...queueBatches(large)].length).toBeGreaterThan(1);
  });
});
