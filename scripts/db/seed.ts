// Seeds the CMIS default flags (shared/config.ts): inserts the missing ones only, never touches
// a flag that exists (admins own it after the first seed). Audited as actor `seed`.
import type { Pool } from '@neondatabase/serverless';
import { DEFAULT_FLAGS } from '../../shared/config';
import { featureFlags, withRls } from '../../shared/db';

export interface SeedResult {
  inserted: string[];
}

export async function seedDefaults(pool: Pool): Promise<SeedResult> {
  return withRls(pool, { orgId: null, role: 'system', actor: 'seed', reason: 'default flags' }, async (tx) => {
    const rows = await tx
      .insert(featureFlags)
      .values(
        DEFAULT_FLAGS.map((flag) => ({
          featureKey: flag.key,
          type: flag.type,
          value: flag.defaultValue,
          offValue: false,
          description: flag.description,
          tags: flag.tags,
          owner: flag.owner,
        })),
      )
      .onConflictDoNothing({ target: featureFlags.systemKey })
      .returning({ key: featureFlags.featureKey });
    return { inserted: rows.map((row) => row.key) };
  });
}
