// Stale detection with a controllable clock: each scan at `now` marks what is stale then and
// clears what no longer is; the weekly digest goes out once per ISO week.
import type { Pool } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventMessage, FlagEvent, NotificationMessage } from '../../shared/events';
import { handleEventMessages } from '../../workers/cron/queue';
import { isoWeekOf, scanStaleFlags, sendWeeklyDigest } from '../../workers/cron/stale';
import { isStaleScanMinute, STALE_SCAN_MINUTE } from '../../workers/cron/pass';
import { call, createFlag, mintRoleTokens, type RoleTokens } from '../admin/helpers';
import { startCronHarness, type CronHarness } from '../cron/helpers';
import { batch, DAY, deliver, HOUR, hourOf } from './helpers';

let h: CronHarness;
let pool: Pool;
let t: RoleTokens;
let T0: number;
beforeAll(async () => {
  h = await startCronHarness();
  pool = h.newPool();
  t = await mintRoleTokens(h);
  T0 = Date.now();
});
afterAll(async () => {
  await pool?.end();
  await h?.close();
});

const marksAt = async (nowMs: number) => {
  const scan = await scanStaleFlags(pool, nowMs);
  return { scan, marks: new Set(scan.marks.map((m) => `${m.flag} ${m.kind}${m.target ? ` ${m.target}` : ''}`)) };
};

describe('stale scan', () => {
  it('runs in one cron pass an hour (it reads every flag\'s counts), at minute STALE_SCAN_MINUTE', () => {
    const hour = Date.parse('2026-12-01T09:00:00Z');
    const minutes = Array.from({ length: 60 }, (_, m) => m).filter((m) => isStaleScanMinute(hour + m * 60_000 + 30_000));
    expect(minutes).toEqual([STALE_SCAN_MINUTE]);
  });

  it('marks nothing unused while no evaluation at all is counted (counting looks off)', async () => {
    const flag = await createFlag(h);
    expect((await marksAt(T0 + 31 * DAY)).marks.has(`${flag} unused`)).toBe(false); // before: every flag
  });

  it('marks a flag not evaluated for 30 days, and clears the mark once it is evaluated', async () => {
    const flag = await createFlag(h);
    const busy = await createFlag(h); // another flag is evaluated: counting is on
    await deliver(pool, batch([[busy, 'o', 'true', 'STATIC', hourOf(T0 + 30 * DAY), 1], [busy, 'o', 'true', 'STATIC', hourOf(T0 + 61 * DAY), 1]]));
    expect((await marksAt(T0 + DAY)).marks.has(`${flag} unused`)).toBe(false);
    const later = await marksAt(T0 + 31 * DAY);
    expect(later.marks.has(`${flag} unused`)).toBe(true);
    expect(later.scan.marked).toBeGreaterThanOrEqual(1);

    await deliver(pool, batch([[flag, 'o', 'true', 'STATIC', hourOf(T0 + 31 * DAY), 1]]));
    const after = await marksAt(T0 + 31 * DAY + HOUR);
    expect(after.marks.has(`${flag} unused`)).toBe(false);
    expect(after.scan.cleared).toBeGreaterThanOrEqual(1);
    // and marked again 30 days after that evaluation
    expect((await marksAt(T0 + 62 * DAY)).marks.has(`${flag} unused`)).toBe(true);
  });

  it('marks a flag that answered one value everywhere for 30 days, and clears it when another value appears', async () => {
    const flag = await createFlag(h);
    const counts = [];
    for (let d = 0; d <= 35; d++) counts.push([flag, `org-${d % 3}`, 'true', 'STATIC', hourOf(T0 + d * DAY), 10] as [string, string, string, string, number, number]);
    await deliver(pool, batch(counts));
    expect((await marksAt(T0 + 20 * DAY)).marks.has(`${flag} constant`)).toBe(false); // not 30 days yet
    expect((await marksAt(T0 + 35 * DAY + HOUR)).marks.has(`${flag} constant`)).toBe(true);
    // the mark's count is a total over every org: a system admin reads it, an org's admin does not
    const constantOf = async (token?: string) => {
      const res = await call(h, 'GET', `/api/stale?flag=${flag}`, token === undefined ? {} : { token });
      expect(res.status).toBe(200);
      return res.body.items.find((m: { kind: string }) => m.kind === 'constant');
    };
    expect((await constantOf()).detail).toMatchObject({ evaluations: expect.any(Number), value: 'true' });
    const seenByOrg = await constantOf(t.otherOrgAdmin);
    expect(seenByOrg.detail).toMatchObject({ value: 'true', days: 30 });
    expect(seenByOrg.detail).not.toHaveProperty('evaluations'); // before: every org's total
    const summary = await call(h, 'GET', `/api/flags/${flag}/metrics/summary`, { token: t.otherOrgAdmin });
    expect(summary.body.stale.find((m: { kind: string }) => m.kind === 'constant').detail).not.toHaveProperty('evaluations');
    await deliver(pool, batch([[flag, 'org-1', 'false', 'DEFAULT', hourOf(T0 + 35 * DAY), 1]]));
    expect((await marksAt(T0 + 35 * DAY + HOUR)).marks.has(`${flag} constant`)).toBe(false);
  });

  it('marks flags past expiresAt until the date moves', async () => {
    const flag = await createFlag(h, { expiresAt: new Date(T0 + 10 * DAY).toISOString() });
    expect((await marksAt(T0 + 5 * DAY)).marks.has(`${flag} expired`)).toBe(false);
    expect((await marksAt(T0 + 11 * DAY)).marks.has(`${flag} expired`)).toBe(true);
    expect((await call(h, 'PATCH', `/api/flags/${flag}`, { body: { expiresAt: new Date(T0 + 60 * DAY).toISOString() } })).status).toBe(200);
    expect((await marksAt(T0 + 11 * DAY)).marks.has(`${flag} expired`)).toBe(false);
  });

  it('marks expired and old user overrides, visible to their org only, and clears them when removed', async () => {
    const flag = await createFlag(h);
    const put = (user: string, body: Record<string, unknown>) => call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${flag}/users/${user}`, { body });
    expect((await put('u-exp', { value: true, expiresAt: new Date(T0 + 2 * DAY).toISOString() })).status).toBe(200);
    expect((await put('u-old', { value: true })).status).toBe(200);
    const atDay3 = await marksAt(T0 + 3 * DAY);
    expect(atDay3.marks.has(`${flag} override ${t.orgId}/u-exp`)).toBe(true);
    expect(atDay3.marks.has(`${flag} override ${t.orgId}/u-old`)).toBe(false);
    const busy = await createFlag(h); // counting is on at day 91
    await deliver(pool, batch([[busy, 'o', 'true', 'STATIC', hourOf(T0 + 90 * DAY), 1]]));
    expect((await marksAt(T0 + 91 * DAY)).marks.has(`${flag} override ${t.orgId}/u-old`)).toBe(true);

    const own = await call(h, 'GET', `/api/stale?flag=${flag}`, { token: t.viewer });
    expect(own.status).toBe(200);
    expect(own.body.items.filter((m: { kind: string }) => m.kind === 'override').map((m: { target: string }) => m.target).sort()).toEqual([
      `${t.orgId}/u-exp`,
      `${t.orgId}/u-old`,
    ]);
    const other = await call(h, 'GET', `/api/stale?flag=${flag}`, { token: t.otherOrgAdmin });
    expect(other.body.items.filter((m: { kind: string }) => m.kind === 'override')).toEqual([]);
    expect(other.body.items.map((m: { kind: string }) => m.kind)).toContain('unused'); // flag-level marks are for everyone

    const summary = await call(h, 'GET', `/api/flags/${flag}/metrics/summary`);
    expect(summary.body.stale.map((m: { kind: string }) => m.kind)).toEqual(expect.arrayContaining(['override', 'unused']));

    expect((await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${flag}/users/u-exp`)).status).toBe(204);
    const after = await marksAt(T0 + 91 * DAY);
    expect(after.marks.has(`${flag} override ${t.orgId}/u-exp`)).toBe(false);
    expect(after.marks.has(`${flag} override ${t.orgId}/u-old`)).toBe(true);
  });

  it('keeps the first marking time across scans', async () => {
    const flag = await createFlag(h);
    await marksAt(T0 + 40 * DAY);
    await marksAt(T0 + 41 * DAY);
    const [row] = await h.sql(`SELECT marked_at, checked_at FROM cmis.stale_marks WHERE feature_key = $1 AND kind = 'unused'`, [flag]);
    expect(new Date(row!.marked_at).getTime()).toBe(T0 + 40 * DAY);
    expect(new Date(row!.checked_at).getTime()).toBe(T0 + 41 * DAY);
  });
});

describe('weekly digest', () => {
  it('is enqueued once per ISO week, as a stale.digest notification', async () => {
    const sent: FlagEvent[] = [];
    const queue = {
      async sendBatch(messages: Iterable<{ body: unknown }>) {
        for (const m of messages) sent.push((m.body as { event: FlagEvent }).event);
      },
    };
    const monday = Date.UTC(2031, 0, 6, 9); // a Monday
    const { marks } = await scanStaleFlags(pool, monday);
    expect(marks.length).toBeGreaterThan(0);
    expect(isoWeekOf(monday)).toBe('2031-01-06');
    expect(isoWeekOf(monday + 6 * DAY + 14 * HOUR)).toBe('2031-01-06');
    expect(await sendWeeklyDigest(pool, queue, marks, monday)).toBe(1);
    expect(await sendWeeklyDigest(pool, queue, marks, monday + 3 * DAY)).toBe(0);
    expect(await sendWeeklyDigest(pool, queue, marks, monday + 7 * DAY)).toBe(1);
    expect(await sendWeeklyDigest(pool, queue, [], monday + 14 * DAY)).toBe(0); // nothing to clean up
    expect(sent).toHaveLength(2);
    expect(sent[0]).toMatchObject({ event: 'stale.digest', flag: null, orgId: null, actor: 'cron' });
    expect(sent[0]!.summary).toMatch(/^Weekly flag cleanup: \d+ finding/);
    expect((sent[0]!.details as { marks: unknown[] }).marks.length).toBe(Math.min(200, marks.length));
  });

  it('is not recorded as sent when the queue refuses it', async () => {
    const refusing = { sendBatch: async () => Promise.reject(new Error('down')) };
    const week = Date.UTC(2031, 5, 2, 9);
    const { marks } = await scanStaleFlags(pool, week);
    const warn = console.warn;
    console.warn = () => {};
    try {
      await expect(sendWeeklyDigest(pool, refusing, marks, week)).rejects.toThrow(/refused/);
    } finally {
      console.warn = warn;
    }
    expect(await h.sql(`SELECT 1 FROM cmis.stale_digests WHERE week = '2031-06-02'`)).toEqual([]);
  });

  it("sent again after its week's row was lost (the commit failed after the send) reaches each webhook once", async () => {
    const hook = await call(h, 'POST', '/api/webhooks', { body: { url: 'https://hooks.example/digest', kind: 'generic', events: ['stale.digest'] } });
    expect(hook.status).toBe(201);
    const sent: EventMessage[] = [];
    const queue = { sendBatch: async (messages: Iterable<{ body: unknown }>) => void sent.push(...[...messages].map((m) => m.body as EventMessage)) };
    const monday = Date.UTC(2031, 8, 1, 9);
    const { marks } = await scanStaleFlags(pool, monday);
    expect(await sendWeeklyDigest(pool, queue, marks, monday)).toBe(1);
    await h.sql(`DELETE FROM cmis.stale_digests WHERE week = '2031-09-01'`); // as if its COMMIT had failed
    expect(await sendWeeklyDigest(pool, queue, marks, monday + HOUR)).toBe(1);
    expect(await sendWeeklyDigest(pool, queue, marks, monday + 7 * DAY)).toBe(1); // the next week's
    expect(sent.map((m) => m.type)).toEqual(['notification', 'notification', 'notification']);
    const [first, again, next] = sent as NotificationMessage[];
    expect(again!.id).toBe(first!.id);
    expect(next!.id).not.toBe(first!.id);

    const deliveries: EventMessage[] = [];
    const deliveryQueue = { sendBatch: async (messages: Iterable<{ body: unknown }>) => void deliveries.push(...[...messages].map((m) => m.body as EventMessage)) };
    const message = (body: unknown) => ({ id: crypto.randomUUID(), body, attempts: 1, ack: () => {}, retry: () => {} });
    await handleEventMessages([message(first), message(again)], { pool, queue: deliveryQueue });
    const toHook = deliveries.filter((d) => d.type === 'webhook.delivery' && d.webhookId === hook.body.id);
    expect(toHook).toHaveLength(1);
    await handleEventMessages([message(next)], { pool, queue: deliveryQueue });
    expect(deliveries.filter((d) => d.type === 'webhook.delivery' && d.webhookId === hook.body.id)).toHaveLength(2);
    expect((await call(h, 'DELETE', `/api/webhooks/${hook.body.id}`)).status).toBe(204);
  });
});
