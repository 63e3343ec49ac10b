import { Client, Pool, type ClientConfig } from '@neondatabase/serverless';

export interface PoolOptions {
  /** postgres://user:password@host:port/database */
  databaseUrl: string;
  /**
   * A local WebSocket→TCP bridge, without protocol: `127.0.0.1:PORT/v1` (see scripts/db/bridge.ts).
   * When set, this pool speaks plain `ws://` to it and pipelines nothing (pipelining breaks SCRAM).
   * Without it the driver talks to Neon as usual.
   */
  wsProxy?: string;
  /** Pool size (default 10). Use 1 with PGlite: it serves one connection at a time. */
  max?: number;
  /** How long an idle connection stays open (default 10 s). */
  idleTimeoutMillis?: number;
}

/**
 * A Neon serverless Pool (WebSocket; needed for interactive transactions such as `withRls`).
 * The local-bridge settings are per client, so pools for different databases can coexist.
 * Free of Node imports: Workers call it per request and end it with `ctx.waitUntil(pool.end())`.
 * In Node, call `useNodeWebSocket()` from `shared/db/node.ts` once first.
 *
 * @example
 * const pool = createPool({ databaseUrl: env.DATABASE_URL, wsProxy: env.DATABASE_WS_PROXY });
 */
export function createPool(options: PoolOptions): Pool {
  const { databaseUrl, wsProxy } = options;
  const clientClass = wsProxy === undefined || wsProxy === '' ? Client : bridgedClient(wsProxy);
  const pool = new Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    idleTimeoutMillis: options.idleTimeoutMillis ?? 10_000,
  });
  // Neon's Pool sets its Client class as an instance field (ignoring a `Client` option), so the
  // bridged subclass goes in afterwards; the pool instantiates `this.Client` per connection.
  pool.Client = clientClass;
  return pool;
}

function bridgedClient(wsProxy: string): typeof Client {
  const proxyBase = wsProxy.replace(/^wss?:\/\//, '');
  return class BridgedClient extends Client {
    constructor(config?: string | ClientConfig) {
      super(config);
      const settings = this.neonConfig;
      settings.wsProxy = (host: string, port: number | string) => `${proxyBase}?address=${host}:${port}`;
      settings.useSecureWebSocket = false;
      settings.pipelineTLS = false;
      settings.pipelineConnect = false;
    }
  };
}
