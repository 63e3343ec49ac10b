import type { Context } from 'hono';
import { createFlagClient, type FlagClient } from '../../../shared/sdk';
import { waitUntilOf, type FlagMiddlewareOptions } from '../../../shared/sdk/hono';
import type { Env } from './env';

function timeoutOf(env: Env): number | undefined {
  const ms = Number(env.FLAGS_TIMEOUT_MS);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

/**
 * The flag client for these bindings: KV (local) unless the service binding is asked for. With the
 * request's `waitUntil`, the local client re-reads snapshot layers behind answers, so steady traffic
 * never waits for KV.
 */
export function flagClientFor(env: Env, waitUntil?: (promise: Promise<unknown>) => void): FlagClient {
  const onError = (error: Error, info: { key: string | null; transport: string }) =>
    console.warn(JSON.stringify({ at: 'campaigns.flags', ...info, error: error.message }));
  const common = { onError, timeoutMs: timeoutOf(env) };
  if (env.FLAGS_TRANSPORT === 'service') {
    if (!env.EVALUATE || !env.FLAGS_EVAL_KEY) throw new Error('FLAGS_TRANSPORT=service needs the EVALUATE binding and FLAGS_EVAL_KEY');
    return createFlagClient({ service: env.EVALUATE, apiKey: env.FLAGS_EVAL_KEY, ...common });
  }
  if (!env.FLAGS_KV) throw new Error('the FLAGS_KV binding is missing');
  return createFlagClient({ kv: env.FLAGS_KV, waitUntil, ...common });
}

/** What requireFeature / platformGuard need: the client from the bindings, org and user from the request. */
export const flagOptions: FlagMiddlewareOptions = {
  resolveClient: (c: Context) => flagClientFor(c.env as Env, waitUntilOf(c)),
  context: (c: Context) => ({ orgId: c.get('orgId' as never), userId: c.get('userId' as never) }),
};
