import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { problem } from '../../../http/problem';
import { checkFlag, checkOptions, type FlagMiddlewareOptions } from '../request-flags';

/**
 * Lets the request through only while flag `key` is active for the caller's org/user; otherwise
 * 403 `application/problem+json` "Feature <key> is not enabled for this organization". Fails closed:
 * when the flag cannot be evaluated the answer is the same 403, never a 500. The request's memoised
 * client is left in `c.var.flags` for later checks.
 *
 * @example
 * ```ts
 * const flags = { resolveClient: (c) => createFlagClient({ kv: c.env.FLAGS_KV }), context: (c) => ({ orgId: c.get('orgId'), userId: c.get('userId') }) };
 * app.post('/campaigns', requireFeature('campaign.creation.enabled', flags), (c) => c.json(created, 201));
 * ```
 */
export function requireFeature(key: string, options: FlagMiddlewareOptions): MiddlewareHandler {
  checkOptions(options, 'requireFeature');
  return async function requireFeature(c, next) {
    const active = await checkFlag(c, options, (flags, ctx) => flags.isActive(key, ctx));
    if (!active) {
      const detail = `Feature ${key} is not enabled for this organization`;
      // `message` too, for apps whose onError builds its own problem from status + message.
      throw new HTTPException(403, { message: detail, res: problem(c, 403, { detail, slug: 'feature-disabled' }) });
    }
    await next();
  };
}
