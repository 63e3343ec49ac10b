// Counts exact end to end: evaluations over HTTP against the real stack (three Workers in workerd,
// one Queue) → the evaluate isolate's counter → waitUntil flush → Queue → cron consumer →
// flag_metrics_hourly → the admin API. The evaluate Worker flushes after every request here
// (METRICS_FLUSH_MS=0) so the test knows when everything has been sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../scripts/stack';
import { createPool } from '../../shared/db/client';
import { useNodeWebSocket } from '../../shared/db/node';
import { startTestStack } from '../e2e/stack';
import { batch, deliver, hourOf } from './helpers';

let stack: Stack;
beforeAll(async () => {
  stack = await startTestStack({ workerVars: { evaluate: { METRICS_FLUSH_MS: '0' } } });
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${stack.urls.admin}${path}`, {
    method,
    headers: { Authorization: `Bearer ${stack.adminToken}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function evaluateApi(path: string, init: RequestInit = {}): Promise<any> {
  const res = await fetch(`${stack.urls.evaluate}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${stack.evalKey}`, 'Content-Type': 'application/json', ...(init.headers ?? {}) },
  });
  expect(res.status).toBe(200);
  return res.json();
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await sleep(200);
    value = await read();
  }
  return value;
}

describe('metrics end to end', () => {
  it('N evaluations over HTTP show up as exactly N, split by value, and a redelivered batch adds nothing', async () => {
    const flag = `metrics.e2e-${Date.now().toString(36)}`;
    expect((await admin('POST', '/api/flags', { key: flag })).status).toBe(201);
    expect((await admin('PATCH', `/api/flags/${flag}`, { rollout: { percentage: 50, value: true } })).status).toBe(200);
    // wait (without an org, so these polls are not counted under the test's org) until the flag is live
    await until('the flag to reach the evaluate Worker', async () => (await fetch(`${stack.urls.evaluate}/v1/flags/${flag}`, { headers: { Authorization: `Bearer ${stack.evalKey}` } })).status, (s) => s === 200);

    const orgId = 'org-metrics-e2e';
    const answered = new Map<unknown, number>();
    const tally = (value: unknown) => answered.set(value, (answered.get(value) ?? 0) + 1);
    for (let i = 0; i < 40; i++) tally((await evaluateApi(`/v1/flags/${flag}?orgId=${orgId}&userId=u-${i}`)).value);
    for (let i = 40; i < 50; i++) {
      tally((await evaluateApi('/v1/evaluate', { method: 'POST', body: JSON.stringify({ context: { orgId, userId: `u-${i}` }, flags: [flag] }) })).flags[flag].value);
    }
    for (let i = 50; i < 60; i++) {
      tally((await evaluateApi(`/ofrep/v1/evaluate/flags/${flag}`, { method: 'POST', body: JSON.stringify({ context: { orgId, targetingKey: `u-${i}` } }) })).value);
    }
    expect(answered.get(true)! + answered.get(false)!).toBe(60);
    expect(answered.get(true)).toBeGreaterThan(0);
    expect(answered.get(false)).toBeGreaterThan(0);

    const metricsPath = `/api/flags/${flag}/metrics?orgId=${orgId}`;
    const metrics = await until('60 evaluations in the metrics', async () => (await admin('GET', metricsPath)).body, (b) => b.total >= 60);
    expect(metrics.total).toBe(60);
    expect(metrics.byValue).toEqual(
      expect.arrayContaining([
        { value: true, count: answered.get(true) },
        { value: false, count: answered.get(false) },
      ]),
    );
    expect(metrics.byValue).toHaveLength(2);

    // a redelivery of a batch the consumer already took adds nothing, through the consumer function itself
    useNodeWebSocket();
    const pool = createPool({ databaseUrl: stack.databaseUrl, wsProxy: stack.wsProxy, max: 1, idleTimeoutMillis: 20 });
    try {
      const { rows } = await pool.query<{ id: string }>('SELECT id::text FROM cmis.metrics_batches ORDER BY received_at DESC LIMIT 1');
      const redelivered = batch([[flag, orgId, 'true', 'SPLIT', hourOf(Date.now()), 1000]], rows[0]!.id);
      const [message] = await deliver(pool, redelivered);
      expect(message!.acked).toBe(1);
      // and the same fresh batch delivered twice counts once
      const fresh = batch([[flag, orgId, 'true', 'SPLIT', hourOf(Date.now()), 5]]);
      await deliver(pool, fresh);
      await deliver(pool, fresh);
    } finally {
      await pool.end();
    }
    await sleep(1500); // nothing else is in flight: totals stay exact
    const after = (await admin('GET', metricsPath)).body;
    expect(after.total).toBe(65);
    expect(after.byValue).toEqual(expect.arrayContaining([{ value: true, count: answered.get(true)! + 5 }]));

    const summary = (await admin('GET', `/api/flags/${flag}/metrics/summary?orgId=${orgId}`)).body;
    expect(summary).toMatchObject({ last24h: 65, orgs: 1, rollout: { configured: 50 } });
  });

  it('the cron pass reports its rollup count', async () => {
    const res = await stack.triggerCron();
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ rolledUp: expect.any(Number) });
  });
});
