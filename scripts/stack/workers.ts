import { Miniflare, convertV4MiniflareOptions, type MiniflareOptions } from 'miniflare';
import type { WorkerName } from './build';

export const COMPATIBILITY_DATE = '2026-10-01';
export const KV_NAMESPACE_ID = 'cmis-flags-kv';
export const EVENTS_QUEUE = 'cmis-flags-events';

export interface WorkersOptions {
  scripts: Record<WorkerName, string>;
  ports: Record<WorkerName, number>;
  host?: string;
  /** Folder for KV and queue state; `null` keeps everything in memory (tests). */
  persistDir: string | null;
  /** Plain-text bindings given to every Worker (DATABASE_URL, DATABASE_WS_PROXY, tokens, ...). */
  vars: Record<string, string>;
  /** Extra per-Worker vars, e.g. `{ cron: { LOCAL_TRIGGER: '1' } }`. */
  workerVars?: Partial<Record<WorkerName, Record<string, string>>>;
  /** More Miniflare v4 worker options run in the same workerd (benchmarks: a bare baseline Worker). */
  extraWorkers?: Record<string, unknown>[];
}

/**
 * Runs the three Workers in one workerd process with one shared KV namespace and one Queue
 * (producers everywhere, consumer in cron): the bindings `wrangler.toml` declares per environment.
 */
export async function startWorkers(options: WorkersOptions): Promise<Miniflare> {
  const host = options.host ?? '127.0.0.1';
  const worker = (name: WorkerName) => ({
    name,
    modules: true,
    scriptPath: options.scripts[name],
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ['nodejs_compat'],
    kvNamespaces: { FLAGS_KV: KV_NAMESPACE_ID },
    queueProducers: { EVENTS: EVENTS_QUEUE },
    bindings: { ...options.vars, ...(options.workerVars?.[name] ?? {}) },
    unsafeDirectSockets: [{ host, port: options.ports[name] }],
  });
  const cron = {
    ...worker('cron'),
    queueConsumers: { [EVENTS_QUEUE]: { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 5 } },
  };
  const v4 = {
    host,
    port: 0,
    kvPersist: options.persistDir ? `${options.persistDir}/kv` : false,
    cachePersist: false,
    workers: [worker('admin'), worker('evaluate'), cron, ...(options.extraWorkers ?? [])],
  };
  const mf = new Miniflare(convertV4MiniflareOptions(v4 as never) as MiniflareOptions);
  await mf.ready;
  return mf;
}
