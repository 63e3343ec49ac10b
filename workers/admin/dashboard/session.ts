import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie';
import { callerForTokenHash } from '../auth';
import type { AppEnv } from '../env';
import { ApiError } from '../problem';
import { sha256Hex } from '../../../shared/tokens';

/**
 * Dashboard sessions. The cookie is HMAC-signed (hono's signed cookies) and holds
 * `{sid, ref, exp}`: a random session id (the CSRF tokens are bound to it), the SHA-256 of the token
 * that signed in (never the token) and an expiry. Every request resolves `ref` through the same auth
 * code as the API (`callerForTokenHash`), so a revoked token or a changed role takes effect at once.
 */

/** The dashboard's Hono env is the admin app's; the session rides beside the request (`sessionOf`). */
export type DashEnv = AppEnv;

const sessions = new WeakMap<Request, Session>();

/** The signed-in session of a request that passed `requireSession`. */
export function sessionOf(c: Context<AppEnv>): Session {
  const session = sessions.get(c.req.raw);
  if (!session) throw new ApiError(401, 'Sign in first.');
  return session;
}

export const SESSION_TTL_SECONDS = 8 * 60 * 60;

export interface Session {
  sid: string;
  ref: string;
  exp: number;
}

const secrets = new WeakMap<object, Promise<Uint8Array>>();

/** `SESSION_SECRET`, else a key derived from the bootstrap token (local stacks); none → 503. */
export function sessionSecret(c: Context<AppEnv>): Promise<Uint8Array> {
  const config = c.get('config');
  let secret = secrets.get(config);
  if (!secret) {
    secret = (async () => {
      if (config.SESSION_SECRET) return new TextEncoder().encode(config.SESSION_SECRET);
      if (!config.FLAGS_ADMIN_TOKEN) {
        throw new ApiError(503, { detail: 'The dashboard needs SESSION_SECRET (or FLAGS_ADMIN_TOKEN) to sign sessions.', slug: 'misconfigured' });
      }
      return hmac(new TextEncoder().encode(config.FLAGS_ADMIN_TOKEN), 'cmis-flags dashboard session key v1');
    })();
    secrets.set(config, secret);
  }
  return secret;
}

export async function hmac(key: Uint8Array, message: string): Promise<Uint8Array> {
  const cryptoKey = await crypto.subtle.importKey('raw', key as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, new TextEncoder().encode(message)));
}

export function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function randomId(bytes = 18): string {
  const buffer = new Uint8Array(bytes);
  crypto.getRandomValues(buffer);
  return base64url(buffer);
}

export const isHttps = (c: Context): boolean => new URL(c.req.url).protocol === 'https:';

/** `__Host-` pins the cookie to this origin and path `/`; browsers accept it only over https. */
export const cookieName = (c: Context, name: string): string => (isHttps(c) ? `__Host-${name}` : name);

export function cookieOptions(c: Context, maxAge: number) {
  return { path: '/', httpOnly: true, secure: isHttps(c), sameSite: 'Strict' as const, maxAge };
}

export async function startSession(c: Context<AppEnv>, token: string): Promise<Session> {
  const session: Session = { sid: randomId(), ref: await sha256Hex(token), exp: Date.now() + SESSION_TTL_SECONDS * 1000 };
  const value = base64url(new TextEncoder().encode(JSON.stringify(session)));
  await setSignedCookie(c, cookieName(c, 'cmf_session'), value, await sessionSecret(c), cookieOptions(c, SESSION_TTL_SECONDS));
  return session;
}

/** Deletes the session cookie in this browser (a copy elsewhere stays valid: see `signOutSession`). */
export function endSession(c: Context<AppEnv>): void {
  deleteCookie(c, cookieName(c, 'cmf_session'), { path: '/', secure: isHttps(c) });
}

/**
 * Signing out: the session id is recorded as ended until the cookie would have expired
 * (cmis.end_session, migration 0007), so a copy of the cookie taken before (another tab, a stolen
 * one) stops working too; then the cookie is deleted here.
 */
export async function signOutSession(c: Context<AppEnv>, session: Session): Promise<void> {
  endSession(c);
  await c.get('db').query('SELECT cmis.end_session($1, $2)', [session.sid, new Date(session.exp)], 'sign-out');
}

async function sessionEnded(c: Context<AppEnv>, sid: string): Promise<boolean> {
  const [row] = await c.get('db').query<{ ended: boolean }>('SELECT cmis.session_ended($1) AS ended', [sid], 'session check');
  return row?.ended === true;
}

export async function readSession(c: Context<AppEnv>): Promise<Session | null> {
  const value = await getSignedCookie(c, await sessionSecret(c), cookieName(c, 'cmf_session'));
  if (!value) return null;
  try {
    const json = atob(value.replace(/-/g, '+').replace(/_/g, '/'));
    const session = JSON.parse(json) as Partial<Session>;
    if (typeof session.sid !== 'string' || typeof session.ref !== 'string' || typeof session.exp !== 'number') return null;
    if (session.exp <= Date.now()) return null;
    return session as Session;
  } catch {
    return null;
  }
}

const SELF = 'https://self.invalid';

/**
 * A path on this site to return to after sign-in, else `/`. Browsers drop tabs and newlines from a
 * URL and read `\` as `/`, so `/<TAB>/evil.example` would leave the site: such characters are refused
 * outright, and what is left must resolve to this origin (no `//host`, no absolute URL). Resolving
 * drops dot segments, so `/.//evil.example` comes out as the path `//evil.example`, which a browser
 * reads as another host: a resolved path must not start with `//` either.
 */
export function safeNext(next: string | undefined | null): string {
  if (!next || !next.startsWith('/') || /[\x00-\x20\x7f\\]/.test(next)) return '/';
  let url: URL;
  try {
    url = new URL(next, SELF);
  } catch {
    return '/';
  }
  return url.origin === SELF && !url.pathname.startsWith('//') ? url.pathname + url.search : '/';
}

function toSignIn(c: Context<AppEnv>): Response {
  const url = new URL(c.req.url);
  const next = c.req.method === 'GET' ? `?next=${encodeURIComponent(url.pathname + url.search)}` : '';
  return c.redirect(`/signin${next}`, 303);
}

/**
 * Pages and forms behind sign-in: a valid session sets `caller` (exactly as the API's token
 * middleware does) and `session`; anything else goes to the sign-in page.
 */
export const requireSession: MiddlewareHandler<DashEnv> = async (c, next) => {
  const session = await readSession(c);
  if (!session) return toSignIn(c);
  if (await sessionEnded(c, session.sid)) {
    endSession(c);
    return toSignIn(c);
  }
  try {
    c.set('caller', await callerForTokenHash(c, session.ref));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      endSession(c);
      return toSignIn(c);
    }
    throw error;
  }
  sessions.set(c.req.raw, session);
  await next();
};
