import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const WORKER_NAMES = ['admin', 'evaluate', 'cron'] as const;
export type WorkerName = (typeof WORKER_NAMES)[number];

/**
 * Bundles one Worker entry into one ES module for workerd, the way `wrangler deploy` would, so the
 * local stack and the tests run the same code as production.
 */
export async function bundleWorker(entry: string, outfile: string): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2023',
    conditions: ['workerd', 'worker', 'browser'],
    external: ['cloudflare:*', 'node:*'],
    jsx: 'automatic',
    jsxImportSource: 'hono/jsx',
    sourcemap: 'linked',
    logLevel: 'error',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  return outfile;
}

/** Bundles the three Workers (`workers/<name>/index.ts`) into `outDir`. */
export async function bundleWorkers(root: string, outDir = join(root, '.wrangler', 'stack')): Promise<Record<WorkerName, string>> {
  await mkdir(outDir, { recursive: true });
  const out = {} as Record<WorkerName, string>;
  await Promise.all(
    WORKER_NAMES.map(async (name) => {
      out[name] = await bundleWorker(join(root, 'workers', name, 'index.ts'), join(outDir, `${name}.js`));
    }),
  );
  return out;
}
