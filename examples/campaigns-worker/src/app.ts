import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { PLATFORMS } from '../../../shared/config';
import { problem } from '../../../shared/http/problem';
import { FeatureDisabledError } from '../../../shared/sdk';
import { platformGuard, requestFlags } from '../../../shared/sdk/hono';
import { campaignRoutes } from './campaigns';
import type { AppEnv } from './env';
import { flagOptions } from './flags';

const ID = /^[A-Za-z0-9._:@-]{1,128}$/;

/**
 * A CMIS-shaped Worker using the four integration points: campaign routes behind `requireFeature`,
 * OAuth redirects behind `platformGuard`, and `AdPlatformFactory` + connectors calling
 * `assertPlatformEnabled`. Org and user come from `X-Org-Id` / `X-User-Id` to keep it small; a real app
 * takes them from its session.
 */
export function createCampaignsApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.use('*', async (c, next) => {
    const orgId = c.req.header('X-Org-Id');
    const userId = c.req.header('X-User-Id');
    if (!orgId || !ID.test(orgId)) return problem(c, 401, 'X-Org-Id is required');
    c.set('orgId', orgId);
    c.set('userId', userId && ID.test(userId) ? userId : undefined);
    await next();
  });

  app.route('/campaigns', campaignRoutes());

  // CMIS plan, integration point 3: only enabled platforms can be connected.
  app.get('/oauth/:platform/redirect', platformGuard({ param: 'platform', ...flagOptions }), (c) => {
    const platform = c.req.param('platform');
    return c.redirect(`https://auth.example.com/${platform}/authorize?state=${encodeURIComponent(c.var.orgId)}`, 302);
  });

  // What the integrations page shows: every platform this org may connect.
  app.get('/integrations', async (c) => {
    const flags = requestFlags(c, flagOptions);
    const enabled = [];
    for (const platform of PLATFORMS) if (await flags.isPlatformEnabled(platform)) enabled.push(platform);
    return c.json({ orgId: c.var.orgId, platforms: enabled });
  });

  app.notFound((c) => problem(c, 404, 'No such route'));
  app.onError((err, c) => {
    if (err instanceof HTTPException) return err.getResponse();
    if (err instanceof FeatureDisabledError) return problem(c, 403, { detail: err.message, slug: 'feature-disabled' });
    console.error(JSON.stringify({ at: 'campaigns', error: String(err) }));
    return problem(c, 500, 'Internal error');
  });
  return app;
}
