// The dashboard's operational pages: archive/restore, schedules and ramps in the flag editor, tokens
// and webhooks. Every form must refuse a missing CSRF token and a viewer, and write through the API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_TOKEN, call, createFlag, mintRoleTokens, startHarness, unique, type Harness, type RoleTokens } from '../admin/helpers';
import { createPool } from '../../shared/db/client';
import { applyDueSchedules } from '../../workers/cron/schedules';
import { Browser, textOfId } from './helpers';

let h: Harness;
let roles: RoleTokens;
let admin: Browser;

const future = (hours: number) => new Date(Date.now() + hours * 3_600_000).toISOString().slice(0, 16);

beforeAll(async () => {
  h = await startHarness();
  roles = await mintRoleTokens(h);
  admin = new Browser(h);
  await admin.signIn(BOOTSTRAP_TOKEN);
});
afterAll(() => h?.close());

/** One of each new form, with real ids, and how to tell that nothing happened. */
async function newForms() {
  const key = await createFlag(h, { type: 'boolean' });
  const schedule = await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: new Date(Date.now() + 86_400_000).toISOString(), change: { value: true } } });
  const ramp = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { percentages: [10, 50], every: '1d', start: new Date(Date.now() + 86_400_000).toISOString() } });
  const token = await call(h, 'POST', '/api/tokens', { body: { name: unique('victim-'), role: 'viewer', orgId: roles.orgId } });
  const hook = await call(h, 'POST', '/api/webhooks', { body: { url: 'https://hooks.example/a', kind: 'slack', orgId: roles.orgId } });
  expect([schedule.status, ramp.status, token.status, hook.status]).toEqual([201, 201, 201, 201]);
  const forms: [string, Record<string, string>][] = [
    [`/flags/${key}/archive`, { confirm: 'yes', version: '1' }],
    [`/flags/${key}/restore`, {}],
    [`/flags/${key}/schedules`, { at: future(48), what: 'kill' }],
    [`/flags/${key}/schedules/${schedule.body.id}/cancel`, {}],
    [`/flags/${key}/rollouts`, { percentages: '5, 10', every: '1h', value: 'true', orgId: roles.orgId }],
    [`/flags/${key}/rollouts/${ramp.body.id}/pause`, {}],
    [`/flags/${key}/rollouts/${ramp.body.id}/abort`, {}],
    ['/tokens', { name: unique('forged-'), role: 'viewer', orgId: roles.orgId }],
    [`/tokens/${token.body.id}/revoke`, {}],
    ['/webhooks', { url: 'https://evil.example/hook', kind: 'slack' }],
    [`/webhooks/${hook.body.id}/delete`, {}],
  ];
  async function unchanged(): Promise<void> {
    expect((await call(h, 'GET', `/api/flags/${key}`)).body).toMatchObject({ archivedAt: null, version: 1 });
    const schedules = await call(h, 'GET', `/api/flags/${key}/schedules`);
    expect(schedules.body.items.map((s: { id: string; state: string }) => [s.id, s.state])).toEqual([[schedule.body.id, 'pending']]);
    const ramps = await call(h, 'GET', `/api/flags/${key}/rollouts`);
    expect(ramps.body.items.map((r: { id: string; state: string }) => [r.id, r.state])).toEqual([[ramp.body.id, 'running']]);
    const tokens = await call(h, 'GET', '/api/tokens?limit=100&includeRevoked=true');
    expect(tokens.body.items.find((t: { id: string }) => t.id === token.body.id).revokedAt).toBeNull();
    expect(tokens.body.items.some((t: { name: string }) => t.name.startsWith('forged-'))).toBe(false);
    const hooks = await call(h, 'GET', '/api/webhooks?limit=100');
    expect(hooks.body.items.some((w: { id: string }) => w.id === hook.body.id)).toBe(true);
    expect(hooks.body.items.some((w: { url: string }) => w.url === 'https://evil.example/hook')).toBe(false);
  }
  return { key, forms, unchanged };
}

describe('CSRF and roles on the new forms', () => {
  it('refuses every new form without the CSRF token', async () => {
    const { forms, unchanged } = await newForms();
    for (const [path, form] of forms) {
      const res = await admin.request('POST', path, { form });
      expect(res.status, path).toBe(403);
      expect(res.html, path).toContain('CSRF');
    }
    await unchanged();
  });

  it('refuses every new form to a viewer, even with its own valid CSRF token, and hides the controls', async () => {
    const { key, forms, unchanged } = await newForms();
    const viewer = new Browser(h);
    await viewer.signIn(roles.viewer);
    const page = await viewer.get(`/flags/${key}`);
    expect(page.status).toBe(200);
    for (const label of ['Schedule change', 'Start ramp', 'Abort ramp', 'Cancel schedule', 'Archive flag']) expect(page.html).not.toContain(label);
    expect(page.html).not.toContain('href="/tokens"');
    expect(page.html).not.toContain('href="/webhooks"');
    expect((await viewer.get('/tokens')).status).toBe(403);
    expect((await viewer.get('/webhooks')).status).toBe(403);
    for (const [path, form] of forms) {
      const res = await viewer.post(path, form, page);
      expect(res.status, path).toBe(403);
    }
    await unchanged();
  });
});

describe('archive and restore', () => {
  it('asks for confirmation, archives through the API and restores', async () => {
    const key = await createFlag(h, { type: 'boolean' });
    const page = await admin.get(`/flags/${key}`);
    const unconfirmed = await admin.post(`/flags/${key}/archive`, { version: '1' }, page);
    expect(unconfirmed.status).toBe(422);
    expect(textOfId(unconfirmed.html, 'archive-confirm-error')).toBe('tick the box to confirm the archive');
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.archivedAt).toBeNull();
    const archived = await admin.post(`/flags/${key}/archive`, { version: '1', confirm: 'yes', reason: 'unused' }, page);
    expect(archived.status).toBe(303);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.archivedAt).not.toBeNull();
    const after = await admin.get(`/flags/${key}`);
    expect(after.html).toContain(`Archived ${key}.`);
    expect(after.html).toContain('Restore flag');
    expect(after.html).not.toContain('Schedule change'); // nothing can be planned on an archived flag
    expect((await admin.post(`/flags/${key}/restore`, {}, after)).status).toBe(303);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.archivedAt).toBeNull();
  });
});

describe('schedules', () => {
  it('explains a bad schedule beside the field and keeps what was typed', async () => {
    const key = await createFlag(h, { type: 'number', defaultValue: 1 });
    const page = await admin.get(`/flags/${key}`);
    expect(page.html).toContain('No scheduled changes for this flag.');
    const noAt = await admin.post(`/flags/${key}/schedules`, { at: '', what: 'value', value: '5' }, page);
    expect(noAt.status).toBe(422);
    expect(textOfId(noAt.html, 'schedule-at-error')).toBe('enter when the change applies (UTC)');
    const badValue = await admin.post(`/flags/${key}/schedules`, { at: future(2), what: 'value', value: 'lots' }, page);
    expect(badValue.status).toBe(422);
    expect(textOfId(badValue.html, 'schedule-value-error')).toBe('enter a number');
    expect(badValue.html).toContain('value="lots"');
    // The API's own refusal lands beside the field too: the kill switch is system-wide.
    const orgKill = await admin.post(`/flags/${key}/schedules`, { at: future(2), orgId: roles.orgId, what: 'kill' }, page);
    expect(orgKill.status).toBe(422);
    expect(textOfId(orgKill.html, 'schedule-what-error')).toMatch(/system-wide/);
    expect((await call(h, 'GET', `/api/flags/${key}/schedules`)).body.items).toEqual([]);
  });

  it('creates a schedule, lists it as pending and cancels it', async () => {
    const key = await createFlag(h, { type: 'boolean' });
    const page = await admin.get(`/flags/${key}`);
    const at = future(24);
    const res = await admin.post(`/flags/${key}/schedules`, { at, what: 'percentage', percentage: '25', value: 'true', reason: 'launch' }, page);
    expect(res.status).toBe(303);
    expect(res.location).toBe(`/flags/${key}#schedules`);
    const [schedule] = (await call(h, 'GET', `/api/flags/${key}/schedules`)).body.items;
    expect(schedule).toMatchObject({ at: `${at}:00.000Z`, orgId: null, state: 'pending', change: { percentage: 25, value: true } });
    const listed = await admin.get(`/flags/${key}`);
    expect(listed.html).toMatch(/<span class="state state-pending">pending<\/span>/);
    expect((await admin.post(`/flags/${key}/schedules/${schedule.id}/cancel`, {}, listed)).status).toBe(303);
    expect((await call(h, 'GET', `/api/flags/${key}/schedules`)).body.items[0].state).toBe('cancelled');
  });
});

describe('ramps', () => {
  it('starts a ramp from percentages, pauses, resumes and aborts it', async () => {
    const key = await createFlag(h, { type: 'boolean' });
    const page = await admin.get(`/flags/${key}`);
    expect(page.html).toContain('No ramps for this flag yet.');
    const missing = await admin.post(`/flags/${key}/rollouts`, { percentages: '10, 50', every: '', value: 'true' }, page);
    expect(missing.status).toBe(422);
    expect(textOfId(missing.html, 'ramp-every-error')).toMatch(/interval/);
    const down = await admin.post(`/flags/${key}/rollouts`, { percentages: '50, 10', every: '1h', value: 'true' }, page);
    expect(down.status).toBe(422);
    expect(textOfId(down.html, 'ramp-pcts-error')).toBe('percentages of a ramp may not go down');

    expect((await admin.post(`/flags/${key}/rollouts`, { percentages: '10, 50, 100', every: '1d', start: future(1), value: 'true' }, page)).status).toBe(303);
    const [ramp] = (await call(h, 'GET', `/api/flags/${key}/rollouts`)).body.items;
    expect(ramp.steps.map((s: { percentage: number }) => s.percentage)).toEqual([10, 50, 100]);
    let view = await admin.get(`/flags/${key}`);
    expect(view.html).toContain('Pause ramp');
    for (const [action, state] of [['pause', 'paused'], ['resume', 'running'], ['abort', 'aborted']] as const) {
      expect((await admin.post(`/flags/${key}/rollouts/${ramp.id}/${action}`, {}, view)).status, action).toBe(303);
      expect((await call(h, 'GET', `/api/rollouts/${ramp.id}`)).body.state).toBe(state);
      view = await admin.get(`/flags/${key}`);
    }
    expect(view.html).toContain('Aborted the ramp');
    expect(view.html).not.toContain('Abort ramp');
  });

  it("offers the value other than the flag's default for a boolean ramp (a ramp to the default is refused)", async () => {
    const offByDefault = await admin.get(`/flags/${await createFlag(h, { type: 'boolean' })}`);
    expect(offByDefault.html).toMatch(/<select id="ramp-value"[^>]*>\s*<option value="true" selected/);
    const onByDefault = await admin.get(`/flags/${await createFlag(h, { type: 'boolean', defaultValue: true })}`);
    expect(onByDefault.html).toMatch(/<select id="ramp-value"[^>]*>\s*<option value="true">[^<]*<\/option>\s*<option value="false" selected/);
  });

  it('"Stop here" aborts a ramp that has stepped and keeps its rollout', async () => {
    const key = await createFlag(h, { type: 'boolean' });
    const start = Date.now() + 3_600_000;
    const ramp = (await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { start: new Date(start).toISOString(), every: '1h', percentages: [10, 40, 100] } })).body;
    expect((await admin.get(`/flags/${key}`)).html).not.toContain('Stop here'); // nothing applied yet: abort is the same
    const pool = createPool({ databaseUrl: h.env.DATABASE_URL, wsProxy: h.env.DATABASE_WS_PROXY, max: 1 });
    try {
      await applyDueSchedules(pool, start + 3_600_000, { kv: h.kv });
    } finally {
      await pool.end();
    }
    const page = await admin.get(`/flags/${key}`);
    expect(page.html).toContain('Stop here');
    // the rollout the ramp steers is not offered for editing by hand while it runs
    expect(page.html).toContain('id="rollout-steered"');
    expect(page.html).not.toContain('Save rollout');
    const stopped = await admin.post(`/flags/${key}/rollouts/${ramp.id}/abort`, { restore: 'false' }, page);
    expect(stopped.status).toBe(303);
    expect((await call(h, 'GET', `/api/rollouts/${ramp.id}`)).body.state).toBe('aborted');
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.rollout).toMatchObject({ percentage: 40 });
    const after = (await admin.get(`/flags/${key}`)).html;
    expect(after).toContain(`Stopped the ramp of ${key} where it is.`);
    expect(after).toContain('Save rollout');
  });

  it("the org page does not offer an org value its live ramp steers (the API would refuse it), and does again once the ramp ends", async () => {
    const key = await createFlag(h, { type: 'boolean' });
    const orgPage = async () => (await admin.get(`/orgs?orgId=${roles.orgId}`)).html;
    const orgButton = `aria-label="On: ${key} for ${roles.orgId}"`;
    expect(await orgPage()).toContain(orgButton);
    const start = Date.now() + 3_600_000;
    const ramp = (await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { orgId: roles.orgId, start: new Date(start).toISOString(), every: '1h', percentages: [10, 100] } })).body;
    const during = await orgPage();
    expect(during).toContain(`id="ramp-${key}"`);
    expect(during).not.toContain(orgButton);
    expect(during).toContain(`aria-label="On: ${key} on meta for ${roles.orgId}"`); // platforms are not the ramp's
    expect((await call(h, 'POST', `/api/rollouts/${ramp.id}/abort`, { body: {} })).status).toBe(200);
    const after = await orgPage();
    expect(after).not.toContain(`id="ramp-${key}"`);
    expect(after).toContain(orgButton);
  });

  it('takes explicit steps, one per line', async () => {
    const key = await createFlag(h, { type: 'boolean' });
    const page = await admin.get(`/flags/${key}`);
    const bad = await admin.post(`/flags/${key}/rollouts`, { steps: 'ten percent tomorrow please', value: 'true' }, page);
    expect(bad.status).toBe(422);
    expect(textOfId(bad.html, 'ramp-steps-error')).toMatch(/line 1/);
    const res = await admin.post(`/flags/${key}/rollouts`, { steps: `20 ${future(3)}\n60% at ${future(5)}`, value: 'true', orgId: roles.orgId }, page);
    expect(res.status).toBe(303);
    const [ramp] = (await call(h, 'GET', `/api/flags/${key}/rollouts`)).body.items;
    expect(ramp).toMatchObject({ orgId: roles.orgId, state: 'running' });
    expect(ramp.steps.map((s: { percentage: number }) => s.percentage)).toEqual([20, 60]);
  });
});

describe('tokens', () => {
  it('shows a new token once, on the answer page only, and never afterwards', async () => {
    const page = await admin.get('/tokens');
    expect(page.status).toBe(200);
    const name = unique('dash-token-');
    const res = await admin.post('/tokens', { name, role: 'viewer', orgId: roles.orgId }, page);
    expect(res.status).toBe(201);
    expect(res.location).toBeNull();
    expect(res.html).toContain('Copy it now.');
    const token = /id="new-token"[^>]*value="([^"]+)"/.exec(res.html)?.[1] ?? /value="([^"]+)"[^>]*id="new-token"/.exec(res.html)?.[1];
    expect(token).toBeTruthy();
    expect(res.headers.get('Cache-Control')).toBe('no-store');
    expect(res.headers.getSetCookie().join('\n')).not.toContain(token!);
    // It works, and is never shown again.
    expect((await call(h, 'GET', `/api/flags`, { token: token! })).status).toBe(200);
    const list = await admin.get('/tokens');
    expect(list.html).toContain(name);
    expect(list.html).not.toContain(token!);
    expect([...admin.cookies.values()].join('\n')).not.toContain(token!);
  });

  it('explains a bad token form beside the field and revokes after confirmation', async () => {
    const page = await admin.get('/tokens');
    const bad = await admin.post('/tokens', { name: 'viewer with no org', role: 'viewer', orgId: '' }, page);
    expect(bad.status).toBe(422);
    expect(textOfId(bad.html, 'token-org-error')).toBe('a viewer token needs an orgId');
    const made = await call(h, 'POST', '/api/tokens', { body: { name: unique('to-revoke-'), role: 'viewer', orgId: roles.orgId } });
    const listed = await admin.get('/tokens');
    expect(listed.html).toContain(`action="/tokens/${made.body.id}/revoke" data-confirm=`);
    expect((await admin.post(`/tokens/${made.body.id}/revoke`, {}, listed)).status).toBe(303);
    expect((await call(h, 'GET', '/api/flags', { token: made.body.token })).status).toBe(401);
  });

  it('lets an org admin manage its own org only', async () => {
    const orgAdmin = new Browser(h);
    await orgAdmin.signIn(roles.orgAdmin);
    const page = await orgAdmin.get('/tokens');
    expect(page.status).toBe(200);
    expect(page.html).not.toContain('<option value="system_admin"');
    expect((await orgAdmin.post('/tokens', { name: unique('other-'), role: 'viewer', orgId: roles.otherOrgId }, page)).status).toBe(403);
    expect((await orgAdmin.post('/tokens', { name: unique('own-'), role: 'viewer', orgId: roles.orgId }, page)).status).toBe(201);
  });
});

describe('webhooks', () => {
  it("offers an org admin only the events its org's webhooks can receive (no stale digest, no system alerts)", async () => {
    expect((await admin.get('/webhooks')).html).toContain('value="system.alert"');
    const orgAdmin = new Browser(h);
    await orgAdmin.signIn(roles.orgAdmin);
    const page = (await orgAdmin.get('/webhooks')).html;
    expect(page).toContain('value="flag.changed"');
    expect(page).not.toContain('value="system.alert"');
    expect(page).not.toContain('value="stale.digest"');
  });

  it('shows a generic secret once, lists the webhook and removes it', async () => {
    const page = await admin.get('/webhooks');
    expect(page.status).toBe(200);
    const bad = await admin.post('/webhooks', { url: 'not a url', kind: 'generic' }, page);
    expect(bad.status).toBe(422);
    expect(textOfId(bad.html, 'hook-url-error')).toBeTruthy();
    const url = `https://hooks.example/${unique('g-')}`;
    const res = await admin.request('POST', '/webhooks', {
      form: { _csrf: /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!, url, kind: 'generic', orgId: roles.orgId },
    });
    expect(res.status).toBe(201);
    const secret = /value="(whsec_[0-9a-f]+)"/.exec(res.html)?.[1];
    expect(secret).toBeTruthy();
    const list = await admin.get('/webhooks');
    expect(list.html).toContain(url);
    expect(list.html).not.toContain(secret!);
    expect(list.html).toContain('nothing sent yet');
    const [hook] = (await call(h, 'GET', '/api/webhooks?limit=100')).body.items.filter((w: { url: string }) => w.url === url);
    expect(hook).toMatchObject({ kind: 'generic', orgId: roles.orgId, events: [] });
    expect((await admin.post(`/webhooks/${hook.id}/delete`, {}, list)).status).toBe(303);
    expect((await call(h, 'GET', '/api/webhooks?limit=100')).body.items.some((w: { id: string }) => w.id === hook.id)).toBe(false);
  });

  it('keeps the chosen events', async () => {
    const page = await admin.get('/webhooks');
    const url = `https://hooks.slack.example/${unique('s-')}`;
    const body = new URLSearchParams([
      ['_csrf', /name="_csrf" value="([^"]+)"/.exec(page.html)![1]!],
      ['url', url],
      ['kind', 'slack'],
      ['events', 'flag.changed'],
      ['events', 'rollout.failed'],
    ]);
    const res = await h.app.request(
      'http://admin.test/webhooks',
      { method: 'POST', body: body.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded', Cookie: [...admin.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }, redirect: 'manual' },
      h.env,
    );
    expect(res.status).toBe(303);
    const [hook] = (await call(h, 'GET', '/api/webhooks?limit=100')).body.items.filter((w: { url: string }) => w.url === url);
    expect(hook.events).toEqual(['flag.changed', 'rollout.failed']);
  });
});
