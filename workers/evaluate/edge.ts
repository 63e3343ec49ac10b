import type { MiddlewareHandler } from 'hono';
import type { Answer } from './answer';
import type { AppEnv } from './env';

/**
 * What every answer of the evaluate Worker carries, whichever way it was produced (Hono app or hot
 * path): the request id (`X-Request-Id`, the caller's or a new UUID), `Cache-Control` unless the route
 * chose one, and `Vary` on the key headers and `Origin`. An answer to a request with `Origin` also
 * carries CORS headers (`*`, no credentials: keys travel in headers the browser is allowed to send).
 * Browsers send `Origin` on every cross-origin request and read CORS headers only on those, so a
 * server-side caller (SDK, curl), the common one, is not sent headers it has no use for; `Vary`
 * names `Origin` because those headers depend on it.
 */

/**
 * Answers may be kept by the browser that asked (revalidated each time, ETag/304 on the bulk route),
 * never by shared caches, so nothing outlives the snapshot age.
 */
const CACHE_CONTROL = 'private, max-age=0, must-revalidate';
const VARY = 'Authorization, X-API-Key, Origin';
const CORS_EXPOSE_HEADERS = 'ETag,X-Request-Id,Retry-After';

const CORS_PREFLIGHT: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS,
  'Access-Control-Max-Age': '600',
  'Access-Control-Allow-Methods': 'GET,POST,OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization,X-API-Key,Content-Type,If-None-Match,X-Request-Id',
  Vary: 'Access-Control-Request-Headers',
};

/** Whether the answer to a request carries CORS headers: the request has `Origin` (it came from a browser). */
export function wantsCors(headers: Headers): boolean {
  return headers.has('Origin');
}

/** The common headers of an answer except the request id; `cacheControl`: the one the route chose. */
function commonHeaders(cors: boolean, cacheControl: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'Cache-Control': cacheControl ?? CACHE_CONTROL, Vary: VARY };
  if (cors) {
    headers['Access-Control-Allow-Origin'] = '*';
    headers['Access-Control-Expose-Headers'] = CORS_EXPOSE_HEADERS;
  }
  return headers;
}

/** A caller's `X-Request-Id` is kept when it is short and plain (hono/request-id's rule). */
const REQUEST_ID_MAX = 255;
const REQUEST_ID_REFUSED = /[^\w\-=]/;

export function requestIdOf(headers: Headers): string {
  const id = headers.get('X-Request-Id');
  return !id || id.length > REQUEST_ID_MAX || REQUEST_ID_REFUSED.test(id) ? crypto.randomUUID() : id;
}

/**
 * The Hono side: one middleware that touches the final response once (the headers of `render`,
 * without hono's requestId + cors middlewares' placeholder response and header copying). Preflights
 * are answered here with 204.
 */
export const edge: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = requestIdOf(c.req.raw.headers);
  c.set('requestId', id);
  if (c.req.method === 'OPTIONS') {
    return new Response(null, { status: 204, statusText: 'No Content', headers: { 'X-Request-Id': id, ...CORS_PREFLIGHT } });
  }
  const cors = wantsCors(c.req.raw.headers);
  await next();
  const headers = c.res.headers;
  headers.set('X-Request-Id', id);
  const common = commonHeaders(cors, headers.get('Cache-Control') ?? undefined);
  for (const name in common) headers.set(name, common[name]!);
};

/** The headers of a plain JSON answer, without and with CORS, built once: a Response copies them, then gets its request id. */
const PLAIN_JSON_HEADERS = new Headers({ 'Content-Type': 'application/json', ...commonHeaders(false, undefined) });
const PLAIN_JSON_CORS_HEADERS = new Headers({ 'Content-Type': 'application/json', ...commonHeaders(true, undefined) });

/**
 * The hot path's side: an answer as a Response with the headers the middleware would give it, built
 * in one go. A plain JSON answer (the common one) copies a prepared header list, which costs workerd
 * less than reading an object's properties.
 */
export function render(answer: Answer, requestId: string, cors: boolean): Response {
  const body = answer.body;
  if (answer.headers === undefined && answer.contentType === undefined && 'json' in body) {
    const res = new Response(JSON.stringify(body.json), { status: answer.status, headers: cors ? PLAIN_JSON_CORS_HEADERS : PLAIN_JSON_HEADERS });
    res.headers.set('X-Request-Id', requestId);
    return res;
  }
  const headers: Record<string, string> = {
    ...answer.headers,
    'X-Request-Id': requestId,
    ...commonHeaders(cors, answer.headers?.['Cache-Control']),
  };
  let text: string | null;
  if ('text' in body) {
    text = body.text;
    if (text !== null) headers['Content-Type'] = answer.contentType ?? 'application/json';
  } else {
    text = JSON.stringify(body.json);
    headers['Content-Type'] = answer.contentType ?? 'application/json';
  }
  return new Response(text, { status: answer.status, headers });
}
