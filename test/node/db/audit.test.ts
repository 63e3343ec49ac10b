// Every write to flags/overrides leaves exactly one audit row (triggers, same transaction),
// bumps the right snapshot layer, and the audit trail cannot be changed by anybody.
import type { Pool, PoolClient } from '@neondatabase/serverless';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withRls, type RlsContext } from '../../../shared/db';
import { testPool, unique } from './helpers';

let pool: Pool;
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

const systemCtx = (extra: Partial<RlsContext> = {}): RlsContext => ({ orgId: null, role: 'system', actor: 'sam@cmis', ...extra });

interface AuditRow {
  feature_key: string;
  org_id: string | null;
  level: string;
  target: string | null;
  old_value: unknown;
  new_value: unknown;
  actor: string;
  reason: string | null;
  request_id: string | null;
}

async function auditOf(c: PoolClient, key: string): Promise<AuditRow[]> {
  const { rows } = await c.query<AuditRow>(
    `SELECT feature_key, org_id, level, target, old_value, new_value, actor, reason, request_id
       FROM cmis.feature_flag_values WHERE feature_key = $1 ORDER BY id`,
    [key],
  );
  return rows;
}

async function layerVersion(c: PoolClient, layer: string): Promise<number> {
  const { rows } = await c.query<{ v: string }>(`SELECT db_version AS v FROM cmis.snapshot_versions WHERE layer = $1`, [layer]);
  return rows[0] ? Number(rows[0].v) : 0;
}

async function createFlag(key: string): Promise<void> {
  await withRls(pool, systemCtx({ actor: 'setup' }), (_tx, c) =>
    c.query(`INSERT INTO cmis.feature_flags (feature_key, type, value, off_value) VALUES ($1, 'boolean', 'false', 'false')`, [key]),
  );
}

/**
 * Runs `write` in one transaction and returns the audit rows it added and how the layers moved.
 * Versions are read inside the same transaction, so parallel test files cannot disturb the delta.
 */
async function observe(context: RlsContext, key: string, layers: string[], write: (c: PoolClient) => Promise<unknown>) {
  return withRls(pool, context, async (_tx, c) => {
    const before = await auditOf(c, key);
    const versionsBefore = await Promise.all(layers.map((layer) => layerVersion(c, layer)));
    await write(c);
    const after = await auditOf(c, key);
    const versionsAfter = await Promise.all(layers.map((layer) => layerVersion(c, layer)));
    return { added: after.slice(before.length), bumps: versionsAfter.map((v, i) => v - versionsBefore[i]!) };
  });
}

describe('system rows', () => {
  it('insert, update, delete: one audit row each, readable definition, global layer bumped', async () => {
    const key = unique('audit.sys.');
    const ctx = systemCtx({ reason: 'launch', requestId: 'req-1' });
    const inserted = await observe(ctx, key, ['global'], (c) =>
      c.query(`INSERT INTO cmis.feature_flags (feature_key, type, value, off_value, description, tags, owner)
               VALUES ($1, 'boolean', 'false', 'false', 'd', '{a}', 'team')`, [key]),
    );
    expect(inserted.bumps).toEqual([1]);
    expect(inserted.added).toEqual([
      {
        feature_key: key, org_id: null, level: 'system', target: null, old_value: null,
        new_value: {
          type: 'boolean', defaultValue: false, offValue: false, killed: false, rollout: null,
          description: 'd', tags: ['a'], owner: 'team', expiresAt: null, archivedAt: null,
        },
        actor: 'sam@cmis', reason: 'launch', request_id: 'req-1',
      },
    ]);

    const updated = await observe(systemCtx({ reason: 'ramp', requestId: 'req-2' }), key, ['global'], (c) =>
      c.query(`UPDATE cmis.feature_flags SET value = 'true', rollout = '{"percentage": 10, "value": true}'
               WHERE feature_key = $1 AND org_id IS NULL`, [key]),
    );
    expect(updated.bumps).toEqual([1]);
    expect(updated.added).toHaveLength(1);
    expect(updated.added[0]).toMatchObject({
      level: 'system',
      old_value: { defaultValue: false, rollout: null },
      new_value: { defaultValue: true, rollout: { percentage: 10, value: true } },
      actor: 'sam@cmis', reason: 'ramp', request_id: 'req-2',
    });

    const deleted = await observe(systemCtx({ actor: 'root', reason: 'cleanup' }), key, ['global'], (c) =>
      c.query(`DELETE FROM cmis.feature_flags WHERE feature_key = $1 AND org_id IS NULL`, [key]),
    );
    expect(deleted.bumps).toEqual([1]);
    expect(deleted.added).toHaveLength(1);
    expect(deleted.added[0]).toMatchObject({
      level: 'system', new_value: null, actor: 'root', reason: 'cleanup', request_id: null,
      old_value: { defaultValue: true, rollout: { percentage: 10, value: true }, type: 'boolean' },
    });
  });

  it('bumps version and updated_at on update', async () => {
    const key = unique('audit.ver.');
    await createFlag(key);
    const versions = await withRls(pool, systemCtx(), async (_tx, c) => {
      await c.query(`UPDATE cmis.feature_flags SET killed = true WHERE feature_key = $1`, [key]);
      await c.query(`UPDATE cmis.feature_flags SET killed = false WHERE feature_key = $1`, [key]);
      return (await c.query(`SELECT version FROM cmis.feature_flags WHERE feature_key = $1`, [key])).rows[0].version;
    });
    expect(versions).toBe(3);
  });
});

describe('org rows', () => {
  it('insert, update, delete by the org admin: level org, target org id, org layer bumped', async () => {
    const key = unique('audit.org.');
    const org = unique('org-');
    await createFlag(key);
    const ctx: RlsContext = { orgId: org, role: 'org_admin', actor: 'olga@org', reason: 'pilot', requestId: 'req-o' };
    const layers = ['global', `org:${org}`];

    const inserted = await observe(ctx, key, layers, (c) =>
      c.query(`INSERT INTO cmis.feature_flags (feature_key, org_id, value, percentage) VALUES ($1, $2, 'true', 25)`, [key, org]),
    );
    expect(inserted.bumps).toEqual([0, 1]);
    expect(inserted.added).toEqual([
      {
        feature_key: key, org_id: org, level: 'org', target: org, old_value: null,
        new_value: { value: true, percentage: 25 }, actor: 'olga@org', reason: 'pilot', request_id: 'req-o',
      },
    ]);

    const updated = await observe(ctx, key, layers, (c) =>
      c.query(`UPDATE cmis.feature_flags SET percentage = NULL WHERE feature_key = $1 AND org_id = $2`, [key, org]),
    );
    expect(updated.bumps).toEqual([0, 1]);
    expect(updated.added).toHaveLength(1);
    expect(updated.added[0]).toMatchObject({ old_value: { value: true, percentage: 25 }, new_value: { value: true, percentage: null } });

    const deleted = await observe(ctx, key, layers, (c) =>
      c.query(`DELETE FROM cmis.feature_flags WHERE feature_key = $1 AND org_id = $2`, [key, org]),
    );
    expect(deleted.bumps).toEqual([0, 1]);
    expect(deleted.added).toHaveLength(1);
    expect(deleted.added[0]).toMatchObject({ level: 'org', target: org, old_value: { value: true, percentage: null }, new_value: null });
  });

  it('rejects an org value of the wrong type', async () => {
    const key = unique('audit.type.');
    await createFlag(key);
    await expect(
      withRls(pool, systemCtx(), (_tx, c) =>
        c.query(`INSERT INTO cmis.feature_flags (feature_key, org_id, value) VALUES ($1, 'o1', '"yes"')`, [key]),
      ),
    ).rejects.toThrow(/does not match the type boolean/);
  });
});

describe('overrides', () => {
  it('all-orgs platform override: level platform, target platform, global layer', async () => {
    const key = unique('audit.plat.');
    await createFlag(key);
    const ctx = systemCtx({ reason: 'meta launch', requestId: 'req-p' });
    const inserted = await observe(ctx, key, ['global'], (c) =>
      c.query(`INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, platform, value) VALUES ($1, 'platform', 'meta', 'true')`, [key]),
    );
    expect(inserted.bumps).toEqual([1]);
    expect(inserted.added).toEqual([
      {
        feature_key: key, org_id: null, level: 'platform', target: 'meta', old_value: null,
        new_value: { value: true, expiresAt: null }, actor: 'sam@cmis', reason: 'meta launch', request_id: 'req-p',
      },
    ]);
    const updated = await observe(ctx, key, ['global'], (c) =>
      c.query(`UPDATE cmis.feature_flag_overrides SET value = 'false' WHERE feature_key = $1`, [key]),
    );
    expect(updated.bumps).toEqual([1]);
    expect(updated.added).toHaveLength(1);
    expect(updated.added[0]).toMatchObject({ level: 'platform', old_value: { value: true }, new_value: { value: false } });
    const deleted = await observe(ctx, key, ['global'], (c) =>
      c.query(`DELETE FROM cmis.feature_flag_overrides WHERE feature_key = $1`, [key]),
    );
    expect(deleted.bumps).toEqual([1]);
    expect(deleted.added).toHaveLength(1);
    expect(deleted.added[0]).toMatchObject({ level: 'platform', target: 'meta', old_value: { value: false }, new_value: null });
  });

  it('org platform override and user override: the org layer only', async () => {
    const key = unique('audit.user.');
    const org = unique('org-');
    await createFlag(key);
    const ctx: RlsContext = { orgId: org, role: 'org_admin', actor: 'uma@org', reason: 'beta tester', requestId: 'req-u' };
    const layers = ['global', `org:${org}`];

    const platform = await observe(ctx, key, layers, (c) =>
      c.query(`INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, platform, org_id, value) VALUES ($1, 'platform', 'tiktok', $2, 'true')`, [key, org]),
    );
    expect(platform.bumps).toEqual([0, 1]);
    expect(platform.added).toMatchObject([{ level: 'platform', org_id: org, target: 'tiktok' }]);

    const inserted = await observe(ctx, key, layers, (c) =>
      c.query(`INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, org_id, user_id, value, expires_at)
               VALUES ($1, 'user', $2, 'user-7', 'true', '2030-01-01T00:00:00Z')`, [key, org]),
    );
    expect(inserted.bumps).toEqual([0, 1]);
    expect(inserted.added).toHaveLength(1);
    expect(inserted.added[0]).toMatchObject({
      feature_key: key, org_id: org, level: 'user', target: 'user-7', old_value: null,
      actor: 'uma@org', reason: 'beta tester', request_id: 'req-u',
    });
    expect(Date.parse((inserted.added[0]!.new_value as { expiresAt: string }).expiresAt)).toBe(Date.parse('2030-01-01T00:00:00Z'));

    const updated = await observe(ctx, key, layers, (c) =>
      c.query(`UPDATE cmis.feature_flag_overrides SET value = 'false', expires_at = NULL WHERE feature_key = $1 AND user_id = 'user-7'`, [key]),
    );
    expect(updated.bumps).toEqual([0, 1]);
    expect(updated.added).toHaveLength(1);
    expect(updated.added[0]).toMatchObject({ level: 'user', old_value: { value: true }, new_value: { value: false, expiresAt: null } });

    const deleted = await observe(ctx, key, layers, (c) =>
      c.query(`DELETE FROM cmis.feature_flag_overrides WHERE feature_key = $1 AND user_id = 'user-7'`, [key]),
    );
    expect(deleted.bumps).toEqual([0, 1]);
    expect(deleted.added).toHaveLength(1);
    expect(deleted.added[0]).toMatchObject({ level: 'user', target: 'user-7', old_value: { value: false }, new_value: null });
  });

  it('a multi-row statement writes one audit row per row', async () => {
    const key = unique('audit.multi.');
    const org = unique('org-');
    await createFlag(key);
    const result = await observe(systemCtx(), key, [`org:${org}`], (c) =>
      c.query(`INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, org_id, user_id, value)
               SELECT $1, 'user', $2, 'u' || i, 'true' FROM generate_series(1, 3) AS i`, [key, org]),
    );
    expect(result.added.map((row) => row.target)).toEqual(['u1', 'u2', 'u3']);
    expect(result.bumps).toEqual([3]);
  });
});

describe('the audit trail', () => {
  it('rejects a write without an actor', async () => {
    const key = unique('audit.noactor.');
    const client = await pool.connect();
    try {
      await client.query('BEGIN; SET LOCAL ROLE cmis_app');
      await client.query(`SELECT set_config('app.role', 'system', true)`);
      await expect(
        client.query(`INSERT INTO cmis.feature_flags (feature_key, type, value, off_value) VALUES ($1, 'boolean', 'true', 'false')`, [key]),
      ).rejects.toThrow(/app\.actor is not set/);
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  });

  it('the app role cannot update or delete audit rows', async () => {
    const key = unique('audit.imm.');
    await createFlag(key);
    await expect(
      withRls(pool, systemCtx(), (_tx, c) => c.query(`UPDATE cmis.feature_flag_values SET actor = 'mallory' WHERE feature_key = $1`, [key])),
    ).rejects.toThrow(/permission denied/);
    await expect(
      withRls(pool, systemCtx(), (_tx, c) => c.query(`DELETE FROM cmis.feature_flag_values WHERE feature_key = $1`, [key])),
    ).rejects.toThrow(/permission denied/);
  });

  it('the owner cannot update, delete or truncate audit rows either (trigger)', async () => {
    const key = unique('audit.owner.');
    await createFlag(key);
    await expect(pool.query(`UPDATE cmis.feature_flag_values SET actor = 'mallory' WHERE feature_key = $1`, [key])).rejects.toThrow(/append-only/);
    await expect(pool.query(`DELETE FROM cmis.feature_flag_values WHERE feature_key = $1`, [key])).rejects.toThrow(/append-only/);
    await expect(pool.query(`TRUNCATE cmis.feature_flag_values`)).rejects.toThrow(/append-only/);
    const rows = await withRls(pool, systemCtx(), (_tx, c) => auditOf(c, key));
    expect(rows).toHaveLength(1);
    expect(rows[0]!.actor).toBe('setup');
  });

  it('an org admin may add its own audit rows (e.g. token level) but not forge another actor', async () => {
    const org = unique('org-');
    const ctx: RlsContext = { orgId: org, role: 'org_admin', actor: 'olga' };
    await withRls(pool, ctx, (_tx, c) =>
      c.query(`INSERT INTO cmis.feature_flag_values (org_id, level, target, actor) VALUES ($1, 'token', 'tok-1', 'olga')`, [org]),
    );
    await expect(
      withRls(pool, ctx, (_tx, c) =>
        c.query(`INSERT INTO cmis.feature_flag_values (org_id, level, target, actor) VALUES ($1, 'token', 'tok-1', 'someone-else')`, [org]),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it('a failed change leaves neither the change, nor its audit row, nor a version bump', async () => {
    const key = unique('audit.rollback.');
    await createFlag(key);
    const before = await withRls(pool, systemCtx(), async (_tx, c) => ({ audit: (await auditOf(c, key)).length }));
    await expect(
      withRls(pool, systemCtx(), async (_tx, c) => {
        await c.query(`UPDATE cmis.feature_flags SET killed = true WHERE feature_key = $1`, [key]);
        throw new Error('publish exploded');
      }),
    ).rejects.toThrow('publish exploded');
    const after = await withRls(pool, systemCtx(), async (_tx, c) => ({
      audit: (await auditOf(c, key)).length,
      killed: (await c.query(`SELECT killed FROM cmis.feature_flags WHERE feature_key = $1`, [key])).rows[0].killed,
    }));
    expect(after).toEqual({ audit: before.audit, killed: false });
  });
});
