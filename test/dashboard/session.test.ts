import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_TOKEN, call, createFlag, mintRoleTokens, startHarness, type Harness, type RoleTokens } from '../admin/helpers';
import { Browser, csrfOf, textOfId } from './helpers';

let h: Harness;
let roles: RoleTokens;

beforeAll(async () => {
  h = await startHarness();
  roles = await mintRoleTokens(h);
});
afterAll(() => h?.close());

describe('sign-in and the session cookie', () => {
  it('sets an HttpOnly, SameSite=Strict, signed, expiring cookie that does not hold the token', async () => {
    const browser = new Browser(h);
    const form = await browser.get('/signin');
    const res = await browser.post('/signin', { token: roles.orgAdmin, next: '/orgs' }, form);
    expect(res.status).toBe(303);
    expect(res.location).toBe('/orgs');
    const cookie = res.headers.getSetCookie().find((line) => line.startsWith('cmf_session='))!;
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).toMatch(/; Max-Age=28800/);
    expect(cookie).not.toMatch(/Secure/); // plain http (local stack)
    expect(cookie).not.toContain(roles.orgAdmin);
    expect(decodeURIComponent(cookie)).not.toContain(roles.orgAdmin.slice(10));
    expect((await browser.get('/orgs')).status).toBe(200);
  });

  it('marks the cookie Secure with the __Host- prefix over https', async () => {
    const browser = new Browser(h, 'https://flags.example');
    const form = await browser.get('/signin');
    const res = await browser.post('/signin', { token: BOOTSTRAP_TOKEN, next: '/' }, form);
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().find((line) => line.startsWith('__Host-cmf_session='))!;
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; SameSite=Strict/);
    expect((await browser.get('/')).status).toBe(200);
  });

  it('returns only to a path of this site after sign-in (no open redirect)', async () => {
    const offsite = ['//evil.example/x', '/\\evil.example/x', '/\t/evil.example/x', '/\n/evil.example', '/ /evil.example', 'https://evil.example/', 'javascript:alert(1)', '/%09/evil.example', '/.//evil.example/x', '/..//evil.example', '/x/..///evil.example'];
    for (const next of offsite) {
      const browser = new Browser(h);
      const form = await browser.get('/signin');
      const res = await browser.post('/signin', { token: BOOTSTRAP_TOKEN, next }, form);
      expect(res.status, JSON.stringify(next)).toBe(303);
      expect(new URL(res.location!, 'http://admin.local').origin, JSON.stringify(next)).toBe('http://admin.local');
      // signed in already: /signin?next=… redirects at once, to the same safe place
      const again = await browser.get(`/signin?next=${encodeURIComponent(next)}`);
      expect(new URL(again.location!, 'http://admin.local').origin, JSON.stringify(next)).toBe('http://admin.local');
    }
    const browser = new Browser(h);
    const form = await browser.get('/signin');
    expect((await browser.post('/signin', { token: BOOTSTRAP_TOKEN, next: '/flags/a.b?tab=audit' }, form)).location).toBe('/flags/a.b?tab=audit');
  });

  it('refuses a tampered cookie and an unknown token', async () => {
    const browser = new Browser(h);
    await browser.signIn(BOOTSTRAP_TOKEN);
    const [name, value] = [...browser.cookies].find(([n]) => n === 'cmf_session')!;
    browser.cookies.set(name, value.replace(/^./, (ch) => (ch === 'a' ? 'b' : 'a')));
    expect((await browser.get('/')).status).toBe(303);

    const stranger = new Browser(h);
    const page = await stranger.signIn('cmf_admin_' + 'x'.repeat(43));
    expect(page.status).toBe(401);
    expect(textOfId(page.html, 'token-error')).toBe('This token is invalid or revoked.');
    expect(stranger.cookies.has('cmf_session')).toBe(false);
  });

  it('does not let evaluate keys sign in', async () => {
    const page = await new Browser(h).signIn(roles.evaluate);
    expect(page.status).toBe(403);
    expect(page.html).toContain('Evaluate keys have no access');
  });

  it('refuses a sign-in POST without its CSRF token (login CSRF)', async () => {
    const browser = new Browser(h);
    const res = await browser.request('POST', '/signin', { form: { token: BOOTSTRAP_TOKEN } });
    expect(res.status).toBe(403);
    expect(browser.cookies.has('cmf_session')).toBe(false);
  });

  it('never redirects off-site after sign-in', async () => {
    const browser = new Browser(h);
    const form = await browser.get('/signin');
    const res = await browser.post('/signin', { token: BOOTSTRAP_TOKEN, next: '//evil.example/' }, form);
    expect(res.location).toBe('/');
  });

  it('signs out, and a revoked token ends its sessions', async () => {
    const browser = new Browser(h);
    const page = await (async () => {
      await browser.signIn(BOOTSTRAP_TOKEN);
      return browser.get('/');
    })();
    // a copy of the cookie taken before signing out (another tab, a stolen cookie)
    const copy = new Browser(h);
    copy.cookies.set('cmf_session', browser.cookies.get('cmf_session')!);
    expect((await copy.get('/')).status).toBe(200);
    const out = await browser.post('/signout', {}, page);
    expect(out.status).toBe(303);
    expect(browser.cookies.has('cmf_session')).toBe(false);
    expect((await browser.get('/')).status).toBe(303);
    const stale = await copy.get('/');
    expect(stale.status).toBe(303); // before: 200 until the cookie expired, 8 hours later
    expect(stale.location).toBe('/signin?next=%2F');
    // signing in again starts a new session that works
    await browser.signIn(BOOTSTRAP_TOKEN);
    expect((await browser.get('/')).status).toBe(200);

    const minted = await call(h, 'POST', '/api/tokens', { body: { name: 'soon-revoked', role: 'viewer', orgId: roles.orgId } });
    const viewer = new Browser(h);
    await viewer.signIn(minted.body.token);
    expect((await viewer.get('/')).status).toBe(200);
    expect((await call(h, 'DELETE', `/api/tokens/${minted.body.id}`)).status).toBe(204);
    const after = await viewer.get('/');
    expect(after.status).toBe(303);
    expect(after.location).toBe('/signin?next=%2F');
  });

  it('carries a CSRF token in every form of every page', async () => {
    const browser = new Browser(h);
    await browser.signIn(BOOTSTRAP_TOKEN);
    const key = await createFlag(h, { type: 'boolean' });
    for (const path of ['/', '/orgs?orgId=' + roles.orgId, `/flags/${key}`, '/audit']) {
      const { html } = await browser.get(path);
      const postForms = html.match(/<form method="post"[\s\S]*?<\/form>/g) ?? [];
      expect(postForms.length, path).toBeGreaterThan(0);
      for (const form of postForms) expect(csrfOf(form), form.slice(0, 80)).toBeDefined();
    }
  });
});
