// One call for "a database the Neon driver can reach": a real Postgres (DATABASE_URL) behind the
// WebSocket bridge, or embedded PGlite (persisted in dataDir, or in memory) behind the same bridge.
import { connect } from 'node:net';
import { startBridge } from './bridge';
import { startPglite } from './pglite';

export const DEFAULT_PGLITE_DIR = '.data/pglite';

export interface LocalDatabaseOptions {
  /** PGlite data directory; null = in memory; default `.data/pglite`. Ignored with databaseUrl. */
  dataDir?: string | null;
  /** A real Postgres to bridge to instead of starting PGlite. */
  databaseUrl?: string;
  /** Port of the WebSocket bridge (default: any free port). */
  bridgePort?: number;
}

export interface LocalDatabase {
  engine: 'pglite' | 'postgres';
  databaseUrl: string;
  /** For createPool({ databaseUrl, wsProxy }): `127.0.0.1:PORT/v1`. */
  wsProxy: string;
  close(): Promise<void>;
}

export async function startLocalDatabase(options: LocalDatabaseOptions = {}): Promise<LocalDatabase> {
  if (options.databaseUrl) {
    const target = parseDatabaseUrl(options.databaseUrl);
    const bridge = await startBridge({ port: options.bridgePort, target });
    return { engine: 'postgres', databaseUrl: options.databaseUrl, wsProxy: bridge.wsProxy, close: bridge.close };
  }
  const dataDir = options.dataDir === undefined ? DEFAULT_PGLITE_DIR : options.dataDir;
  const pglite = await startPglite({ dataDir });
  try {
    const bridge = await startBridge({ port: options.bridgePort, target: { host: pglite.host, port: pglite.port } });
    return {
      engine: 'pglite',
      databaseUrl: pglite.databaseUrl,
      wsProxy: bridge.wsProxy,
      async close() {
        await bridge.close();
        await pglite.close();
      },
    };
  } catch (error) {
    await pglite.close();
    throw error;
  }
}

/** A DATABASE_URL problem, phrased for one line of output. */
export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError';
}

export function parseDatabaseUrl(databaseUrl: string): { host: string; port: number; database: string } {
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new DatabaseUrlError('DATABASE_URL: not a URL (expected postgres://user@host:port/database)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new DatabaseUrlError(`DATABASE_URL: unsupported scheme ${url.protocol} (expected postgres://)`);
  }
  if (!url.hostname) throw new DatabaseUrlError('DATABASE_URL: no host');
  return {
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port ? Number(url.port) : 5432,
    database: decodeURIComponent(url.pathname.slice(1)) || 'postgres',
  };
}

/** Fails with a DatabaseUrlError unless a TCP connection to the URL's host:port opens. */
export async function checkReachable(databaseUrl: string, timeoutMs = 5000): Promise<void> {
  const { host, port } = parseDatabaseUrl(databaseUrl);
  await new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port });
    const fail = (why: string) => {
      socket.destroy();
      reject(new DatabaseUrlError(`DATABASE_URL: cannot connect to ${host}:${port} (${why})`));
    };
    socket.setTimeout(timeoutMs, () => fail('timed out'));
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const why =
        error.code === 'ECONNREFUSED'
          ? 'connection refused'
          : error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
            ? 'host not found'
            : (error.code ?? error.message);
      fail(why);
    });
  });
}
