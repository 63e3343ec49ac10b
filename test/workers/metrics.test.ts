import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import type { MetricsMessage } from '../../shared/events';
import { MetricsCollector } from '../../shared/metrics';
import { createEvaluateApp } from '../../workers/evaluate/app';
import type { Env } from '../../workers/evaluate/env';
import { metricsSettingsOf } from '../../workers/evaluate/metrics';
import { FakeKv, GLOBAL_KEY, bearer, cascadeLayers, putKey, putLayers } from './helpers';

/**
 * Evaluation counting in the evaluate Worker (in workerd): answers are the same with metrics on,
 * counts leave through waitUntil after the response, and a failing queue changes nothing.
 */

async function setup(queue: { sendBatch: (m: Iterable<{ body: unknown }>) => Promise<void> } | undefined, vars: Partial<Env> = {}) {
  const kv = new FakeKv();
  await putLayers(kv, cascadeLayers(7));
  await putKey(kv, GLOBAL_KEY, { id: 'k', name: 'test' });
  const env = { FLAGS_KV: kv, EVENTS: queue, ...vars } as unknown as Env;
  const app = createEvaluateApp();
  const raw = async (path: string, init: RequestInit = {}) => {
    const ctx = createExecutionContext();
    const res = await app.fetch(new Request(`https://eval.test${path}`, { ...init, headers: { ...bearer(GLOBAL_KEY), 'Content-Type': 'application/json', ...init.headers } }), env, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await raw(path, init);
    return { status: res.status, body: await res.json() };
  };
  return { call, raw, kv };
}

const flag = Object.keys(cascadeLayers(7).global.flags)[0]!;

describe('evaluation metrics', () => {
  it('counts /v1 and OFREP answers and flushes them to the queue after the response', async () => {
    const sent: MetricsMessage[] = [];
    const { call } = await setup({ sendBatch: async (m) => void sent.push(...[...m].map((x) => x.body as MetricsMessage)) }, { METRICS_FLUSH_MS: '0' });
    await call(`/v1/flags/${flag}?orgId=org-a&userId=u1`);
    await call('/v1/evaluate', { method: 'POST', body: JSON.stringify({ context: { orgId: 'org-a' }, flags: [flag, 'no-such-flag'] }) });
    await call(`/ofrep/v1/evaluate/flags/${flag}`, { method: 'POST', body: JSON.stringify({ context: { orgId: 'org-a', targetingKey: 'u1' } }) });
    const total = sent.flatMap((m) => m.counts).filter((c) => c[0] === flag && c[1] === 'org-a').reduce((n, c) => n + c[5], 0);
    expect(total).toBe(3);
    expect(sent.flatMap((m) => m.counts).some((c) => c[0] === 'no-such-flag')).toBe(false);
    expect(new Set(sent.map((m) => m.batchId)).size).toBe(sent.length);
  });

  it('counts an OFREP bulk answer once per flag, and a 304 revalidation not at all', async () => {
    const sent: MetricsMessage[] = [];
    const { raw } = await setup({ sendBatch: async (m) => void sent.push(...[...m].map((x) => x.body as MetricsMessage)) }, { METRICS_FLUSH_MS: '0' });
    const body = JSON.stringify({ context: { orgId: 'org-a', targetingKey: 'u1' } });
    const first = await raw('/ofrep/v1/evaluate/flags', { method: 'POST', body });
    expect(first.status).toBe(200);
    const flags = ((await first.json()) as { flags: unknown[] }).flags.length;
    for (let poll = 0; poll < 3; poll++) {
      const again = await raw('/ofrep/v1/evaluate/flags', { method: 'POST', body, headers: { 'If-None-Match': first.headers.get('ETag')! } });
      expect(again.status).toBe(304);
    }
    const counts = sent.flatMap((m) => m.counts).filter((c) => c[1] === 'org-a');
    expect(counts.reduce((n, c) => n + c[5], 0)).toBe(flags); // before: 4 × flags
    expect(counts.filter((c) => c[0] === flag).reduce((n, c) => n + c[5], 0)).toBe(1);
  });

  it('answers the same with a queue that fails (the failure is logged, not answered)', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const failing = await setup({ sendBatch: async () => Promise.reject(new Error('queue down')) }, { METRICS_FLUSH_MS: '0' });
    const off = await setup(undefined);
    for (const path of [`/v1/flags/${flag}?orgId=org-a&userId=u1`, `/v1/flags/${flag}`]) {
      const a = await failing.call(path);
      const b = await off.call(path);
      expect(a.status).toBe(200);
      expect(a.body).toEqual(b.body);
    }
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('lostEvaluations'));
    warn.mockRestore();
  });

  it('is off without a queue binding or with METRICS=off, and reads its flush policy from vars', () => {
    const queue = {} as Queue;
    expect(metricsSettingsOf({})).toBeNull();
    expect(metricsSettingsOf({ EVENTS: queue, METRICS: 'off' })).toBeNull();
    expect(metricsSettingsOf({ EVENTS: queue, METRICS_FLUSH_MS: '0', METRICS_FLUSH_COUNT: '50', METRICS_MAX_KEYS: 'x' })).toEqual({
      flushMs: 0,
      flushCount: 50,
      maxKeys: new MetricsCollector().settings.maxKeys,
    });
  });
});
