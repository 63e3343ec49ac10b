// Applies migrations/NNNN_name.sql in order, each in its own transaction, recording name and
// SHA-256 in cmis.schema_migrations. Re-running is a no-op; an applied file that changed is an error.
// A migration file must not contain BEGIN/COMMIT of its own (that would break its atomicity).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pool, PoolClient } from '@neondatabase/serverless';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

const MIGRATION_FILE = /^\d{4}_[a-z0-9_]+\.sql$/;
// one fixed advisory lock so that two migrators never interleave
const MIGRATION_LOCK = 0x636d6973;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((file) => MIGRATION_FILE.test(file))
    .sort()
    .map((name) => {
      const sql = readFileSync(join(dir, name), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

export async function migrate(
  pool: Pool,
  options: { dir?: string; log?: (line: string) => void } = {},
): Promise<MigrateResult> {
  const migrations = loadMigrations(options.dir);
  const log = options.log ?? (() => {});
  const client = await pool.connect();
  let broken = false;
  try {
    await inTransaction(client, async () => {
      await client.query(`SET LOCAL client_min_messages = warning;
        CREATE SCHEMA IF NOT EXISTS cmis;
        CREATE TABLE IF NOT EXISTS cmis.schema_migrations (
          name text PRIMARY KEY,
          checksum text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`);
    });

    const result: MigrateResult = { applied: [], skipped: [] };
    for (const migration of migrations) {
      const applied = await inTransaction(client, async () => {
        const { rows } = await client.query<{ checksum: string }>(
          'SELECT checksum FROM cmis.schema_migrations WHERE name = $1',
          [migration.name],
        );
        const recorded = rows[0];
        if (recorded) {
          if (recorded.checksum !== migration.checksum) {
            throw new MigrationError(
              `migration ${migration.name} was changed after it was applied (checksum ${recorded.checksum.slice(0, 12)}… in the database, ${migration.checksum.slice(0, 12)}… on disk); add a new migration instead`,
            );
          }
          return false;
        }
        try {
          await client.query(`SET LOCAL client_min_messages = warning;\n${migration.sql}`);
        } catch (error) {
          throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`, {
            cause: error,
          });
        }
        await client.query('INSERT INTO cmis.schema_migrations (name, checksum) VALUES ($1, $2)', [
          migration.name,
          migration.checksum,
        ]);
        return true;
      });
      (applied ? result.applied : result.skipped).push(migration.name);
      if (applied) log(`applied ${migration.name}`);
    }
    return result;
  } finally {
    client.release(broken);
  }

  async function inTransaction<T>(c: PoolClient, work: () => Promise<T>): Promise<T> {
    await c.query('BEGIN');
    try {
      await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const value = await work();
      await c.query('COMMIT');
      return value;
    } catch (error) {
      await c.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    }
  }
}
