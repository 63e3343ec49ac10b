import { Hono } from 'hono';
import { z } from 'zod';
import { problem } from '../../../shared/http/problem';
import { requireFeature } from '../../../shared/sdk/hono';
import type { AppEnv } from './env';
import { flagOptions } from './flags';
import type { Campaign } from './platforms/connectors';
import { AdPlatformFactory, UnknownPlatformError } from './platforms/factory';

const CampaignInput = z.object({ name: z.string().min(1).max(200), budget: z.number().nonnegative().default(0) });
const CampaignPatch = CampaignInput.partial();
const PublishInput = z.object({ platforms: z.array(z.string()).min(1).max(6) });

/** Campaigns of this isolate only: the example is about the flag checks, not about storage. */
const campaigns = new Map<string, Campaign>();
const storeKey = (orgId: string, id: string) => `${orgId}\u0000${id}`;

/** Campaign routes, each behind its feature (CMIS plan, integration point 2). */
export function campaignRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post('/', requireFeature('campaign.creation.enabled', flagOptions), async (c) => {
    const input = CampaignInput.safeParse(await c.req.json().catch(() => null));
    if (!input.success) return problem(c, 422, 'name (1–200 chars) and an optional non-negative budget are required');
    // A number flag bounds the budget per org; the default keeps working if flags are unavailable.
    const maxBudget = await c.var.flags.getValue('campaign.max_budget', 1000);
    if (input.data.budget > maxBudget) return problem(c, 422, `budget exceeds this organization's limit of ${maxBudget}`);
    const campaign: Campaign = { id: crypto.randomUUID(), orgId: c.var.orgId, ...input.data };
    campaigns.set(storeKey(campaign.orgId, campaign.id), campaign);
    return c.json(campaign, 201);
  });

  app.patch('/:id', requireFeature('campaign.editing.enabled', flagOptions), async (c) => {
    const campaign = campaigns.get(storeKey(c.var.orgId, c.req.param('id')));
    if (!campaign) return problem(c, 404, 'No such campaign');
    const patch = CampaignPatch.safeParse(await c.req.json().catch(() => null));
    if (!patch.success) return problem(c, 422, 'name must be 1–200 chars, budget non-negative');
    Object.assign(campaign, patch.data);
    return c.json(campaign);
  });

  app.post('/:id/publish', requireFeature('campaign.publishing.enabled', flagOptions), async (c) => {
    const campaign = campaigns.get(storeKey(c.var.orgId, c.req.param('id')));
    if (!campaign) return problem(c, 404, 'No such campaign');
    const input = PublishInput.safeParse(await c.req.json().catch(() => null));
    if (!input.success) return problem(c, 422, 'platforms: a list of 1–6 platform names');
    const factory = new AdPlatformFactory(c.var.flags);
    const receipts = [];
    for (const platform of input.data.platforms) {
      try {
        // FeatureDisabledError (platform off for the org) goes to onError: 403.
        const connector = await factory.make(platform, campaign.orgId);
        receipts.push(await connector.publish(campaign));
      } catch (err) {
        if (err instanceof UnknownPlatformError) return problem(c, 422, err.message);
        throw err;
      }
    }
    return c.json({ campaign: campaign.id, published: receipts });
  });

  return app;
}
