// Writes that meet a concurrent write of the same row, made deterministic: another connection
// changes the row and holds its transaction open, the write under test is started, the test waits
// until Postgres shows it waiting on that lock, then the other transaction commits. They need real
// Postgres (a PGlite pool has one connection): they run in the Postgres suite (DATABASE_URL set).
import type { PoolClient } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_TIMEOUT_MS } from '../../shared/db/rls';
import { applyDueSchedules } from '../../workers/cron/schedules';
import { call, createFlag, unique } from '../admin/helpers';
import { HOUR, startCronHarness, type CronHarness } from './helpers';

let h: CronHarness;
let base = Date.now() + 24 * HOUR;
const window = () => (base += 100 * HOUR);
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  h = await startCronHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Waits until some session waits on a lock held by backend `holder` (the write under test reached it). */
async function untilBlockedBy(holder: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const [row] = await h.sql<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, [holder]);
    if (Number(row!.n) > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('nothing waited on the held lock');
}

/**
 * Runs `statement` in another transaction (as another admin would), starts `write` while that
 * transaction is open, and commits it once `write` waits on its lock. Answers what `write` answered.
 */
async function whileHeld<T>(statement: string, params: unknown[], write: () => Promise<T>): Promise<T> {
  const pool = h.newPool();
  const client: PoolClient = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('app.actor', 'token:other', true), set_config('app.role', 'system', true)`);
    const changed = await client.query(statement, params);
    expect(changed.rowCount).toBe(1);
    const holder = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    const pending = write();
    await untilBlockedBy(holder);
    await client.query('COMMIT');
    return await pending;
  } finally {
    client.release();
    await pool.end();
  }
}

describe.skipIf(!process.env.DATABASE_URL)('a write meeting a concurrent delete of its row (real Postgres)', () => {
  it('a scheduled org change applied while the org value is being deleted creates the value and audits it', async () => {
    const key = await createFlag(h);
    const org = unique('org-');
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: false } })).status).toBe(200);
    const at = window();
    const schedule = await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: iso(at), orgId: org, change: { value: true } } });
    expect(schedule.status).toBe(201);

    const cron = h.newPool();
    try {
      await whileHeld(`DELETE FROM cmis.feature_flags WHERE feature_key = $1 AND org_id = $2`, [key, org], () =>
        applyDueSchedules(cron, at + 1000, { kv: h.kv }),
      );
    } finally {
      await cron.end();
    }
    const [row] = await h.sql(`SELECT state FROM cmis.flag_schedules WHERE id = $1`, [schedule.body.id]);
    expect(row!.state).toBe('applied');
    const orgRows = await h.sql(`SELECT value FROM cmis.feature_flags WHERE feature_key = $1 AND org_id = $2`, [key, org]);
    expect(orgRows.map((r) => r.value)).toEqual([true]);
    const audit = await h.sql(`SELECT old_value, new_value FROM cmis.feature_flag_values WHERE feature_key = $1 AND org_id = $2 AND actor = 'cron'`, [key, org]);
    expect(audit).toHaveLength(1);
    expect(audit[0]!.old_value).toBeNull();
    expect((await h.layers(org)).org?.flags[key]).toBeDefined();
  });

  it('PUT of an org value while it is being deleted answers 200 and the value exists', async () => {
    const key = await createFlag(h);
    const org = unique('org-');
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: false } })).status).toBe(200);
    const put = await whileHeld(`DELETE FROM cmis.feature_flags WHERE feature_key = $1 AND org_id = $2`, [key, org], () =>
      call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: true } }),
    );
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body.value).toBe(true);
    const rows = await h.sql(`SELECT value FROM cmis.feature_flags WHERE feature_key = $1 AND org_id = $2`, [key, org]);
    expect(rows.map((r) => r.value)).toEqual([true]);
  });

  it('PUT of a user override while it is being deleted answers 200 and the override exists', async () => {
    const key = await createFlag(h);
    const org = unique('org-');
    const path = `/api/orgs/${org}/flags/${key}/users/u-1`;
    expect((await call(h, 'PUT', path, { body: { value: false } })).status).toBe(200);
    const put = await whileHeld(
      `DELETE FROM cmis.feature_flag_overrides WHERE feature_key = $1 AND org_id = $2 AND user_id = 'u-1'`,
      [key, org],
      () => call(h, 'PUT', path, { body: { value: true } }),
    );
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const rows = await h.sql(`SELECT value FROM cmis.feature_flag_overrides WHERE feature_key = $1 AND org_id = $2 AND user_id = 'u-1'`, [key, org]);
    expect(rows.map((r) => r.value)).toEqual([true]);
  });
});

describe.skipIf(!process.env.DATABASE_URL)('a removal meeting a concurrent removal of the same row (real Postgres)', () => {
  const auditRows = (level: string, target: string) =>
    h.sql(`SELECT id FROM cmis.feature_flag_values WHERE level = $1 AND target = $2`, [level, target]);

  it('revoking a token that another request is revoking answers 404 and audits once', async () => {
    const created = await call(h, 'POST', '/api/tokens', { body: { name: unique('app-'), role: 'viewer', orgId: unique('org-') } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const second = await whileHeld(`UPDATE cmis.api_tokens SET revoked_at = now() WHERE id = $1`, [id], () => call(h, 'DELETE', `/api/tokens/${id}`));
    expect(second.status).toBe(404);
    expect(await auditRows('token', id)).toHaveLength(1); // the creation; the held revocation wrote none (raw SQL)
  });

  it('two concurrent revocations of one token: one 204, one 404, one revocation audited', async () => {
    for (let round = 0; round < 5; round++) {
      const created = await call(h, 'POST', '/api/tokens', { body: { name: unique('app-'), role: 'viewer', orgId: unique('org-') } });
      const id = created.body.id as string;
      const answers = await Promise.all([call(h, 'DELETE', `/api/tokens/${id}`), call(h, 'DELETE', `/api/tokens/${id}`)]);
      expect(answers.map((a) => a.status).sort()).toEqual([204, 404]);
      expect(await auditRows('token', id)).toHaveLength(2); // created, revoked
    }
  });

  it('removing a webhook that another request is removing answers 404 and audits nothing', async () => {
    const created = await call(h, 'POST', '/api/webhooks', { body: { url: 'https://hooks.example.com/flags', kind: 'generic' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const id = created.body.id as string;
    const second = await whileHeld(`DELETE FROM cmis.webhooks WHERE id = $1`, [id], () => call(h, 'DELETE', `/api/webhooks/${id}`));
    expect(second.status).toBe(404);
    expect(await auditRows('webhook', id)).toHaveLength(1); // the creation only
  });
});

describe.skipIf(!process.env.DATABASE_URL)('a write stuck behind a long-held lock (real Postgres)', () => {
  it(`answers 503 with Retry-After after ${LOCK_TIMEOUT_MS / 1000} s, and nothing is changed`, { timeout: LOCK_TIMEOUT_MS + 20_000 }, async () => {
    const key = await createFlag(h);
    const pool = h.newPool();
    const client: PoolClient = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SELECT 1 FROM cmis.feature_flags WHERE feature_key = $1 AND org_id IS NULL FOR UPDATE`, [key]);
      const stuck = await call(h, 'PATCH', `/api/flags/${key}`, { body: { description: 'behind a held lock' } });
      expect(stuck.status).toBe(503);
      expect(stuck.headers.get('Retry-After')).toBe('1');
      expect(stuck.body.detail).toContain('lock timeout');
    } finally {
      await client.query('ROLLBACK');
      client.release();
      await pool.end();
    }
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.description).not.toBe('behind a held lock');
  });
});

describe.skipIf(!process.env.DATABASE_URL)('an org ramp created while that org value is being written (real Postgres)', () => {
  it('the ramp waits for the write and records it as what it replaces', async () => {
    const key = await createFlag(h);
    const org = unique('org-');
    expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: false } })).status).toBe(200);
    const pool = h.newPool();
    const client: PoolClient = await pool.connect();
    let ramp: Awaited<ReturnType<typeof call>> | undefined;
    let put: Awaited<ReturnType<typeof call>> | undefined;
    try {
      await client.query('BEGIN');
      await client.query(`SELECT 1 FROM cmis.feature_flags WHERE feature_key = $1 AND org_id = $2 FOR UPDATE`, [key, org]);
      const holder = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
      // the PUT has checked for a live ramp and waits on the org row
      const putting = call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: true, percentage: 20 } });
      await untilBlockedBy(holder);
      const at = new Date(Date.now() + 10 * HOUR).toISOString();
      const creating = call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { orgId: org, value: true, start: at, every: '1h', percentages: [30, 100] } });
      await new Promise((r) => setTimeout(r, 300)); // the ramp's request reaches its lock wait
      await client.query('COMMIT');
      [put, ramp] = await Promise.all([putting, creating]);
    } finally {
      client.release();
      await pool.end();
    }
    expect(put.status).toBe(200);
    expect(ramp.status, JSON.stringify(ramp.body)).toBe(201);
    const [row] = await h.sql(`SELECT previous FROM cmis.rollouts WHERE id = $1`, [ramp.body.id]);
    expect(row!.previous).toEqual({ org: { value: true, percentage: 20 } });
  });
});
