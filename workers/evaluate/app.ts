import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { problem } from '../../shared/http/problem';
import { errorAnswer, send } from './answer';
import { requireEvaluateKey } from './auth';
import { edge } from './edge';
import { executionCtxOf, type AppEnv, type Env } from './env';
import { hotPath } from './hot';
import { flushMetricsAfter } from './metrics';
import { ofrepRoutes } from './routes/ofrep';
import { v1Routes } from './routes/v1';
import { createRuntime, type EvaluateRuntime, type EvaluateRuntimeOptions } from './runtime';

export const MAX_BODY_BYTES = 1024 * 1024;

function buildApp(runtime: EvaluateRuntime): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', edge);
  app.use('*', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => problem(c, 413, 'The request body exceeds 1 MiB.') }));

  // Open, and a readiness check: ok only once the global snapshot layer can be read, so a deploy check
  // or `npm start` waiting on it never sees "ok" while every answer would be the caller's default.
  app.get('/health', async (c) => {
    const layers = await runtime.layers(c.env, undefined, executionCtxOf(c));
    c.header('Cache-Control', 'no-store');
    if (layers === null) return c.json({ ok: false, snapshot: null, detail: 'No flag snapshot is readable yet: evaluations answer the caller default until the admin Worker publishes.' }, 503);
    return c.json({ ok: true, snapshot: { version: `${layers.global.version}`, generatedAt: new Date(layers.global.generatedAt).toISOString() } });
  });

  const auth = requireEvaluateKey(runtime.keys, runtime.clock);
  const flushMetrics = flushMetricsAfter((env) => runtime.metrics(env), runtime.clock);
  app.use('/v1/*', flushMetrics, auth);
  app.use('/ofrep/*', flushMetrics, auth);
  app.route('/v1', v1Routes(runtime));
  app.route('/ofrep/v1', ofrepRoutes(runtime));

  app.notFound((c) => problem(c, 404, `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return problem(c, err.status, err.message || 'Request refused.');
    return send(c, errorAnswer(err, c.get('requestId')));
  });
  return app;
}

/**
 * The evaluate Worker's Hono app: `/v1` and OFREP (`/ofrep/v1`) over the KV snapshot, authenticated by
 * evaluate keys; `GET /health` is open. Options inject the clock and caches (tests).
 */
export function createEvaluateApp(options: EvaluateRuntimeOptions = {}): Hono<AppEnv> {
  return buildApp(createRuntime(options));
}

/**
 * The evaluate Worker: the hot path (hot.ts) answers the common evaluation request directly, the Hono
 * app everything else, both over one runtime (one key cache, one layer cache, one metrics counter per
 * isolate). Production uses the module-level instance (index.ts); tests build their own.
 */
export function createEvaluateWorker(options: EvaluateRuntimeOptions = {}) {
  const runtime = createRuntime(options);
  const app = buildApp(runtime);
  const hot = hotPath(runtime, MAX_BODY_BYTES);
  return {
    app,
    hot,
    fetch(req: Request, env: Env, ctx: ExecutionContext): Response | Promise<Response> {
      return hot(req, env, ctx) ?? app.fetch(req, env, ctx);
    },
  };
}
