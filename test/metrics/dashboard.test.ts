// The metrics pages of the dashboard: server-rendered SVG charts that pass the strict CSP (no
// inline style or script), the observed rollout beside the configured one, and the cleanup list.
import type { Pool } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scanStaleFlags } from '../../workers/cron/stale';
import { EvaluationsChart, RolloutComparison, TopOrgsChart, bucketsOf } from '../../workers/admin/dashboard/charts';
import { BOOTSTRAP_TOKEN, call, createFlag, mintRoleTokens, type RoleTokens } from '../admin/helpers';
import { startCronHarness, type CronHarness } from '../cron/helpers';
import { Browser } from '../dashboard/helpers';
import { batch, deliver, HOUR, hourOf } from './helpers';

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

/** What the CSP (`style-src 'self'; script-src 'self'`) would block in a page body. */
function cspViolations(html: string): string[] {
  const found: string[] = [];
  if (/\sstyle\s*=/i.test(html)) found.push('style attribute');
  if (/<style[\s>]/i.test(html)) found.push('<style>');
  if (/<script(?![^>]*\ssrc=)[^>]*>/i.test(html)) found.push('inline <script>');
  if (/\son[a-z]+\s*=/i.test(html)) found.push('event handler attribute');
  if (/https?:\/\/(?!www\.w3\.org\/2000\/svg)/i.test(html.replace(/http:\/\/admin\.test/g, ''))) found.push('external URL');
  return found;
}

describe('charts', () => {
  it('render SVG with presentation attributes only', async () => {
    const from = '2026-01-01T00:00:00.000Z';
    const to = '2026-01-02T00:00:00.000Z';
    const render = async (node: unknown) => String(await (node as { toString(): string | Promise<string> }).toString());
    const svg = [
      await render(
        EvaluationsChart({
          from,
          to,
          byValue: [{ value: true, count: 30 }, { value: false, count: 70 }],
          hours: [{ hour: '2026-01-01T03:00:00.000Z', values: [{ value: true, count: 30 }, { value: false, count: 70 }] }],
        }),
      ),
      await render(TopOrgsChart({ orgs: [{ orgId: 'org-a', count: 60 }, { orgId: 'org-b', count: 40 }] })),
      await render(RolloutComparison({ configured: 30, observed: 29.4, evaluations: 100 })),
    ].join('');
    expect(cspViolations(svg)).toEqual([]);
    expect(svg.match(/<svg /g)).toHaveLength(3);
    expect(svg).toContain('role="img"');
    expect(svg).toContain('<title>Rollout configured at 30%, observed 29.4% over 100 evaluations</title>');
    expect(svg).toContain('2026-01-01T03:00:00.000Z · false: 70');
  });

  it('bucket hours, or days for ranges over a week, empty ones included', () => {
    const hours = [{ hour: '2026-01-01T05:00:00.000Z', values: [{ value: 'a', count: 2 }] }];
    expect(bucketsOf(hours, Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-01-02T00:00:00Z')).buckets).toHaveLength(24);
    const days = bucketsOf(hours, Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-01-31T00:00:00Z'));
    expect(days.buckets).toHaveLength(30);
    expect(days.buckets[0]!.total).toBe(2);
  });
});

describe('dashboard pages', () => {
  it('flag metrics page: chart by value, top orgs, observed vs configured rollout', async () => {
    const flag = await createFlag(h);
    await call(h, 'PATCH', `/api/flags/${flag}`, { body: { rollout: { percentage: 30, value: true } } });
    const hour = hourOf(Date.now());
    await deliver(
      pool,
      batch([
        [flag, t.orgId, 'true', 'SPLIT', hour, 30],
        [flag, t.orgId, 'false', 'DEFAULT', hour, 70],
        [flag, t.otherOrgId, 'false', 'DEFAULT', hour - HOUR, 5],
      ]),
    );
    const browser = new Browser(h);
    await browser.signIn(BOOTSTRAP_TOKEN);
    const page = await browser.get(`/flags/${flag}/metrics`);
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Security-Policy')).toContain("style-src 'self'");
    expect(cspViolations(page.html.replace(/<script src="\/assets\/app\.js[^"]*" defer=""><\/script>/, ''))).toEqual([]);
    expect(page.html).toContain('Evaluations per hour by value');
    expect(page.html).toContain('Top 2 organizations by evaluations');
    expect(page.html).toMatch(/Rollout configured at 30%, observed 28\.\d+% over 105 evaluations/);

    // an org's viewer sees its own org only: no top-orgs chart, its counts only
    const viewer = new Browser(h);
    await viewer.signIn(t.viewer);
    const own = await viewer.get(`/flags/${flag}/metrics?range=7d`);
    expect(own.status).toBe(200);
    expect(own.html).toContain(`Organization ${t.orgId}`);
    expect(own.html).not.toContain('Top ');
    expect(own.html).toContain('100 in total');
    expect((await viewer.get(`/flags/${flag}/metrics?orgId=${t.otherOrgId}`)).status).toBe(403);
  });

  it('cleanup page lists the stale marks with badges', async () => {
    const flag = await createFlag(h, { expiresAt: new Date(Date.now() - HOUR).toISOString() });
    await scanStaleFlags(pool, Date.now());
    const browser = new Browser(h);
    await browser.signIn(BOOTSTRAP_TOKEN);
    const page = await browser.get('/cleanup');
    expect(page.status).toBe(200);
    expect(page.html).toContain(`href="/flags/${flag}"`);
    expect(page.html).toMatch(/class="badge stale stale-expired"/);
  });
});
