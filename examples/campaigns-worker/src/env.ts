import type { FlagVariables } from '../../../shared/sdk/hono';

/** Bindings (wrangler.toml). Either transport works; the KV one is the fastest. */
export interface Env {
  /** The flags' KV namespace (same id as the flags Workers'): local evaluation in this isolate. */
  FLAGS_KV?: KVNamespace;
  /** Service binding to the evaluate Worker. */
  EVALUATE?: Fetcher;
  /** Evaluate key for the service binding (a secret in production). */
  FLAGS_EVAL_KEY?: string;
  /** `local` (default) or `service`. */
  FLAGS_TRANSPORT?: string;
  /** Upper bound of one flag lookup, ms; default the SDK's 500. */
  FLAGS_TIMEOUT_MS?: string;
}

export interface AppEnv {
  Bindings: Env;
  Variables: FlagVariables & { orgId: string; userId: string | undefined };
}
