// Shared plumbing of the db:* CLIs: DATABASE_URL or the embedded PGlite in .data/pglite,
// and one clear line instead of a stack trace when the database cannot be used.
import type { Pool } from '@neondatabase/serverless';
import { createPool } from '../../shared/db/client';
import { useNodeWebSocket } from '../../shared/db/node';
import { DEFAULT_PGLITE_DIR, DatabaseUrlError, checkReachable, startLocalDatabase } from './local';

export async function runWithDatabase(name: string, work: (pool: Pool) => Promise<void>): Promise<void> {
  useNodeWebSocket();
  const databaseUrl = process.env.DATABASE_URL?.trim() || undefined;
  let close: (() => Promise<void>) | undefined;
  let pool: Pool | undefined;
  try {
    if (databaseUrl && !isLocalHost(databaseUrl)) {
      // Neon (or any remote server with its WebSocket endpoint): the driver's own secure path, no bridge.
      pool = createPool({ databaseUrl, max: 4, idleTimeoutMillis: 1000 });
    } else {
      if (databaseUrl) await checkReachable(databaseUrl);
      const database = await startLocalDatabase(databaseUrl ? { databaseUrl } : { dataDir: DEFAULT_PGLITE_DIR });
      close = database.close;
      pool = createPool({
        databaseUrl: database.databaseUrl,
        wsProxy: database.wsProxy,
        max: database.engine === 'pglite' ? 1 : 4,
        idleTimeoutMillis: 1000,
      });
    }
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      throw new DatabaseUrlError(
        databaseUrl
          ? `DATABASE_URL: ${(error as Error).message}`
          : `${DEFAULT_PGLITE_DIR}: ${(error as Error).message}`,
      );
    }
    console.log(`${name}: ${databaseUrl ? redact(databaseUrl) : `PGlite in ${DEFAULT_PGLITE_DIR}`}`);
    await work(pool);
  } catch (error) {
    process.exitCode = 1;
    console.error(error instanceof DatabaseUrlError ? error.message : `${name}: ${(error as Error).message}`);
  } finally {
    await pool?.end().catch(() => {});
    await close?.().catch(() => {});
  }
}

/** Loopback servers (CI, Debian's Postgres, a local Docker) speak plain TCP and go through the bridge. */
function isLocalHost(databaseUrl: string): boolean {
  try {
    const host = new URL(databaseUrl).hostname;
    return host === 'localhost' || host === '[::1]' || host === '::1' || host.startsWith('127.');
  } catch {
    return true; // let the local path report the malformed URL in its own words
  }
}

function redact(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'DATABASE_URL';
  }
}
