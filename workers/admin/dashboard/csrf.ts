import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../env';
import { sameSecret } from '../../../shared/tokens';
import { base64url, cookieName, cookieOptions, hmac, randomId, sessionOf, sessionSecret, type DashEnv } from './session';
import { renderError } from './layout';

/**
 * CSRF protection for every dashboard form. Signed-in forms carry a token bound to the session id by
 * HMAC (`csrf:<sid>`); the sign-in form, which has no session yet, carries one bound to a random
 * pre-session cookie (`signin:<nonce>`). A POST whose token is missing or wrong, or whose `Origin`
 * is another site, is refused with 403 before its handler runs. SameSite=Strict cookies are the
 * second line of defence, not the only one.
 */

export const CSRF_FIELD = '_csrf';

export async function csrfToken(c: Context<DashEnv>): Promise<string> {
  return base64url(await hmac(await sessionSecret(c), `csrf:${sessionOf(c).sid}`));
}

/** Token for the sign-in form; sets the pre-session nonce cookie when there is none. */
export async function signInCsrfToken(c: Context<AppEnv>): Promise<string> {
  const name = cookieName(c, 'cmf_signin');
  let nonce = getCookie(c, name);
  if (!nonce || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) {
    nonce = randomId();
    setCookie(c, name, nonce, cookieOptions(c, 60 * 60));
  }
  return base64url(await hmac(await sessionSecret(c), `signin:${nonce}`));
}

function foreignOrigin(c: Context): boolean {
  const origin = c.req.header('Origin');
  return origin !== undefined && origin !== 'null' && origin !== new URL(c.req.url).origin;
}

async function presented(c: Context): Promise<string> {
  const form = await c.req.parseBody();
  const value = form[CSRF_FIELD];
  return typeof value === 'string' ? value : '';
}

function refuse(c: Context<AppEnv>): Promise<Response> {
  return renderError(c, 403, 'This form was not accepted (missing or invalid CSRF token). Reload the page and try again.');
}

/** For forms behind `requireSession`. */
export const verifyCsrf: MiddlewareHandler<DashEnv> = async (c, next) => {
  const given = await presented(c);
  if (foreignOrigin(c) || given === '' || !(await sameSecret(given, await csrfToken(c)))) return refuse(c);
  await next();
};

/** For the sign-in form. */
export const verifySignInCsrf: MiddlewareHandler<AppEnv> = async (c, next) => {
  const given = await presented(c);
  const nonce = getCookie(c, cookieName(c, 'cmf_signin'));
  const expected = nonce ? base64url(await hmac(await sessionSecret(c), `signin:${nonce}`)) : null;
  if (foreignOrigin(c) || given === '' || expected === null || !(await sameSecret(given, expected))) return refuse(c);
  await next();
};
