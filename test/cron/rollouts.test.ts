// Ramps: steps applied by the cron pass at their times; sticky buckets checked with the engine over
// the published KV layers; pause/resume; abort puts back the pre-ramp rollout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../../shared/engine';
import { parseInterval } from '../../workers/admin/routes/rollouts';
import { applyDueSchedules } from '../../workers/cron/schedules';
import { call, createFlag, mintRoleTokens, type RoleTokens } from '../admin/helpers';
import { HOUR, startCronHarness, type CronHarness } from './helpers';

let h: CronHarness;
let t: RoleTokens;
let base = Date.now() + 24 * HOUR;
const window = () => (base += 100 * HOUR);
const iso = (ms: number) => new Date(ms).toISOString();
const USERS = Array.from({ length: 2000 }, (_, i) => `user-${i}`);

beforeAll(async () => {
  h = await startCronHarness();
  t = await mintRoleTokens(h);
});
afterAll(async () => {
  await h.close();
});

async function pass(nowMs: number) {
  const pool = h.newPool();
  try {
    return await applyDueSchedules(pool, nowMs, { kv: h.kv });
  } finally {
    await pool.end();
  }
}

async function usersIn(key: string, orgId: string | undefined, nowMs: number): Promise<Set<string>> {
  const layers = await h.layers(orgId);
  return new Set(USERS.filter((userId) => evaluate(layers, key, { userId, ...(orgId ? { orgId } : {}) }, nowMs).value === true));
}

const ramp = async (id: string) => (await call(h, 'GET', `/api/rollouts/${id}`)).body;

describe('ramps', () => {
  it('10 → 50 → 100 moves at the step times; users in at 10% stay in at 50%', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, {
      body: { steps: [{ percentage: 10, at: iso(start) }, { percentage: 50, at: iso(start + HOUR) }, { percentage: 100, at: iso(start + 2 * HOUR) }] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ flag: key, orgId: null, state: 'running', steps: [{ percentage: 10, state: 'pending' }, { percentage: 50 }, { percentage: 100 }] });
    const id = created.body.id as string;

    await pass(start - 1);
    expect((await ramp(id)).steps.map((s: { state: string }) => s.state)).toEqual(['pending', 'pending', 'pending']);

    await pass(start);
    const at10 = await usersIn(key, undefined, start);
    expect(at10.size).toBeGreaterThan(120);
    expect(at10.size).toBeLessThan(280);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout).toEqual({ percentage: 10, value: true, stickiness: 'userId' });

    await pass(start + HOUR - 1);
    expect((await ramp(id)).steps.map((s: { state: string }) => s.state)).toEqual(['applied', 'pending', 'pending']);

    await pass(start + HOUR);
    const at50 = await usersIn(key, undefined, start + HOUR);
    expect(at50.size).toBeGreaterThan(850);
    expect(at50.size).toBeLessThan(1150);
    for (const user of at10) expect(at50.has(user), user).toBe(true);

    await pass(start + 2 * HOUR);
    expect((await usersIn(key, undefined, start + 2 * HOUR)).size).toBe(USERS.length);
    const done = await ramp(id);
    expect(done.state).toBe('done');
    expect(done.steps.map((s: { state: string }) => s.state)).toEqual(['applied', 'applied', 'applied']);
    // each step audited once by cron, plus the ramp's bookkeeping rows
    const audit = await h.sql(`SELECT level, actor FROM cmis.feature_flag_values WHERE feature_key = $1 AND actor = 'cron' ORDER BY id`, [key]);
    expect(audit.map((a) => a.level)).toEqual(['system', 'system', 'system', 'rollout']);
  });

  it('the shorthand {start, every, percentages}; an org ramp buckets that org\'s users', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, {
      token: t.orgAdmin,
      body: { orgId: t.orgId, start: iso(start), every: 'PT30M', percentages: [20, 60] },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.steps.map((s: { at: string }) => s.at)).toEqual([iso(start), iso(start + HOUR / 2)]);
    await pass(start);
    const at20 = await usersIn(key, t.orgId, start);
    await pass(start + HOUR / 2);
    const at60 = await usersIn(key, t.orgId, start + HOUR / 2);
    expect(at60.size).toBeGreaterThan(at20.size);
    for (const user of at20) expect(at60.has(user)).toBe(true);
    // another org is untouched
    expect((await usersIn(key, t.otherOrgId, start)).size).toBe(0);
    const audit = await h.sql(`SELECT level, org_id FROM cmis.feature_flag_values WHERE feature_key = $1 AND actor = 'cron' ORDER BY id`, [key]);
    expect(audit).toEqual([
      { level: 'org', org_id: t.orgId },
      { level: 'org', org_id: t.orgId },
      { level: 'rollout', org_id: t.orgId },
    ]);
  });

  it('abort restores the pre-ramp rollout, cancels what is left, and is audited', async () => {
    const key = await createFlag(h);
    const before = { percentage: 5, value: true, stickiness: 'userId' };
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: before } })).status).toBe(200);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '1h', percentages: [10, 50, 100] } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await pass(start + HOUR);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout.percentage).toBe(50);

    const aborted = await call(h, 'POST', `/api/rollouts/${id}/abort`, { headers: { 'X-Change-Reason': 'errors up' } });
    expect(aborted.status, JSON.stringify(aborted.body)).toBe(200);
    expect(aborted.body).toMatchObject({ state: 'aborted', publish: 'done' });
    expect(aborted.body.steps.map((s: { state: string }) => s.state)).toEqual(['applied', 'applied', 'cancelled']);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout).toEqual(before);
    expect((await h.layers()).global.flags[key]?.rollout?.percentage).toBe(5);
    await pass(start + 10 * HOUR);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout).toEqual(before);
    expect((await call(h, 'POST', `/api/rollouts/${id}/abort`)).status).toBe(409);

    const rows = await h.sql(`SELECT level, actor, reason, new_value FROM cmis.feature_flag_values WHERE feature_key = $1 AND reason = 'errors up' ORDER BY id`, [key]);
    expect(rows).toEqual([
      expect.objectContaining({ level: 'system', actor: 'token:bootstrap', new_value: { rollout: before } }),
      expect.objectContaining({ level: 'rollout', new_value: expect.objectContaining({ state: 'aborted' }) }),
    ]);
  });

  it('aborting an org ramp where the org had no value removes the org value again', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { token: t.orgAdmin, body: { orgId: t.orgId, start: iso(start), every: 60_000, percentages: [30, 100] } });
    await pass(start);
    expect((await usersIn(key, t.orgId, start)).size).toBeGreaterThan(0);
    expect((await call(h, 'POST', `/api/rollouts/${created.body.id}/abort`, { token: t.otherOrgAdmin })).status).toBe(404);
    expect((await call(h, 'POST', `/api/rollouts/${created.body.id}/abort`, { token: t.orgAdmin })).status).toBe(200);
    expect((await h.sql(`SELECT 1 FROM cmis.feature_flags WHERE feature_key = $1 AND org_id = $2`, [key, t.orgId])).length).toBe(0);
    expect((await usersIn(key, t.orgId, start)).size).toBe(0);
  });

  it('a paused ramp waits; resume moves the pending steps later by the pause', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '1h', percentages: [10, 50] } });
    const id = created.body.id as string;
    expect((await call(h, 'POST', `/api/rollouts/${id}/pause`)).body.state).toBe('paused');
    expect((await call(h, 'POST', `/api/rollouts/${id}/pause`)).status).toBe(409);
    await pass(start + 5 * HOUR);
    expect((await ramp(id)).steps.every((s: { state: string }) => s.state === 'pending')).toBe(true);
    const resumed = await call(h, 'POST', `/api/rollouts/${id}/resume`);
    expect(resumed.body.state).toBe('running');
    expect(Date.parse(resumed.body.steps[0].at)).toBeGreaterThanOrEqual(start);
    await pass(Date.parse(resumed.body.steps[0].at));
    expect((await ramp(id)).steps.map((s: { state: string }) => s.state)).toEqual(['applied', 'pending']);
  });

  it('a failing step marks itself failed and pauses its ramp', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '1h', percentages: [10, 50] } });
    await call(h, 'DELETE', `/api/flags/${key}`);
    const outcome = await pass(start + 3 * HOUR);
    // the second step was due too, but its ramp was paused by the first one's failure
    expect(outcome.results.filter((r) => r.rampId === created.body.id).map((r) => r.state)).toEqual(['failed', 'skipped']);
    const after = await ramp(created.body.id);
    expect(after.state).toBe('paused');
    expect(after.steps[0]).toMatchObject({ state: 'failed', error: expect.stringContaining('archived') });
    expect(after.steps[1].state).toBe('pending');
  });

  it('resuming a ramp paused by a failed step tries that step again, also when it was the last one', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '1h', percentages: [10, 50] } });
    const id = created.body.id as string;
    await pass(start);
    await call(h, 'DELETE', `/api/flags/${key}`);
    await pass(start + HOUR); // the last step fails: the ramp pauses with nothing pending
    expect((await ramp(id)).steps.map((s: { state: string }) => s.state)).toEqual(['applied', 'failed']);
    expect((await call(h, 'POST', `/api/flags/${key}/restore`, { body: {} })).status).toBeLessThan(300);
    const resumed = await call(h, 'POST', `/api/rollouts/${id}/resume`, { body: { reason: 'flag restored' } });
    expect(resumed.status).toBe(200);
    expect(resumed.body.steps[1]).toMatchObject({ state: 'pending', error: null });
    const audit = await call(h, 'GET', `/api/audit?flag=${key}&limit=1`);
    expect(audit.body.items[0]).toMatchObject({ level: 'rollout', newValue: { state: 'running', retried: [resumed.body.steps[1].id] } });
    expect((await pass(start + 2 * HOUR)).results.filter((r) => r.rampId === id).map((r) => r.state)).toEqual(['applied']);
    expect(await ramp(id)).toMatchObject({ state: 'done' });
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout).toMatchObject({ percentage: 50 });
  });

  it('validates ramps: one form, rising percentages, ordered steps, one live ramp per flag and level', async () => {
    const key = await createFlag(h);
    const at = iso(window());
    const post = (body: unknown, token?: string) => call(h, 'POST', `/api/flags/${key}/rollouts`, { body, token });
    expect((await post({ every: '1h', percentages: [50, 10] })).status).toBe(422);
    expect((await post({ every: 'soon', percentages: [10] })).status).toBe(422);
    expect((await post({ steps: [{ percentage: 10, at }], every: '1h', percentages: [10] })).status).toBe(422);
    expect((await post({ steps: [{ percentage: 10, at }, { percentage: 20, at }] })).status).toBe(422);
    expect((await post({ orgId: t.orgId, stickiness: 'orgId', every: '1h', percentages: [10] })).status).toBe(422);
    expect((await post({ value: 'x', every: '1h', percentages: [10] })).status).toBe(422);
    expect((await post({ every: '1h', percentages: [10] }, t.orgAdmin)).status).toBe(403);
    expect((await post({ start: at, every: '1h', percentages: [10] })).status).toBe(201);
    expect((await post({ start: at, every: '1h', percentages: [10] })).status).toBe(409);
    expect((await post({ orgId: t.orgId, start: at, every: '1h', percentages: [10] })).status).toBe(201);
    const list = await call(h, 'GET', `/api/flags/${key}/rollouts`, { token: t.viewer });
    expect(list.body.items).toHaveLength(2);
    const otherView = await call(h, 'GET', `/api/flags/${key}/rollouts`, { token: t.otherOrgAdmin });
    expect(otherView.body.items.map((r: { orgId: string | null }) => r.orgId)).toEqual([null]);
  });

  it('stores percentages with two decimals and refuses a shorthand whose last step falls after 9999', async () => {
    const key = await createFlag(h);
    const at = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { steps: [{ percentage: 12.3400000001, at: iso(at) }, { percentage: 50, at: iso(at + HOUR) }] } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.steps.map((s: { percentage: number }) => s.percentage)).toEqual([12.34, 50]);
    const schedule = await call(h, 'POST', `/api/flags/${await createFlag(h)}/schedules`, { body: { at: iso(at + 2 * HOUR), change: { percentage: 60.0000000001 } } });
    expect(schedule.body.change).toEqual({ percentage: 60 });
    const late = await call(h, 'POST', `/api/flags/${await createFlag(h)}/rollouts`, { body: { start: '9999-12-31T00:00:00Z', every: '366d', percentages: [1, 2, 3] } });
    expect(late.status).toBe(422);
    expect(late.body.errors).toEqual([expect.objectContaining({ path: 'body.every', message: expect.stringContaining('9999-12-31') })]);
  });

  it('parses intervals', () => {
    expect(parseInterval('1h')).toBe(HOUR);
    expect(parseInterval('30m')).toBe(HOUR / 2);
    expect(parseInterval('PT1H30M')).toBe(1.5 * HOUR);
    expect(parseInterval('P1D')).toBe(24 * HOUR);
    expect(parseInterval(60_000)).toBe(60_000);
    expect(parseInterval('60000')).toBe(60_000);
    for (const bad of ['P', 'PT', '1y', '', 'abc', 0, -5]) expect(parseInterval(bad as string)).toBeNull();
  });
});

describe('a ramp is gradual and owns what it steers', () => {
  it('an org ramp without a value rolls out true, not the org value it replaces; one to the system default is refused', async () => {
    const key = await createFlag(h); // default false
    const org = `org-gradual-${Date.now()}`;
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: false } })).status).toBe(200); // opted out
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { orgId: org, start: iso(start), every: '1h', percentages: [10, 50, 100] } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.value).toBe(true);
    await pass(start);
    const at10 = (await usersIn(key, org, start)).size;
    await pass(start + HOUR);
    const at50 = (await usersIn(key, org, start)).size;
    expect(at10).toBeGreaterThan(100);
    expect(at50).toBeGreaterThan(at10);
    expect(at50).toBeLessThan(USERS.length);

    const onByDefault = await createFlag(h, { defaultValue: true });
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${onByDefault}`, { body: { value: false } })).status).toBe(200);
    const whole = await call(h, 'POST', `/api/flags/${onByDefault}/rollouts`, { body: { orgId: org, value: true, start: iso(start), every: '1h', percentages: [10, 100] } });
    expect(whole.status).toBe(422);
    expect(whole.body.errors).toEqual([{ path: 'body.value', message: expect.stringContaining('fall through to the system level') }]);
    const nothing = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { value: false, start: iso(start), every: '1h', percentages: [10, 100] } });
    expect(nothing.status).toBe(422);
    expect(nothing.body.errors[0].path).toBe('body.value');
  });

  it('a ramp may not start below what the level already gives its value', async () => {
    const key = await createFlag(h);
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 50, value: true } } })).status).toBe(200);
    const at = window();
    const below = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { steps: [{ percentage: 10, at: iso(at) }, { percentage: 100, at: iso(at + HOUR) }] } });
    expect(below.status).toBe(422);
    expect(below.body.errors).toEqual([{ path: 'body.steps.0.percentage', message: expect.stringContaining('50% already get true') }]);
    expect((await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(at), every: '1h', percentages: [50, 100] } })).status).toBe(201);

    const org = `org-below-${Date.now()}`;
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: true } })).status).toBe(200); // all its users
    const orgBelow = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { orgId: org, value: true, start: iso(at), every: '1h', percentages: [10, 100] } });
    expect(orgBelow.status).toBe(422);
    expect(orgBelow.body.errors[0].path).toBe('body.percentages.0');
  });

  it('while a ramp is live (running or paused) its rollout or org value cannot be changed by hand; after abort it can', async () => {
    const key = await createFlag(h);
    const start = window();
    const system = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '1h', percentages: [10, 20] } });
    await pass(start);
    const raise = await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 60, value: true } } });
    expect(raise.status).toBe(409);
    expect(raise.body.detail).toContain(system.body.id);
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: null } })).status).toBe(409);
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { description: 'still editable' } })).status).toBe(200);
    expect((await call(h, 'POST', `/api/rollouts/${system.body.id}/pause`)).status).toBe(200);
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: null } })).status).toBe(409);
    // reverting the step's audit entry would put the rollout back behind the ramp's back too
    const [step] = await h.sql(`SELECT id FROM cmis.feature_flag_values WHERE feature_key = $1 AND level = 'system' AND actor = 'cron'`, [key]);
    expect((await call(h, 'POST', `/api/audit/${step!.id}/revert`, { body: {} })).status).toBe(409);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout.percentage).toBe(10);

    const org = `org-owned-${Date.now()}`;
    const orgRamp = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { orgId: org, start: iso(start), every: '1h', percentages: [30, 60] } });
    expect(orgRamp.status).toBe(201);
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: true } })).status).toBe(409);
    expect((await call(h, 'PUT', `/api/orgs/other-${org}/flags/${key}`, { body: { value: true } })).status).toBe(200);

    expect((await call(h, 'POST', `/api/rollouts/${system.body.id}/abort`)).status).toBe(200);
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: null } })).status).toBe(200);
    expect((await call(h, 'POST', `/api/rollouts/${orgRamp.body.id}/abort`)).status).toBe(200);
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: true } })).status).toBe(200);
  });

  it('a schedule may not change what a live ramp steers: refused when made, failed when one made earlier comes due', async () => {
    const key = await createFlag(h);
    const start = window();
    const early = await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: iso(start + HOUR), change: { percentage: 60 } } });
    expect(early.status).toBe(201);
    const blocked = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '2h', percentages: [10, 20] } });
    expect(blocked.status).toBe(409);
    expect(blocked.body.detail).toContain(early.body.id);
    // one made before this rule existed (written directly) is still pending when the ramp starts
    await h.sql(`UPDATE cmis.flag_schedules SET kind = 'schedule', state = 'cancelled' WHERE id = $1`, [early.body.id]);
    const ramp = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '2h', percentages: [10, 20] } });
    expect(ramp.status).toBe(201);
    await h.sql(`UPDATE cmis.flag_schedules SET state = 'pending' WHERE id = $1`, [early.body.id]);
    const late = await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: iso(start + HOUR), change: { percentage: 60 } } });
    expect(late.status).toBe(409);
    expect(late.body.detail).toContain(ramp.body.id);
    // the default value and the kill switch are not the ramp's
    expect((await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: iso(start + HOUR), change: { killed: true } } })).status).toBe(201);
    const org = `org-sched-${Date.now()}`;
    const orgRamp = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { orgId: org, start: iso(start), every: '2h', percentages: [30, 60] } });
    expect(orgRamp.status).toBe(201);
    expect((await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: iso(start + HOUR), orgId: org, change: { value: false } } })).status).toBe(409);

    await pass(start + HOUR);
    const [row] = await h.sql(`SELECT state, error FROM cmis.flag_schedules WHERE id = $1`, [early.body.id]);
    expect(row).toMatchObject({ state: 'failed', error: expect.stringContaining(ramp.body.id) });
    expect((await call(h, 'GET', `/api/flags/${key}`)).body).toMatchObject({ killed: true, rollout: { percentage: 10 } });
  });

  it("an org ramp counts the system rollout its users fall through to", async () => {
    const key = await createFlag(h); // default false
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 50, value: true } } })).status).toBe(200);
    const org = `org-fall-${Date.now()}`;
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: false } })).status).toBe(200);
    const start = window();
    const low = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { orgId: org, start: iso(start), every: '1h', percentages: [10, 50, 100] } });
    expect(low.status).toBe(422);
    expect(low.body.errors).toEqual([{ path: 'body.percentages.0', message: expect.stringContaining("50% of this org's users get true from the first step") }]);
    expect((await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { orgId: org, start: iso(start), every: '1h', percentages: [50, 100] } })).status).toBe(201);

    // a system rollout by organization that includes the org gives it the value whole
    const byOrg = await createFlag(h);
    expect((await call(h, 'PATCH', `/api/flags/${byOrg}`, { body: { rollout: { percentage: 100, value: true, stickiness: 'orgId' } } })).status).toBe(200);
    const whole = await call(h, 'POST', `/api/flags/${byOrg}/rollouts`, { body: { orgId: org, value: true, start: iso(start), every: '1h', percentages: [10, 100] } });
    expect(whole.status).toBe(422);
    expect(whole.body.errors[0]).toMatchObject({ path: 'body.value', message: expect.stringContaining("gives true to all of this org's users") });

    // a system rollout of another value to everyone: an org ramp back to the default value is gradual
    const everyoneOn = await createFlag(h); // default false
    expect((await call(h, 'PATCH', `/api/flags/${everyoneOn}`, { body: { rollout: { percentage: 100, value: true } } })).status).toBe(200);
    expect((await call(h, 'POST', `/api/flags/${everyoneOn}/rollouts`, { body: { orgId: org, value: false, start: iso(start), every: '1h', percentages: [10, 100] } })).status).toBe(201);
  });

  it('a system ramp may not switch the stickiness of a rollout of its value (it would take subjects out)', async () => {
    const key = await createFlag(h);
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 50, value: true } } })).status).toBe(200);
    const at = window();
    const switched = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { stickiness: 'orgId', start: iso(at), every: '1h', percentages: [60, 100] } });
    expect(switched.status).toBe(422);
    expect(switched.body.errors).toEqual([{ path: 'body.stickiness', message: expect.stringContaining('by userId') }]);
    expect((await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(at), every: '1h', percentages: [60, 100] } })).status).toBe(201);
  });

  it('abort with restore: false stops the ramp where it is', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '1h', percentages: [10, 25, 100] } });
    await pass(start + HOUR);
    const stopped = await call(h, 'POST', `/api/rollouts/${created.body.id}/abort`, { body: { restore: false, reason: 'hold at 25%' } });
    expect(stopped.status).toBe(200);
    expect(stopped.body.steps.map((s: { state: string }) => s.state)).toEqual(['applied', 'applied', 'cancelled']);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout).toMatchObject({ percentage: 25, value: true });
    const [note] = await h.sql(`SELECT new_value FROM cmis.feature_flag_values WHERE feature_key = $1 AND level = 'rollout' AND reason = 'hold at 25%'`, [key]);
    expect(note!.new_value).toEqual({ state: 'aborted', restore: false });
    expect((await call(h, 'PATCH', `/api/flags/${key}`, { body: { rollout: { percentage: 30, value: true } } })).status).toBe(200);
    expect((await call(h, 'POST', `/api/rollouts/${created.body.id}/abort`, { body: { restore: 'no' } })).status).toBe(422);
  });

  it('aborting a ramp before its first step changes nothing (its recorded state may be older than the flag)', async () => {
    const key = await createFlag(h);
    const start = window();
    const created = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: iso(start), every: '1h', percentages: [10, 50] } });
    // the flag moves on before the ramp starts, outside the API (which refuses it while the ramp is live)
    await h.sql(
      `SELECT set_config('app.actor', 'test:by-hand', false); UPDATE cmis.feature_flags SET rollout = '{"percentage": 5, "value": true}' WHERE feature_key = '${key}' AND org_id IS NULL`,
    );
    const pilot = (await call(h, 'GET', `/api/flags/${key}`)).body.rollout;
    expect(pilot).toMatchObject({ percentage: 5, value: true });
    const aborted = await call(h, 'POST', `/api/rollouts/${created.body.id}/abort`, { body: { reason: 'plan changed' } });
    expect(aborted.status).toBe(200);
    expect(aborted.body.steps.map((s: { state: string }) => s.state)).toEqual(['cancelled', 'cancelled']);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout).toEqual(pilot);
    const [note] = await h.sql(`SELECT new_value FROM cmis.feature_flag_values WHERE feature_key = $1 AND level = 'rollout' AND reason = 'plan changed'`, [key]);
    expect(note!.new_value).toEqual({ state: 'aborted' });
  });
});
