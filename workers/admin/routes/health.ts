import { z } from 'zod';
import pkg from '../../../package.json';
import { withTimeout } from '../db';
import { defineRoute } from '../route';

const HEALTH_TIMEOUT_MS = 2_000;

export const HealthSchema = z
  .object({ ok: z.boolean(), db: z.enum(['up', 'down']), version: z.string() })
  .meta({ id: 'Health' });

const health = defineRoute({
  method: 'get',
  path: '/api/health',
  summary: 'Liveness and database reachability (no token)',
  tag: 'health',
  access: 'public',
  responses: {
    200: { description: 'Up', schema: HealthSchema },
    503: { description: 'Database unreachable', schema: HealthSchema },
  },
  handler: async (c) => {
    const version = c.get('config').VERSION ?? pkg.version;
    let up = false;
    try {
      // A real round trip through the Neon driver, bounded so a dead database answers quickly.
      const pool = await c.get('db').connect(HEALTH_TIMEOUT_MS);
      await withTimeout(pool.query('select 1'), HEALTH_TIMEOUT_MS, 'select 1');
      up = true;
    } catch {
      up = false;
    }
    c.header('Cache-Control', 'no-store');
    return c.json({ ok: up, db: up ? 'up' : 'down', version }, up ? 200 : 503);
  },
});

export const healthRoutes = [health];
