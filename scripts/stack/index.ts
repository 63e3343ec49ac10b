import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { bundleWorkers, type WorkerName } from './build';
import { startWorkers } from './workers';
import { generateToken, sha256Hex } from '../../shared/tokens';
import { checkReachable, startLocalDatabase } from '../db/local';
import { migrate } from '../db/migrate';
import { seedDefaults } from '../db/seed';
import { createPool } from '../../shared/db/client';
import { useNodeWebSocket } from '../../shared/db/node';
import { evaluateKeyKey } from '../../shared/snapshot/keys';

export interface StackOptions {
  root: string;
  ports: Record<WorkerName, number>;
  host?: string;
  /** Real Postgres; without it an embedded PGlite is used (kept in `dataDir`, or in memory when null). */
  databaseUrl?: string;
  /** Where PGlite and KV keep their data; null keeps everything in memory (tests). */
  dataDir: string | null;
  adminToken?: string;
  evalKey?: string;
  /** Extra per-Worker vars (tests: e.g. `{ evaluate: { METRICS_FLUSH_MS: '0' } }`). */
  workerVars?: Partial<Record<WorkerName, Record<string, string>>>;
  log?: (line: string) => void;
  /** Passed to startWorkers: more Workers in the same workerd (benchmarks). */
  extraWorkers?: Record<string, unknown>[];
}

export interface Stack {
  urls: Record<WorkerName, string>;
  adminToken: string;
  evalKey: string;
  /** True when the tokens were generated here (the caller prints them once). */
  generatedTokens: boolean;
  databaseUrl: string;
  wsProxy: string;
  mf: Miniflare;
  kv(): Promise<KVNamespace>;
  /** Runs one cron pass now, or as of `at` (the cron Worker's local `POST /__scheduled?time=`). */
  triggerCron(at?: Date): Promise<Response>;
  close(): Promise<void>;
}

/**
 * The whole local stack: database (PGlite or `databaseUrl`) behind the WebSocket bridge, migrations,
 * seed on a new database, the three Workers in workerd sharing KV and a Queue, and the bootstrap
 * tokens. `npm start` and the end-to-end tests both start it through here.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const log = options.log ?? (() => {});
  const host = options.host ?? '127.0.0.1';
  const pgliteDir = options.dataDir ? join(options.dataDir, 'pglite') : null;
  const isNewDatabase = !options.databaseUrl && (pgliteDir === null || !existsSync(pgliteDir));
  useNodeWebSocket();
  if (options.databaseUrl) await checkReachable(options.databaseUrl);
  const db = await startLocalDatabase({ dataDir: pgliteDir, databaseUrl: options.databaseUrl });
  let mf: Miniflare | undefined;
  try {
    const pool = createPool({ databaseUrl: db.databaseUrl, wsProxy: db.wsProxy, max: 1, idleTimeoutMillis: 1000 });
    try {
      const { applied } = await migrate(pool);
      if (applied.length) log(`migrations applied: ${applied.join(', ')}`);
      const { inserted } = await seedDefaults(pool);
      if (isNewDatabase || inserted.length) log(`seeded ${inserted.length} default flag(s)`);
    } finally {
      await pool.end();
    }

    const scripts = await bundleWorkers(options.root);
    const generatedTokens = !options.adminToken || !options.evalKey;
    const adminToken = options.adminToken || generateToken('system_admin');
    const evalKey = options.evalKey || generateToken('evaluate');
    mf = await startWorkers({
      scripts,
      ports: options.ports,
      host,
      persistDir: options.dataDir,
      vars: {
        DATABASE_URL: db.databaseUrl,
        DATABASE_WS_PROXY: db.wsProxy,
        FLAGS_ADMIN_TOKEN: adminToken,
        SNAPSHOT_MAX_AGE_MS: '1000',
      },
      workerVars: {
        ...options.workerVars,
        admin: { WEBHOOKS_ALLOW_LOOPBACK: '1', ...options.workerVars?.admin },
        cron: { LOCAL_TRIGGER: '1', WEBHOOKS_ALLOW_LOOPBACK: '1', ...options.workerVars?.cron },
      },
      extraWorkers: options.extraWorkers,
    });
    const started = mf;
    const kv = () => started.getKVNamespace('FLAGS_KV', 'evaluate') as unknown as Promise<KVNamespace>;
    await (await kv()).put(evaluateKeyKey(await sha256Hex(evalKey)), JSON.stringify({ id: 'bootstrap', name: 'bootstrap (FLAGS_EVAL_KEY)' }));
    const urls = {
      admin: `http://${host}:${options.ports.admin}`,
      evaluate: `http://${host}:${options.ports.evaluate}`,
      cron: `http://${host}:${options.ports.cron}`,
    };
    // KV may be new (in memory, or .data/kv removed) while Postgres says every layer is published:
    // rebuild it the way an operator would after a rollback, through the admin API's republish.
    const republish = await fetch(`${urls.admin}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'x-change-reason': 'local stack start' },
    });
    if (!republish.ok) throw new Error(`publishing the snapshot at start failed: ${republish.status} ${await republish.text()}`);
    const published = (await republish.json()) as { publish: string; layers: unknown[] | number };
    log(`published ${Array.isArray(published.layers) ? published.layers.length : published.layers} snapshot layer(s) to KV (${published.publish})`);

    return {
      urls,
      adminToken,
      evalKey,
      generatedTokens,
      databaseUrl: db.databaseUrl,
      wsProxy: db.wsProxy,
      mf: started,
      kv,
      triggerCron: (at?: Date) => fetch(`${urls.cron}/__scheduled${at ? `?time=${encodeURIComponent(at.toISOString())}` : ''}`, { method: 'POST' }),
      async close() {
        await started.dispose().catch(() => {});
        await db.close();
      },
    };
  } catch (err) {
    await mf?.dispose().catch(() => {});
    await db.close();
    throw err;
  }
}
