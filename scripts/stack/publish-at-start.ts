import type { Pool } from '@neondatabase/serverless';
import { withRls } from '../../shared/db';
import { orgsWithData } from '../../shared/snapshot/compile';
import { publishLayer, type LayerStore, type PublishOutcome } from '../../shared/snapshot/publish';
import type { LayerName } from '../../shared/snapshot/keys';

/**
 * Temporary (issue 4 item 4): puts every snapshot layer of the database into KV when the stack
 * starts, so the evaluate Worker answers from the seeded flags before the admin API and the cron
 * reconciler publish on their own. Uses the same compiler and publisher as they do.
 */
export async function publishAllAtStart(pool: Pool, kv: LayerStore, nowMs = Date.now()): Promise<PublishOutcome[]> {
  return withRls(pool, { orgId: null, role: 'system', actor: 'start', reason: 'publish at start' }, async (tx) => {
    const layers: LayerName[] = ['global', ...(await orgsWithData(tx)).map((orgId): LayerName => `org:${orgId}`)];
    const outcomes: PublishOutcome[] = [];
    for (const layer of layers) outcomes.push(await publishLayer(tx, kv, layer, nowMs));
    return outcomes;
  });
}
