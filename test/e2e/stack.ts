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
  if (database.engine !== 'postgres') {
    return startOnFreePorts({ root: ROOT, dataDir: null, ...options });
  }
  const name = `cmis_e2e_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = createPool({ databaseUrl: database.databaseUrl, wsProxy: database.wsProxy, max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(database.databaseUrl);
  url.pathname = `/${name}`;
  try {
    const stack = await startOnFreePorts({ root: ROOT, dataDir: null, databaseUrl: url.toString(), ...options });
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

/**
 * startStack on ports the OS reports free. Test files start stacks in parallel, so a port can be taken
 * between freePort() and workerd's bind (seen once in CI, 2026-11-27: ERR_ADDRESS_IN_USE); startStack
 * then disposes what it started, and this tries again on new ports, three times at most.
 */
async function startOnFreePorts(options: Omit<StackOptions, 'ports'>): Promise<Stack> {
  for (let attempt = 1; ; attempt++) {
    const ports = { admin: await freePort(), evaluate: await freePort(), cron: await freePort() };
    try {
      return await startStack({ ...options, ports });
    } catch (err) {
      if (attempt >= 3 || !isAddressInUse(err)) throw err;
    }
  }
}

function isAddressInUse(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ERR_ADDRESS_IN_USE' || code === 'EADDRINUSE' || /ERR_ADDRESS_IN_USE|EADDRINUSE/.test(String(err));
}
