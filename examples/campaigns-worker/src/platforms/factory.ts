import type { FlagClient } from '../../../../shared/sdk';
import {
  GoogleConnector,
  LinkedInConnector,
  MetaConnector,
  SnapchatConnector,
  TikTokConnector,
  TwitterConnector,
  type AdPlatformConnector,
} from './connectors';

const CONNECTORS: Record<string, new (flags: FlagClient) => AdPlatformConnector> = {
  meta: MetaConnector,
  google: GoogleConnector,
  tiktok: TikTokConnector,
  linkedin: LinkedInConnector,
  twitter: TwitterConnector,
  snapchat: SnapchatConnector,
};

export class UnknownPlatformError extends Error {
  override readonly name = 'UnknownPlatformError';
}

/**
 * Builds connectors, refusing platforms that are off for the org (CMIS plan, integration point 1):
 * `make` rejects with FeatureDisabledError, which the app answers with 403.
 */
export class AdPlatformFactory {
  constructor(private readonly flags: FlagClient) {}

  async make(platform: string, orgId: string): Promise<AdPlatformConnector> {
    const Connector = Object.hasOwn(CONNECTORS, platform) ? CONNECTORS[platform] : undefined;
    if (Connector === undefined) throw new UnknownPlatformError(`No connector for platform "${platform}"`);
    await this.flags.assertPlatformEnabled(platform, { orgId });
    return new Connector(this.flags);
  }
}
