// Migrations on an empty database: apply, re-run as a no-op, fail atomically, refuse edited files.
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, loadMigrations, migrate } from '../../../scripts/db/migrate';
import { freshDatabase, type FreshDatabase } from './helpers';

const shipped = loadMigrations().map((m) => m.name);

let fresh: FreshDatabase;
let scratch: string;

beforeAll(async () => {
  fresh = await freshDatabase();
  scratch = mkdtempSync(join(tmpdir(), 'cmis-migrations-'));
});
afterAll(async () => {
  await fresh?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function tables(): Promise<string[]> {
  const { rows } = await fresh.pool.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'cmis' ORDER BY table_name`,
  );
  return rows.map((r) => r.table_name);
}

async function ledger(): Promise<{ name: string; checksum: string }[]> {
  const { rows } = await fresh.pool.query(`SELECT name, checksum FROM cmis.schema_migrations ORDER BY name`);
  return rows;
}

describe('migrate', () => {
  it('ships ordered NNNN_name.sql files', () => {
    expect(shipped.length).toBeGreaterThanOrEqual(3);
    expect([...shipped].sort()).toEqual(shipped);
  });

  it('applies every migration to an empty database', async () => {
    expect(await tables()).toEqual([]);
    const result = await migrate(fresh.pool);
    expect(result).toEqual({ applied: shipped, skipped: [] });
    expect(await tables()).toEqual([
      'alerts', 'api_tokens', 'cron_runs', 'ended_sessions', 'feature_flag_overrides', 'feature_flag_values', 'feature_flags',
      'flag_metrics_daily', 'flag_metrics_hourly', 'flag_schedules', 'metrics_batches', 'notification_outbox', 'rollouts',
      'schema_migrations', 'snapshot_versions', 'stale_digests', 'stale_marks', 'webhook_deliveries', 'webhooks',
    ]);
    expect((await ledger()).map((row) => row.name)).toEqual(shipped);
  });

  it('re-running is a no-op', async () => {
    const before = await ledger();
    const result = await migrate(fresh.pool);
    expect(result).toEqual({ applied: [], skipped: shipped });
    expect(await ledger()).toEqual(before);
  });

  it('a failing migration leaves the database as it was', async () => {
    const dir = join(scratch, 'failing');
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    writeFileSync(
      join(dir, '9998_half_done.sql'),
      `CREATE TABLE cmis.half_done (id int);
       INSERT INTO cmis.half_done VALUES (1);
       ALTER TABLE cmis.webhooks ADD COLUMN doomed text;
       SELECT 1 / 0;`,
    );
    const tablesBefore = await tables();
    const ledgerBefore = await ledger();
    await expect(migrate(fresh.pool, { dir })).rejects.toThrow(/9998_half_done\.sql failed: division by zero/);
    expect(await tables()).toEqual(tablesBefore);
    expect(await ledger()).toEqual(ledgerBefore);
    const doomed = await fresh.pool.query(
      `SELECT 1 FROM information_schema.columns WHERE table_schema = 'cmis' AND table_name = 'webhooks' AND column_name = 'doomed'`,
    );
    expect(doomed.rowCount).toBe(0);
  });

  it('a later good migration applies after earlier ones, and an edited applied file is refused', async () => {
    const dir = join(scratch, 'edited');
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    writeFileSync(join(dir, '9999_extra.sql'), `CREATE TABLE cmis.extra (id int);`);
    expect(await migrate(fresh.pool, { dir })).toEqual({ applied: ['9999_extra.sql'], skipped: shipped });

    writeFileSync(join(dir, '9999_extra.sql'), `CREATE TABLE cmis.extra (id bigint);`);
    await expect(migrate(fresh.pool, { dir })).rejects.toThrow(/9999_extra\.sql was changed after it was applied/);
  });
});
