// Starts the real local stack for an end-to-end test file: the three Workers in workerd, one KV,
// and a database of the file's own — in-memory PGlite, or (when the suite runs against real
// Postgres) a fresh database in that server, dropped at close.
import { dropTestDatabase } from '../setup/drop-database';
import { resolve } from 'node:path';
import { inject } from 'vitest';
import { createPool } from '../../shared/db/client';
import { useNodeWebSocket } from '../../shared/db/node';
import { startStack, type Stack, type StackOptions } from '../../scripts/stack';
import { freePort } from '../../scripts/stack/ports';

export const ROOT = resolve(import.meta.dirname, '../..');

export async function startTestStack(options: Pick<StackOptions, 'adminToken' | 'evalKey' | 'workerVars'> = {}): Promise<Stack> {
  useNodeWebSocket();
  const database = inject('database');
  const ports = { admin: await freePort(), evaluate: await freePort(), cron: await freePort() };
  if (database.engine !== 'postgres') {
    return startStack({ root: ROOT, ports, dataDir: null, ...options });
  }
  const name = `cmis_e2e_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = createPool({ databaseUrl: database.databaseUrl, wsProxy: database.wsProxy, max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(database.databaseUrl);
  url.pathname = `/${name}`;
  try {
    const stack = await startStack({ root: ROOT, ports, dataDir: null, databaseUrl: url.toString(), ...options });
    return {
      ...stack,
      async close() {
        await stack.close();
        await dropTestDatabase(admin, name);
        await admin.end();
      },
    };
  } catch (error) {
    await dropTestDatabase(admin, name).catch(() => {});
    await admin.end();
    throw error;
  }
}
