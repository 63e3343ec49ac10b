// npm run db:migrate — apply migrations/ to DATABASE_URL, or to the embedded PGlite in .data/pglite.
import { runWithDatabase } from './db/cli';
import { migrate } from './db/migrate';

await runWithDatabase('db:migrate', async (pool) => {
  const { applied, skipped } = await migrate(pool, { log: (line) => console.log(line) });
  console.log(`db:migrate: ${applied.length} applied, ${skipped.length} already applied`);
});
