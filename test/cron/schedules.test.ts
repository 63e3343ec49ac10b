// Scheduled changes: created through the admin API, applied by the cron pass at a chosen `now`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../shared/engine';
import { runPass } from '../../workers/cron/pass';
import { applyDueSchedules } from '../../workers/cron/schedules';
import { call, createFlag, mintRoleTokens, unique, type RoleTokens } from '../admin/helpers';
import { HOUR, startCronHarness, type CronHarness } from './helpers';

let h: CronHarness;
let t: RoleTokens;
// Each test schedules in its own window of future time, so passes of one never reach another's.
let base = Date.now() + 24 * HOUR;
const window = () => (base += 100 * HOUR);
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  h = await startCronHarness();
  t = await mintRoleTokens(h);
});
afterAll(async () => {
  await h.close();
});

async function schedule(key: string, body: Record<string, unknown>, token?: string) {
  const res = await call(h, 'POST', `/api/flags/${key}/schedules`, { body, token });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { id: string; state: string };
}

async function pass(nowMs: number) {
  const pool = h.newPool();
  try {
    return await applyDueSchedules(pool, nowMs, { kv: h.kv });
  } finally {
    await pool.end();
  }
}

const cronRowsOf = (id: string) =>
  h.sql(`SELECT level, org_id, old_value, new_value, actor, reason FROM cmis.feature_flag_values WHERE actor = 'cron' AND reason LIKE $1`, [`%${id}%`]);

describe('creating schedules', () => {
  it('answers 201 with the Schedule shape and audits it at level schedule', async () => {
    const key = await createFlag(h);
    const at = iso(window());
    const res = await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at, change: { value: true } }, headers: { 'X-Change-Reason': 'launch' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ flag: key, orgId: null, at, change: { value: true }, state: 'pending', error: null, appliedAt: null, publish: 'done' });
    const [audit] = await h.sql(`SELECT level, actor, reason, new_value FROM cmis.feature_flag_values WHERE target = $1`, [res.body.id]);
    expect(audit).toMatchObject({ level: 'schedule', actor: 'token:bootstrap', reason: 'launch', new_value: { state: 'pending' } });
    const list = await call(h, 'GET', `/api/flags/${key}/schedules`, { token: t.viewer });
    expect(list.status).toBe(200);
    expect(list.body.items.map((s: { id: string }) => s.id)).toEqual([res.body.id]);
    expect(list.body.nextCursor).toBeNull();
  });

  it('validates: at least one change, types that fit the flag, an ISO instant, system-wide kill switch only', async () => {
    const key = await createFlag(h);
    const at = iso(window());
    const bad = async (body: unknown) => call(h, 'POST', `/api/flags/${key}/schedules`, { body });
    expect((await bad({ at, change: {} })).status).toBe(422);
    const typed = await bad({ at, change: { value: 'yes' } });
    expect(typed.status).toBe(422);
    expect(typed.body.errors[0].path).toBe('body.change.value');
    expect((await bad({ at: 'tomorrow', change: { value: true } })).status).toBe(422);
    expect((await bad({ at, change: { percentage: 101 } })).status).toBe(422);
    expect((await bad({ at, orgId: t.orgId, change: { killed: true } })).status).toBe(422);
    const str = await createFlag(h, { type: 'string', defaultValue: 'a' });
    const noValue = await call(h, 'POST', `/api/flags/${str}/schedules`, { body: { at, change: { percentage: 10 } } });
    expect(noValue.status).toBe(422);
    expect((await call(h, 'POST', `/api/flags/no.such.flag/schedules`, { body: { at, change: { value: true } } })).status).toBe(404);
  });

  it('org admins schedule for their org only; viewers not at all', async () => {
    const key = await createFlag(h);
    const at = iso(window());
    expect((await call(h, 'POST', `/api/flags/${key}/schedules`, { token: t.orgAdmin, body: { at, change: { value: true } } })).status).toBe(403);
    expect((await call(h, 'POST', `/api/flags/${key}/schedules`, { token: t.orgAdmin, body: { at, orgId: t.otherOrgId, change: { value: true } } })).status).toBe(403);
    expect((await call(h, 'POST', `/api/flags/${key}/schedules`, { token: t.viewer, body: { at, orgId: t.orgId, change: { value: true } } })).status).toBe(403);
    await schedule(key, { at, orgId: t.orgId, change: { value: true } }, t.orgAdmin);
  });
});

describe('applying due schedules', () => {
  it('applies each at its time, once, audited by cron with the schedule id in the reason, and publishes', async () => {
    const key = await createFlag(h);
    const start = window();
    const system = await schedule(key, { at: iso(start + HOUR), change: { value: true } });
    const org = await schedule(key, { at: iso(start + 2 * HOUR), orgId: t.orgId, change: { percentage: 30 } });

    const early = await pass(start + HOUR - 1);
    expect(early.results.map((r) => r.id)).not.toContain(system.id);

    const first = await pass(start + HOUR);
    expect(first.results.find((r) => r.id === system.id)?.state).toBe('applied');
    expect(first.results.map((r) => r.id)).not.toContain(org.id);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.defaultValue).toBe(true);
    // published: the engine over the KV layers answers the new default
    const layers = await h.layers();
    expect(evaluate(layers, key, {}, start + HOUR).value).toBe(true);

    const again = await pass(start + HOUR + 1000);
    expect(again.results.map((r) => r.id)).not.toContain(system.id);
    const audit = await cronRowsOf(system.id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ level: 'system', org_id: null, old_value: { defaultValue: false }, new_value: { defaultValue: true } });

    const second = await pass(start + 2 * HOUR);
    expect(second.results.find((r) => r.id === org.id)?.state).toBe('applied');
    const orgAudit = await cronRowsOf(org.id);
    expect(orgAudit).toHaveLength(1);
    expect(orgAudit[0]).toMatchObject({ level: 'org', org_id: t.orgId, new_value: { value: true, percentage: 30 } });
    const [listed] = (await call(h, 'GET', `/api/flags/${key}/schedules?state=applied&limit=1`)).body.items;
    expect(listed).toMatchObject({ id: system.id, state: 'applied', appliedAt: iso(start + HOUR) });
  });

  it('a kill switch and a system percentage', async () => {
    const key = await createFlag(h);
    const start = window();
    await schedule(key, { at: iso(start), change: { percentage: 25 } });
    await schedule(key, { at: iso(start + 1), change: { killed: true } });
    await pass(start + 1);
    const flag = (await call(h, 'GET', `/api/flags/${key}`)).body;
    expect(flag).toMatchObject({ killed: true, rollout: { percentage: 25, value: true } });
    expect(evaluate(await h.layers(), key, { userId: 'u-1' }, start).reason).toBe('DISABLED');
  });

  it('a repeated pass and two overlapping passes apply nothing twice', async () => {
    const start = window();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const key = await createFlag(h);
      ids.push((await schedule(key, { at: iso(start + i), change: { value: true } })).id);
      ids.push((await schedule(key, { at: iso(start + i), orgId: t.orgId, change: { value: true, percentage: 10 + i } })).id);
    }
    const poolA = h.newPool();
    const poolB = h.newPool();
    try {
      const [a, b] = await Promise.all([applyDueSchedules(poolA, start + HOUR), applyDueSchedules(poolB, start + HOUR)]);
      const appliedBy = (o: typeof a) => o.results.filter((r) => r.state === 'applied').map((r) => r.id);
      const all = [...appliedBy(a), ...appliedBy(b)].filter((id) => ids.includes(id));
      expect(all.sort()).toEqual([...ids].sort());
      const repeat = await applyDueSchedules(poolA, start + HOUR);
      expect(repeat.results.filter((r) => ids.includes(r.id))).toEqual([]);
    } finally {
      await Promise.all([poolA.end(), poolB.end()]);
    }
    for (const id of ids) expect(await cronRowsOf(id), id).toHaveLength(1);
    const states = await h.sql(`SELECT state, count(*)::int AS n FROM cmis.flag_schedules WHERE id = ANY($1::uuid[]) GROUP BY state`, [ids]);
    expect(states).toEqual([{ state: 'applied', n: ids.length }]);
  });

  it('a schedule that fails (flag archived) is marked failed with the reason and does not block the others', async () => {
    const start = window();
    const doomed = await createFlag(h);
    const fine = await createFlag(h);
    const failing = await schedule(doomed, { at: iso(start), change: { value: true } });
    const ok = await schedule(fine, { at: iso(start + 1), change: { value: true } });
    expect((await call(h, 'DELETE', `/api/flags/${doomed}`)).status).toBe(204);

    const outcome = await pass(start + HOUR);
    expect(outcome.results.find((r) => r.id === failing.id)).toMatchObject({ state: 'failed', error: expect.stringContaining('archived') });
    expect(outcome.results.find((r) => r.id === ok.id)?.state).toBe('applied');
    const [row] = (await call(h, 'GET', `/api/flags/${doomed}/schedules`)).body.items;
    expect(row).toMatchObject({ id: failing.id, state: 'failed', error: expect.stringContaining('archived'), appliedAt: null });
    expect((await call(h, 'GET', `/api/flags/${fine}`)).body.defaultValue).toBe(true);
    // the failed change left no change row, only the bookkeeping row about the schedule
    const audit = await cronRowsOf(failing.id);
    expect(audit).toEqual([expect.objectContaining({ level: 'schedule', new_value: expect.objectContaining({ state: 'failed' }) })]);
    expect((await pass(start + 2 * HOUR)).results.map((r) => r.id)).not.toContain(failing.id);
  });

  it('a cancelled schedule never applies; cancelling twice is a conflict; cancellation is audited', async () => {
    const key = await createFlag(h);
    const start = window();
    const s = await schedule(key, { at: iso(start), orgId: t.orgId, change: { value: true } }, t.orgAdmin);
    expect((await call(h, 'DELETE', `/api/schedules/${s.id}`, { token: t.otherOrgAdmin })).status).toBe(404);
    const cancelled = await call(h, 'DELETE', `/api/schedules/${s.id}`, { token: t.orgAdmin, headers: { 'X-Change-Reason': 'not yet' } });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    expect((await call(h, 'DELETE', `/api/schedules/${s.id}`, { token: t.orgAdmin })).status).toBe(409);
    expect((await pass(start + HOUR)).results.map((r) => r.id)).not.toContain(s.id);
    const audit = await h.sql(`SELECT level, actor, reason, new_value FROM cmis.feature_flag_values WHERE target = $1 ORDER BY id`, [s.id]);
    expect(audit.map((a) => a.new_value.state)).toEqual(['pending', 'cancelled']);
    expect(audit[1]).toMatchObject({ level: 'schedule', reason: 'not yet' });
  });
});

describe('the cron pass', () => {
  it('applies, publishes and records its run (duration and counts) for /api/status', async () => {
    const key = await createFlag(h);
    const start = window();
    await schedule(key, { at: iso(start), change: { value: true } });
    const pool = h.newPool();
    try {
      const counts = await runPass({ pool, kv: h.kv }, start + 1);
      expect(counts.applied).toBeGreaterThanOrEqual(1);
      expect(counts).toMatchObject({ failed: expect.any(Number), reconciled: expect.any(Number), rolledUp: 0, notified: 0 });
    } finally {
      await pool.end();
    }
    const status = (await call(h, 'GET', '/api/status')).body;
    expect(status.lastCronRun).toMatchObject({ counts: { applied: expect.any(Number) }, durationMs: expect.any(Number), error: null });
    expect(status.lastCronRun.counts.applied).toBeGreaterThanOrEqual(1);
    expect(status.pending).toBe(0);
    expect(evaluate(await h.layers(), key, {}, start).value).toBe(true);
    expect(unique('x')).toBeTruthy();
  });
});
