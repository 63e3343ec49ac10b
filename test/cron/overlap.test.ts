// Cron passes that overlap (a pass over 60 s meets the next one; locally the /__scheduled trigger
// meets the minute cron) and ramp actions racing a pass. They need real Postgres (a PGlite pool has
// one connection, so nothing overlaps): they run in the Postgres suite (DATABASE_URL set).
import type { Pool, PoolClient } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { applyDueSchedules, CONTENTION_RETRY_MS } from '../../workers/cron/schedules';
import type { EventQueue } from '../../shared/events';
import { call, createFlag } from '../admin/helpers';
import { HOUR, startCronHarness, type CronHarness } from './helpers';

let h: CronHarness;
let base = Date.now() + 24 * HOUR;
const window = () => (base += 100 * HOUR);
const iso = (ms: number) => new Date(ms).toISOString();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  h = await startCronHarness();
});
afterAll(async () => {
  await h?.close();
});

const textOf = (q: unknown): string => (typeof q === 'string' ? q : ((q as { text?: string })?.text ?? ''));

/**
 * A pool whose connections pause for `ms` right after the first schedule claim
 * (`... FOR UPDATE SKIP LOCKED` that returned a row): a pass that is slow between claiming a row and
 * its next statement (network latency, GC pause, a busy isolate). `claimed` resolves at that moment.
 */
function slowAfterClaim(pool: Pool, ms: number) {
  let resolveClaimed!: () => void;
  const claimed = new Promise<void>((r) => (resolveClaimed = r));
  let fired = false;
  const wrapped = {
    connect: async () => {
      const client = await pool.connect();
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<{ rows: unknown[] }>;
      (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
        const result = await query(...args);
        if (!fired && /for update skip locked/i.test(textOf(args[0])) && (result?.rows?.length ?? 0) > 0) {
          fired = true;
          resolveClaimed();
          await sleep(ms);
        }
        return result;
      };
      return client as PoolClient;
    },
  } as unknown as Pool;
  return { pool: wrapped, claimed };
}

describe.skipIf(!process.env.DATABASE_URL)('overlapping passes (real Postgres)', () => {
  it('two overlapping passes apply the ramp steps in order (the ramp ends at its last step)', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, {
      body: { steps: [{ percentage: 10, at: iso(start) }, { percentage: 50, at: iso(start + 1000) }] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const rampId = created.body.id as string;

    const realA = h.newPool();
    const poolB = h.newPool();
    try {
      const slow = slowAfterClaim(realA, 800);
      const a = applyDueSchedules(slow.pool, start + HOUR, { kv: h.kv }); // claims step 1, then is slow
      await slow.claimed;
      await applyDueSchedules(poolB, start + HOUR, { kv: h.kv }); // skips step 1 (locked), applies step 2
      await a;
    } finally {
      await Promise.all([realA.end(), poolB.end()]);
    }
    const ramp = (await call(h, 'GET', `/api/rollouts/${rampId}`)).body;
    const flag = (await call(h, 'GET', `/api/flags/${key}`)).body;
    const audit = await h.sql(`SELECT new_value->'rollout'->>'percentage' AS p FROM cmis.feature_flag_values WHERE feature_key = $1 AND actor = 'cron' AND level = 'system' ORDER BY id`, [key]);
    expect(ramp.state).toBe('done');
    expect(flag.rollout?.percentage).toBe(50); // before the fix: 10, the ramp went 0 → 50 → 10 and was "done"
  });

  it('two overlapping passes apply two schedules of one flag in time order (the later one wins)', async () => {
    const key = await createFlag(h);
    const start = window();
    for (const [at, value] of [[start, true], [start + 1000, false]] as const) {
      const res = await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: iso(at), change: { value } } });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
    const realA = h.newPool();
    const poolB = h.newPool();
    try {
      const slow = slowAfterClaim(realA, 800);
      const a = applyDueSchedules(slow.pool, start + HOUR, { kv: h.kv });
      await slow.claimed;
      await applyDueSchedules(poolB, start + HOUR, { kv: h.kv });
      await a;
    } finally {
      await Promise.all([realA.end(), poolB.end()]);
    }
    const flag = (await call(h, 'GET', `/api/flags/${key}`)).body;
    expect(flag.defaultValue).toBe(false); // before the fix: true, the earlier change landed last
  });

  it('a ramp abort racing a pass: both take the ramp row first, so neither deadlocks', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { steps: [{ percentage: 10, at: iso(start) }, { percentage: 50, at: iso(start + HOUR * 50) }] } });
    const rampId = created.body.id as string;
    const realA = h.newPool();
    try {
      const slow = slowAfterClaim(realA, 400);
      const a = applyDueSchedules(slow.pool, start + 1, { kv: h.kv }).then(
        (o) => ({ ok: true as const, o }),
        (e) => ({ ok: false as const, e: String(e) }),
      );
      await slow.claimed; // cron holds step 1, about to lock the ramp
      const abort = call(h, 'POST', `/api/rollouts/${rampId}/abort`, { body: { reason: 'stop' } }); // locks the ramp, then waits for step 1
      const [cron, aborted] = await Promise.all([a, abort]);
      expect(cron.ok).toBe(true);
      expect(aborted.status).toBe(200); // before the fix: a deadlock, answered 500
    } finally {
      await realA.end();
    }
  });

  it('a schedule whose change meets a deadlock stays pending and lands on the next pass', async () => {
    const key = await createFlag(h);
    const start = window();
    const schedule = (await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: iso(start), change: { value: true } } })).body;
    const other = h.newPool();
    const cron = h.newPool();
    const client = await other.connect();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      // Another transaction holds the flag row; the pass claims the schedule and waits for the flag;
      // then the other transaction asks for the schedule row: a deadlock, which the pass loses.
      await client.query('BEGIN');
      await client.query(`SELECT 1 FROM cmis.feature_flags WHERE feature_key = $1 AND org_id IS NULL FOR UPDATE`, [key]);
      const pass = applyDueSchedules(cron, start + 1000, { kv: h.kv });
      await sleep(300);
      await client.query(`SELECT 1 FROM cmis.flag_schedules WHERE id = $1 FOR UPDATE`, [schedule.id]);
      const outcome = await pass;
      await client.query('ROLLBACK');
      expect(outcome.results).toEqual([{ id: schedule.id, rampId: null, state: 'skipped', error: expect.stringMatching(/deadlock/) }]);
      expect((await h.sql(`SELECT state FROM cmis.flag_schedules WHERE id = $1`, [schedule.id]))[0]!.state).toBe('pending'); // before: failed
      expect((await applyDueSchedules(cron, start + 1000, { kv: h.kv })).results).toEqual([{ id: schedule.id, rampId: null, state: 'applied' }]);
    } finally {
      warn.mockRestore();
      client.release();
      await Promise.all([other.end(), cron.end()]);
    }
  });
});

/** A pool on which the claim of schedule `id` (`… FOR UPDATE SKIP LOCKED`) fails as a lost connection would. */
function failingClaim(pool: Pool, id: string): Pool {
  return {
    connect: async () => {
      const client = await pool.connect();
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
      (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
        const values = (args[1] ?? (args[0] as { values?: unknown[] } | undefined)?.values) as unknown[] | undefined;
        if (/for update skip locked/i.test(textOf(args[0])) && values?.includes(id)) throw new Error('Connection terminated unexpectedly');
        return query(...args);
      };
      return client as PoolClient;
    },
  } as unknown as Pool;
}

/** A pool on which the first statement inside a schedule's savepoint fails with SQLSTATE `code`. */
function failingInSavepoint(pool: Pool, code: string): Pool {
  let inSavepoint = false;
  let failed = false;
  const wrapped = new WeakSet<object>(); // a pooled client comes back: wrap it once
  return {
    connect: async () => {
      const client = await pool.connect();
      if (wrapped.has(client)) return client;
      wrapped.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
      (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
        if (inSavepoint && !failed) {
          failed = true;
          throw Object.assign(new Error(`simulated error ${code}`), { code });
        }
        if (/^savepoint apply_schedule/i.test(textOf(args[0]))) inSavepoint = true;
        return query(...args);
      };
      return client as PoolClient;
    },
  } as unknown as Pool;
}

describe('a failed schedule transaction', () => {
  it('a lock timeout or deadlock inside the change leaves the row pending for a while; any other error marks it failed', async () => {
    const start = window();
    const soon = start + 1000;
    const hourLate = start + HOUR; // the cron was down when it fell due: its retries start now, not at its time
    const tooLong = soon + CONTENTION_RETRY_MS + 1000; // still contended 15 minutes after the first time: reported instead of holding back the flag
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const passWith = async (code: string, at: number) => {
      const real = h.newPool();
      try {
        return await applyDueSchedules(failingInSavepoint(real, code), at, { kv: h.kv });
      } finally {
        await real.end();
      }
    };
    try {
      const cases: [code: string, passes: number[], state: string, after: string][] = [
        ['55P03', [soon], 'skipped', 'pending'],
        ['40P01', [hourLate], 'skipped', 'pending'],
        ['40P01', [soon, tooLong], 'failed', 'failed'],
        ['22023', [soon], 'failed', 'failed'],
        ['57014', [soon], 'failed', 'failed'],
      ];
      for (const [code, passes, state, after] of cases) {
        const label = `${code} at ${passes.map((p) => p - start).join(', ')} ms`;
        const key = await createFlag(h);
        const schedule = (await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: iso(start), change: { value: true } } })).body;
        let outcome!: Awaited<ReturnType<typeof applyDueSchedules>>;
        for (const at of passes) outcome = await passWith(code, at);
        expect(outcome.results.find((r) => r.id === schedule.id), label).toMatchObject({ state, error: expect.stringContaining(code) });
        const [row] = await h.sql(`SELECT state, error, contended_since FROM cmis.flag_schedules WHERE id = $1`, [schedule.id]);
        expect(row!.state, label).toBe(after);
        if (after === 'pending') expect(row, label).toMatchObject({ error: expect.stringMatching(/^retrying: /), contended_since: expect.anything() });
        // the next pass (nothing failing) applies what was left pending
        const next = h.newPool();
        try {
          const applied = (await applyDueSchedules(next, passes.at(-1)!, { kv: h.kv })).results.map((r) => [r.id, r.state]);
          expect(applied, label).toEqual(after === 'pending' ? [[schedule.id, 'applied']] : []);
        } finally {
          await next.end();
        }
        if (after === 'pending') expect((await h.sql(`SELECT error FROM cmis.flag_schedules WHERE id = $1`, [schedule.id]))[0]!.error, label).toBeNull();
      }
    } finally {
      warn.mockRestore();
    }
  });

  it('leaves its row pending for the next pass and loses nothing the pass already committed', async () => {
    const start = window();
    const first = await createFlag(h);
    const second = await createFlag(h);
    const s1 = (await call(h, 'POST', `/api/flags/${first}/schedules`, { body: { at: iso(start), change: { value: true } } })).body;
    const s2 = (await call(h, 'POST', `/api/flags/${second}/schedules`, { body: { at: iso(start + 1000), change: { value: true } } })).body;
    const sent: { body: { event: { event: string; flag: string; details?: { scheduleId?: string } } } }[] = [];
    const queue: EventQueue = { sendBatch: async (m) => void sent.push(...(m as never[])) };
    const real = h.newPool();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const outcome = await applyDueSchedules(failingClaim(real, s2.id), start + HOUR, { kv: h.kv, queue });
      expect(outcome.results.map((r) => [r.id, r.state])).toEqual([[s1.id, 'applied'], [s2.id, 'skipped']]);
      expect(outcome.results[1]!.error).toBeTruthy();
      expect(outcome.applied).toBe(1);
      // the committed change's events (flag.changed, then schedule.applied); none of the one left pending
      expect(sent.map((m) => [m.body.event.event, m.body.event.flag, m.body.event.details?.scheduleId])).toEqual([
        ['flag.changed', first, undefined],
        ['schedule.applied', first, s1.id],
      ]);
      expect((await h.sql(`SELECT state FROM cmis.flag_schedules WHERE id = $1`, [s2.id]))[0]!.state).toBe('pending');
    } finally {
      warn.mockRestore();
      await real.end(); // its connections keep the failing query
    }
    const next = h.newPool();
    try {
      expect((await applyDueSchedules(next, start + HOUR, { kv: h.kv, queue })).results).toEqual([{ id: s2.id, rampId: null, state: 'applied' }]);
    } finally {
      await next.end();
    }
  });
});
