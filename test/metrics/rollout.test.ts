// What the metrics say matches what the engine answered: a 30% rollout evaluated for 10k users
// shows 30% ± 2 observed; and the metrics routes keep org roles to their own org.
import type { Pool } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../shared/engine';
import { MetricsCollector } from '../../shared/metrics';
import { call, createFlag, mintRoleTokens, type RoleTokens } from '../admin/helpers';
import { startCronHarness, type CronHarness } from '../cron/helpers';
import { batch, deliver, hourOf } from './helpers';

let h: CronHarness;
let pool: Pool;
let t: RoleTokens;
beforeAll(async () => {
  h = await startCronHarness();
  pool = h.newPool();
  t = await mintRoleTokens(h);
});
afterAll(async () => {
  await pool?.end();
  await h?.close();
});

describe('observed rollout', () => {
  it('a 30% rollout over 10k users shows 30% ± 2 in the summary, with every evaluation counted', async () => {
    const flag = await createFlag(h);
    const patched = await call(h, 'PATCH', `/api/flags/${flag}`, { body: { rollout: { percentage: 30, value: true } } });
    expect(patched.status).toBe(200);
    const layers = await h.layers();
    const collector = new MetricsCollector({ maxKeys: 10_000 });
    const now = Date.now();
    let inside = 0;
    for (let i = 0; i < 10_000; i++) {
      const result = evaluate(layers, flag, { userId: `user-${i}`, orgId: `org-${i % 7}` }, now);
      if (result.value === true) inside += 1;
      collector.record(flag, `org-${i % 7}`, result, now);
    }
    await deliver(pool, ...collector.drain());

    const summary = await call(h, 'GET', `/api/flags/${flag}/metrics/summary`);
    expect(summary.status).toBe(200);
    expect(summary.body.last24h).toBe(10_000);
    expect(summary.body.last7d).toBe(10_000);
    expect(summary.body.rollout.configured).toBe(30);
    expect(summary.body.rollout.evaluations).toBe(10_000);
    expect(Math.abs(summary.body.rollout.observed - 30)).toBeLessThanOrEqual(2);
    expect(summary.body.values).toEqual([
      { value: false, count: 10_000 - inside, share: (10_000 - inside) / 10_000 },
      { value: true, count: inside, share: inside / 10_000 },
    ]);
    expect(summary.body.orgs).toBe(7);
    expect(summary.body.topOrgs).toHaveLength(7);
    expect(summary.body.lastEvaluatedAt).toBe(new Date(hourOf(now)).toISOString());

    const metrics = await call(h, 'GET', `/api/flags/${flag}/metrics`);
    expect(metrics.body.total).toBe(10_000);
    expect(metrics.body.byReason).toEqual(expect.arrayContaining([{ reason: 'SPLIT', count: inside }, { reason: 'DEFAULT', count: 10_000 - inside }]));
  });
});

describe('metrics routes and roles', () => {
  it('org roles see only their org; system admins see all or one', async () => {
    const flag = await createFlag(h);
    const hour = hourOf(Date.now());
    await deliver(
      pool,
      batch([
        [flag, t.orgId, 'true', 'STATIC', hour, 4],
        [flag, t.otherOrgId, 'true', 'STATIC', hour, 10],
        [flag, '', 'false', 'STATIC', hour, 1],
      ]),
    );
    const all = await call(h, 'GET', `/api/flags/${flag}/metrics`);
    expect(all.body).toMatchObject({ orgId: null, total: 15 });
    const one = await call(h, 'GET', `/api/flags/${flag}/metrics?orgId=${t.otherOrgId}`);
    expect(one.body.total).toBe(10);

    for (const token of [t.orgAdmin, t.viewer]) {
      const own = await call(h, 'GET', `/api/flags/${flag}/metrics`, { token });
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ orgId: t.orgId, total: 4 });
      const other = await call(h, 'GET', `/api/flags/${flag}/metrics?orgId=${t.otherOrgId}`, { token });
      expect(other.status).toBe(403);
      const summary = await call(h, 'GET', `/api/flags/${flag}/metrics/summary`, { token });
      expect(summary.body).toMatchObject({ orgId: t.orgId, last24h: 4, orgs: 1, topOrgs: [{ orgId: t.orgId, count: 4 }] });
    }
    const otherSummary = await call(h, 'GET', `/api/flags/${flag}/metrics/summary?orgId=${t.otherOrgId}`, { token: t.orgAdmin });
    expect(otherSummary.status).toBe(403);
  });

  it('validates the range and the flag', async () => {
    const flag = await createFlag(h);
    expect((await call(h, 'GET', `/api/flags/${flag}/metrics?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`)).status).toBe(422);
    expect((await call(h, 'GET', `/api/flags/${flag}/metrics?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z`)).status).toBe(422);
    expect((await call(h, 'GET', `/api/flags/${flag}/metrics?from=yesterday`)).status).toBe(422);
    expect((await call(h, 'GET', `/api/flags/no-such-flag-x/metrics`)).status).toBe(404);
    expect((await call(h, 'GET', `/api/flags/no-such-flag-x/metrics/summary`)).status).toBe(404);
  });
});
