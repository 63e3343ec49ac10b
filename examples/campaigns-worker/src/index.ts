import { createCampaignsApp } from './app';
import type { Env } from './env';

const app = createCampaignsApp();

export default { fetch: app.fetch } satisfies ExportedHandler<Env>;
