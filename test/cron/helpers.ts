// The cron tests run against a database of their own (one per test file), so that what a pass
// applies or reconciles there never races with other files' admin tests on the run's database.
import { dropTestDatabase } from '../setup/drop-database';
import type { Pool } from '@neondatabase/serverless';
import { afterAll, inject } from 'vitest';
import { createPool } from '../../shared/db/client';
import { useNodeWebSocket } from '../../shared/db/node';
import { GlobalLayerSchema, OrgLayerSchema, globalLayerKey, orgLayerKey } from '../../shared/snapshot';
import type { GlobalLayer, OrgLayer } from '../../shared/engine';
import { startLocalDatabase } from '../../scripts/db/local';
import { migrate } from '../../scripts/db/migrate';
import { mintRoleTokens, startHarness, unique, type Harness, type RoleTokens } from '../admin/helpers';

useNodeWebSocket();

const database = inject('database');

export interface CronHarness extends Harness {
  engine: 'pglite' | 'postgres';
  databaseUrl: string;
  wsProxy: string;
  /** A new pool on this file's database (PGlite: one connection, short idle). */
  newPool(): Pool;
  /** Raw SQL as the owner. */
  sql<T = Record<string, any>>(text: string, params?: unknown[]): Promise<T[]>;
  /** The layers as the evaluate Worker would read them from KV. */
  layers(orgId?: string): Promise<{ global: GlobalLayer; org: OrgLayer | null }>;
}

export async function startCronHarness(): Promise<CronHarness> {
  let databaseUrl: string;
  let wsProxy: string;
  let dispose: () => Promise<void>;
  if (database.engine === 'pglite') {
    const local = await startLocalDatabase({ dataDir: null });
    ({ databaseUrl, wsProxy } = local);
    dispose = () => local.close();
  } else {
    const name = unique('cmis_test_cron_').replace(/-/g, '');
    const admin = createPool({ databaseUrl: database.databaseUrl, wsProxy: database.wsProxy, max: 1 });
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(database.databaseUrl);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    wsProxy = database.wsProxy;
    dispose = async () => {
      await dropTestDatabase(admin, name);
      await admin.end();
    };
  }
  const engine = database.engine;
  const newPool = () =>
    engine === 'pglite'
      ? createPool({ databaseUrl, wsProxy, max: 1, idleTimeoutMillis: 20 })
      : createPool({ databaseUrl, wsProxy, max: 4, idleTimeoutMillis: 500 });
  const migrating = newPool();
  try {
    await migrate(migrating);
  } finally {
    await migrating.end();
  }
  const h = await startHarness({ DATABASE_URL: databaseUrl, DATABASE_WS_PROXY: wsProxy });
  return {
    ...h,
    engine,
    databaseUrl,
    wsProxy,
    newPool,
    async sql(text, params = []) {
      const pool = newPool();
      try {
        return (await pool.query(text, params)).rows;
      } finally {
        await pool.end();
      }
    },
    async layers(orgId) {
      const global = GlobalLayerSchema.parse(JSON.parse((await h.kv.get(globalLayerKey))!)) as GlobalLayer;
      const orgText = orgId ? await h.kv.get(orgLayerKey(orgId)) : null;
      return { global, org: orgText ? (OrgLayerSchema.parse(JSON.parse(orgText)) as OrgLayer) : null };
    },
    async close() {
      await h.close();
      await dispose();
    },
  };
}

/**
 * The usual start of a cron test file, at its top level: `const { h, t } = await cronTestFile();`
 * gives the file its own database and harness and one set of role tokens, closed after its tests.
 */
export async function cronTestFile(): Promise<{ h: CronHarness; t: RoleTokens }> {
  const h = await startCronHarness();
  afterAll(() => h.close());
  return { h, t: await mintRoleTokens(h) };
}

export const HOUR = 3_600_000;
