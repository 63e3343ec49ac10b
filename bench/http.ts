// (c) evaluate HTTP load. The measurement that counts: a dedicated workerd holding only the bundled
// evaluate Worker and bare Workers that return constant JSON (per route, the bytes the evaluate Worker
// answers; bench/http-rig.ts), all behind direct sockets, KV filled from vectors/cascade.json, each
// evaluate target and its baselines back to back in every round (bench/rounds.ts), so "throughput ÷
// bare" compares two Workers served the same way in the same runtime. A second, smaller measurement
// runs the same comparison inside the local stack's workerd (admin + cron + queue consumer beside the
// evaluate Worker, the bare Worker added through `extraWorkers`), labelled "stack", reported only.
import { freePort } from '../scripts/stack/ports';
import { isolateHeapSampler } from './inspector';
import { childWorkerdPids, machine, median, percentile, percentiles, round, rssMiB, type BenchContext, type BenchResult, type SummaryRow } from './lib';
import { STEAL_LIMIT, calmMedian, calmRatio, calmRounds, pairedRatios } from './verdict';
import { groupedRounds } from './rounds';
import {
  ROUTES,
  bundleEvaluate,
  checkSameAnswers,
  checkTargets,
  histogramPercentile,
  interleave,
  mergeHistograms,
  routeAnswers,
  pairedTargets,
  rigPairs,
  routeTarget,
  startRig,
  type Segment,
  type Target,
} from './http-rig';

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
  /** p99 response time of each segment (ms), in round order. */
  p99PerSegment: number[];
  /** workerd CPU per request (µs), all segments together. */
  cpuUsPerRequest: number | null;
  /** workerd CPU per request (µs) of each segment, in round order. */
  cpuUsPerSegment: (number | null)[];
  /** Steal time of each segment (share of the machine's CPU time), in round order. */
  stealPerSegment: number[];
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
      p99PerSegment: segs.map((s) => histogramPercentile(s.histogram, 99)),
      cpuUsPerRequest: Number.isFinite(cpu) && requests > 0 ? round((cpu * 1000) / requests, 1) : null,
      cpuUsPerSegment: segs.map((s) => (s.cpuMs !== undefined && Number.isFinite(s.cpuMs) && s.requests > 0 ? round((s.cpuMs * 1000) / s.requests, 1) : null)),
      stealPerSegment: segs.map((s) => round(s.steal ?? Number.NaN, 4)),
    };
  });
}

/**
 * Rows of one comparison of an evaluate target with its bare counterpart at saturation: throughput
 * (judged), errors (judged), CPU, and the latency percentiles at saturation, reported only: with
 * every connection waiting on a saturated core, each answer waits for the answers queued before it,
 * so those percentiles grow with the throughput gap and with the machine's speed (see fixedRateRow).
 *
 * Throughput is judged on the median over rounds of the ratio within a round, over the calm rounds:
 * those in which the hypervisor took at most 5% of the machine from either segment. The two segments
 * of a round run back to back, each first in every other round (bench/rounds.ts), so the ratio
 * compares them under the same conditions; the speed of this shared machine swings far more than
 * that between rounds (one full run saw the bare Worker answer from 974 to 9,478 req/s across its
 * 10 s segments, quick runs have seen half the CPU stolen),
 * and a segment that lost its CPU to other guests measures them, not the Worker. With fewer than 5
 * calm rounds the row is reported, not judged. The median over all rounds and the ratio of the totals
 * are shown beside it. With `judge` false the same figures are reported without targets or the errors row.
 */
function rows(label: string, p: PerTarget, base: PerTarget, judge = true): SummaryRow[] {
  const { median: ratio, judged, calm: calmRatios, all: allRatios } = calmRatio(
    { values: p.rpsPerSegment, steal: p.stealPerSegment },
    { values: base.rpsPerSegment, steal: base.stealPerSegment },
  );
  const out: SummaryRow[] = [
    {
      metric: `${label}${p.target}: throughput ÷ bare (median over calm rounds)`,
      value:
        `${round(ratio * 100, 0)}% (${judged ? '' : 'not judged: '}${calmRatios.length} of ${allRatios.length} rounds calm` +
        `${judged ? `, quartiles ${round(percentile(calmRatios, 25) * 100, 0)}–${round(percentile(calmRatios, 75) * 100, 0)}%` : ', median over all rounds shown'}; ` +
        `all rounds ${round(median(allRatios) * 100, 0)}%, totals ${round((p.rps / base.rps) * 100, 0)}%: ${p.rps} vs ${base.rps} req/s)`,
      ...(judge ? { target: '≥ 80%', pass: judged ? ratio >= 0.8 : undefined } : {}),
    },
    ...(judge ? [{ metric: `${label}${p.target}: errors`, value: `${p.errors} of ${p.requests}`, target: '0', pass: p.errors === 0 }] : []),
    {
      metric: `${label}${p.target}: p99 added latency vs bare at saturation (closed loop)`,
      value: `${round(p.latencyMs.p99 - base.latencyMs.p99, 2)} ms (p99 ${round(p.latencyMs.p99, 2)} vs ${round(base.latencyMs.p99, 2)} ms; p50 ${round(p.latencyMs.p50, 2)} vs ${round(base.latencyMs.p50, 2)} ms)`,
    },
  ];
  const cpuRatios = pairedRatios(p.cpuUsPerSegment, base.cpuUsPerSegment);
  if (p.cpuUsPerRequest !== null && base.cpuUsPerRequest !== null && cpuRatios.length > 0) {
    out.push({
      metric: `${label}${p.target}: workerd CPU per request ÷ bare (median over rounds)`,
      value: `${round(median(cpuRatios), 2)}× (all rounds together ${round(p.cpuUsPerRequest / base.cpuUsPerRequest, 2)}×: ${p.cpuUsPerRequest} vs ${base.cpuUsPerRequest} µs)`,
    });
  }
  return out;
}

/** How much of the machine other guests took while the saturation rounds ran (steal time per segment). */
function stealRow(targets: readonly PerTarget[]): SummaryRow {
  const steal = targets.flatMap((t) => t.stealPerSegment).filter((x) => Number.isFinite(x));
  if (steal.length === 0) return { metric: 'steal time during the saturation rounds', value: 'not available (no /proc/stat)' };
  const disturbed = steal.filter((x) => x > STEAL_LIMIT).length;
  return {
    metric: 'steal time during the saturation rounds (CPU taken by other guests of the host)',
    value: `median ${round(median(steal) * 100, 1)}%, max ${round(Math.max(...steal) * 100, 1)}% of the machine's CPU time; ${disturbed} of ${steal.length} segments above 5%`,
  };
}

/**
 * The added latency a caller sees: evaluate and bare at the same fixed request rate, half of what the
 * slower of the two answered at saturation, so neither core is saturated and a response time is the
 * time to answer that request, not the queue before it. The judged figure is the median over rounds
 * of (evaluate p99 − bare p99) within a round, over the calm rounds as for throughput (rows()): the
 * two run back to back, and one stall of this shared machine then moves one round, not the verdict.
 * The p99s over all rounds are shown beside it. Errors are judged whatever the steal time.
 */
function fixedRateRow(route: string, p: PerTarget, base: PerTarget, rate: number): SummaryRow {
  const diffs = p.p99PerSegment.map((p99, i) => p99 - base.p99PerSegment[i]!);
  const { median: added, judged, calm } = calmMedian(diffs, calmRounds(p.stealPerSegment, base.stealPerSegment));
  const errors = p.errors + base.errors;
  return {
    metric: `${route}: p99 added latency vs bare at a fixed ${rate} req/s (median over calm rounds)`,
    value:
      `${round(added, 2)} ms (${judged ? '' : 'not judged: '}${calm.length} of ${diffs.length} rounds calm${judged ? '' : ', median over all rounds shown'}; ` +
      `all rounds: p99 ${round(p.latencyMs.p99, 2)} vs ${round(base.latencyMs.p99, 2)} ms, p50 ${round(p.latencyMs.p50, 2)} vs ${round(base.latencyMs.p50, 2)} ms; ` +
      `${p.requests} vs ${base.requests} answers, ${errors} errors)`,
    target: '< 1 ms',
    pass: errors > 0 ? false : judged ? added < 1 : undefined,
  };
}

/**
 * Where the gap to the bare Worker comes from: the contract floor (auth, body parse, the answer
 * headers, nothing evaluated) against the bare Worker, and the evaluate Worker against the floor.
 * Reported, not judged: the target is against the bare Worker.
 */
function floorRows(p: PerTarget, floor: PerTarget, base: PerTarget): SummaryRow[] {
  const cpu = (a: PerTarget, b: PerTarget) => {
    const ratios = pairedRatios(a.cpuUsPerSegment, b.cpuUsPerSegment);
    return ratios.length > 0 ? `; CPU per request ${round(median(ratios), 2)}× (${a.cpuUsPerRequest} vs ${b.cpuUsPerRequest} µs)` : '';
  };
  return [
    { metric: `${p.target}: contract floor ÷ bare (throughput, median over rounds)`, value: `${percentOf(floor, base)} (${floor.rps} vs ${base.rps} req/s${cpu(floor, base)})` },
    { metric: `${p.target}: evaluate ÷ contract floor (throughput, median over rounds)`, value: `${percentOf(p, floor)} (${p.rps} vs ${floor.rps} req/s${cpu(p, floor)})` },
  ];
}

/** Throughput of `a` over `b` as the median of the per-round ratios, in percent. */
function percentOf(a: PerTarget, b: PerTarget): string {
  return `${round(median(pairedRatios(a.rpsPerSegment, b.rpsPerSegment)) * 100, 0)}%`;
}

/** Quarters of a sample series after warm-up: the second quarter and the last one. */
function quarters<T>(samples: readonly T[]): { second: T[]; last: T[] } {
  const q = Math.max(1, Math.floor(samples.length / 4));
  return { second: samples.slice(q, 2 * q), last: samples.slice(-q) };
}

/** A sample of the evaluate isolate's used JS heap, taken during the memory soak. */
interface HeapSample {
  t: number;
  mib: number;
}

/**
 * The evaluate isolate's live JS heap over the memory soak: the smallest used-heap sample of a
 * quarter (right after a collection), second quarter against the last. All samples are taken under
 * saturating load, so every quarter holds collections; an idle isolate allocates nothing, does not
 * collect either, and would show its garbage as growth. This is the target's "memory of the isolate".
 */
function heapRow(heap: HeapSample[], quick: boolean): SummaryRow {
  const { second, last } = quarters(heap.map((s) => s.mib));
  const before = Math.min(...second);
  const after = Math.min(...last);
  const growth = round(after / before, 3);
  return {
    metric: 'evaluate isolate JS heap after warm-up (live: smallest sample), last ÷ second quarter of the run',
    value: `${growth}× (${round(before, 1)} → ${round(after, 1)} MiB; largest sample ${round(Math.max(...heap.map((s) => s.mib)), 1)} MiB, ${heap.length} samples)`,
    target: 'flat (≈ 1)',
    // A quick run's quarters are a few seconds of load each: the old generation may not be collected
    // within one, so its garbage would read as growth. Reported, judged on full runs only.
    pass: quick ? undefined : growth < 1.1,
  };
}

interface Soak {
  samples: HeapSample[];
  targets: PerTarget[];
  /** Seconds of load, every target together. */
  seconds: number;
}

/**
 * The memory soak: the evaluate routes at saturation for `seconds` (interleaved in 2 s segments),
 * with workerd's inspector attached to the evaluate isolate to sample its heap 4 times a second (under
 * this load the young generation is collected every few seconds, and a quarter of the soak must hold
 * samples taken right after a collection for its smallest sample to be the live heap). It runs
 * apart from the throughput and latency rounds because an attached inspector session slows the
 * isolate it watches (measured: bulk throughput 74–76% of bare with a session attached, 78–79%
 * without, in the same runs), and the bare Worker it is compared with has none.
 */
async function memorySoak(
  inspectorPort: number,
  targets: Target[],
  seconds: number,
  connections: number,
  log: (line: string) => void,
): Promise<Soak> {
  const isolate = await isolateHeapSampler(inspectorPort, 'evaluate');
  const samples: HeapSample[] = [];
  const started = Date.now();
  const timer = setInterval(() => {
    const t = Date.now() - started;
    void isolate.usedBytes().then((bytes) => samples.push({ t, mib: bytes / 2 ** 20 }));
  }, 250);
  try {
    const segmentSeconds = 2;
    const rounds = Math.max(1, Math.round(seconds / (segmentSeconds * targets.length)));
    const segments = await interleave(targets, { rounds, seconds: segmentSeconds, connections, log });
    return { samples, targets: summarise(targets, segments), seconds: rounds * segmentSeconds * targets.length };
  } finally {
    clearInterval(timer);
    isolate.close();
  }
}

/** Errors over the memory soak (judged like the saturation rounds' errors: none). */
function soakErrorsRow(soak: Soak): SummaryRow {
  const requests = soak.targets.reduce((a, p) => a + p.requests, 0);
  const errors = soak.targets.reduce((a, p) => a + p.errors, 0);
  return { metric: `memory soak (every evaluate route at saturation, ${soak.seconds} s): errors`, value: `${errors} of ${requests}`, target: '0', pass: errors === 0 };
}

/** The whole workerd process (every Worker of the rig, KV and queue simulators): reported, not judged. */
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
  // Many short rounds, the segments of a comparison back to back (see rows()).
  const rounds = ctx.quick ? 12 : 60;
  const segmentSeconds = 1; // quick: 12 s per target, full: 60 s per target

  // 1. Dedicated workerd: evaluate bundle + baseline Workers only. The baselines answer, per route, the
  // bytes the evaluate Worker answers (captured first, in a workerd of their own).
  const bundle = await bundleEvaluate();
  const [orgId, userId] = ['org-a', 'u1'];
  const routeBodies = await routeAnswers(bundle, {}, orgId, userId);
  const before = new Set(childWorkerdPids());
  const inspectorPort = await freePort();
  const rig = await startRig({ evaluate: bundle }, {}, { inspectorPort, routeBodies });
  const pid = childWorkerdPids().find((p) => !before.has(p));
  const rss: { t: number; mib: number }[] = [];
  const url = (name: string) => rig.urls[name]!;
  const pairs = rigPairs(rig, orgId, userId);
  const bulkPair = pairs[ROUTES.indexOf('bulk')]!;
  // The bulk request to a bare Worker answering a small single-flag body: what the answer's size costs by itself.
  const answersSmall = routeTarget('bulk', 'bare, small answer: ', url('bare'), rig.evalKey, orgId, userId);
  // The bulk request to a bare Worker that does not read the body: what receiving a body costs by itself.
  const ignoresBody = routeTarget('bulk', 'bare, body not read: ', url('bare-ignores-body'), rig.evalKey, orgId, userId);
  // Each route's group: bare, evaluate, contract floor (evaluate beside both); the bulk group also
  // holds the two bare variants, in the same rounds as the Workers they are compared with.
  const groups: Target[][] = pairs.map((p) => [p.bare, p.evaluate, p.floor]);
  groups[ROUTES.indexOf('bulk')]!.unshift(ignoresBody, answersSmall);
  const targets = groups.flat();
  let dedicated: PerTarget[];
  let fixed: PerTarget[];
  let fixedRates: number[];
  let soak: Soak;
  let smallBytes: number;
  // RSS is read from /proc throughout; the isolate's heap only in the soak (see memorySoak).
  const sampler = setInterval(() => {
    if (pid !== undefined) rss.push({ t: Date.now() - started, mib: rssMiB(pid) });
  }, 1000);
  try {
    const bodies = await checkTargets(targets);
    smallBytes = Buffer.byteLength(bodies.get(answersSmall.name)!);
    checkSameAnswers(pairs, bodies);
    const segments = await interleave(targets, {
      rounds,
      seconds: segmentSeconds,
      connections,
      order: groupedRounds(groups),
      pid,
      log: (l) => ctx.log(`http (dedicated): ${l}`),
    });
    dedicated = summarise(targets, segments);
    // 1b. Latency at a fixed rate: each pair at half of what its slower Worker answered above.
    const saturated = new Map(dedicated.map((p) => [p.target, p]));
    fixedRates = pairs.map((p) => Math.max(100, Math.floor((0.5 * Math.min(saturated.get(p.evaluate.name)!.rps, saturated.get(p.bare.name)!.rps)) / 50) * 50));
    const fixedGroups = pairs.map((p, i) => [p.bare, p.evaluate].map((t) => ({ ...t, name: `fixed rate: ${t.name}`, rate: fixedRates[i] })));
    const fixedTargets = fixedGroups.flat();
    const fixedSegments = await interleave(fixedTargets, {
      order: groupedRounds(fixedGroups),
      rounds: ctx.quick ? 3 : 10,
      seconds: 3,
      connections,
      log: (l) => ctx.log(`http (dedicated, fixed rate): ${l}`),
    });
    fixed = summarise(fixedTargets, fixedSegments);
    // 1c. Memory soak: the evaluate routes at saturation with the heap sampler attached.
    soak = await memorySoak(inspectorPort, pairs.map((p) => p.evaluate), ctx.quick ? 12 : 60, connections, (l) => ctx.log(`http (memory soak): ${l}`));
  } finally {
    clearInterval(sampler);
    await rig.close();
  }

  // 2. The local stack's workerd, when run.ts added the bare Worker to it (smaller, for context).
  let stackPer: PerTarget[] | null = null;
  if (ctx.stack && ctx.stackBareUrl) {
    await prepareEvaluateData(ctx.stack);
    const stackBare = ctx.stackBareUrl;
    const single = pairedTargets({ evaluate: ctx.stack.urls.evaluate, bareOf: () => stackBare }, ctx.stack.evalKey, 'org-1', 'u-1')[0]!;
    const targets: Target[] = [single.bare, single.evaluate];
    await checkTargets(targets);
    const segments = await interleave(targets, { rounds: ctx.quick ? 4 : 20, seconds: 2, connections, log: (l) => ctx.log(`http (stack): ${l}`) });
    stackPer = summarise(targets, segments);
  }

  const byName = new Map(dedicated.map((p) => [p.target, p]));
  const of = (t: Target) => byName.get(t.name)!;
  const bulk = of(bulkPair.evaluate);
  const bareReads = of(bulkPair.bare);
  const bareIgnores = of(ignoresBody);
  const bareSmall = of(answersSmall);
  const bulkBytes = Buffer.byteLength(routeBodies[ROUTES.indexOf('bulk')]!);
  const summary: SummaryRow[] = [
    ...pairs.flatMap((p) => rows('', of(p.evaluate), of(p.bare))),
    stealRow(dedicated),
    ...pairs.map((p, i) => {
      const fixedOf = (t: Target) => fixed.find((f) => f.target === `fixed rate: ${t.name}`)!;
      return fixedRateRow(p.evaluate.name, fixedOf(p.evaluate), fixedOf(p.bare), fixedRates[i]!);
    }),
    ...pairs.flatMap((p) => floorRows(of(p.evaluate), of(p.floor), of(p.bare))),
    {
      metric: 'bare Worker reading the bulk body ÷ bare Worker ignoring it (throughput, median over rounds)',
      value: `${percentOf(bareReads, bareIgnores)} (${bareReads.rps} vs ${bareIgnores.rps} req/s)`,
    },
    {
      metric: `${bulk.target}: throughput ÷ bare ignoring the body (median over rounds)`,
      value: percentOf(bulk, bareIgnores),
    },
    {
      metric: `bare Worker answering the bulk route's ${bulkBytes} bytes ÷ answering ${smallBytes} bytes (throughput, median over rounds)`,
      value: `${percentOf(bareReads, bareSmall)} (${bareReads.rps} vs ${bareSmall.rps} req/s)`,
    },
    {
      metric: `${bulk.target}: throughput ÷ a bare Worker answering ${smallBytes} bytes instead of the same ${bulkBytes} (median over rounds; reported, not judged)`,
      value: percentOf(bulk, bareSmall),
    },
    heapRow(soak.samples, ctx.quick),
    soakErrorsRow(soak),
    rssRow(rss),
    // Reported, not judged: see the note.
    ...(stackPer ? rows('stack workerd (admin+cron+queue beside): ', stackPer[1]!, stackPer[0]!, false) : []),
  ];
  return {
    name: 'http',
    title: '(c) evaluate Worker under load vs a bare Worker (autocannon, loopback, same workerd)',
    status: 'ok',
    note:
      `${connections} connections, ${rounds} rounds × ${segmentSeconds} s per target; in every round each evaluate target runs back to back with its bare Worker and its contract floor (between the two), in reversed order every other round, the groups rotating from round to round (bench/rounds.ts). ` +
      'Throughput and CPU ratios are the median over rounds of the ratio within a round (the evaluate segment and its bare counterpart run one after the other, each first in half the rounds); the steal time of every segment is read from /proc/stat, because other guests of the host change this machine\'s speed several-fold from one 10 s stretch to the next, and throughput is judged over the calm rounds only (neither segment lost more than 5% of the machine to steal; fewer than 5 calm rounds: reported, not judged), with the median over all rounds and the ratio of the totals beside it. ' +
      'Main rows: one dedicated workerd holding only the bundled evaluate Worker (KV from vectors/cascade.json, metrics counting on, queue consumed by an acking sink) and the baseline Workers, all behind direct sockets; each evaluate request is compared with the same request (path, headers, body) sent to a bare Worker, which reads a POST body before answering its constant JSON: the body the evaluate Worker answers that request (captured before the rounds from a workerd of its own, and checked to be equal), so both send the same body bytes and the ratio does not count the answer\'s size as evaluation (the headers of the contract are the contract floor\'s part). Each baseline Worker is an isolate of its own serving one route; the evaluate Worker serves all three. One more target shows the bare Worker ignoring the body, and one answering the bulk request with a small single-flag body (reported, not judged), which shows what the bulk answer\'s size costs by itself. ' +
      'The same request also goes to a contract-floor Worker in that workerd (bench/contract-floor-worker.js: checks the key in Authorization, parses a POST body, answers the same constant JSON as the bare Worker of the route with the X-Request-Id, Cache-Control and Vary headers every evaluate answer carries (and CORS headers when the request has Origin, as the evaluate Worker does; the bench sends none, like a server-side caller), evaluates nothing), to split the gap into what the contract costs and what evaluation costs; those rows are reported, not judged. ' +
      '"stack workerd" rows, for context, reported and not judged: a bare Worker answering the small single-flag body (not size-matched) added to the local stack\'s workerd (admin, cron and the queue consumer beside the evaluate Worker), whose metrics the queue consumer writes to the embedded database (PGlite), which runs in the bench\'s own process beside the load generator, during and just after the evaluate segments (the bare Worker counts nothing). ' +
      'Added latency is judged at a fixed rate: each evaluate target and its bare counterpart are loaded again at the same open-loop rate, half of what the slower of the two answered at saturation, in 3 (quick) or 10 paired rounds of 3 s, judged on the median over the calm rounds of the p99 difference within a round; at saturation (closed loop) every answer also waits for the ones queued before it on the saturated core, so those latency rows are reported, not judged. ' +
      'Latency percentiles come from every 2xx response time autocannon measured (hrtime, fractional ms) over all segments of a target, bucketed at 10 µs (autocannon\'s own histogram keeps whole ms); the load generator shares the 2 cores with workerd. ' +
      'workerd CPU per request is user+system time of the workerd process over each segment (10 ms ticks); it is less sensitive to other processes than throughput. Memory: after those rounds, a soak loads the three evaluate routes at saturation (60 s; quick 12 s) with workerd\'s inspector attached to the evaluate isolate, sampling its used JS heap 4 times a second (Runtime.getHeapUsage); the smallest sample of a quarter is its live heap (workerd does not answer a forced collection). No inspector is attached during the throughput and latency rounds: an attached session slows the isolate it watches by a few percent, and the bare Worker has none. The workerd process RSS is reported too: it holds every Worker of the rig (the evaluate Worker, the baselines, a queue sink) and the KV and queue simulators and climbs under load of the bare Worker alone, so it is not the isolate\'s memory.',
    machine: machine(),
    quick: ctx.quick,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    summary,
    details: { connections, rounds, segmentSeconds, targets: dedicated, fixedRate: { rates: fixedRates, targets: fixed }, soak: { heap: soak.samples, targets: soak.targets, seconds: soak.seconds }, rss, stack: stackPer },
  };
}
