import { PROBLEM_CONTENT_TYPE, problemBody } from '../../shared/http/problem';
import type { CronEnv } from './env';
import { runCronPass } from './pass';
import { handleEventBatch } from './queue';

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
      try {
        return Response.json(await runCronPass(env, Date.now()));
      } catch (err) {
        const detail = err instanceof Error ? err.message : String(err);
        return Response.json(problemBody(500, { detail: `Cron pass failed: ${detail}` }), {
          status: 500,
          headers: { 'content-type': PROBLEM_CONTENT_TYPE },
        });
      }
    }
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler<CronEnv>;
