import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { ApiError, problem } from '../../shared/http/problem';
import { requireEvaluateKey } from './auth';
import type { AppEnv } from './env';
import { ofrepRoutes } from './routes/ofrep';
import { v1Routes } from './routes/v1';
import { createRuntime, type EvaluateRuntimeOptions } from './runtime';

export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Answers may be kept by the browser that asked (revalidated each time, ETag/304 on the bulk route),
 * never by shared caches, so nothing outlives the snapshot age.
 */
const CACHE_CONTROL = 'private, max-age=0, must-revalidate';

const noSharedCaching: MiddlewareHandler<AppEnv> = async (c, next) => {
  await next();
  const headers = c.res.headers;
  if (!headers.has('Cache-Control')) headers.set('Cache-Control', CACHE_CONTROL);
  headers.append('Vary', 'Authorization, X-API-Key');
};

/**
 * The evaluate Worker: `/v1` and OFREP (`/ofrep/v1`) over the KV snapshot, authenticated by evaluate
 * keys; `GET /health` is open. Options inject the clock and caches (tests); production uses the
 * module-level `app`, whose caches live as long as the isolate.
 */
export function createEvaluateApp(options: EvaluateRuntimeOptions = {}): Hono<AppEnv> {
  const runtime = createRuntime(options);
  const app = new Hono<AppEnv>();
  app.use('*', requestId());
  app.use(
    '*',
    cors({
      origin: '*',
      allowMethods: ['GET', 'POST', 'OPTIONS'],
      allowHeaders: ['Authorization', 'X-API-Key', 'Content-Type', 'If-None-Match', 'X-Request-Id'],
      exposeHeaders: ['ETag', 'X-Request-Id', 'Retry-After'],
      maxAge: 600,
    }),
  );
  app.use('*', noSharedCaching);
  app.use('*', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => problem(c, 413, 'The request body exceeds 1 MiB.') }));

  app.get('/health', (c) => c.json({ ok: true }));

  const auth = requireEvaluateKey(runtime.keys, runtime.clock);
  app.use('/v1/*', auth);
  app.use('/ofrep/*', auth);
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
