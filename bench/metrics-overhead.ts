// Metrics overhead: the evaluate path with evaluation counting on vs off, measured in one run.
// Two instances of the real evaluate app (createEvaluateApp) over the same in-memory KV (the
// cascade vectors' layers), one counting into a MetricsCollector that flushes to a queue double
// through waitUntil (default policy: every 10 s or 10k evaluations), one with metrics off. Requests
// go through `app.fetch` in-process (no sockets, so the difference is not drowned in network noise),
// interleaved in rounds so machine noise hits both alike. Reported: ratio on ÷ off of the median
// per-request time, per route. Target: ≤ 1.10.
//
//   npx tsx bench/metrics-overhead.ts [--quick]     (standalone; also a BenchModule for bench/run.ts)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MetricsCollector } from '../shared/metrics';
import { buildLayers, evaluateKeyKey, globalLayerKey, orgLayerKey, SourceStateSchema } from '../shared/snapshot';
import { sha256Hex } from '../shared/tokens';
import { createEvaluateApp } from '../workers/evaluate/app';
import type { Env } from '../workers/evaluate/env';
import cascade from '../test/vectors/cascade.json' with { type: 'json' };
import { RESULTS_DIR, machine, percentiles, round, type BenchContext, type BenchResult } from './lib';

const KEY = 'cmf_eval_bench_metrics_overhead_0123';

interface Route {
  name: string;
  request: (i: number) => Request;
}

function memoryKv(entries: Map<string, string>): KVNamespace {
  return { get: async (key: string) => entries.get(key) ?? null } as unknown as KVNamespace;
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const started = Date.now();
  const layers = buildLayers(SourceStateSchema.parse(cascade.state), { version: 7, generatedAt: 1 });
  const entries = new Map<string, string>([[globalLayerKey, JSON.stringify(layers.global)]]);
  for (const [orgId, layer] of Object.entries(layers.orgs)) entries.set(orgLayerKey(orgId), JSON.stringify(layer));
  entries.set(evaluateKeyKey(await sha256Hex(KEY)), JSON.stringify({ id: 'bench', name: 'bench' }));
  const orgs = Object.keys(layers.orgs);
  const flags = Object.keys(layers.global.flags);

  let sentBatches = 0;
  const queue = { send: async () => {}, sendBatch: async () => void (sentBatches += 1) } as unknown as Queue;
  const env: Env = { FLAGS_KV: memoryKv(entries), EVENTS: queue, SNAPSHOT_MAX_AGE_MS: '60000' };
  const collector = new MetricsCollector(); // the production defaults
  const on = createEvaluateApp({ metrics: collector });
  const off = createEvaluateApp({ metrics: null });
  const pending: Promise<unknown>[] = [];
  const executionCtx = { waitUntil: (p: Promise<unknown>) => void pending.push(p), passThroughOnException() {}, props: {} } as unknown as ExecutionContext;

  const auth = { Authorization: `Bearer ${KEY}` };
  const routes: Route[] = [
    {
      name: 'GET /v1/flags/:key',
      request: (i) => new Request(`http://eval.test/v1/flags/${flags[i % flags.length]}?orgId=${orgs[i % orgs.length]}&userId=u-${i % 5000}`, { headers: auth }),
    },
    {
      name: 'POST /v1/evaluate (every flag)',
      request: (i) =>
        new Request('http://eval.test/v1/evaluate', {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/json' },
          body: JSON.stringify({ context: { orgId: orgs[i % orgs.length], userId: `u-${i % 5000}` } }),
        }),
    },
  ];

  const rounds = ctx.quick ? 20 : 60;
  const batch = ctx.quick ? 200 : 500;
  const results = [];
  for (const route of routes) {
    const times = { on: [] as number[], off: [] as number[] };
    const runBatch = async (app: typeof on, into: number[], offset: number) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < batch; i++) {
        const res = await app.fetch(route.request(offset + i), env, executionCtx);
        if (res.status !== 200) throw new Error(`${route.name}: ${res.status} ${await res.text()}`);
        await res.arrayBuffer();
      }
      into.push(Number(process.hrtime.bigint() - t0) / batch / 1000);
    };
    // warm-up (JIT, key cache, layer cache) of both
    await runBatch(on, [], 0);
    await runBatch(off, [], 0);
    for (let r = 0; r < rounds; r++) {
      // alternate which goes first so neither always runs on a warmer machine
      if (r % 2 === 0) {
        await runBatch(on, times.on, r * batch);
        await runBatch(off, times.off, r * batch);
      } else {
        await runBatch(off, times.off, r * batch);
        await runBatch(on, times.on, r * batch);
      }
      await Promise.all(pending.splice(0));
    }
    const pOn = percentiles(times.on, 2);
    const pOff = percentiles(times.off, 2);
    results.push({ route: route.name, onMicros: pOn, offMicros: pOff, ratio: round(pOn.p50 / pOff.p50, 3) });
  }
  await collector.flush(queue);
  const worst = Math.max(...results.map((r) => r.ratio));
  return {
    name: 'metrics-overhead',
    title: 'Metrics overhead: evaluate path with counting on ÷ off (in-process app.fetch)',
    status: 'ok',
    machine: machine(),
    quick: ctx.quick,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    note: `µs per request per batch of ${batch}, ${rounds} interleaved rounds; default flush policy (10 s / 10k evaluations), ${sentBatches} queue sendBatch calls during the run.`,
    summary: [
      ...results.map((r) => ({ metric: `${r.route}: on ÷ off (p50 µs/request)`, value: `${r.ratio}× (${r.onMicros.p50} vs ${r.offMicros.p50} µs)`, target: '≤ 1.10×', pass: r.ratio <= 1.1 })),
      { metric: 'worst ratio', value: `${worst}×`, target: '≤ 1.10×', pass: worst <= 1.1 },
    ],
    details: { results, sentBatches },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const quick = process.argv.includes('--quick');
  const result = await run({ quick, log: console.log });
  writeFileSync(join(RESULTS_DIR, 'metrics-overhead.json'), `${JSON.stringify(result, null, 2)}\n`);
  for (const row of result.summary) console.log(`${row.pass === undefined ? ' ' : row.pass ? '✓' : '✗'} ${row.metric}: ${row.value}${row.target ? ` (target ${row.target})` : ''}`);
}
