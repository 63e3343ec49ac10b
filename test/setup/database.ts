// vitest globalSetup (node project): one migrated database for the run, reached through the
// WebSocket bridge exactly as the Workers reach it.
// - DATABASE_URL set: a throw-away database `cmis_test_<random>` in that server, dropped at teardown.
// - otherwise: in-memory PGlite.
// Tests read it with `inject('database')` (see test/node/db/helpers.ts).
import { dropTestDatabase } from './drop-database';
import type { TestProject } from 'vitest/node';
import { createPool } from '../../shared/db/client';
import { useNodeWebSocket } from '../../shared/db/node';
import { startLocalDatabase, type LocalDatabase } from '../../scripts/db/local';
import { migrate } from '../../scripts/db/migrate';

export interface TestDatabase {
  engine: 'pglite' | 'postgres';
  databaseUrl: string;
  wsProxy: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    database: TestDatabase;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  useNodeWebSocket();
  const serverUrl = process.env.DATABASE_URL?.trim();
  let local: LocalDatabase;
  let databaseUrl: string;
  let dropDatabase = async () => {};

  if (serverUrl) {
    local = await startLocalDatabase({ databaseUrl: serverUrl });
    const name = `cmis_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
    const admin = createPool({ databaseUrl: serverUrl, wsProxy: local.wsProxy, max: 1 });
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      await dropTestDatabase(admin, name);
      await admin.end();
    };
  } else {
    local = await startLocalDatabase({ dataDir: null });
    databaseUrl = local.databaseUrl;
  }

  try {
    const pool = createPool({ databaseUrl, wsProxy: local.wsProxy, max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
  } catch (error) {
    await dropDatabase().catch(() => {});
    await local.close();
    throw error;
  }

  project.provide('database', { engine: local.engine, databaseUrl, wsProxy: local.wsProxy });
  return async () => {
    await dropDatabase();
    await local.close();
  };
}
