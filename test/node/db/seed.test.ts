// The default flags: exactly as listed in shared/config.ts, idempotent, never overwriting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_FLAGS, PLATFORMS } from '../../../shared/config';
import { withRls } from '../../../shared/db';
import { migrate } from '../../../scripts/db/migrate';
import { seedDefaults } from '../../../scripts/db/seed';
import { freshDatabase, type FreshDatabase } from './helpers';

let fresh: FreshDatabase;
beforeAll(async () => {
  fresh = await freshDatabase();
  await migrate(fresh.pool);
});
afterAll(async () => {
  await fresh?.close();
});

const system = { orgId: null, role: 'system', actor: 'test' } as const;

async function systemRows() {
  return withRls(fresh.pool, system, async (_tx, c) => {
    const { rows } = await c.query(
      `SELECT feature_key, type, value, off_value, killed, rollout, description, tags, owner, version, updated_at
         FROM cmis.feature_flags WHERE org_id IS NULL ORDER BY feature_key`,
    );
    return rows;
  });
}

describe('shared/config defaults', () => {
  it('has the six platforms and the CMIS launch set', () => {
    expect(PLATFORMS).toEqual(['meta', 'google', 'tiktok', 'linkedin', 'twitter', 'snapchat']);
    const on = DEFAULT_FLAGS.filter((f) => f.defaultValue).map((f) => f.key);
    expect(on.sort()).toEqual(['campaign.creation.enabled', 'campaign.editing.enabled', 'campaign.publishing.enabled']);
    for (const platform of PLATFORMS) {
      expect(DEFAULT_FLAGS.find((f) => f.key === `platform.${platform}.enabled`)?.defaultValue).toBe(false);
    }
    for (const key of ['campaign.ai_copy.enabled', 'reporting.advanced.enabled', 'billing.invoices.enabled']) {
      expect(DEFAULT_FLAGS.find((f) => f.key === key)?.defaultValue).toBe(false);
    }
    for (const flag of DEFAULT_FLAGS) {
      expect(flag.key).toMatch(/^[a-z0-9][a-z0-9._-]{0,127}$/);
      expect(flag.description.length).toBeGreaterThan(0);
      expect(flag.tags.length).toBeGreaterThan(0);
      expect(flag.owner.length).toBeGreaterThan(0);
    }
    expect(new Set(DEFAULT_FLAGS.map((f) => f.key)).size).toBe(DEFAULT_FLAGS.length);
  });
});

describe('seedDefaults', () => {
  it('inserts exactly the listed defaults, audited as seed', async () => {
    const result = await seedDefaults(fresh.pool);
    expect(result.inserted.sort()).toEqual(DEFAULT_FLAGS.map((f) => f.key).sort());
    const rows = await systemRows();
    expect(rows.map((r) => ({ ...r, version: undefined, updated_at: undefined }))).toEqual(
      [...DEFAULT_FLAGS]
        .sort((a, b) => (a.key < b.key ? -1 : 1))
        .map((f) => ({
          feature_key: f.key, type: 'boolean', value: f.defaultValue, off_value: false, killed: false, rollout: null,
          description: f.description, tags: f.tags, owner: f.owner, version: undefined, updated_at: undefined,
        })),
    );
    const audit = await withRls(fresh.pool, system, (_tx, c) =>
      c.query(`SELECT DISTINCT level, actor FROM cmis.feature_flag_values`),
    );
    expect(audit.rows).toEqual([{ level: 'system', actor: 'seed' }]);
  });

  it('a second run changes nothing', async () => {
    const before = await systemRows();
    const auditBefore = await withRls(fresh.pool, system, (_tx, c) => c.query(`SELECT count(*)::int AS n FROM cmis.feature_flag_values`));
    expect(await seedDefaults(fresh.pool)).toEqual({ inserted: [] });
    expect(await systemRows()).toEqual(before);
    const auditAfter = await withRls(fresh.pool, system, (_tx, c) => c.query(`SELECT count(*)::int AS n FROM cmis.feature_flag_values`));
    expect(auditAfter.rows[0].n).toBe(auditBefore.rows[0].n);
  });

  it('never overwrites an admin change, and restores only what is missing', async () => {
    await withRls(fresh.pool, { ...system, actor: 'admin' }, async (_tx, c) => {
      await c.query(`UPDATE cmis.feature_flags SET value = 'true', description = 'on for all' WHERE feature_key = 'campaign.ai_copy.enabled'`);
      await c.query(`DELETE FROM cmis.feature_flags WHERE feature_key = 'billing.invoices.enabled'`);
    });
    expect(await seedDefaults(fresh.pool)).toEqual({ inserted: ['billing.invoices.enabled'] });
    const aiCopy = (await systemRows()).find((r) => r.feature_key === 'campaign.ai_copy.enabled');
    expect(aiCopy).toMatchObject({ value: true, description: 'on for all' });
  });
});
