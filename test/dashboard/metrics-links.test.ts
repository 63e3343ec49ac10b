// The way into the metrics pages: a "Cleanup" nav entry, a "Metrics" link in the flag editor, and the
// stale scan's badges on the flag list, read with one `GET /api/stale` per page (not one per flag).
import type { Pool } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as metricsStore from '../../workers/admin/metrics-store';
import { scanStaleFlags } from '../../workers/cron/stale';
import { BOOTSTRAP_TOKEN, createFlag, mintRoleTokens, type RoleTokens } from '../admin/helpers';
import { HOUR, startCronHarness, type CronHarness } from '../cron/helpers';
import { Browser } from './helpers';

vi.mock('../../workers/admin/metrics-store', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../workers/admin/metrics-store')>();
  return { ...original, staleMarkViews: vi.fn(original.staleMarkViews) };
});

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

/** The list row of one flag (its key links to the editor). */
function rowOf(html: string, key: string): string {
  const row = html.split('<tr>').find((tr) => tr.includes(`href="/flags/${key}"`));
  expect(row, `no row for ${key}`).toBeDefined();
  return row!.split('</tr>')[0]!;
}

describe('links to the metrics pages', () => {
  it('shows a stale badge on the flag list, a Metrics link in the editor and Cleanup in the nav', async () => {
    const now = Date.now();
    const expiring = await createFlag(h, { expiresAt: new Date(now + HOUR).toISOString() });
    const fresh = await createFlag(h);
    // the scan's clock two hours ahead: only the first flag is past its expiry
    const scan = await scanStaleFlags(pool, now + 2 * HOUR);
    expect(scan.marks.map((m) => `${m.flag} ${m.kind}`)).toEqual([`${expiring} expired`]);

    const admin = new Browser(h);
    await admin.signIn(BOOTSTRAP_TOKEN);
    const views = vi.mocked(metricsStore.staleMarkViews);
    views.mockClear();
    const list = await admin.get('/');
    expect(list.status).toBe(200);
    expect(views).toHaveBeenCalledTimes(1);
    expect(rowOf(list.html, expiring)).toMatch(/<span class="badge stale stale-expired" title="Stale: expired">expired<\/span>/);
    expect(rowOf(list.html, fresh)).not.toContain('stale');
    expect(list.html).toMatch(/<a href="\/cleanup">Cleanup<\/a>/);
    expect(list.html).not.toMatch(/\sstyle\s*=/i);

    const editor = await admin.get(`/flags/${expiring}`);
    expect(editor.status).toBe(200);
    expect(editor.html).toContain(`<a href="/flags/${expiring}/metrics">Metrics</a>`);
    expect((await admin.get(`/flags/${expiring}/metrics`)).status).toBe(200);

    const cleanup = await admin.get('/cleanup');
    expect(cleanup.status).toBe(200);
    expect(cleanup.html).toMatch(/<a href="\/cleanup" aria-current="page">Cleanup<\/a>/);
    expect(cleanup.html).toContain(`href="/flags/${expiring}/metrics"`);
  });

  it('a viewer sees the badges and the Cleanup entry too (GET /api/stale is open to every role)', async () => {
    const now = Date.now();
    const expiring = await createFlag(h, { expiresAt: new Date(now + HOUR).toISOString() });
    await scanStaleFlags(pool, now + 2 * HOUR);
    const viewer = new Browser(h);
    await viewer.signIn(t.viewer);
    const list = await viewer.get('/');
    expect(list.status).toBe(200);
    expect(rowOf(list.html, expiring)).toContain('badge stale stale-expired');
    expect(list.html).toMatch(/<a href="\/cleanup">Cleanup<\/a>/);
    expect((await viewer.get('/cleanup')).status).toBe(200);
  });
});
