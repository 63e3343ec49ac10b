// CMIS defaults (the CMIS plan's config/features.php): the ad platforms and the flags every
// installation starts with. The seeder inserts missing ones only; admins own them afterwards.

export const PLATFORMS = ['meta', 'google', 'tiktok', 'linkedin', 'twitter', 'snapchat'] as const;
export type Platform = (typeof PLATFORMS)[number];

const PLATFORM_NAMES: ReadonlySet<string> = new Set(PLATFORMS);

/** Whether `name` is one of PLATFORMS (exactly: platform names are lower case). */
export function isPlatform(name: string): name is Platform {
  return PLATFORM_NAMES.has(name);
}

export interface DefaultFlag {
  key: string;
  type: 'boolean';
  defaultValue: boolean;
  description: string;
  tags: string[];
  owner: string;
}

const platformFlags: DefaultFlag[] = PLATFORMS.map((platform) => ({
  key: `platform.${platform}.enabled`,
  type: 'boolean',
  defaultValue: false,
  description: `Connecting and publishing to ${platform} (AdPlatformFactory, OAuth redirect).`,
  tags: ['platform', platform],
  owner: 'integrations',
}));

/** Launch with little switched on: campaign basics on, everything else off until enabled per org. */
export const DEFAULT_FLAGS: readonly DefaultFlag[] = [
  ...platformFlags,
  {
    key: 'campaign.creation.enabled',
    type: 'boolean',
    defaultValue: true,
    description: 'Creating campaigns (campaign routes).',
    tags: ['campaign', 'core'],
    owner: 'campaigns',
  },
  {
    key: 'campaign.editing.enabled',
    type: 'boolean',
    defaultValue: true,
    description: 'Editing existing campaigns.',
    tags: ['campaign', 'core'],
    owner: 'campaigns',
  },
  {
    key: 'campaign.publishing.enabled',
    type: 'boolean',
    defaultValue: true,
    description: 'Publishing campaigns to the connected ad platforms.',
    tags: ['campaign', 'core'],
    owner: 'campaigns',
  },
  {
    key: 'campaign.ai_copy.enabled',
    type: 'boolean',
    defaultValue: false,
    description: 'AI-generated ad copy suggestions in the campaign editor.',
    tags: ['campaign', 'ai'],
    owner: 'campaigns',
  },
  {
    key: 'campaign.scheduling.enabled',
    type: 'boolean',
    defaultValue: false,
    description: 'Scheduling campaign start and end times.',
    tags: ['campaign'],
    owner: 'campaigns',
  },
  {
    key: 'reporting.advanced.enabled',
    type: 'boolean',
    defaultValue: false,
    description: 'Advanced cross-platform reporting and dashboards.',
    tags: ['reporting'],
    owner: 'analytics',
  },
  {
    key: 'reporting.export.enabled',
    type: 'boolean',
    defaultValue: false,
    description: 'CSV/XLSX export of reports.',
    tags: ['reporting'],
    owner: 'analytics',
  },
  {
    key: 'billing.invoices.enabled',
    type: 'boolean',
    defaultValue: false,
    description: 'Invoices and billing history in the account area.',
    tags: ['billing'],
    owner: 'billing',
  },
];
