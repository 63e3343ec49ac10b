import { describe, expect, it, vi } from 'vitest';
import { memoryKv } from '../../test/sdk/memory-kv';
import type { MetricsCount, MetricsMessage } from '../events';
import { hourOf } from '../metrics';
import { createFlagClient } from './client';
import type { LocalMetricsOptions } from './types';

const NOW = Date.parse('2026-06-01T12:00:00Z');

/** A stand-in for the EVENTS Queue binding that records what is sent. */
function recordingQueue() {
  const sent: MetricsMessage[] = [];
  return {
    sent,
    queue: {
      async sendBatch(messages: Iterable<{ body: unknown }>) {
        for (const m of messages) sent.push(m.body as MetricsMessage);
      },
    },
  };
}

function client(metrics: Omit<LocalMetricsOptions, 'waitUntil'> | undefined, clock = () => NOW) {
  const pending: Promise<unknown>[] = [];
  const onError = vi.fn();
  const flags = createFlagClient({
    kv: memoryKv().kv,
    now: clock,
    cacheMaxAgeMs: 0,
    onError,
    ...(metrics ? { metrics: { ...metrics, waitUntil: (p: Promise<unknown>) => void pending.push(p) } } : {}),
  });
  /** Waits for the sends handed to waitUntil so far. */
  const settle = () => Promise.all(pending.splice(0));
  return { flags, onError, pending, settle };
}

/** `flag org value reason` → count, over every message sent. */
function totals(sent: readonly MetricsMessage[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [flag, org, value, reason, , n] of sent.flatMap((m) => m.counts) as MetricsCount[]) {
    const key = `${flag} ${org} ${value} ${reason}`;
    out[key] = (out[key] ?? 0) + n;
  }
  return out;
}

describe('local transport metrics', () => {
  it('sends the evaluate Worker\'s `metrics` messages through the queue, in waitUntil', async () => {
    const { queue, sent } = recordingQueue();
    const { flags, settle, onError } = client({ queue, flushMs: 0 });
    expect(await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' })).toBe(true);
    await settle();
    expect(await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' })).toBe(true);
    await settle();
    expect(await flags.isActiveForUser('campaign.creation.enabled', 'u-vip', { orgId: 'org-b' })).toBe(true);
    await settle();
    expect(await flags.isActive('no.such.flag', { orgId: 'org-a' })).toBe(false); // unknown keys are not counted
    await settle();
    const all = await flags.evaluateAll({ orgId: 'org-b' });
    await settle();

    expect(sent.length).toBeGreaterThanOrEqual(4);
    for (const message of sent) {
      expect(message).toMatchObject({ type: 'metrics', batchId: expect.any(String) });
      for (const count of message.counts) expect(count[4]).toBe(hourOf(NOW));
    }
    const counted = totals(sent);
    expect(counted).toMatchObject({
      'campaign.creation.enabled org-a true STATIC': 2,
      'campaign.creation.enabled org-b true TARGETING_MATCH': 1,
    });
    expect(Object.keys(counted).some((k) => k.startsWith('no.such.flag'))).toBe(false);
    // evaluateAll counts every flag it answered, once (plus the single check of org-b above)
    const orgB = Object.entries(counted).filter(([k]) => k.split(' ')[1] === 'org-b');
    expect(orgB.reduce((n, [, c]) => n + c, 0)).toBe(1 + Object.keys(all).length);
    expect(onError.mock.calls.map(([e]) => e.code)).toEqual(['FLAG_NOT_FOUND']);
  });

  it('waits for flushMs (or flushCount) before sending', async () => {
    const { queue, sent } = recordingQueue();
    let now = NOW;
    const { flags, settle } = client({ queue, flushMs: 10_000, flushCount: 3 }, () => now);
    await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' });
    await settle();
    expect(sent).toEqual([]);
    now += 10_000;
    await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' });
    await settle();
    expect(totals(sent)).toEqual({ 'campaign.creation.enabled org-a true STATIC': 2 });

    for (let i = 0; i < 2; i++) await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' });
    await settle();
    expect(sent).toHaveLength(1);
    await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' }); // the third waiting evaluation
    await settle();
    expect(totals(sent)).toEqual({ 'campaign.creation.enabled org-a true STATIC': 5 });
  });

  it('a queue that throws changes no answer, reaches no onError and rejects nothing', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const sendBatch = vi.fn(() => {
        throw new Error('queue down');
      });
      const failing = client({ queue: { sendBatch }, flushMs: 0 });
      const plain = client(undefined);
      const ask = async (c: ReturnType<typeof client>) => {
        const answers = [
          await c.flags.isActive('campaign.creation.enabled', { orgId: 'org-a' }),
          await c.flags.isActiveForPlatform('campaign.publishing.enabled', 'tiktok', { orgId: 'org-c' }),
          await c.flags.getValue('ui.theme', 'light', { orgId: 'org-a' }),
          await c.flags.evaluate('campaign.max_budget', { orgId: 'org-b' }),
          await c.flags.evaluateAll({ orgId: 'org-a', userId: 'u1' }),
        ];
        await c.settle();
        return answers;
      };
      expect(await ask(failing)).toEqual(await ask(plain));
      expect(sendBatch).toHaveBeenCalled();
      expect(failing.onError).not.toHaveBeenCalled();
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('queue down'));
    } finally {
      warn.mockRestore();
    }
  });

  it('a waitUntil that throws does not reach the caller either', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const { queue, sent } = recordingQueue();
      const onError = vi.fn();
      const flags = createFlagClient({
        kv: memoryKv().kv,
        now: () => NOW,
        onError,
        metrics: {
          queue,
          flushMs: 0,
          waitUntil: () => {
            throw new Error('no context');
          },
        },
      });
      expect(await flags.isActive('campaign.creation.enabled', { orgId: 'org-a' })).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(totals(sent)).toEqual({ 'campaign.creation.enabled org-a true STATIC': 1 }); // sent anyway, just not awaited
      expect(onError).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });
});
