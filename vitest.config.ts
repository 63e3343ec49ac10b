import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// Two kinds of tests:
// - "node": unit tests beside the code (shared/**, scripts/**, bench/**) and Node-side integration tests in test/node.
// - "workers": Worker tests (test/workers) inside workerd, with the bindings of wrangler.toml [env.evaluate].
export default defineConfig({
  test: {
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
