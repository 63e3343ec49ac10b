// npm run db:seed — insert the missing default flags (shared/config.ts); never overwrites.
import { runWithDatabase } from './db/cli';
import { seedDefaults } from './db/seed';

await runWithDatabase('db:seed', async (pool) => {
  const { inserted } = await seedDefaults(pool);
  console.log(`db:seed: ${inserted.length} flag(s) inserted${inserted.length ? `: ${inserted.join(', ')}` : ''}`);
});
