import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Two kinds of tests:
// - "node": unit tests beside the code (shared/**, scripts/**, bench/**) and Node-side integration tests in test/node.
// - "workers": Worker tests (test/workers) inside workerd, with the bindings of wrangler.toml [env.evaluate].
// The service layer the CMIS plan's Go/No-Go list wants tested to 95%+: the engine, the write side
// (store), snapshots, the database helpers, events and metrics counting.
const SERVICE_LAYER = ['shared/engine/**', 'shared/store/**', 'shared/snapshot/**', 'shared/db/**', 'shared/metrics/**', 'shared/events.ts'];

export default defineConfig({
  test: {
    // `npm run coverage` (and CI's PGlite run): V8 coverage of both projects, Node and workerd.
    coverage: {
      provider: 'v8',
      include: ['shared/**/*.ts', 'workers/**/*.{ts,tsx}'],
      exclude: ['**/*.test.ts', '**/*.d.ts'],
      reporter: ['text-summary', 'json-summary'],
      reportsDirectory: 'coverage',
      thresholds: Object.fromEntries(SERVICE_LAYER.map((glob) => [glob, { lines: 95 }])),
    },
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['shared/**/*.test.ts', 'scripts/**/*.test.ts', 'bench/**/*.test.ts', 'test/node/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/admin/**/*.test.ts', 'examples/**/*.test.ts', 'test/deploy/**/*.test.ts', 'test/cron/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/metrics/**/*.test.ts', 'test/dashboard/**/*.test.ts', 'test/browser/**/*.test.ts'],
          globalSetup: ['test/setup/database.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: './wrangler.toml', environment: 'evaluate' } })],
        test: {
          name: 'workers',
          include: ['test/workers/**/*.test.ts'],
        },
      },
    ],
  },
});
