import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { PLATFORMS } from '../../../config';
import { problem } from '../../../http/problem';
import { checkFlag, checkOptions, type FlagMiddlewareOptions } from '../request-flags';

const NOT_AVAILABLE = 'Platform not available';

export interface PlatformGuardOptions extends FlagMiddlewareOptions {
  /** Route parameter holding the platform; default `platform`. */
  param?: string;
  /** Platforms that exist; default shared/config PLATFORMS. Others answer 404. */
  platforms?: readonly string[];
}

/**
 * Guards platform routes such as OAuth redirects: 404 problem "Platform not available" for a platform
 * that does not exist, 403 problem "Platform not available" while `platform.<p>.enabled` is off for the
 * caller's org (or cannot be evaluated: fail closed).
 *
 * @example
 * ```ts
 * app.get('/oauth/:platform/redirect', platformGuard({ param: 'platform', resolveClient: (c) => createFlagClient({ kv: c.env.FLAGS_KV }) }), (c) =>
 *   c.redirect(authorizeUrl(c.req.param('platform'))),
 * );
 * ```
 */
export function platformGuard(options: PlatformGuardOptions): MiddlewareHandler {
  checkOptions(options, 'platformGuard');
  const param = options.param ?? 'platform';
  const platforms = options.platforms ?? PLATFORMS;
  return async function platformGuard(c, next) {
    const platform = c.req.param(param);
    if (platform === undefined || !platforms.includes(platform)) {
      throw new HTTPException(404, { message: NOT_AVAILABLE, res: problem(c, 404, { detail: NOT_AVAILABLE, slug: 'platform-not-available' }) });
    }
    const enabled = await checkFlag(c, options, (flags, ctx) => flags.isPlatformEnabled(platform, ctx));
    if (!enabled) {
      throw new HTTPException(403, { message: NOT_AVAILABLE, res: problem(c, 403, { detail: NOT_AVAILABLE, slug: 'platform-not-available' }) });
    }
    await next();
  };
}
