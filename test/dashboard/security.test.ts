import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTSTRAP_TOKEN, call, createFlag, mintRoleTokens, startHarness, type Harness, type RoleTokens } from '../admin/helpers';
import { CONTENT_SECURITY_POLICY } from '../../workers/admin/dashboard/layout';
import { Browser, csrfOf, type Page } from './helpers';

let h: Harness;
let roles: RoleTokens;
let flag: string;

beforeAll(async () => {
  h = await startHarness();
  roles = await mintRoleTokens(h);
  flag = await createFlag(h, { type: 'boolean' });
});
afterAll(() => h?.close());

function expectSecurityHeaders(page: Page): void {
  expect(page.headers.get('Content-Security-Policy')).toBe(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  );
  expect(page.headers.get('X-Content-Type-Options')).toBe('nosniff');
  expect(page.headers.get('X-Frame-Options')).toBe('DENY');
  expect(page.headers.get('Referrer-Policy')).toBe('same-origin');
}

describe('security headers', () => {
  it('are on every page, redirect, asset and refusal', async () => {
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    const anonymous = new Browser(h);
    const redirect = await anonymous.get('/');
    expect(redirect.status).toBe(303);
    expect(redirect.location).toBe('/signin?next=%2F');
    expectSecurityHeaders(redirect);
    expectSecurityHeaders(await anonymous.get('/signin'));
    for (const asset of ['/assets/app.css', '/assets/app.js']) {
      const page = await anonymous.get(asset);
      expect(page.status).toBe(200);
      expectSecurityHeaders(page);
    }

    const admin = new Browser(h);
    expect((await admin.signIn(BOOTSTRAP_TOKEN)).status).toBe(303);
    for (const path of ['/', `/flags/${flag}`, `/orgs?orgId=${roles.orgId}`, '/orgs', '/audit', '/status', `/flags/no.such.flag`]) {
      const page = await admin.get(path);
      expect(page.status, path).toBe(path.includes('no.such') ? 404 : 200);
      expect(page.headers.get('Content-Type')).toMatch(/^text\/html/);
      expect(page.headers.get('Cache-Control')).toBe('no-store');
      expectSecurityHeaders(page);
      // No inline script or style anywhere: the CSP would block them.
      expect(page.html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(page.html).not.toMatch(/<style|\sstyle=/);
      expect(page.html).not.toMatch(/\son[a-z]+=/);
    }
    const refused = await admin.request('POST', '/signout', { form: {} });
    expect(refused.status).toBe(403);
    expectSecurityHeaders(refused);
  });

  it('leaves the API without dashboard headers or session handling', async () => {
    const res = await call(h, 'GET', '/api/flags?limit=1');
    expect(res.status).toBe(200);
    expect(res.headers.get('Content-Security-Policy')).toBeNull();
    expect((await call(h, 'GET', '/api/flags', { token: null })).status).toBe(401);
  });
});
