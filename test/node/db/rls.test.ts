// Tenant isolation proven with raw SQL (no application filters): the policies alone decide.
import type { Pool, PoolClient } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withRls, type RlsContext } from '../../../shared/db';
import { testPool, unique } from './helpers';

let pool: Pool;
const key = unique('rls.flag.');
const orgA = unique('orgA-');
const orgB = unique('orgB-');
const system: RlsContext = { orgId: null, role: 'system', actor: 'test-setup' };
const adminA: RlsContext = { orgId: orgA, role: 'org_admin', actor: 'alice@a' };
const viewerA: RlsContext = { orgId: orgA, role: 'viewer', actor: 'vera@a' };

const asSql = <T>(context: RlsContext, work: (client: PoolClient) => Promise<T>) =>
  withRls(pool, context, (_tx, client) => work(client));

beforeAll(async () => {
  pool = testPool();
  await asSql(system, async (c) => {
    await c.query(`INSERT INTO cmis.feature_flags (feature_key, type, value, off_value) VALUES ($1, 'boolean', 'false', 'false')`, [key]);
    for (const org of [orgA, orgB]) {
      await c.query(`INSERT INTO cmis.feature_flags (feature_key, org_id, value) VALUES ($1, $2, 'true')`, [key, org]);
      await c.query(
        `INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, platform, org_id, value) VALUES ($1, 'platform', 'meta', $2, 'true')`,
        [key, org],
      );
      await c.query(
        `INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, org_id, user_id, value) VALUES ($1, 'user', $2, 'u1', 'true')`,
        [key, org],
      );
      await c.query(
        `INSERT INTO cmis.api_tokens (name, token_hash, prefix, role, org_id) VALUES ('t', sha256(convert_to($1, 'UTF8')), 'p', 'org_admin', $1)`,
        [org],
      );
      await c.query(`INSERT INTO cmis.webhooks (url, kind, org_id) VALUES ('https://example.test/h', 'generic', $1)`, [org]);
      await c.query(`INSERT INTO cmis.flag_schedules (feature_key, org_id, at, change) VALUES ($1, $2, now(), '{"value": false}')`, [key, org]);
    }
  });
});

afterAll(async () => {
  await pool.end();
});

describe('an org context', () => {
  it('reads its own rows and the system row, never another org', async () => {
    const seen = await asSql(adminA, async (c) => {
      const flags = await c.query(`SELECT org_id FROM cmis.feature_flags WHERE feature_key = $1 ORDER BY org_id NULLS FIRST`, [key]);
      const overrides = await c.query(`SELECT DISTINCT org_id FROM cmis.feature_flag_overrides WHERE feature_key = $1`, [key]);
      const audit = await c.query(`SELECT DISTINCT org_id FROM cmis.feature_flag_values WHERE feature_key = $1`, [key]);
      const tokens = await c.query(`SELECT org_id FROM cmis.api_tokens WHERE org_id IN ($1, $2)`, [orgA, orgB]);
      const webhooks = await c.query(`SELECT org_id FROM cmis.webhooks WHERE org_id IN ($1, $2)`, [orgA, orgB]);
      const schedules = await c.query(`SELECT org_id FROM cmis.flag_schedules WHERE feature_key = $1`, [key]);
      const layers = await c.query(`SELECT layer FROM cmis.snapshot_versions WHERE layer IN ($1, $2)`, [`org:${orgA}`, `org:${orgB}`]);
      const anyB = await c.query(`SELECT 1 FROM cmis.feature_flags WHERE org_id = $1`, [orgB]);
      return { flags, overrides, audit, tokens, webhooks, schedules, layers, anyB };
    });
    expect(seen.flags.rows.map((r) => r.org_id)).toEqual([null, orgA]);
    expect(seen.overrides.rows.map((r) => r.org_id)).toEqual([orgA]);
    expect(seen.audit.rows.map((r) => r.org_id).sort()).toEqual([null, orgA].sort());
    expect(seen.tokens.rows.map((r) => r.org_id)).toEqual([orgA]);
    expect(seen.webhooks.rows.map((r) => r.org_id)).toEqual([orgA]);
    expect(seen.schedules.rows.map((r) => r.org_id)).toEqual([orgA]);
    expect(seen.layers.rows.map((r) => r.layer)).toEqual([`org:${orgA}`]);
    expect(seen.anyB.rowCount).toBe(0);
  });

  it('cannot insert rows of another org', async () => {
    await expect(
      asSql(adminA, (c) =>
        c.query(`INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, org_id, user_id, value) VALUES ($1, 'user', $2, 'u2', 'true')`, [key, orgB]),
      ),
    ).rejects.toThrow(/row-level security/);
    await expect(
      asSql(adminA, (c) => c.query(`INSERT INTO cmis.webhooks (url, kind, org_id) VALUES ('https://x.test', 'slack', $1)`, [orgB])),
    ).rejects.toThrow(/row-level security/);
  });

  it('cannot update or delete rows of another org (they are invisible)', async () => {
    const counts = await asSql(adminA, async (c) => ({
      updateFlag: (await c.query(`UPDATE cmis.feature_flags SET value = 'false' WHERE org_id = $1`, [orgB])).rowCount,
      updateOverride: (await c.query(`UPDATE cmis.feature_flag_overrides SET value = 'false' WHERE org_id = $1`, [orgB])).rowCount,
      deleteFlag: (await c.query(`DELETE FROM cmis.feature_flags WHERE org_id = $1`, [orgB])).rowCount,
      deleteOverride: (await c.query(`DELETE FROM cmis.feature_flag_overrides WHERE org_id = $1`, [orgB])).rowCount,
      deleteToken: (await c.query(`DELETE FROM cmis.api_tokens WHERE org_id = $1`, [orgB])).rowCount,
    }));
    expect(counts).toEqual({ updateFlag: 0, updateOverride: 0, deleteFlag: 0, deleteOverride: 0, deleteToken: 0 });
    const orgBRows = await asSql(system, (c) =>
      c.query(`SELECT value FROM cmis.feature_flags WHERE feature_key = $1 AND org_id = $2`, [key, orgB]),
    );
    expect(orgBRows.rows).toEqual([{ value: true }]);
  });

  it('cannot move its own row into another org', async () => {
    await expect(
      asSql(adminA, (c) => c.query(`UPDATE cmis.feature_flags SET org_id = $1 WHERE feature_key = $2 AND org_id = $3`, [orgB, key, orgA])),
    ).rejects.toThrow(/row-level security/);
  });

  it('cannot write system rows or all-orgs platform overrides', async () => {
    await expect(
      asSql(adminA, (c) => c.query(`INSERT INTO cmis.feature_flags (feature_key, type, value, off_value) VALUES ($1, 'boolean', 'true', 'false')`, [unique('rls.sys.')])),
    ).rejects.toThrow(/row-level security/);
    await expect(
      asSql(adminA, (c) => c.query(`INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, platform, value) VALUES ($1, 'platform', 'google', 'true')`, [key])),
    ).rejects.toThrow(/row-level security/);
    const counts = await asSql(adminA, async (c) => ({
      update: (await c.query(`UPDATE cmis.feature_flags SET killed = true WHERE feature_key = $1 AND org_id IS NULL`, [key])).rowCount,
      delete: (await c.query(`DELETE FROM cmis.feature_flags WHERE feature_key = $1 AND org_id IS NULL`, [key])).rowCount,
    }));
    expect(counts).toEqual({ update: 0, delete: 0 });
  });

  it('writes its own org rows', async () => {
    const updated = await asSql(adminA, async (c) =>
      (await c.query(`UPDATE cmis.feature_flags SET value = 'false' WHERE feature_key = $1 AND org_id = $2`, [key, orgA])).rowCount,
    );
    expect(updated).toBe(1);
  });
});

describe('a viewer', () => {
  it('reads its org but writes nothing', async () => {
    const rows = await asSql(viewerA, (c) => c.query(`SELECT org_id FROM cmis.feature_flags WHERE feature_key = $1 AND org_id IS NOT NULL`, [key]));
    expect(rows.rows.map((r) => r.org_id)).toEqual([orgA]);
    await expect(
      asSql(viewerA, (c) =>
        c.query(`INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, org_id, user_id, value) VALUES ($1, 'user', $2, 'u3', 'true')`, [key, orgA]),
      ),
    ).rejects.toThrow(/row-level security/);
    const counts = await asSql(viewerA, async (c) => ({
      update: (await c.query(`UPDATE cmis.feature_flags SET value = 'true' WHERE org_id = $1`, [orgA])).rowCount,
      delete: (await c.query(`DELETE FROM cmis.feature_flag_overrides WHERE org_id = $1`, [orgA])).rowCount,
    }));
    expect(counts).toEqual({ update: 0, delete: 0 });
  });
});

describe('no context', () => {
  it('sees no rows as the app role, and cannot write', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL ROLE cmis_app');
      const orgRows = await client.query(`SELECT count(*)::int AS n FROM cmis.feature_flags WHERE org_id IS NOT NULL`);
      const anyRows = await client.query(`SELECT count(*)::int AS n FROM cmis.feature_flags`);
      const overrides = await client.query(`SELECT count(*)::int AS n FROM cmis.feature_flag_overrides`);
      const audit = await client.query(`SELECT count(*)::int AS n FROM cmis.feature_flag_values`);
      expect([orgRows.rows[0].n, anyRows.rows[0].n, overrides.rows[0].n, audit.rows[0].n]).toEqual([0, 0, 0, 0]);
      await expect(
        client.query(`INSERT INTO cmis.feature_flags (feature_key, org_id, value) VALUES ($1, $2, 'true')`, [key, orgA]),
      ).rejects.toThrow(/row-level security/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('an unknown role counts as no context', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL ROLE cmis_app');
      await client.query(`SELECT set_config('app.role', 'superuser', true), set_config('app.org_id', $1, true)`, [orgA]);
      const rows = await client.query(`SELECT count(*)::int AS n FROM cmis.feature_flags WHERE feature_key = $1`, [key]);
      expect(rows.rows[0].n).toBe(0);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});

describe('withRls', () => {
  it('rolls back when the callback throws and leaves nothing behind on the connection', async () => {
    const orgKey = unique('orgC-');
    await expect(
      withRls(pool, { orgId: orgKey, role: 'org_admin', actor: 'carol' }, async (_tx, c) => {
        await c.query(`INSERT INTO cmis.feature_flags (feature_key, org_id, value) VALUES ($1, $2, 'true')`, [key, orgKey]);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const after = await asSql(system, (c) => c.query(`SELECT 1 FROM cmis.feature_flags WHERE org_id = $1`, [orgKey]));
    expect(after.rowCount).toBe(0);
    const session = await pool.query(
      `SELECT current_user AS who, coalesce(current_setting('app.role', true), '') AS role, coalesce(current_setting('app.actor', true), '') AS actor`,
    );
    expect(session.rows[0]).toEqual({ who: expect.not.stringMatching(/^cmis_app$/), role: '', actor: '' });
  });

  it('refuses an org role without an org and a context without an actor', async () => {
    await expect(withRls(pool, { orgId: null, role: 'org_admin', actor: 'x' }, async () => 1)).rejects.toThrow(/needs an orgId/);
    await expect(withRls(pool, { orgId: null, role: 'system', actor: '' }, async () => 1)).rejects.toThrow(/actor/);
  });

  it('authenticates a token by hash without a context (cmis.authenticate_token)', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL ROLE cmis_app');
      const found = await client.query(`SELECT role, org_id FROM cmis.authenticate_token(sha256(convert_to($1, 'UTF8')))`, [orgA]);
      expect(found.rows).toEqual([{ role: 'org_admin', org_id: orgA }]);
      const role = await client.query(`SELECT coalesce(current_setting('app.role', true), '') AS role`);
      expect(role.rows[0].role).toBe('');
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });
});
