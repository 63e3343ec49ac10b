import { defineConfig } from 'vitest/config';

// Two kinds of tests:
// - "node": unit tests beside the code (shared/**, scripts/**) and Node-side integration tests in test/node.
// - worker tests (test/workers) run inside workerd; their project is added when the Workers exist.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          environment: 'node',
          include: ['shared/**/*.test.ts', 'scripts/**/*.test.ts', 'test/node/**/*.test.ts', 'test/e2e/**/*.test.ts', 'test/admin/**/*.test.ts'],
          globalSetup: ['test/setup/database.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
