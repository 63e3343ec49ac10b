import { problemResponse } from '../../shared/http/problem';
import { instantSchema } from '../../shared/snapshot/identifiers';
import type { CronEnv } from './env';
import { runCronPass } from './pass';
import { handleEventBatch } from './queue';

/**
 * `?time=` of the local trigger: run the pass as of that instant (ISO 8601 with an offset, e.g.
 * `2026-12-01T09:00:00Z`) instead of now, so schedules and anything else due by then can be tried
 * locally without waiting. Omitted: now.
 */
const TriggerTimeSchema = instantSchema('an ISO 8601 date-time with an offset, e.g. 2026-12-01T09:00:00Z').optional();

export default {
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runCronPass(env, controller.scheduledTime));
  },

  async queue(batch, env) {
    await handleEventBatch(batch, env);
  },

  async fetch(request, env) {
    const url = new URL(request.url);
    if (env.LOCAL_TRIGGER === '1' && request.method === 'POST' && url.pathname === '/__scheduled') {
      const time = TriggerTimeSchema.safeParse(url.searchParams.get('time') ?? undefined);
      if (!time.success) {
        const message = time.error.issues[0]?.message ?? 'invalid time';
        return problemResponse(422, { detail: `query.time: ${message}`, errors: [{ path: 'query.time', message }] });
      }
      try {
        return Response.json(await runCronPass(env, time.data === undefined ? Date.now() : Date.parse(time.data)));
      } catch (err) {
        // The reasons quote queries and their parameters: the log has them, the answer does not.
        console.error(JSON.stringify({ at: 'cron.trigger', error: err instanceof Error ? err.message : String(err) }));
        return problemResponse(500, { detail: "The cron pass failed; the cron Worker's log has the reasons." });
      }
    }
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<CronEnv>;
