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
  it('leaves an event that fits as it is, up to the real limit (a 25 KB change, a digest of 200 marks)', () => {
    const small = event({ level: 'org', oldValue: false, newValue: true });
    expect(fitForQueue(small)).toBe(small);
    const medium = event({ level: 'org', oldValue: 'a'.repeat(12_000), newValue: 'b'.repeat(12_000) });
    expect(fitForQueue(medium)).toBe(medium);
    const digest = event({ week: '2031-01-06', marks: Array.from({ length: 200 }, (_, i) => ({ flag: `campaign.flag-${i}`, kind: 'override', target: `org-${i}/user-${i}`, since: '2031-01-01T00:00:00.000Z' })) });
    expect(fitForQueue(digest)).toBe(digest);
  });

  it('cuts the summary when the details alone do not make it fit (a scheduled change of a huge value)', () => {
    const huge = { ...event({ level: 'schedule' }), summary: `f: value=${JSON.stringify('y'.repeat(200_000))}` };
    const fitted = fitForQueue(huge);
    expect(fitted.summary.length).toBeLessThanOrEqual(1_001);
    expect(utf8Bytes({ type: 'notification', event: fitted })).toBeLessThan(QUEUE_MESSAGE_LIMIT);
  });

  it('replaces the large details of an oversized event, keeping the rest, so the queue takes it', () => {
    const big = event({ level: 'org', target: 'org-1', oldValue: 'é'.repeat(100_000), newValue: { text: 'y'.repeat(200_000) }, reason: 'import' });
    expect(utf8Bytes({ type: 'notification', event: big })).toBeGreaterThan(QUEUE_MESSAGE_LIMIT);
    const fitted = fitForQueue(big);
    expect(fitted.details).toEqual({
      level: 'org',
      target: 'org-1',
      oldValue: { omitted: 'too large for a notification', bytes: 200_002 },
      newValue: { omitted: 'too large for a notification', bytes: 200_011 },
      reason: 'import',
    });
    expect(fitted.summary).toBe(big.summary);
    expect(utf8Bytes({ type: 'notification', event: fitted })).toBeLessThan(MAX_EVENT_BYTES + 100);
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
    const large: EventMessage[] = Array.from({ length: 10 }, (_, i) => ({ type: 'notification', event: event({ note: `${i}`.repeat(100_000) }) }));
    expect(await enqueueMessages(queue, [...many, ...large])).toBe(260);
    expect(calls.every(([count, bytes]) => count! <= 100 && bytes! <= 256_000)).toBe(true);
    expect([...queueBatches(large)].length).toBeGreaterThan(1);
  });
});
