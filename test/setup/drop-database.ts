import type { Pool } from '@neondatabase/serverless';

/**
 * Drops a throw-away test database. Its clients have ended, but their server backends may still be
 * closing; `WITH (FORCE)` would send those a FATAL that surfaces as an unhandled error in a client
 * that is already going away, so wait (briefly) for them to leave first.
 */
export async function dropTestDatabase(admin: Pool, name: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
    if (rows[0]!.n === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
