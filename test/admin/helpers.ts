// Shared by the admin API tests: the real app over the run's database (test/setup/database.ts) and
// Miniflare's KV, called through `app.request()`.
import { randomUUID } from 'node:crypto';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { afterAll, inject } from 'vitest';
import { createPool } from '../../shared/db/client';
import { useNodeWebSocket } from '../../shared/db/node';
import { withRls, type RlsContext } from '../../shared/db/rls';
import type { Db } from '../../shared/db';
import { createAdminApp } from '../../workers/admin/app';
import type { Env } from '../../workers/admin/env';

useNodeWebSocket();

export const database = inject('database');
export const BOOTSTRAP_TOKEN = 'test-bootstrap-token-0123456789abcdef';

export function unique(prefix: string): string {
  return `${prefix}${randomUUID().slice(0, 8)}`;
}

export interface Harness {
  app: ReturnType<typeof createAdminApp>;
  env: Env;
  kv: KVNamespace;
  mf: Miniflare;
  close(): Promise<void>;
}

/** One app + one Miniflare KV namespace per test file. */
export async function startHarness(overrides: Partial<Env> = {}): Promise<Harness> {
  // Miniflare 5 takes the familiar (v4-style) options through its converter.
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      modules: true,
      script: 'export default { fetch() { return new Response() } }',
      kvNamespaces: ['FLAGS_KV'],
    } as never),
  );
  const kv = (await mf.getKVNamespace('FLAGS_KV')) as unknown as KVNamespace;
  const env: Env = {
    DATABASE_URL: database.databaseUrl,
    DATABASE_WS_PROXY: database.wsProxy,
    FLAGS_ADMIN_TOKEN: BOOTSTRAP_TOKEN,
    FLAGS_KV: kv,
    SNAPSHOT_MAX_AGE_MS: '1000',
    WEBHOOKS_ALLOW_LOOPBACK: '1', // the webhook tests receive on this machine
    ...overrides,
  };
  return { app: createAdminApp(), env, kv, mf, close: () => mf.dispose() };
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

export interface CallOptions {
  token?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
  env?: Env;
}

export async function call(h: Harness, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers = new Headers(options.headers);
  const token = options.token === undefined ? BOOTSTRAP_TOKEN : options.token;
  if (token !== null) headers.set('Authorization', `Bearer ${token}`);
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers.set('Content-Type', 'application/json');
  }
  const res = await h.app.request(path, { method, headers, body }, options.env ?? h.env);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // leave as text
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** A pool for direct database checks; PGlite serves one connection at a time, so it idles out fast. */
export function checkPool() {
  return database.engine === 'pglite'
    ? createPool({ databaseUrl: database.databaseUrl, wsProxy: database.wsProxy, max: 1, idleTimeoutMillis: 20 })
    : createPool({ databaseUrl: database.databaseUrl, wsProxy: database.wsProxy, max: 2, idleTimeoutMillis: 500 });
}

/** Runs `work` in an RLS context directly (no app in between) and closes the pool. */
export async function asContext<T>(context: RlsContext, work: (tx: Db) => Promise<T>): Promise<T> {
  const pool = checkPool();
  try {
    return await withRls(pool, context, work);
  } finally {
    await pool.end();
  }
}

/** Raw SQL as the connecting (owner) user: audit rows, token rows. */
export async function sql<T = Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
  const pool = checkPool();
  try {
    return (await pool.query(text, params)).rows as T[];
  } finally {
    await pool.end();
  }
}

export interface RoleTokens {
  orgId: string;
  otherOrgId: string;
  orgAdmin: string;
  otherOrgAdmin: string;
  viewer: string;
  evaluate: string;
}

/** Tokens for every role, minted through the API by the bootstrap system admin. */
export async function mintRoleTokens(h: Harness): Promise<RoleTokens> {
  const orgId = unique('org-');
  const otherOrgId = unique('org-');
  const mint = async (role: string, org?: string): Promise<string> => {
    const res = await call(h, 'POST', '/api/tokens', { body: { name: unique(`${role}-`), role, ...(org ? { orgId: org } : {}) } });
    if (res.status !== 201) throw new Error(`mint ${role}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.token as string;
  };
  return {
    orgId,
    otherOrgId,
    orgAdmin: await mint('org_admin', orgId),
    otherOrgAdmin: await mint('org_admin', otherOrgId),
    viewer: await mint('viewer', orgId),
    evaluate: await mint('evaluate', orgId),
  };
}

/**
 * The usual start of an admin test file, at its top level: `const { h, t } = await adminTestFile();`
 * gives the file one harness and one set of role tokens, and closes the harness after its tests.
 */
export async function adminTestFile(): Promise<{ h: Harness; t: RoleTokens }> {
  const h = await startHarness();
  afterAll(() => h.close());
  return { h, t: await mintRoleTokens(h) };
}

/** Creates a flag as system admin and returns its key. */
export async function createFlag(h: Harness, body: Record<string, unknown> = {}): Promise<string> {
  const key = (body.key as string | undefined) ?? unique('test.flag-');
  const res = await call(h, 'POST', '/api/flags', { body: { key, ...body } });
  if (res.status !== 201) throw new Error(`create flag: ${res.status} ${JSON.stringify(res.body)}`);
  return key;
}

/** A KV whose writes fail, as when KV is unreachable. Reads still work. */
export function failingKv(kv: KVNamespace): KVNamespace {
  return new Proxy(kv, {
    get(target, prop) {
      if (prop === 'put' || prop === 'delete') return async () => Promise.reject(new Error('KV unavailable'));
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

