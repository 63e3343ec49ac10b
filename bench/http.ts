// (c) evaluate HTTP load. The measurement that counts: a dedicated workerd holding only the bundled
// evaluate Worker and a bare Worker that returns constant JSON (bench/http-rig.ts), both behind direct
// sockets, KV filled from vectors/cascade.json, targets interleaved round by round, so "throughput ÷
// bare" compares two Workers served the same way in the same runtime. A second, smaller measurement
// runs the same comparison inside the local stack's workerd (admin + cron + queue consumer beside the
// evaluate Worker, the bare Worker added through `extraWorkers`), labelled "stack".
import { childWorkerdPids, machine, percentile, percentiles, round, rssMiB, type BenchContext, type BenchResult, type SummaryRow } from './lib';
import { bundleEvaluate, checkTargets, evaluateTargets, interleave, startRig, type Segment, type Target } from './http-rig';

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
    const cpu = segs.every((s) => s.cpuMs !== undefined && Number.isFinite(s.cpuMs)) ? segs.reduce((a, s) => a + s.cpuMs!, 0) : Number.NaN;
    return {
      target: t.name,
      requests,
      rps: round(requests / seconds, 1),
      errors: segs.reduce((a, s) => a + s.errors, 0),
      // per-segment autocannon percentiles (ms); the worst segment's p99 is reported
      latencyMs: { p50: percentiles(segs.map((s) => s.latency.p50), 2).p50, p99: Math.max(...segs.map((s) => s.latency.p99)) },
      rpsPerSegment: segs.map((s) => round(s.requests / s.seconds, 1)),
      cpuUsPerRequest: Number.isFinite(cpu) && requests > 0 ? round((cpu * 1000) / requests, 1) : null,
    };
  });
}

/** Rows of one comparison: throughput (total and median of per-round ratios), p99 added, errors, CPU. */
function rows(label: string, per: PerTarget[]): SummaryRow[] {
  const base = per[0]!;
  return per.slice(1).flatMap((p) => {
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
        value: `${round(p.latencyMs.p99 - base.latencyMs.p99, 2)} ms (p99 ${p.latencyMs.p99} vs ${base.latencyMs.p99} ms; p50 ${p.latencyMs.p50} vs ${base.latencyMs.p50} ms)`,
        target: '< 1 ms',
        pass: p.latencyMs.p99 - base.latencyMs.p99 < 1,
      },
      { metric: `${label}${p.target}: errors`, value: `${p.errors} of ${p.requests}`, target: '0', pass: p.errors === 0 },
    ];
    if (p.cpuUsPerRequest !== null && base.cpuUsPerRequest !== null) {
      out.push({ metric: `${label}${p.target}: workerd CPU per request ÷ bare`, value: `${round(p.cpuUsPerRequest / base.cpuUsPerRequest, 2)}× (${p.cpuUsPerRequest} vs ${base.cpuUsPerRequest} µs)` });
    }
    return out;
  });
}

function rssGrowth(rss: { t: number; mib: number }[]): { growth: number; row: SummaryRow } {
  // after warm-up: the second quarter of the run against the last quarter
  const q = Math.max(1, Math.floor(rss.length / 4));
  const firstQ = rss.slice(q, 2 * q).map((s) => s.mib);
  const lastQ = rss.slice(-q).map((s) => s.mib);
  const growth = round(percentiles(lastQ).p50 / percentiles(firstQ).p50, 3);
  return {
    growth,
    row: {
      metric: 'dedicated workerd RSS after warm-up, last ÷ second quarter of the run',
      value: `${growth}× (${percentiles(firstQ).p50} → ${percentiles(lastQ).p50} MiB; start ${rss[0]?.mib} MiB, max ${Math.max(...rss.map((s) => s.mib))} MiB)`,
      target: 'flat (≈ 1)',
      pass: growth < 1.1,
    },
  };
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const started = Date.now();
  const connections = 4;
  const rounds = ctx.quick ? 3 : 6;
  const segmentSeconds = ctx.quick ? 4 : 10; // quick: 12 s per target, full: 60 s per target

  // 1. Dedicated workerd: evaluate bundle + bare Worker only.
  const before = new Set(childWorkerdPids());
  const rig = await startRig({ evaluate: await bundleEvaluate() });
  const pid = childWorkerdPids().find((p) => !before.has(p));
  const rss: { t: number; mib: number }[] = [];
  let dedicated: PerTarget[];
  try {
    const targets: Target[] = [{ name: 'bare worker (constant JSON)', url: `${rig.urls.bare}/`, method: 'GET' }, ...evaluateTargets('', rig.urls.evaluate!, rig.evalKey, 'org-a', 'u1')];
    await checkTargets(targets);
    const sampler = setInterval(() => {
      if (pid !== undefined) rss.push({ t: Date.now() - started, mib: rssMiB(pid) });
    }, 500);
    try {
      const segments = await interleave(targets, { rounds, seconds: segmentSeconds, connections, pid, log: (l) => ctx.log(`http (dedicated): ${l}`) });
      dedicated = summarise(targets, segments);
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await rig.close();
  }
  const memory = rssGrowth(rss);

  // 2. The local stack's workerd, when run.ts added the bare Worker to it (smaller, for context).
  let stackPer: PerTarget[] | null = null;
  if (ctx.stack && ctx.stackBareUrl) {
    await prepareEvaluateData(ctx.stack);
    const targets: Target[] = [
      { name: 'bare worker (constant JSON)', url: `${ctx.stackBareUrl}/`, method: 'GET' },
      evaluateTargets('', ctx.stack.urls.evaluate, ctx.stack.evalKey, 'org-1', 'u-1')[0]!,
    ];
    await checkTargets(targets);
    const segments = await interleave(targets, { rounds: ctx.quick ? 2 : 4, seconds: ctx.quick ? 4 : 10, connections, log: (l) => ctx.log(`http (stack): ${l}`) });
    stackPer = summarise(targets, segments);
  }

  const summary = [...rows('', dedicated), memory.row, ...(stackPer ? rows('stack workerd (admin+cron+queue beside): ', stackPer).filter((r) => !r.metric.endsWith('errors')) : [])];
  return {
    name: 'http',
    title: '(c) evaluate Worker under load vs a bare Worker (autocannon, loopback, same workerd)',
    status: 'ok',
    note:
      `${connections} connections, ${rounds} rounds × ${segmentSeconds} s per target, targets interleaved round by round (order rotating). ` +
      'Main rows: one dedicated workerd holding only the bundled evaluate Worker (KV from vectors/cascade.json, metrics counting on, queue consumed by an acking sink) and the bare Worker, both behind direct sockets. ' +
      '"stack workerd" rows: the same bare Worker added to the local stack\'s workerd (admin, cron and the queue consumer beside the evaluate Worker), for context. ' +
      'autocannon reports latency in whole ms, so "added latency" has 1 ms resolution; the load generator shares the 2 cores with workerd. ' +
      'workerd CPU per request is user+system time of the workerd process over each segment (10 ms ticks); it is less sensitive to other processes than throughput. RSS is the dedicated workerd process; it also climbs (≈120 → 300+ MiB, levelling off near 440 MiB) under load of the bare Worker alone, so growth here is workerd\'s, not the evaluate Worker\'s caches (which are bounded).',
    machine: machine(),
    quick: ctx.quick,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    summary,
    details: { connections, rounds, segmentSeconds, targets: dedicated, rss, stack: stackPer },
  };
}
