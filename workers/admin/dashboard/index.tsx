import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { AppEnv } from '../env';
import { handleError } from '../app';
import { serveScript, serveStylesheet } from './assets';
import { verifyCsrf, verifySignInCsrf } from './csrf';
import { auditExport, auditPage, revertConfirmPage, revertEntry } from './audit';
import { archiveFlag, flagPage, restoreFlag, updateFlag, killFlag, setRollout, setPlatformOverride, setFlagOrgValue } from './flag';
import { createFlag, flagListPage } from './flags';
import { cleanupPage, flagMetricsPage } from './metrics';
import { renderError, securityHeaders } from './layout';
import { addUserOverride, orgPage, removeUserOverride, setOrgPlatform, setOrgValue } from './org';
import { requireSession, type DashEnv } from './session';
import { showSignIn, signIn, signOut } from './signin';
import { statusPage } from './status';
import { cancelSchedule, createRamp, createSchedule, rampAction } from './plans';
import { createToken, revokeToken, tokensPage } from './tokens';
import { createWebhook, deleteWebhook, webhooksPage } from './webhooks';

/**
 * The dashboard: server-rendered pages at `/` (the API stays under `/api`). Pages need a session;
 * forms also need the session's CSRF token. Every write goes through the API's route specs
 * (see dispatch.ts). Middleware is attached per route, not with `use('*')`, so none of it touches `/api`.
 */

type Handler = (c: Context<DashEnv>) => Response | Promise<Response>;

const page = (handler: Handler) => [securityHeaders, requireSession, (c: Context<DashEnv>) => handler(c)] as MiddlewareHandler<DashEnv>[];
const form = (handler: Handler) => [securityHeaders, requireSession, verifyCsrf, (c: Context<DashEnv>) => handler(c)] as MiddlewareHandler<DashEnv>[];

/** Errors below a page become an HTML page with the status the API would have answered. */
async function errorPage(err: Error, c: Context<DashEnv>): Promise<Response> {
  const res = handleError(err, c as unknown as Context<AppEnv>);
  const body = (await res.json()) as { detail?: string };
  return renderError(c as unknown as Context<AppEnv>, res.status, body.detail ?? 'Something went wrong.');
}

export function dashboardApp(): Hono<AppEnv> {
  const app = new Hono<DashEnv>();
  app.onError(errorPage);
  const add = (method: 'GET' | 'POST', path: string, handlers: MiddlewareHandler<DashEnv>[]) => app.on(method, path, ...(handlers as [never]));

  app.get('/assets/app.css', securityHeaders, serveStylesheet);
  app.get('/assets/app.js', securityHeaders, serveScript);

  app.get('/signin', securityHeaders, (c) => showSignIn(c));
  app.post('/signin', securityHeaders, verifySignInCsrf, (c) => signIn(c));
  add('POST', '/signout', form(signOut));

  add('GET', '/', page((c) => flagListPage(c)));
  add('POST', '/flags', form(createFlag));
  add('GET', '/flags/:key', page((c) => flagPage(c)));
  add('POST', '/flags/:key', form(updateFlag));
  add('POST', '/flags/:key/kill', form(killFlag));
  add('POST', '/flags/:key/rollout', form(setRollout));
  add('POST', '/flags/:key/platforms/:platform', form(setPlatformOverride));
  add('POST', '/flags/:key/orgs', form(setFlagOrgValue));
  add('POST', '/flags/:key/archive', form(archiveFlag));
  add('POST', '/flags/:key/restore', form(restoreFlag));
  add('POST', '/flags/:key/schedules', form(createSchedule));
  add('POST', '/flags/:key/schedules/:id/cancel', form(cancelSchedule));
  add('POST', '/flags/:key/rollouts', form(createRamp));
  add('POST', '/flags/:key/rollouts/:id/pause', form(rampAction('pause')));
  add('POST', '/flags/:key/rollouts/:id/resume', form(rampAction('resume')));
  add('POST', '/flags/:key/rollouts/:id/abort', form(rampAction('abort')));

  add('GET', '/tokens', page((c) => tokensPage(c)));
  add('POST', '/tokens', form(createToken));
  add('POST', '/tokens/:id/revoke', form(revokeToken));
  add('GET', '/webhooks', page((c) => webhooksPage(c)));
  add('POST', '/webhooks', form(createWebhook));
  add('POST', '/webhooks/:id/delete', form(deleteWebhook));

  add('GET', '/orgs', page((c) => orgPage(c)));
  add('POST', '/orgs/:orgId/flags/:key', form(setOrgValue));
  add('POST', '/orgs/:orgId/flags/:key/platforms/:platform', form(setOrgPlatform));
  add('POST', '/orgs/:orgId/flags/:key/users', form(addUserOverride));
  add('POST', '/orgs/:orgId/flags/:key/users/:userId/delete', form(removeUserOverride));

  add('GET', '/audit', page((c) => auditPage(c)));
  add('GET', '/audit/export', page((c) => auditExport(c)));
  add('GET', '/audit/:id/revert', page((c) => revertConfirmPage(c)));
  add('POST', '/audit/:id/revert', form(revertEntry));

  add('GET', '/status', page((c) => statusPage(c)));
  add('GET', '/flags/:key/metrics', page((c) => flagMetricsPage(c)));
  add('GET', '/cleanup', page((c) => cleanupPage(c)));
  return app as unknown as Hono<AppEnv>;
}
