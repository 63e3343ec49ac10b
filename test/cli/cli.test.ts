// The CLI against the real local stack (three Workers in workerd, its own database): what it
// changes is what the evaluate API answers; --json output parses; API errors exit non-zero.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../scripts/stack';
import { DEFAULT_FLAGS } from '../../shared/config';
import { createPool } from '../../shared/db/client';
import { ROOT, startTestStack } from '../e2e/stack';

let stack: Stack;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would: through the bin shim (bundled Node + tsx). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'cmis-flags.js'), ...args],
      { cwd: ROOT, env: { ...process.env, FLAGS_API_URL: stack.urls.admin, FLAGS_TOKEN: stack.adminToken, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function evaluateFor(key: string, query: Record<string, string>): Promise<unknown> {
  const res = await fetch(`${stack.urls.evaluate}/v1/flags/${key}?${new URLSearchParams(query)}`, { headers: { Authorization: `Bearer ${stack.evalKey}` } });
  return ((await res.json()) as { value: unknown }).value;
}

/** KV snapshots are re-read at most every SNAPSHOT_MAX_AGE_MS (1 s here). */
async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return check();
}

beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

describe('cmis-flags CLI', () => {
  it('enable for an org → the evaluate API answers true for that org only', async () => {
    const key = 'campaign.ai_copy.enabled';
    expect(await evaluateFor(key, { orgId: 'org-cli' })).toBe(false);
    const run = await cli(['enable', key, '--org', 'org-cli']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`${key} enabled for org org-cli`);
    expect(await eventually(async () => (await evaluateFor(key, { orgId: 'org-cli' })) === true)).toBe(true);
    expect(await evaluateFor(key, { orgId: 'org-other' })).toBe(false);

    const user = await cli(['enable', 'reporting.export.enabled', '--org', 'org-cli', '--user', 'u-7', '--json']);
    expect(user.code).toBe(0);
    expect(JSON.parse(user.stdout)).toMatchObject({ userId: 'u-7', orgId: 'org-cli', value: true });
    expect(await eventually(async () => (await evaluateFor('reporting.export.enabled', { orgId: 'org-cli', userId: 'u-7' })) === true)).toBe(true);
  });

  it('--json output parses: list, status, audit', async () => {
    const list = await cli(['list', '--json']);
    expect(list.code).toBe(0);
    const keys = (JSON.parse(list.stdout) as { items: { key: string }[] }).items.map((f) => f.key);
    for (const flag of DEFAULT_FLAGS) expect(keys).toContain(flag.key);
    const status = await cli(['status', '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ db: 'up', pending: expect.any(Number) });
    const audit = await cli(['audit', '--flag', 'campaign.ai_copy.enabled', '--json']);
    expect(JSON.parse(audit.stdout).items[0]).toMatchObject({ flag: 'campaign.ai_copy.enabled', orgId: 'org-cli', level: 'org' });
    const table = await cli(['list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^KEY\s+TYPE\s+DEFAULTVALUE/);
  });

  it('status names the health alerts that hold, firing or not yet', async () => {
    // one short-lived connection at a time: embedded PGlite serves one client
    const sql = async (text: string) => {
      const pool = createPool({ databaseUrl: stack.databaseUrl, wsProxy: stack.wsProxy, max: 1 });
      try {
        await pool.query(text);
      } finally {
        await pool.end();
      }
    };
    await sql(`INSERT INTO cmis.alerts (name, observed_since, fired_at) VALUES ('kv.behind', now() - interval '1 hour', now()), ('cron.failing', now(), NULL)`);
    try {
      const status = await cli(['status']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.stdout).toMatch(/^alert cron\.failing holding, not yet firing since /m);
      expect(status.stdout).toMatch(/^alert kv\.behind FIRING since /m);
    } finally {
      await sql(`DELETE FROM cmis.alerts`);
    }
  });

  it('a bad flag key exits 1 with the API\'s problem detail; bad usage exits 2', async () => {
    const missing = await cli(['enable', 'no.such.flag']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('404');
    expect(missing.stderr).toContain('No flag no.such.flag');
    const invalid = await cli(['enable', 'Bad Key!']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('422');
    const unauthorized = await cli(['list'], { FLAGS_TOKEN: 'wrong' });
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stderr).toContain('401');
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['rollout', 'campaign.ai_copy.enabled'])).code).toBe(2);
    expect((await cli(['enable', 'x', '--user', 'u-1'])).code).toBe(2);
    expect((await cli(['list', '--nope'])).code).toBe(2);
    // an API URL with credentials: a usage error that does not print the password
    const withPassword = await cli(['list'], { FLAGS_API_URL: stack.urls.admin.replace('http://', 'http://admin:s3cret@') });
    expect(withPassword.code).toBe(2);
    expect(withPassword.stderr).toContain('must not contain credentials');
    expect(withPassword.stderr + withPassword.stdout).not.toContain('s3cret');
    expect((await cli(['list'], { FLAGS_API_URL: 'not a url' })).code).toBe(2);
  });

  it('bootstrap is idempotent; rollout, ramp and schedule go through the API', async () => {
    const boot = await cli(['bootstrap', '--json']);
    expect(boot.code).toBe(0);
    expect(JSON.parse(boot.stdout)).toEqual({ created: [], existing: DEFAULT_FLAGS.map((f) => f.key) });

    const rollout = await cli(['rollout', 'reporting.advanced.enabled', '--percentage', '30', '--json']);
    expect(rollout.code).toBe(0);
    expect(JSON.parse(rollout.stdout).rollout).toEqual({ percentage: 30, value: true });

    const ramp = await cli(['rollout', 'campaign.scheduling.enabled', '--ramp', '5,25,50,100', '--every', '1h', '--org', 'org-cli', '--json']);
    expect(ramp.code, ramp.stderr).toBe(0);
    const created = JSON.parse(ramp.stdout);
    expect(created.steps.map((s: { percentage: number }) => s.percentage)).toEqual([5, 25, 50, 100]);
    // the first step is due now: one cron pass applies it
    const pass = await stack.triggerCron();
    expect(pass.status).toBe(200);
    expect((await pass.json()) as object).toMatchObject({ applied: 1 });
    const listed = JSON.parse((await cli(['ramp', 'list', 'campaign.scheduling.enabled', '--json'])).stdout);
    expect(listed.items[0].steps.map((s: { state: string }) => s.state)).toEqual(['applied', 'pending', 'pending', 'pending']);
    expect((await cli(['ramp', 'pause', created.id, '--keep'])).code).toBe(2); // --keep is for abort
    const stopped = await cli(['ramp', 'abort', created.id, '--keep', '--json']);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(JSON.parse(stopped.stdout).state).toBe('aborted');
    // the step the ramp reached stays (a plain abort would have removed the org value it created)
    const orgFlags = JSON.parse((await cli(['list', '--org', 'org-cli', '--json'])).stdout) as { items: { key: string; org: unknown }[] };
    expect(orgFlags.items.find((f) => f.key === 'campaign.scheduling.enabled')?.org).toMatchObject({ value: true, percentage: 5 });

    const at = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await cli(['schedule', 'platform.meta.enabled', '--at', at, '--value', 'true', '--json']);
    expect(scheduled.code).toBe(0);
    expect(JSON.parse(scheduled.stdout)).toMatchObject({ flag: 'platform.meta.enabled', at, change: { value: true }, state: 'pending' });
    // a pass now leaves it pending; a pass as of an hour later (the local trigger's ?time=) applies it
    expect(await stack.triggerCron().then((r) => r.json())).toMatchObject({ applied: 0 });
    expect(await evaluateFor('platform.meta.enabled', { orgId: 'org-later' })).toBe(false);
    const later = await stack.triggerCron(new Date(Date.parse(at) + 60_000));
    expect(later.status).toBe(200);
    expect(await later.json()).toMatchObject({ applied: 1, failed: 0 });
    expect(await eventually(async () => (await evaluateFor('platform.meta.enabled', { orgId: 'org-later' })) === true)).toBe(true);
    const schedules = await fetch(`${stack.urls.admin}/api/flags/platform.meta.enabled/schedules`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    expect(((await schedules.json()) as { items: { state: string }[] }).items[0]).toMatchObject({ state: 'applied' });
  });

  it('the local cron trigger refuses a time it cannot read or outside 1970-9999, naming the field', async () => {
    for (const time of ['tomorrow', '2026-12-01', '2026-12-01T09:00:00', '0000-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '+010000-01-01T00:00:00Z']) {
      const res = await fetch(`${stack.urls.cron}/__scheduled?time=${encodeURIComponent(time)}`, { method: 'POST' });
      expect(res.status, time).toBe(422);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(await res.json()).toMatchObject({ status: 422, errors: [{ path: 'query.time' }] });
    }
  });

  it('token create and revoke', async () => {
    const created = await cli(['token', 'create', '--name', 'cli-test', '--role', 'viewer', '--org', 'org-cli', '--json']);
    expect(created.code).toBe(0);
    const token = JSON.parse(created.stdout);
    expect(token.token).toMatch(/^cmf_admin_/);
    expect((await cli(['list', '--org', 'org-cli'], { FLAGS_TOKEN: token.token })).code).toBe(0);
    expect((await cli(['token', 'revoke', token.id])).code).toBe(0);
    expect((await cli(['list'], { FLAGS_TOKEN: token.token })).code).toBe(1);
  });
});
