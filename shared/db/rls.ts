import type { Pool, PoolClient } from '@neondatabase/serverless';
import { drizzle, type NeonDatabase } from 'drizzle-orm/neon-serverless';
import { schema } from './schema';

/**
 * The RLS vocabulary (see migrations/0002_roles_rls.sql):
 * - `system`    reads and writes everything (admin API with a system_admin token, cron, seed)
 * - `org_admin` reads its org's rows and the system rows, writes only its org's rows
 * - `viewer`    reads like org_admin, writes nothing
 */
export type RlsRole = 'system' | 'org_admin' | 'viewer';

export interface RlsContext {
  /** Required for org_admin and viewer; ignored by the policies for system. */
  orgId: string | null;
  role: RlsRole;
  /** Who acts; lands in every audit row. Writes to flags/overrides without one are rejected. */
  actor: string;
  requestId?: string | null;
  reason?: string | null;
}

export type Db = NeonDatabase<typeof schema>;

const ROLES: ReadonlySet<string> = new Set<RlsRole>(['system', 'org_admin', 'viewer']);

/**
 * Longest a statement waits for a row lock before its transaction fails (SQLSTATE 55P03): a writer
 * stuck behind another (a publisher holds a layer's row until its KV put settles, a bulk republish
 * holds up to 200 layers through its puts) answers instead of hanging; the admin API says 503
 * (retry), the cron retries the change on its next pass. Longer than a publish holds a layer's row
 * when KV hangs: one put deadline (KV_PUT_DEADLINE_MS), since a bulk chunk stops trying after its
 * first late put.
 */
export const LOCK_TIMEOUT_MS = 30_000;

/**
 * Runs `work` in one transaction on one pooled connection, as the non-owner role `cmis_app`
 * with the RLS context set (transaction-local, so nothing leaks to the next user of the
 * connection). Commits when `work` resolves, rolls back when it throws, always releases.
 * `work` gets a drizzle instance bound to that connection and the raw client.
 *
 * @example
 * const flags = await withRls(pool, { orgId: null, role: 'system', actor: 'cron' }, (tx) =>
 *   tx.select().from(featureFlags));
 */
export async function withRls<T>(
  pool: Pool,
  context: RlsContext,
  work: (tx: Db, client: PoolClient) => Promise<T>,
): Promise<T> {
  assertContext(context);
  const client = await pool.connect();
  let connectionBroken = false;
  try {
    await client.query('BEGIN; SET LOCAL ROLE cmis_app');
    await client.query(
      `SELECT set_config('app.role', $1, true), set_config('app.org_id', $2, true),
              set_config('app.actor', $3, true), set_config('app.request_id', $4, true),
              set_config('app.reason', $5, true), set_config('lock_timeout', $6, true)`,
      [context.role, context.orgId ?? '', context.actor, context.requestId ?? '', context.reason ?? '', `${LOCK_TIMEOUT_MS}ms`],
    );
    const result = await work(drizzle(client, { schema }), client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    try {
      await client.query('ROLLBACK');
    } catch {
      connectionBroken = true;
    }
    throw error;
  } finally {
    // a connection whose state is unknown is destroyed rather than handed to the next caller
    client.release(connectionBroken);
  }
}

function assertContext(context: RlsContext): void {
  if (!ROLES.has(context.role)) throw new TypeError(`withRls: unknown role ${String(context.role)}`);
  if (context.role !== 'system' && !context.orgId) {
    throw new TypeError(`withRls: role ${context.role} needs an orgId`);
  }
  if (!context.actor) throw new TypeError('withRls: actor is required');
}
