// The consumer side: a metrics batch lands in flag_metrics_hourly exactly once (redelivery adds
// nothing), malformed batches are acknowledged, and the cron pass rolls old hours into days.
import type { Pool } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rollUpMetrics } from '../../workers/cron/metrics';
import { runPass } from '../../workers/cron/pass';
import { call, createFlag } from '../admin/helpers';
import { startCronHarness, type CronHarness } from '../cron/helpers';
import { batch, DAY, deliver, HOUR, hourOf } from './helpers';

let h: CronHarness;
let pool: Pool;
beforeAll(async () => {
  h = await startCronHarness();
  pool = h.newPool();
});
afterAll(async () => {
  await pool?.end();
  await h?.close();
});

const hourlyOf = (flag: string) =>
  h.sql<{ org_id: string; value_key: string; reason: string; hour: Date; count: string }>(
    `SELECT org_id, value_key, reason, hour, count::text FROM cmis.flag_metrics_hourly WHERE feature_key = $1 ORDER BY org_id, value_key, hour`,
    [flag],
  );

describe('metrics consumer', () => {
  it('adds a batch once: the same batch delivered twice (redelivery) counts once', async () => {
    const flag = await createFlag(h);
    const hour = hourOf(Date.now());
    const message = batch([
      [flag, 'org-a', 'true', 'SPLIT', hour, 7],
      [flag, 'org-a', 'false', 'DEFAULT', hour, 3],
      [flag, '', 'false', 'STATIC', hour, 2],
    ]);
    const [first] = await deliver(pool, message);
    const [again] = await deliver(pool, message);
    expect(first!.acked).toBe(1);
    expect(again!.acked).toBe(1);
    expect(again!.retried).toBe(0);
    const rows = await hourlyOf(flag);
    expect(rows.map((r) => [r.org_id, r.value_key, r.reason, Number(r.count)])).toEqual([
      ['', 'false', 'STATIC', 2],
      ['org-a', 'false', 'DEFAULT', 3],
      ['org-a', 'true', 'SPLIT', 7],
    ]);
    // a new batch with the same key adds to the row
    await deliver(pool, batch([[flag, 'org-a', 'true', 'SPLIT', hour, 5]]));
    const [row] = await h.sql(`SELECT count::int AS n FROM cmis.flag_metrics_hourly WHERE feature_key = $1 AND value_key = 'true'`, [flag]);
    expect(row!.n).toBe(12);
    const res = await call(h, 'GET', `/api/flags/${flag}/metrics?orgId=org-a`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ flag, orgId: 'org-a', total: 15, byValue: [{ value: true, count: 12 }, { value: false, count: 3 }] });
    expect(res.body.hours).toEqual([{ hour: new Date(hour).toISOString(), values: [{ value: true, count: 12 }, { value: false, count: 3 }] }]);
  });

  it('the start of a UTC hour is accepted in any database time zone, a half hour in none', async () => {
    const flag = await createFlag(h);
    const insert = (zone: string, hour: string) =>
      h.sql(
        `BEGIN; SET LOCAL TIME ZONE '${zone}'; INSERT INTO cmis.flag_metrics_hourly (feature_key, org_id, value_key, reason, hour, count) VALUES ('${flag}', '${zone}', 'true', 'STATIC', '${hour}', 1); COMMIT;`,
      );
    for (const zone of ['UTC', 'Asia/Kolkata', 'Asia/Kathmandu', 'America/St_Johns']) {
      await insert(zone, '2026-11-26T10:00:00Z');
      await expect(insert(zone, '2026-11-26T10:30:00Z')).rejects.toThrow(/hour_aligned/);
      await h.sql('ROLLBACK').catch(() => {});
    }
    expect((await hourlyOf(flag)).length).toBe(4);
  });

  it('sums a key that appears twice in one batch, in one statement', async () => {
    const flag = await createFlag(h);
    const hour = hourOf(Date.now());
    await deliver(pool, batch([[flag, 'o', '"x"', 'STATIC', hour, 1], [flag, 'o', '"x"', 'STATIC', hour, 2]]));
    expect((await hourlyOf(flag)).map((r) => Number(r.count))).toEqual([3]);
  });

  it('acknowledges malformed batches without writing, and leaves nothing of a failed one', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const flag = await createFlag(h);
    const bad = [
      batch([[flag, 'o', 'true', 'STATIC', hourOf(Date.now()) + 17, 1]]), // not an hour
      { type: 'metrics', batchId: 'not-a-uuid', counts: [] },
      batch([[flag, 'o', 'true', 'STATIC', hourOf(Date.now()), -1]]),
    ];
    const messages = await deliver(pool, ...bad);
    expect(messages.map((m) => [m.acked, m.retried])).toEqual([[1, 0], [1, 0], [1, 0]]);
    expect(await hourlyOf(flag)).toEqual([]);
    warn.mockRestore();
  });

  it('drops only the counts of a batch that do not fit, and keeps the rest', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const flag = await createFlag(h);
    const hour = hourOf(Date.now());
    const [message] = await deliver(
      pool,
      batch([
        [flag, 'o'.repeat(129), 'true', 'STATIC', hour, 2],
        [flag, 'o\u0000', 'true', 'STATIC', hour, 2],
        [flag, 'o', 'true', 'STATIC', 9e15 - (9e15 % HOUR), 2],
        [flag, 'o', 'true', 'STATIC', hour, 3],
      ]),
    );
    expect([message!.acked, message!.retried]).toEqual([1, 0]);
    expect((await hourlyOf(flag)).map((r) => Number(r.count))).toEqual([3]); // before: 0 of 2 counts added
    expect(warn.mock.calls.some(([line]) => String(line).includes('"droppedCounts":3'))).toBe(true);
    warn.mockRestore();
  });

  it('two batches over the same rows in opposite orders, at once, do not deadlock (real Postgres serialises them)', async () => {
    const flags = [await createFlag(h), await createFlag(h), await createFlag(h)];
    const hour = hourOf(Date.now());
    const rows = flags.map((f) => [f, 'o', 'true', 'STATIC', hour, 1] as [string, string, string, string, number, number]);
    const pools = [h.newPool(), h.newPool()];
    try {
      for (let round = 0; round < 30; round++) {
        const results = await Promise.all([deliver(pools[0]!, batch(rows)), deliver(pools[1]!, batch([...rows].reverse()))]);
        expect(results.flat().map((m) => [m.acked, m.retried])).toEqual([[1, 0], [1, 0]]);
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
    for (const f of flags) expect((await hourlyOf(f)).map((r) => Number(r.count))).toEqual([60]);
  });

  it('retries a batch when the database refuses it, and the retry counts once', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const flag = await createFlag(h);
    const message = batch([[flag, 'o', 'true', 'STATIC', hourOf(Date.now()), 4]]);
    const broken = { connect: () => Promise.reject(new Error('database down')) } as unknown as Pool;
    const [failed] = await deliver(broken, message);
    expect(failed!.retried).toBe(1);
    await deliver(pool, message);
    await deliver(pool, message);
    expect((await hourlyOf(flag)).map((r) => Number(r.count))).toEqual([4]);
    warn.mockRestore();
  });
});

describe('retention', () => {
  it('rolls hourly rows older than 90 days into daily rows, once, and the API still sees them', async () => {
    const flag = await createFlag(h);
    const now = Date.now();
    const old = Math.floor((now - 100 * DAY) / DAY) * DAY; // a UTC midnight 100 days ago
    await deliver(
      pool,
      batch([
        [flag, 'o', 'true', 'STATIC', old + 1 * HOUR, 5],
        [flag, 'o', 'true', 'STATIC', old + 20 * HOUR, 6],
        [flag, 'o', 'false', 'STATIC', old + 2 * HOUR, 1],
        [flag, 'o', 'true', 'STATIC', hourOf(now), 9], // recent: stays hourly
      ]),
    );
    const counts = await runPass({ pool, kv: h.kv }, now);
    expect(counts.rolledUp).toBeGreaterThanOrEqual(3);
    expect((await hourlyOf(flag)).map((r) => Number(r.count))).toEqual([9]);
    const daily = await h.sql(`SELECT value_key, day::text AS day, count::int AS n FROM cmis.flag_metrics_daily WHERE feature_key = $1 ORDER BY value_key`, [flag]);
    const day = new Date(old).toISOString().slice(0, 10);
    expect(daily).toEqual([
      { value_key: 'false', day, n: 1 },
      { value_key: 'true', day, n: 11 },
    ]);
    expect(await rollUpMetrics(pool, now)).toBe(0); // nothing left to roll
    const res = await call(h, 'GET', `/api/flags/${flag}/metrics?from=${new Date(old).toISOString()}&to=${new Date(now + HOUR).toISOString()}`);
    expect(res.body.total).toBe(21);
    expect(res.body.hours[0]).toEqual({ hour: new Date(old).toISOString(), values: [{ value: true, count: 11 }, { value: false, count: 1 }] });
    const [run] = await h.sql(`SELECT counts FROM cmis.cron_runs ORDER BY id DESC LIMIT 1`);
    expect(run!.counts.rolledUp).toBe(counts.rolledUp);
  });

  it('a pass as of a later time (the local ?time=) keeps bookkeeping on the real clock', async () => {
    const flag = await createFlag(h);
    const now = Date.now();
    await deliver(pool, batch([[flag, 'o', 'true', 'STATIC', hourOf(now), 4]]));
    await runPass({ pool, kv: h.kv }, now + 120 * DAY);
    expect((await hourlyOf(flag)).map((r) => Number(r.count))).toEqual([4]); // before: rolled into daily rows
    expect(await h.sql(`SELECT count(*)::int AS n FROM cmis.metrics_batches`)).not.toEqual([{ n: 0 }]); // before: every batch id forgotten
    // (the stale scan and digest run at one minute of each hour, on the real clock: see stale.test.ts)
  });
});
