import { z } from 'zod';
import type { Caller } from './auth';
import type { RequestDb } from './db';

/** Bindings of the admin Worker (wrangler.toml `[env.admin]` plus secrets). */
export interface Env {
  DATABASE_URL: string;
  /** Local stack only: host:port/path of the WebSocket→TCP bridge in front of Postgres (same name in every Worker). */
  DATABASE_WS_PROXY?: string;
  /** Bootstrap system-admin token; every other token lives hashed in `cmis.api_tokens`. */
  FLAGS_ADMIN_TOKEN?: string;
  FLAGS_KV: KVNamespace;
  /** Signs dashboard session cookies; without it a key is derived from FLAGS_ADMIN_TOKEN (local use). */
  SESSION_SECRET?: string;
  EVENTS?: Queue;
  SNAPSHOT_MAX_AGE_MS?: string;
  /** Reported by `GET /api/health`; set by the deploy, else the package version. */
  VERSION?: string;
  /**
   * `1`: webhooks may point at this machine (localhost, 127.0.0.0/8, [::1]); the local stack and the
   * tests set it. Unset (production): refused, so a webhook cannot reach the Workers' own local
   * endpoints or other services on their host and read their answers back through its last error.
   */
  WEBHOOKS_ALLOW_LOOPBACK?: string;
}

const kvNamespace = z.custom<KVNamespace>(
  (v) => typeof v === 'object' && v !== null && typeof (v as KVNamespace).get === 'function',
  'must be a KV namespace binding',
);

export const zEnv = z.object({
  DATABASE_URL: z.string().min(1),
  DATABASE_WS_PROXY: z.string().min(1).optional(),
  FLAGS_ADMIN_TOKEN: z.string().min(16).optional(),
  FLAGS_KV: kvNamespace,
  SESSION_SECRET: z.string().min(32).optional(),
  EVENTS: z.custom<Queue>((v) => typeof v === 'object' && v !== null).optional(),
  SNAPSHOT_MAX_AGE_MS: z.coerce.number().int().positive().default(1000),
  VERSION: z.string().optional(),
});

export type AdminConfig = z.output<typeof zEnv>;

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    config: AdminConfig;
    caller: Caller;
    db: RequestDb;
  };
}
