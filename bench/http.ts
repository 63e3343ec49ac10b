// (c) evaluate HTTP load. The measurement that counts: a dedicated workerd holding only the bundled
// evaluate Worker and a bare Worker that returns constant JSON (bench/http-rig.ts), both behind direct
// sockets, KV filled from vectors/cascade.json, targets interleaved round by round, so "throughput ÷
// bare" compares two Workers served the same way in the same runtime. A second, smaller measurement
// runs the same comparison inside the local stack's workerd (admin + cron + queue consumer beside the
// evaluate Worker, the bare Worker added through `extraWorkers`), labelled "stack".
import { freePort } from '../scripts/stack/ports';
import { isolateHeapSampler } from './inspector';
import { childWorkerdPids, machine, percentile, percentiles, round, rssMiB, type BenchContext, type BenchResult, type SummaryRow } from './lib';
import { bundleEvaluate, checkTargets, evaluateTargets, histogramPercentile, interleave, mergeHistograms, startRig, type Segment, type Target } from './http-rig';

export { bareWorkerOptions } from './http-rig';

export async function prepareEvaluateData(stack: NonNullable<BenchContext['stack']>): Promise<void> {
  const admin = { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' };
  const put = (path: string, body: unknown) => fetch(`${stack.urls.admin}${path}`, { method: 'PUT', headers: admin, body: JSON.stringify(body) }).then((r) => r.text());
  await put('/api/orgs/org-1/flags/platform.meta.enabled', { value: true });
  await put('/api/orgs/org-1/flags/campaign.creation.enabled/users/u-1', { value: true });
}

interface PerTarget {
  target: string;
  requests: number;
  rps: number;
  errors: number;
  latencyMs: { p50: number; p99: number };
  rpsPerSegment: number[];
  /** workerd CPU per request (µs), all segments together. */
  cpuUsPerRequest: number | null;
}

function summarise(targets: readonly Target[], segments: Map<string, Segment[]>): PerTarget[] {
  return targets.map((t) => {
    const segs = segments.get(t.name)!;
    const requests = segs.reduce((a, s) => a + s.requests, 0);
    const seconds = segs.reduce((a, s) => a + s.seconds, 0);
    const latencies = mergeHistograms(segs.map((s) => s.histogram));
    const cpu = segs.every((s) => s.cpuMs !== undefined && Number.isFinite(s.cpuMs)) ? segs.reduce((a, s) => a + s.cpuMs!, 0) : Number.NaN;
    return {
      target: t.name,
      requests,
      rps: round(requests / seconds, 1),
      errors: segs.reduce((a, s) => a + s.errors, 0),
      // percentiles of every 2xx response time of the target over all its segments, 10 µs resolution
      latencyMs: { p50: histogramPercentile(latencies, 50), p99: histogramPercentile(latencies, 99) },
      rpsPerSegment: segs.map((s) => round(s.requests / s.seconds, 1)),
      cpuUsPerRequest: Number.isFinite(cpu) && requests > 0 ? round((cpu * 1000) / requests, 1) : null,
    };
  });
}

/** Rows of one comparison of an evaluate target with its bare counterpart: throughput, p99 added, errors, CPU. */
function rows(label: string, p: PerTarget, base: PerTarget): SummaryRow[] {
  const perRound = p.rpsPerSegment.map((r, i) => r / base.rpsPerSegment[i]!);
  const ratio = p.rps / base.rps;
  const out: SummaryRow[] = [
    {
      metric: `${label}${p.target}: throughput ÷ bare`,
      value: `${round(ratio * 100, 0)}% (${p.rps} vs ${base.rps} req/s; median of per-round ratios ${round(percentile(perRound, 50) * 100, 0)}%)`,
      target: '≥ 80%',
      pass: ratio >= 0.8,
    },
    {
      metric: `${label}${p.target}: p99 added latency vs bare`,
      value: `${round(p.latencyMs.p99 - base.latencyMs.p99, 2)} ms (p99 ${round(p.latencyMs.p99, 2)} vs ${round(base.latencyMs.p99, 2)} ms; p50 ${round(p.latencyMs.p50, 2)} vs ${round(base.latencyMs.p50, 2)} ms)`,
      target: '< 1 ms',
      pass: p.latencyMs.p99 - base.latencyMs.p99 < 1,
    },
    { metric: `${label}${p.target}: errors`, value: `${p.errors} of ${p.requests}`, target: '0', pass: p.errors === 0 },
  ];
  if (p.cpuUsPerRequest !== null && base.cpuUsPerRequest !== null) {
    out.push({ metric: `${label}${p.target}: workerd CPU per request ÷ bare`, value: `${round(p.cpuUsPerRequest / base.cpuUsPerRequest, 2)}× (${p.cpuUsPerRequest} vs ${base.cpuUsPerRequest} µs)` });
  }
  return out;
}

/** The evaluate targets and, for each, the same request to the bare Worker. */
function pairedTargets(evaluateUrl: string, bareUrl: string, evalKey: string, orgId: string, userId: string): { evaluate: Target; bare: Target }[] {
  const bare = evaluateTargets('bare: ', bareUrl, evalKey, orgId, userId);
  return evaluateTargets('', evaluateUrl, evalKey, orgId, userId).map((t, i) => ({ evaluate: t, bare: bare[i]! }));
}

/** Quarters of a sample series after warm-up: the second quarter and the last one. */
function quarters<T>(samples: readonly T[]): { second: T[]; last: T[] } {
  const q = Math.max(1, Math.floor(samples.length / 4));
  return { second: samples.slice(q, 2 * q), last: samples.slice(-q) };
}

/**
 * The evaluate isolate's live JS heap: the smallest used-heap sample of a quarter (right after a
 * collection), second quarter against the last. This is the target's "memory of the isolate".
 */
function heapRow(heap: { t: number; mib: number }[]): SummaryRow {
  const { second, last } = quarters(heap.map((s) => s.mib));
  const before = Math.min(...second);
  const after = Math.min(...last);
  const growth = round(after / before, 3);
  return {
    metric: 'evaluate isolate JS heap after warm-up (live: smallest sample), last ÷ second quarter of the run',
    value: `${growth}× (${round(before, 1)} → ${round(after, 1)} MiB; largest sample ${round(Math.max(...heap.map((s) => s.mib)), 1)} MiB, ${heap.length} samples)`,
    target: 'flat (≈ 1)',
    pass: growth < 1.1,
  };
}

/** The whole workerd process (both Workers, KV and queue simulators): reported, not judged. */
function rssRow(rss: { t: number; mib: number }[]): SummaryRow {
  const { second, last } = quarters(rss.map((s) => s.mib));
  return {
    metric: 'dedicated workerd process RSS, last ÷ second quarter of the run (median)',
    value: `${round(percentiles(last).p50 / percentiles(second).p50, 3)}× (${percentiles(second).p50} → ${percentiles(last).p50} MiB; start ${rss[0]?.mib} MiB, max ${Math.max(...rss.map((s) => s.mib))} MiB)`,
  };
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const started = Date.now();
  const connections = 4;
  const rounds = ctx.quick ? 3 : 6;
  const segmentSeconds = ctx.quick ? 4 : 10; // quick: 12 s per target, full: 60 s per target

  // 1. Dedicated workerd: evaluate bundle + bare Worker only.
  const before = new Set(childWorkerdPids());
  const inspectorPort = await freePort();
  const rig = await startRig({ evaluate: await bundleEvaluate() }, {}, { inspectorPort });
  const pid = childWorkerdPids().find((p) => !before.has(p));
  const rss: { t: number; mib: number }[] = [];
  const heap: { t: number; mib: number }[] = [];
  const pairs = pairedTargets(rig.urls.evaluate!, rig.urls.bare!, rig.evalKey, 'org-a', 'u1');
  // The bulk request to a bare Worker that does not read the body: what receiving a body costs by itself.
  const ignoresBody: Target = { ...pairs[1]!.bare, name: 'bare, body not read: POST /v1/evaluate (all flags)', url: pairs[1]!.bare.url.replace(rig.urls.bare!, rig.urls['bare-ignores-body']!) };
  const targets: Target[] = [...pairs.flatMap((p) => [p.bare, p.evaluate]), ignoresBody];
  let dedicated: PerTarget[];
  try {
    await checkTargets(targets);
    const isolate = await isolateHeapSampler(inspectorPort, 'evaluate');
    const sampler = setInterval(() => {
      const t = Date.now() - started;
      if (pid !== undefined) rss.push({ t, mib: rssMiB(pid) });
      void isolate.usedBytes().then((bytes) => heap.push({ t, mib: bytes / 2 ** 20 }));
    }, 1000);
    try {
      const segments = await interleave(targets, { rounds, seconds: segmentSeconds, connections, pid, log: (l) => ctx.log(`http (dedicated): ${l}`) });
      dedicated = summarise(targets, segments);
    } finally {
      clearInterval(sampler);
      isolate.close();
    }
  } finally {
    await rig.close();
  }

  // 2. The local stack's workerd, when run.ts added the bare Worker to it (smaller, for context).
  let stackPer: PerTarget[] | null = null;
  if (ctx.stack && ctx.stackBareUrl) {
    await prepareEvaluateData(ctx.stack);
    const single = pairedTargets(ctx.stack.urls.evaluate, ctx.stackBareUrl, ctx.stack.evalKey, 'org-1', 'u-1')[0]!;
    const targets: Target[] = [single.bare, single.evaluate];
    await checkTargets(targets);
    const segments = await interleave(targets, { rounds: ctx.quick ? 2 : 4, seconds: ctx.quick ? 4 : 10, connections, log: (l) => ctx.log(`http (stack): ${l}`) });
    stackPer = summarise(targets, segments);
  }

  const byName = new Map(dedicated.map((p) => [p.target, p]));
  const of = (t: Target) => byName.get(t.name)!;
  const bulk = of(pairs[1]!.evaluate);
  const bareReads = of(pairs[1]!.bare);
  const bareIgnores = of(ignoresBody);
  const summary: SummaryRow[] = [
    ...pairs.flatMap((p) => rows('', of(p.evaluate), of(p.bare))),
    {
      metric: 'bare Worker reading the bulk body ÷ bare Worker ignoring it (throughput)',
      value: `${round((bareReads.rps / bareIgnores.rps) * 100, 0)}% (${bareReads.rps} vs ${bareIgnores.rps} req/s)`,
    },
    {
      metric: `${bulk.target}: throughput ÷ bare ignoring the body`,
      value: `${round((bulk.rps / bareIgnores.rps) * 100, 0)}%`,
    },
    heapRow(heap),
    rssRow(rss),
    ...(stackPer ? rows('stack workerd (admin+cron+queue beside): ', stackPer[1]!, stackPer[0]!).filter((r) => !r.metric.endsWith('errors')) : []),
  ];
  return {
    name: 'http',
    title: '(c) evaluate Worker under load vs a bare Worker (autocannon, loopback, same workerd)',
    status: 'ok',
    note:
      `${connections} connections, ${rounds} rounds × ${segmentSeconds} s per target, targets interleaved round by round (order rotating). ` +
      'Main rows: one dedicated workerd holding only the bundled evaluate Worker (KV from vectors/cascade.json, metrics counting on, queue consumed by an acking sink) and the bare Worker, both behind direct sockets; each evaluate request is compared with the same request (path, headers, body) sent to the bare Worker, which reads a POST body before answering its constant JSON (one more target shows it ignoring the body). ' +
      '"stack workerd" rows: the same bare Worker added to the local stack\'s workerd (admin, cron and the queue consumer beside the evaluate Worker), for context. ' +
      'Latency percentiles come from every 2xx response time autocannon measured (hrtime, fractional ms) over all segments of a target, bucketed at 10 µs (autocannon\'s own histogram keeps whole ms); the load generator shares the 2 cores with workerd. ' +
      'workerd CPU per request is user+system time of the workerd process over each segment (10 ms ticks); it is less sensitive to other processes than throughput. Memory: the evaluate isolate\'s used JS heap is sampled every second through workerd\'s inspector (Runtime.getHeapUsage); the smallest sample of a quarter is its live heap (workerd does not answer a forced collection). The workerd process RSS is reported too: it holds both Workers and the KV and queue simulators and climbs under load of the bare Worker alone, so it is not the isolate\'s memory.',
    machine: machine(),
    quick: ctx.quick,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    summary,
    details: { connections, rounds, segmentSeconds, targets: dedicated, heap, rss, stack: stackPer },
  };
}
