// Health alerts: the cron pass tracks KV behind Postgres, its own failures and a stuck notification
// outbox, and sends `system.alert` to global webhooks when one holds past its threshold, once a day
// while it holds, and when it clears.
import { describe, expect, it } from 'vitest';
import { pgErrorCode, withRls } from '../../shared/db';
import type { EventMessage, EventQueue, FlagEvent } from '../../shared/events';
import { ALERT_REMINDER_MS, checkAlerts } from '../../workers/cron/alerts';
import { runPass } from '../../workers/cron/pass';
import { slackMessage } from '../../workers/cron/webhooks';
import { call, createFlag, failingKv } from '../admin/helpers';
import { cronTestFile } from './helpers';

const { h, t } = await cronTestFile();

const MINUTE = 60_000;

function memoryQueue(): EventQueue & { sent: EventMessage[] } {
  const sent: EventMessage[] = [];
  return { sent, sendBatch: async (messages) => void sent.push(...[...messages].map((m) => m.body as EventMessage)) };
}

const alertsOf = (queue: { sent: EventMessage[] }): FlagEvent[] =>
  queue.sent.flatMap((m) => (m.type === 'notification' && m.event.event === 'system.alert' ? [m.event] : []));

async function check(nowMs: number, passErrors: string[] = []) {
  const queue = memoryQueue();
  const pool = h.newPool();
  try {
    const outcome = await checkAlerts(pool, nowMs, { passErrors, queue });
    return { ...outcome, alerts: alertsOf(queue) };
  } finally {
    await pool.end();
  }
}

const tracked = () => h.sql<{ name: string; fired_at: Date | null }>(`SELECT name, fired_at FROM cmis.alerts ORDER BY name`);

describe('health alerts', () => {
  it('KV behind Postgres: tracked from the first pass that sees it, fired after 10 minutes, reminded daily, resolved once', async () => {
    const t0 = Date.now();
    expect((await check(t0)).holding).toEqual([]);
    // a write whose KV put fails leaves its layer pending
    const key = await createFlag(h);
    const write = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { env: { ...h.env, FLAGS_KV: failingKv(h.kv), EVENTS: undefined }, token: t.orgAdmin, body: { value: true } });
    expect(write.body.publish).toBe('pending');

    const first = await check(t0);
    expect(first).toMatchObject({ holding: ['kv.behind'], alerts: [] });
    expect(await tracked()).toEqual([{ name: 'kv.behind', fired_at: null }]);
    expect((await check(t0 + 9 * MINUTE)).alerts).toEqual([]);

    const fired = await check(t0 + 10 * MINUTE);
    expect(fired.alerts).toEqual([
      expect.objectContaining({ flag: null, orgId: null, actor: 'cron', details: expect.objectContaining({ alert: 'kv.behind', state: 'firing', layers: 1, sample: [`org:${t.orgId}`] }) }),
    ]);
    expect(fired.alerts[0]!.summary).toMatch(/^Alert kv\.behind: KV writes keep failing: 1 snapshot layer/);
    expect(slackMessage(fired.alerts[0]!).text).toMatch(/^:rotating_light: Alert kv\.behind/);
    expect((await check(t0 + 11 * MINUTE)).alerts).toEqual([]); // once, not every pass
    // a day on (the notifications that creating the flag staged look stuck by then too)
    const reminded = await check(t0 + 10 * MINUTE + ALERT_REMINDER_MS);
    expect(reminded.alerts.filter((a) => a.details?.alert === 'kv.behind').map((a) => a.details?.state)).toEqual(['firing']); // daily reminder

    const status = (await call(h, 'GET', '/api/status')).body;
    expect(status.alerts).toContainEqual({ name: 'kv.behind', since: new Date(t0).toISOString(), firing: true, details: expect.objectContaining({ layers: 1, sample: [`org:${t.orgId}`] }) });
    // the details name an org's layer and its error: an org's viewer sees that an alert fires, not them
    const viewed = (await call(h, 'GET', '/api/status', { token: t.viewer })).body.alerts;
    expect(viewed).toContainEqual({ name: 'kv.behind', since: new Date(t0).toISOString(), firing: true });
    expect(JSON.stringify(viewed)).not.toContain(t.orgId);

    // the reconcile step of a pass puts the layer; the alert step of that same pass resolves it
    const queue = memoryQueue();
    const pool = h.newPool();
    try {
      await runPass({ pool, kv: h.kv, queue }, Date.now());
    } finally {
      await pool.end();
    }
    const resolved = alertsOf(queue).filter((a) => a.details?.alert === 'kv.behind');
    expect(resolved).toEqual([expect.objectContaining({ summary: expect.stringMatching(/^Resolved kv\.behind/), details: expect.objectContaining({ alert: 'kv.behind', state: 'resolved' }) })]);
    expect(slackMessage(resolved[0]!).text).toMatch(/^:white_check_mark: Resolved/);
    expect(await tracked()).toEqual([]);
    expect((await call(h, 'GET', '/api/status')).body.alerts).toEqual([]);
  });

  it('layers behind without a failed put (a republish backlog being worked through) raise nothing', async () => {
    await createFlag(h);
    await h.sql(`UPDATE cmis.snapshot_versions SET db_version = db_version + 1, last_error = NULL WHERE layer = 'global'`);
    try {
      expect((await check(Date.now())).holding).toEqual([]);
      // a put that failed (its error as drizzle words it: the SQL and every parameter)
      await h.sql(`UPDATE cmis.snapshot_versions SET last_error = 'Failed query: UPDATE cmis.snapshot_versions' || chr(10) || 'params: ' || repeat('org:x,', 80) WHERE layer = 'global'`);
      const t0 = Date.now();
      expect((await check(t0)).holding).toEqual(['kv.behind']);
      const [fired] = (await check(t0 + 10 * MINUTE)).alerts;
      expect(fired!.summary).toMatch(/^Alert kv\.behind: KV writes keep failing: 1 snapshot layer\(s\) behind Postgres \(global\); .*: Failed query: UPDATE cmis\.snapshot_versions$/);
    } finally {
      await h.sql(`UPDATE cmis.snapshot_versions SET db_version = kv_version, last_error = NULL WHERE layer = 'global'`);
    }
    expect((await check(Date.now())).holding).toEqual([]);
  });

  it('overlapping passes take turns: both check, neither fails on the other\'s new row', async () => {
    const [a, b] = await Promise.allSettled([check(Date.now(), ['x: boom']), check(Date.now(), ['x: boom'])]);
    expect([a.status, b.status]).toEqual(['fulfilled', 'fulfilled']);
    expect(await tracked()).toEqual([{ name: 'cron.failing', fired_at: null }]);
    await check(Date.now());
    expect(await tracked()).toEqual([]);
  });

  it('a condition that clears before its threshold says nothing', async () => {
    const t0 = Date.now();
    expect((await check(t0, ['metrics: boom'])).holding).toEqual(['cron.failing']);
    const cleared = await check(t0 + MINUTE);
    expect(cleared).toMatchObject({ holding: [], alerts: [] });
    expect(await tracked()).toEqual([]);
  });

  it('the cron failing for 5 minutes fires with its errors; the pass that records the failure feeds it', async () => {
    const t0 = Date.now();
    const pass = async () => {
      const queue = memoryQueue();
      const pool = h.newPool();
      try {
        await expect(runPass({ pool, kv: h.kv, queue }, Date.now())).rejects.toThrow(/metrics:/);
      } finally {
        await pool.end();
      }
      return alertsOf(queue);
    };
    // the metrics step fails for real: its table is gone (this file's own database)
    await h.sql(`ALTER TABLE cmis.flag_metrics_daily RENAME TO flag_metrics_daily_away`);
    try {
      expect(await pass()).toEqual([]);
      expect((await tracked()).map((a) => a.name)).toContain('cron.failing');
      // the pass's bookkeeping uses the real clock: move the first sighting back instead of waiting
      await h.sql(`UPDATE cmis.alerts SET observed_since = observed_since - interval '5 minutes' WHERE name = 'cron.failing'`);
      expect(await pass()).toEqual([
        expect.objectContaining({ details: expect.objectContaining({ alert: 'cron.failing', state: 'firing', errors: [expect.stringMatching(/^metrics: .*flag_metrics_daily/)] }) }),
      ]);

    } finally {
      await h.sql(`ALTER TABLE cmis.flag_metrics_daily_away RENAME TO flag_metrics_daily`);
    }
    expect((await check(Math.max(Date.now(), t0))).alerts.map((a) => [a.details?.alert, a.details?.state])).toEqual([['cron.failing', 'resolved']]);
  });

  it('notifications stuck in the outbox for 15 minutes fire at once', async () => {
    const key = await createFlag(h);
    await call(h, 'POST', `/api/flags/${key}/enable`, { env: { ...h.env, EVENTS: memoryQueue() as unknown as Queue } });
    await h.sql(`UPDATE cmis.notification_outbox SET created_at = created_at - interval '16 minutes' WHERE event->>'flag' = $1`, [key]);
    const fired = await check(Date.now());
    expect(fired.alerts).toEqual([expect.objectContaining({ details: expect.objectContaining({ alert: 'notifications.waiting', state: 'firing', count: 1 }) })]);
    await h.sql(`DELETE FROM cmis.notification_outbox WHERE event->>'flag' = $1`, [key]);
    expect((await check(Date.now())).alerts.map((a) => a.details?.state)).toEqual(['resolved']);
  });

  it('alerts reach global webhooks only, and only the cron (system) writes them', async () => {
    const pool = h.newPool();
    try {
      const orgAdmin = { orgId: t.orgId, role: 'org_admin' as const, actor: 'test' };
      const refused = await withRls(pool, orgAdmin, (tx) => tx.execute(`INSERT INTO cmis.alerts (name, observed_since) VALUES ('kv.behind', now())`)).catch((e: unknown) => e);
      expect(pgErrorCode(refused)).toBe('42501'); // the row-level security policy
      await withRls(pool, { orgId: null, role: 'system', actor: 'test' }, (tx) => tx.execute(`INSERT INTO cmis.alerts (name, observed_since) VALUES ('kv.behind', now())`));
      expect((await withRls(pool, orgAdmin, (tx) => tx.execute(`SELECT name FROM cmis.alerts`))).rows).toEqual([{ name: 'kv.behind' }]); // read, like cron runs
      await withRls(pool, { orgId: null, role: 'system', actor: 'test' }, (tx) => tx.execute(`DELETE FROM cmis.alerts`));
    } finally {
      await pool.end();
    }
    const orgHook = (await call(h, 'POST', '/api/webhooks', { token: t.orgAdmin, body: { url: 'http://127.0.0.1:9/org', kind: 'generic' } })).body;
    const globalHook = (await call(h, 'POST', '/api/webhooks', { body: { url: 'http://127.0.0.1:9/ops', kind: 'slack', events: ['system.alert'] } })).body;
    expect(globalHook.events).toEqual(['system.alert']);
    const { handleEventMessages } = await import('../../workers/cron/queue');
    const deliveries = memoryQueue();
    const event: FlagEvent = { event: 'system.alert', flag: null, orgId: null, actor: 'cron', at: new Date().toISOString(), summary: 'Alert kv.behind: …', details: { alert: 'kv.behind', state: 'firing' } };
    const fanPool = h.newPool();
    try {
      await handleEventMessages([{ id: 'm', body: { type: 'notification', id: crypto.randomUUID(), event }, attempts: 1, ack: () => {}, retry: () => {} }], { pool: fanPool, queue: deliveries, allowLoopback: true });
    } finally {
      await fanPool.end();
    }
    const hooks = deliveries.sent.map((m) => (m as { webhookId: string }).webhookId);
    expect(hooks).toContain(globalHook.id);
    expect(hooks).not.toContain(orgHook.id);
  });
});
