import type { FlagClient } from '../../../../shared/sdk';

export interface Campaign {
  id: string;
  orgId: string;
  name: string;
  budget: number;
}

export interface PublishReceipt {
  platform: string;
  externalId: string;
}

/**
 * A connector to one ad platform. Before it talks to the platform it checks the platform's flag
 * again (CMIS plan, integration point 4): a connector built earlier in the request, or by code that
 * skipped the factory, still cannot publish to a platform that is off for the org.
 */
export abstract class AdPlatformConnector {
  abstract readonly platform: string;

  constructor(protected readonly flags: FlagClient) {}

  async publish(campaign: Campaign): Promise<PublishReceipt> {
    await this.flags.assertPlatformEnabled(this.platform, { orgId: campaign.orgId });
    return this.send(campaign);
  }

  /** The platform API call; the example only makes up an id. */
  protected async send(campaign: Campaign): Promise<PublishReceipt> {
    return { platform: this.platform, externalId: `${this.platform}-${campaign.id}` };
  }
}

export class MetaConnector extends AdPlatformConnector {
  readonly platform = 'meta';
}
export class GoogleConnector extends AdPlatformConnector {
  readonly platform = 'google';
}
export class TikTokConnector extends AdPlatformConnector {
  readonly platform = 'tiktok';
}
export class LinkedInConnector extends AdPlatformConnector {
  readonly platform = 'linkedin';
}
export class TwitterConnector extends AdPlatformConnector {
  readonly platform = 'twitter';
}
export class SnapchatConnector extends AdPlatformConnector {
  readonly platform = 'snapchat';
}
