// (e) zero downtime: evaluation load while a flag changes every 100 ms through the admin API. Every
// answer must be a 200 with a real value (no ERROR), and no answer may be older than the snapshot
// age: an answer showing change i, requested after change i+1 was acknowledged, is stale by
// (request start − ack of i+1), which must stay under SNAPSHOT_MAX_AGE_MS.
import { AdminApiMissing, adminClient } from './admin-client';
import { machine, percentiles, round, sleep, type BenchContext, type BenchResult } from './lib';

const KEY = 'bench.zero-downtime';
const MAX_AGE_MS = 1000;
const SLACK_MS = 100; // one evaluate request's own latency on a loaded 2-core box

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const started = Date.now();
  const stack = ctx.stack!;
  const base = { name: 'zero-downtime', title: '(e) load while flags change every 100 ms', machine: machine(), quick: ctx.quick, startedAt: new Date(started).toISOString() };
  const admin = adminClient(stack);
  try {
    await admin.ensureCounterFlag(KEY);
    await admin.setDefault(KEY, 0);
  } catch (error) {
    if (!(error instanceof AdminApiMissing)) throw error;
    return { ...base, status: 'skipped', note: `waiting for admin API: ${error.message}`, durationMs: Date.now() - started, summary: [], details: null };
  }
  await sleep(MAX_AGE_MS + 100);
  const seconds = ctx.quick ? 10 : 60;
  const acks: number[] = [0]; // acks[i] = when change i was acknowledged (performance.now())
  let stop = false;
  const changer = (async () => {
    let i = 0;
    while (!stop) {
      const t0 = performance.now();
      i++;
      await admin.setDefault(KEY, i);
      acks[i] = performance.now();
      await sleep(Math.max(0, 100 - (performance.now() - t0)));
    }
  })();

  let answers = 0;
  let failures = 0;
  const failureSamples: unknown[] = [];
  const staleness: number[] = [];
  const headers = { authorization: `Bearer ${stack.evalKey}` };
  const loader = async () => {
    while (!stop) {
      const sent = performance.now();
      try {
        const res = await fetch(`${stack.urls.evaluate}/v1/flags/${KEY}?orgId=org-1&userId=u-1`, { headers });
        const body = (await res.json()) as { value?: unknown; reason?: string };
        answers++;
        if (res.status !== 200 || body.reason === 'ERROR' || typeof body.value !== 'number') {
          failures++;
          if (failureSamples.length < 5) failureSamples.push({ status: res.status, body });
          continue;
        }
        const next = acks[body.value + 1];
        staleness.push(next !== undefined && next < sent ? sent - next : 0);
      } catch (error) {
        answers++;
        failures++;
        if (failureSamples.length < 5) failureSamples.push(String(error));
      }
    }
  };
  const loaders = Array.from({ length: 4 }, loader);
  await sleep(seconds * 1000);
  stop = true;
  await Promise.all([changer, ...loaders]);
  const changes = acks.length - 1;
  const stale = percentiles(staleness, 0);
  const over = staleness.filter((s) => s > MAX_AGE_MS + SLACK_MS).length;
  return {
    ...base,
    status: 'ok',
    note: `4 concurrent evaluation loops for ${seconds} s; changes are sequential PATCHes started every 100 ms (or as soon as the previous one answered, when it took longer). Staleness allowance: SNAPSHOT_MAX_AGE_MS ${MAX_AGE_MS} + ${SLACK_MS} ms request latency.`,
    durationMs: Date.now() - started,
    summary: [
      { metric: 'failed evaluations during changes', value: `${failures} of ${answers}`, target: '0', pass: failures === 0 },
      { metric: 'flag changes applied (achieved interval)', value: `${changes} in ${seconds} s (${round((seconds * 1000) / Math.max(1, changes), 0)} ms apart)`, target: 'every 100 ms' },
      { metric: 'answer age beyond a newer acknowledged change, p50 / p99 / max', value: `${stale.p50} / ${stale.p99} / ${stale.max} ms`, target: `≤ ${MAX_AGE_MS} ms (+${SLACK_MS})`, pass: over === 0 },
    ],
    details: { seconds, answers, failures, failureSamples, changes, stalenessMs: stale, overAllowance: over },
  };
}
