import { build } from 'esbuild';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const WORKER_NAMES = ['admin', 'evaluate', 'cron'] as const;
export type WorkerName = (typeof WORKER_NAMES)[number];

/**
 * Bundles each Worker's TypeScript entry into one ES module for workerd, the way
 * `wrangler deploy` would, so the local stack and the tests run the same code as production.
 */
export async function bundleWorkers(root: string, outDir = join(root, '.wrangler', 'stack')): Promise<Record<WorkerName, string>> {
  await mkdir(outDir, { recursive: true });
  const out = {} as Record<WorkerName, string>;
  await Promise.all(
    WORKER_NAMES.map(async (name) => {
      const outfile = join(outDir, `${name}.js`);
      await build({
        entryPoints: [join(root, 'workers', name, 'index.ts')],
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
      out[name] = outfile;
    }),
  );
  return out;
}
