import type { Pool, QueryResultRow } from '@neondatabase/serverless';
import type { Context } from 'hono';
import { causes, createPool, withRls, type Db, type RlsRole } from '../../shared/db';
import type { Caller, Role } from './auth';
import type { AdminConfig, AppEnv } from './env';

/** Thrown when Postgres cannot be reached; `onError` answers 503. */
export class DbUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DbUnavailableError';
  }
}

const CONNECT_TIMEOUT_MS = 5_000;
const QUERY_TIMEOUT_MS = 5_000;

/** The admin roles as the RLS policies name them; `evaluate` never reaches the database. */
export function rlsRole(role: Role): RlsRole {
  switch (role) {
    case 'system_admin':
      return 'system';
    case 'org_admin':
      return 'org_admin';
    case 'viewer':
      return 'viewer';
    case 'evaluate':
      throw new Error('evaluate keys have no database context');
  }
}

export function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DbUnavailableError(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One request's database: a Neon pool created inside the request (Workers cannot share I/O objects
 * across requests), one connection at most, ended when the request ends.
 */
export class RequestDb {
  #pool: Pool | undefined;
  #connected: Promise<void> | undefined;

  constructor(private readonly config: AdminConfig) {}

  get pool(): Pool {
    const wsProxy = this.config.DATABASE_WS_PROXY;
    this.#pool ??= createPool({
      databaseUrl: this.config.DATABASE_URL,
      ...(wsProxy ? { wsProxy } : {}),
      // A request works sequentially; one connection also keeps a PGlite bridge from deadlocking.
      max: 1,
    });
    return this.#pool;
  }

  /** Opens the connection once; a failure here means "database unavailable", never a 500. */
  async connect(timeoutMs = CONNECT_TIMEOUT_MS): Promise<Pool> {
    this.#connected ??= withTimeout(
      this.pool.connect().then((client) => client.release()),
      timeoutMs,
      'connecting to the database',
    ).catch((error: unknown) => {
      this.#connected = undefined;
      throw error instanceof DbUnavailableError
        ? error
        : new DbUnavailableError('cannot connect to the database', { cause: error });
    });
    await this.#connected;
    return this.pool;
  }

  /**
   * One statement outside an RLS transaction, bounded like the connection: for the SECURITY DEFINER
   * functions that run before there is a caller (token lookup, dashboard session checks).
   */
  async query<R extends QueryResultRow>(text: string, params: unknown[], what: string): Promise<R[]> {
    const pool = await this.connect();
    return (await withTimeout(pool.query<R>(text, params), QUERY_TIMEOUT_MS, what)).rows;
  }

  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool) await pool.end().catch(() => undefined);
  }
}

/** The reason of a change: the `X-Change-Reason` header wins over a `reason` body field. */
export function changeReason(c: Context<AppEnv>, bodyReason?: string | null): string | null {
  const header = c.req.header('X-Change-Reason')?.trim();
  return header ? header.slice(0, 500) : (bodyReason ?? null);
}

export interface TransactionOptions {
  /** The body's `reason` field, if the route has one. */
  reason?: string | null;
  /** Overrides the caller (the token lookup runs before there is one). */
  caller?: Caller;
}

/**
 * Runs the request's database work in ONE RLS transaction as the caller: its org, RLS role and actor,
 * plus the request id and change reason that the audit triggers copy into every audit row.
 */
export async function inTransaction<T>(
  c: Context<AppEnv>,
  work: (tx: Db) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const caller = options.caller ?? c.get('caller');
  const pool = await c.get('db').connect();
  return withRls(
    pool,
    {
      orgId: caller.role === 'system_admin' ? null : caller.orgId,
      role: rlsRole(caller.role),
      actor: caller.actor,
      requestId: c.get('requestId'),
      reason: changeReason(c, options.reason),
    },
    work,
  );
}

const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '3D000', '28P01', '28000']);
const UNAVAILABLE_MESSAGE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|WebSocket|socket hang up|Connection terminated|connection (?:was )?closed|timed out|Client has encountered a connection error/i;

export function isDbUnavailable(err: unknown): boolean {
  for (const e of causes(err)) {
    if (e instanceof DbUnavailableError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('08') || UNAVAILABLE_CODES.has(code))) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
  }
  return false;
}
