import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { pgErrorCode } from '../../shared/db';
import { RequestDb, isDbUnavailable } from './db';
import { zEnv, type AdminConfig, type AppEnv, type Env } from './env';
import { ApiError, problem } from './problem';
import { mountRoutes, type RouteSpec } from './route';
import { auditRoutes } from './routes/audit';
import { flagRoutes } from './routes/flags';
import { healthRoutes } from './routes/health';
import { orgRoutes } from './routes/orgs';
import { publishRoutes } from './routes/publish';
import { tokenRoutes } from './routes/tokens';
import { scheduleRoutes } from './routes/schedules';
import { rolloutRoutes } from './routes/rollouts';
import { webhookRoutes } from './routes/webhooks';
import { metricsRoutes } from './routes/metrics';
import { openapiRoute } from './openapi';
import { dashboardApp } from './dashboard';

export const MAX_BODY_BYTES = 1024 * 1024;

const configs = new WeakMap<object, AdminConfig>();

/** Validates the bindings once per isolate (the env object is stable across requests). */
function loadConfig(env: Env | undefined): AdminConfig {
  const key = (env ?? {}) as object;
  const cached = configs.get(key);
  if (cached) return cached;
  const parsed = zEnv.safeParse(env ?? {});
  if (!parsed.success) {
    // Names only: values may be secrets.
    const names = [...new Set(parsed.error.issues.map((i) => String(i.path[0])))].join(', ');
    throw new ApiError(500, { detail: `The admin Worker is misconfigured (${names}).`, slug: 'misconfigured' });
  }
  configs.set(key, parsed.data);
  return parsed.data;
}

/** Gives the request its config and its lazily-opened database, closed when the request ends. */
const requestContext: MiddlewareHandler<AppEnv> = async (c, next) => {
  const config = loadConfig(c.env);
  const db = new RequestDb(config);
  c.set('config', config);
  c.set('db', db);
  try {
    await next();
  } finally {
    const closing = db.close();
    try {
      c.executionCtx.waitUntil(closing);
    } catch {
      // No execution context (plain `app.request()` in tests): close before answering.
      await closing;
    }
  }
};

export function handleError(err: Error, c: Context<AppEnv>): Response {
  if (err instanceof ApiError) return problem(c, err.status, err.init);
  if (err instanceof HTTPException) {
    return problem(c, err.status, err.status === 413 ? 'The request body exceeds 1 MiB.' : err.message || 'Request refused.');
  }
  if (isDbUnavailable(err)) {
    return problem(c, 503, { detail: 'The database is unavailable; nothing was changed. Retry later.' });
  }
  switch (pgErrorCode(err)) {
    case '23505':
      return problem(c, 409, 'The resource already exists.');
    case '23503':
      return problem(c, 409, 'The change refers to a resource that does not exist.');
    case '42501':
      return problem(c, 403, 'The database refused this change for the caller (row-level security).');
    case '23514':
    case '22P02':
    case '22023':
      return problem(c, 422, 'The database rejected a value of the request.');
    case '40001':
    case '40P01':
      return problem(c, 409, 'A concurrent change got there first; retry the request.');
    case '55P03':
      c.header('Retry-After', '1');
      return problem(c, 503, { detail: 'Another change of the same data is taking long (lock timeout); nothing was changed. Retry.' });
  }
  console.error(JSON.stringify({ at: 'admin', requestId: c.get('requestId'), error: String(err), stack: err.stack }));
  return problem(c, 500, `Internal error; quote request id ${c.get('requestId') ?? 'unknown'}.`);
}

/**
 * The admin app's shell: request id, body limit, config, per-request database, and the one error
 * path (`onError` and `notFound` both answer problem+json). Routes are mounted on top of it.
 */
export function newApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', requestId());
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => problem(c, 413, 'The request body exceeds 1 MiB.'),
    }),
  );
  app.use('*', requestContext);
  app.onError(handleError);
  app.notFound((c) => problem(c, 404, `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));
  return app;
}

/** Every admin route, in mount order; also the source of the OpenAPI document and the role matrix. */
export const adminRoutes: readonly RouteSpec[] = [
  ...healthRoutes,
  ...flagRoutes,
  ...orgRoutes,
  ...auditRoutes,
  ...tokenRoutes,
  ...publishRoutes,
  ...scheduleRoutes,
  ...rolloutRoutes,
  ...webhookRoutes,
  ...metricsRoutes,
  openapiRoute(() => adminRoutes),
];

export function createAdminApp(): Hono<AppEnv> {
  // The dashboard (HTML at `/`) writes through the same route specs, see dashboard/dispatch.ts.
  return mountRoutes(newApp(), adminRoutes).route('/', dashboardApp());
}

export const app = createAdminApp();
