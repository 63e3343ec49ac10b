// Shared by the database tests: pools on the run's database (test/setup/database.ts) and fresh
// empty databases for migration tests, all through the Neon driver + bridge.
import { dropTestDatabase } from '../../setup/drop-database';
import { randomUUID } from 'node:crypto';
import type { Pool } from '@neondatabase/serverless';
import { inject } from 'vitest';
import { createPool } from '../../../shared/db/client';
import { useNodeWebSocket } from '../../../shared/db/node';
import { startLocalDatabase } from '../../../scripts/db/local';

useNodeWebSocket();

export const database = inject('database');

/** A pool on the run's database. PGlite serves one connection at a time: size 1, short idle. */
export function testPool(databaseUrl = database.databaseUrl, wsProxy = database.wsProxy): Pool {
  return database.engine === 'pglite'
    ? createPool({ databaseUrl, wsProxy, max: 1, idleTimeoutMillis: 50 })
    : createPool({ databaseUrl, wsProxy, max: 4, idleTimeoutMillis: 1000 });
}

/** A unique suffix so that tests sharing one database never see each other's rows. */
export function unique(prefix: string): string {
  return `${prefix}${randomUUID().slice(0, 8)}`;
}

export interface FreshDatabase {
  pool: Pool;
  close(): Promise<void>;
}

/** An empty database: its own in-memory PGlite, or a new database in the same Postgres server. */
export async function freshDatabase(): Promise<FreshDatabase> {
  if (database.engine === 'pglite') {
    const local = await startLocalDatabase({ dataDir: null });
    const pool = createPool({ databaseUrl: local.databaseUrl, wsProxy: local.wsProxy, max: 1, idleTimeoutMillis: 50 });
    return {
      pool,
      async close() {
        await pool.end();
        await local.close();
      },
    };
  }
  const admin = testPool();
  const name = unique('cmis_test_fresh_').replace(/-/g, '');
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(database.databaseUrl);
  url.pathname = `/${name}`;
  const pool = testPool(url.toString());
  return {
    pool,
    async close() {
      await pool.end();
      await dropTestDatabase(admin, name);
      await admin.end();
    },
  };
}
