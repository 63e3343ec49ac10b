import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { ApiError, problem } from '../../shared/http/problem';
import { requireEvaluateKey } from './auth';
import type { AppEnv } from './env';
import { flushMetricsAfter } from './metrics';
import { ofrepRoutes } from './routes/ofrep';
import { v1Routes } from './routes/v1';
import { createRuntime, type EvaluateRuntimeOptions } from './runtime';

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Answers may be kept by the browser that asked (revalidated each time, ETag/304 on the bulk route),
 * never by shared caches, so nothing outlives the snapshot age.
 */
const CACHE_CONTROL = 'private, max-age=0, must-revalidate';
const VARY = 'Authorization, X-API-Key';

/** CORS: any origin, no credentials (keys travel in headers the browser is allowed to send). */
const CORS_EXPOSE_HEADERS = 'ETag,X-Request-Id,Retry-After';
const CORS_PREFLIGHT: Record<string, string> = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': CORS_EXPOSE_HEADERS,
  'Access-Control-Max-Age': '600',
  'Access-Control-Allow-Methods': 'GET,POST,OPTIONS',
  'Access-Control-Allow-Headers': 'Authorization,X-API-Key,Content-Type,If-None-Match,X-Request-Id',
  Vary: 'Access-Control-Request-Headers',
};

/** A caller's `X-Request-Id` is kept when it is short and plain (hono/request-id's rule). */
const REQUEST_ID_MAX = 255;
const REQUEST_ID_REFUSED = /[^\w\-=]/;

/**
 * Everything every answer gets, in one middleware that touches the final response once: the request
 * id (`X-Request-Id`, the caller's or a new UUID), CORS (`*`; preflights answered here with 204),
 * `Cache-Control` unless the route chose one, and `Vary` on the key headers. Same headers as
 * hono's requestId + cors middlewares and the former noSharedCaching one, without their placeholder
 * response and header copying on every request.
 */
const edge: MiddlewareHandler<AppEnv> = async (c, next) => {
  let id = c.req.raw.headers.get('X-Request-Id');
  if (!id || id.length > REQUEST_ID_MAX || REQUEST_ID_REFUSED.test(id)) id = crypto.randomUUID();
  c.set('requestId', id);
  if (c.req.method === 'OPTIONS') {
    return new Response(null, { status: 204, statusText: 'No Content', headers: { 'X-Request-Id': id, ...CORS_PREFLIGHT } });
  }
  await next();
  const headers = c.res.headers;
  headers.set('X-Request-Id', id);
  headers.set('Access-Control-Allow-Origin', '*');
  headers.set('Access-Control-Expose-Headers', CORS_EXPOSE_HEADERS);
  if (!headers.has('Cache-Control')) headers.set('Cache-Control', CACHE_CONTROL);
  headers.append('Vary', VARY);
};

/**
 * The evaluate Worker: `/v1` and OFREP (`/ofrep/v1`) over the KV snapshot, authenticated by evaluate
 * keys; `GET /health` is open. Options inject the clock and caches (tests); production uses the
 * module-level `app`, whose caches live as long as the isolate.
 */
export function createEvaluateApp(options: EvaluateRuntimeOptions = {}): Hono<AppEnv> {
  const runtime = createRuntime(options);
  const app = new Hono<AppEnv>();
  app.use('*', edge);
  app.use('*', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => problem(c, 413, 'The request body exceeds 1 MiB.') }));

  app.get('/health', (c) => c.json({ ok: true }));

  const auth = requireEvaluateKey(runtime.keys, runtime.clock);
  const flushMetrics = flushMetricsAfter((env) => runtime.metrics(env), runtime.clock);
  app.use('/v1/*', flushMetrics, auth);
  app.use('/ofrep/*', flushMetrics, auth);
  app.route('/v1', v1Routes(runtime));
  app.route('/ofrep/v1', ofrepRoutes(runtime));

  app.notFound((c) => problem(c, 404, `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));
  app.onError((err, c) => {
    if (err instanceof ApiError) return problem(c, err.status, err.init);
    if (err instanceof HTTPException) return problem(c, err.status, err.message || 'Request refused.');
    console.error(JSON.stringify({ at: 'evaluate', requestId: c.get('requestId'), error: String(err), stack: err.stack }));
    return problem(c, 500, `Internal error; quote request id ${c.get('requestId') ?? 'unknown'}.`);
  });
  return app;
}

export const app = createEvaluateApp();
