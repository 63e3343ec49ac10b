import type { Pool } from '@neondatabase/serverless';
import { z } from 'zod';
import { withRls } from '../../shared/db';
import type { PublishMessage } from '../../shared/events';
import { MAX_LAYERS_PER_BULK, publishLayersBulk } from '../../shared/snapshot/bulk';
import type { LayerStore, PublishOutcome } from '../../shared/snapshot/publish';
import type { LayerName } from '../../shared/snapshot';
import { CRON_ACTOR } from './schedules';

const PublishMessageSchema = z.object({
  type: z.literal('publish'),
  layers: z
    .array(z.string().regex(/^(global|org:[A-Za-z0-9._:@-]{1,128})$/))
    .min(1)
    .max(MAX_LAYERS_PER_BULK),
});

/**
 * One `publish` message of POST /api/publish: its layers in one bulk transaction. A malformed message
 * is logged and answers [] (retrying cannot fix it; its layers were marked behind by the producer, so
 * the reconciler still republishes them). A database failure throws, and the consumer retries.
 */
export async function republishChunk(deps: { pool: Pool; kv?: LayerStore }, message: PublishMessage, nowMs = Date.now()): Promise<PublishOutcome[]> {
  const kv = deps.kv;
  if (!kv) throw new Error('the cron Worker has no FLAGS_KV binding');
  const parsed = PublishMessageSchema.safeParse(message);
  if (!parsed.success) {
    console.warn(JSON.stringify({ at: 'publish', malformed: parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`) }));
    return [];
  }
  return withRls(deps.pool, { orgId: null, role: 'system', actor: CRON_ACTOR, reason: 'republish' }, (tx) =>
    publishLayersBulk(tx, kv, parsed.data.layers as LayerName[], nowMs),
  );
}
