import { describe, expect, it, vi } from 'vitest';
import type { MetricsMessage } from '../events';
import { MAX_COUNTS_PER_MESSAGE, MetricsCollector, STALE_FLUSH_MS, hourOf, valueKeyOf } from './collector';

const T = Date.UTC(2026, 0, 5, 10, 30);
const HOUR = 3_600_000;
const ok = (value: unknown, reason = 'STATIC') => ({ value, reason });

function fakeQueue(fail = false) {
  const sent: MetricsMessage[] = [];
  return {
    sent,
    sendBatch: vi.fn(async (messages: Iterable<{ body: unknown }>) => {
      if (fail) throw new Error('queue down');
      for (const m of messages) sent.push(m.body as MetricsMessage);
    }),
  };
}

describe('valueKeyOf', () => {
  it('is the JSON text, cut at 256 characters, cached per object', () => {
    expect(valueKeyOf(true)).toBe('true');
    expect(valueKeyOf(3)).toBe('3');
    expect(valueKeyOf('a')).toBe('"a"');
    expect(valueKeyOf(null)).toBe('null');
    const obj = { a: [1, 2] };
    expect(valueKeyOf(obj)).toBe('{"a":[1,2]}');
    expect(valueKeyOf('x'.repeat(1000))).toHaveLength(256);
  });
});

describe('MetricsCollector', () => {
  it('counts per flag, org, value, reason and hour; skips unknown flags', () => {
    const m = new MetricsCollector();
    m.record('f', 'o1', ok(true, 'SPLIT'), T);
    m.record('f', 'o1', ok(true, 'SPLIT'), T + 1000);
    m.record('f', 'o1', ok(false, 'DEFAULT'), T);
    m.record('f', undefined, ok(true, 'SPLIT'), T);
    m.record('f', 'o1', ok(true, 'SPLIT'), T + HOUR);
    m.record('nope', 'o1', { value: null, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' }, T);
    m.recordAll('o2', { f: ok(true), g: ok('x'), h: { value: null, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' } }, T);
    expect(m.size).toBe(7);
    const [message] = m.drain(() => 'id-1');
    expect(message!.batchId).toBe('id-1');
    expect(message!.counts).toEqual(
      expect.arrayContaining([
        ['f', 'o1', 'true', 'SPLIT', hourOf(T), 2],
        ['f', 'o1', 'false', 'DEFAULT', hourOf(T), 1],
        ['f', '', 'true', 'SPLIT', hourOf(T), 1],
        ['f', 'o1', 'true', 'SPLIT', hourOf(T) + HOUR, 1],
        ['f', 'o2', 'true', 'STATIC', hourOf(T), 1],
        ['g', 'o2', '"x"', 'STATIC', hourOf(T), 1],
      ]),
    );
    expect(message!.counts).toHaveLength(6);
    expect(m.size).toBe(0);
    expect(m.drain()).toEqual([]);
  });

  it('is due after flushMs or flushCount, and not twice while a flush is scheduled', () => {
    const m = new MetricsCollector({ flushMs: 5000, flushCount: 3 });
    expect(m.due(T)).toBe(false);
    m.record('f', 'o', ok(true), T);
    expect(m.due(T + 4999)).toBe(false);
    expect(m.due(T + 5000)).toBe(true);
    m.record('f', 'o', ok(true), T);
    m.record('f', 'o', ok(true), T);
    expect(m.due(T)).toBe(true);
    m.begin(T);
    expect(m.due(T)).toBe(false);
    // a flush that never runs (its waitUntil cut off) holds the next back only for STALE_FLUSH_MS
    expect(m.due(T + STALE_FLUSH_MS - 1)).toBe(false);
    expect(m.due(T + STALE_FLUSH_MS)).toBe(true); // before: never again in this isolate
  });

  it('a stale flush that ends late does not let a third start beside the one that replaced it', async () => {
    const m = new MetricsCollector({ flushMs: 0, flushCount: 1 });
    let release!: () => void;
    const hanging = { sendBatch: vi.fn(() => new Promise<void>((resolve) => (release = resolve))) };
    m.record('f', 'o', ok(true), T);
    m.begin(T);
    const stale = m.flush(hanging, T); // hangs past STALE_FLUSH_MS
    m.record('f', 'o', ok(true), T + STALE_FLUSH_MS);
    expect(m.due(T + STALE_FLUSH_MS)).toBe(true);
    m.begin(T + STALE_FLUSH_MS);
    const queue = { sendBatch: vi.fn(() => new Promise<void>(() => {})) }; // the replacement is still sending
    void m.flush(queue, T + STALE_FLUSH_MS);
    release();
    await stale;
    m.record('f', 'o', ok(true), T + STALE_FLUSH_MS + 1);
    expect(m.due(T + STALE_FLUSH_MS + 1)).toBe(false); // the replacement is under way
    expect(m.due(T + 2 * STALE_FLUSH_MS)).toBe(true); // until it is stale in turn
  });

  it('a flush that starts under a stale mark marks itself, so none starts beside it', async () => {
    const m = new MetricsCollector({ flushMs: 0, flushCount: 1 });
    const hanging = () => ({ sendBatch: vi.fn(() => new Promise<void>(() => {})) });
    m.record('f', 'o', ok(true), T);
    m.begin(T);
    void m.flush(hanging(), T);
    m.record('f', 'o', ok(true), T + STALE_FLUSH_MS);
    m.begin(T + STALE_FLUSH_MS); // replaces the first, then hangs as well
    void m.flush(hanging(), T + STALE_FLUSH_MS);
    // a further round of a flush loop, after the replacement's mark has gone stale
    m.record('f', 'o', ok(true), T + 2 * STALE_FLUSH_MS);
    void m.flush(hanging(), T + 2 * STALE_FLUSH_MS);
    m.record('f', 'o', ok(true), T + 2 * STALE_FLUSH_MS + 1);
    expect(m.due(T + 2 * STALE_FLUSH_MS + 1)).toBe(false);
  });

  it('keeps the map bounded: new keys beyond maxKeys are dropped, existing ones still count', async () => {
    const m = new MetricsCollector({ maxKeys: 2 });
    m.record('a', 'o', ok(true), T);
    m.record('b', 'o', ok(true), T);
    m.record('c', 'o', ok(true), T);
    m.record('a', 'o', ok(true), T);
    expect(m.dropped).toBe(1);
    expect(m.due(T)).toBe(true); // a full map flushes at once
    const queue = fakeQueue();
    expect(await m.flush(queue)).toBe(3);
    expect(queue.sent[0]!.counts).toEqual([
      ['a', 'o', 'true', 'STATIC', hourOf(T), 2],
      ['b', 'o', 'true', 'STATIC', hourOf(T), 1],
    ]);
  });

  it('splits large drains into messages of at most MAX_COUNTS_PER_MESSAGE counts with distinct ids', async () => {
    const m = new MetricsCollector({ maxKeys: 10_000 });
    for (let i = 0; i < MAX_COUNTS_PER_MESSAGE * 2 + 5; i++) m.record(`flag-${i}`, 'o', ok(true), T);
    const queue = fakeQueue();
    expect(await m.flush(queue)).toBe(MAX_COUNTS_PER_MESSAGE * 2 + 5);
    expect(queue.sent.map((s) => s.counts.length)).toEqual([MAX_COUNTS_PER_MESSAGE, MAX_COUNTS_PER_MESSAGE, 5]);
    expect(new Set(queue.sent.map((s) => s.batchId)).size).toBe(3);
  });

  it('flushWhileDue sends what was counted during a flush, which no request would schedule', async () => {
    const m = new MetricsCollector({ flushMs: 0 });
    const sent: MetricsMessage[] = [];
    const queue = {
      sendBatch: vi.fn(async (messages: Iterable<{ body: unknown }>) => {
        for (const x of messages) sent.push(x.body as MetricsMessage);
        // an answer counted while this batch is on its way: due() is false during a flush
        if (sent.length === 1) {
          m.record('f', 'o1', ok(false), T);
          expect(m.due(T)).toBe(false);
        }
      }),
    };
    m.record('f', 'o1', ok(true), T);
    expect(await m.flushWhileDue(queue, () => T)).toBe(2);
    expect(sent.flatMap((x) => x.counts.map((c) => c[2]))).toEqual(['true', 'false']);
    expect(m.size).toBe(0);
  });

  it('flushWhileDue stops after its rounds, and does not flush what is not due', async () => {
    const busy = new MetricsCollector({ flushMs: 0 });
    const queue = { sendBatch: vi.fn(async () => busy.record('f', 'o1', ok(true), T)) };
    busy.record('f', 'o1', ok(true), T);
    await busy.flushWhileDue(queue, () => T, 3);
    expect(queue.sendBatch).toHaveBeenCalledTimes(3);
    expect(busy.size).toBe(1); // left for the next request's flush

    const slow = new MetricsCollector({ flushMs: 10_000 });
    const q2 = { sendBatch: vi.fn(async () => slow.record('f', 'o1', ok(true), T)) };
    slow.record('f', 'o1', ok(true), T);
    await slow.flushWhileDue(q2, () => T);
    expect(q2.sendBatch).toHaveBeenCalledTimes(1); // the count made during the flush is not due yet
  });

  it('swallows (and logs) a queue failure; the next flush starts over', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const m = new MetricsCollector();
    m.record('f', 'o', ok(true), T);
    m.begin(T);
    await expect(m.flush(fakeQueue(true))).resolves.toBe(0);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('lostEvaluations'));
    expect(m.size).toBe(0);
    m.record('f', 'o', ok(true), T);
    expect(m.due(T + 60_000)).toBe(true); // the failed flush does not block the next one
    await expect(m.flush(undefined)).resolves.toBe(0);
    warn.mockRestore();
  });
});
