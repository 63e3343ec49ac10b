// The fair HTTP comparison of bench (c): one dedicated workerd (one Miniflare) that holds the bundled
// evaluate Worker (or several builds of it, for before/after comparisons) and the baseline Workers
// (per route a bare and a contract-floor Worker answering the evaluate Worker's bytes), each behind its
// own direct socket, with the KV namespace filled from vectors/cascade.json and one global evaluate
// key. Nothing else runs in that workerd (no admin, no cron, no database), so the ratio evaluate ÷
// bare measures what the evaluate Worker adds, not what its neighbours cost.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { Miniflare, convertV4MiniflareOptions, type MiniflareOptions } from 'miniflare';
import { SourceStateSchema, buildLayers, evaluateKeyKey, globalLayerKey, orgLayerKey } from '../shared/snapshot';
import { bundleWorkers } from '../scripts/stack/build';
import { freePort } from '../scripts/stack/ports';
import { sha256Hex } from '../shared/tokens';
import { COMPATIBILITY_DATE } from '../scripts/stack/workers';
import { ROOT } from './lib';
import { roundOrders, rotatingRounds } from './rounds';

export const BENCH_EVAL_KEY = 'cmf_eval_bench_0123456789abcdef';
const KV_ID = 'bench-flags-kv';
const QUEUE = 'bench-events';

/** Miniflare v4 options of a plain baseline Worker (a script under bench/) behind a direct socket on `port`. */
function baselineWorkerOptions(name: string, script: string, port: number, bindings: Record<string, string>): Record<string, unknown> {
  return {
    name,
    modules: true,
    scriptPath: resolve(ROOT, 'bench', script),
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ['nodejs_compat'],
    bindings,
    unsafeDirectSockets: [{ host: '127.0.0.1', port }],
  };
}

/**
 * Miniflare v4 options of the bare baseline Worker behind a direct socket on `port`; `body` is the
 * constant it answers (default: a small single-flag answer); `ignoreBody` makes it answer a POST
 * without reading the body.
 */
export function bareWorkerOptions(port: number, name = 'bare', options: { body?: string; ignoreBody?: boolean } = {}): Record<string, unknown> {
  return baselineWorkerOptions(name, 'bare-worker.js', port, {
    ...(options.body === undefined ? {} : { BODY: options.body }),
    ...(options.ignoreBody === true ? { IGNORE_BODY: '1' } : {}),
  });
}

/** Miniflare v4 options of a contract-floor Worker answering `body`, behind a direct socket on `port`: it accepts the bench's evaluate key. */
function contractFloorWorkerOptions(port: number, name: string, body: string): Record<string, unknown> {
  return baselineWorkerOptions(name, 'contract-floor-worker.js', port, { EXPECTED_AUTHORIZATION: `Bearer ${BENCH_EVAL_KEY}`, BODY: body });
}

/** The routes of bench (c). */
export const ROUTES = ['single', 'bulk', 'ofrep'] as const;
export type Route = (typeof ROUTES)[number];

export interface Rig {
  /**
   * Base URL per Worker name: every evaluate build and, with route bodies, `bare-<route>` and
   * `contract-floor-<route>` per route of ROUTES, `bare` (a small body) and `bare-ignores-body`.
   */
  urls: Record<string, string>;
  evalKey: string;
  mf: Miniflare;
  close(): Promise<void>;
}

/** The bundled evaluate Worker, built like the stack builds it (into its own folder). */
export async function bundleEvaluate(): Promise<string> {
  return (await bundleWorkers(ROOT, resolve(ROOT, '.wrangler', 'bench')))['evaluate'];
}

/**
 * Starts the rig. `evaluate` maps Worker names to bundled evaluate scripts (paths under ROOT); each gets
 * the bindings of `[env.evaluate]`: KV, the EVENTS queue (metrics counting on, consumed by an acking
 * sink Worker as the cron Worker would), SNAPSHOT_MAX_AGE_MS=1000 as in the local stack.
 * `routeBodies` (from routeAnswers, one per route of ROUTES) adds the baselines: a bare and a
 * contract-floor Worker per route that answer those bytes, `bare` answering a small single-flag body,
 * and `bare-ignores-body` answering the bulk route's bytes without reading the request body. Each
 * baseline Worker is an isolate of its own and serves one route; the evaluate Worker serves all three.
 */
export async function startRig(
  evaluate: Record<string, string>,
  vars: Record<string, string> = {},
  options: { inspectorPort?: number; routeBodies?: readonly string[] } = {},
): Promise<Rig> {
  const { routeBodies, ...miniflareOptions } = options;
  const urls: Record<string, string> = {};
  const workers: Record<string, unknown>[] = [];
  const add = async (name: string, optionsOf: (port: number) => Record<string, unknown>) => {
    const port = await freePort();
    workers.push(optionsOf(port));
    urls[name] = `http://127.0.0.1:${port}`;
  };
  if (routeBodies !== undefined) {
    if (routeBodies.length !== ROUTES.length) throw new Error(`startRig: ${routeBodies.length} route bodies for ${ROUTES.length} routes`);
    await add('bare', (port) => bareWorkerOptions(port));
    await add('bare-ignores-body', (port) => bareWorkerOptions(port, 'bare-ignores-body', { body: routeBodies[ROUTES.indexOf('bulk')]!, ignoreBody: true }));
    for (const [i, route] of ROUTES.entries()) {
      await add(`bare-${route}`, (port) => bareWorkerOptions(port, `bare-${route}`, { body: routeBodies[i]! }));
      await add(`contract-floor-${route}`, (port) => contractFloorWorkerOptions(port, `contract-floor-${route}`, routeBodies[i]!));
    }
  }
  for (const [name, scriptPath] of Object.entries(evaluate)) {
    await add(name, (port) => ({
      name,
      modules: true,
      scriptPath,
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: ['nodejs_compat'],
      kvNamespaces: { FLAGS_KV: KV_ID },
      queueProducers: { EVENTS: QUEUE },
      bindings: { SNAPSHOT_MAX_AGE_MS: '1000', ...vars },
      unsafeDirectSockets: [{ host: '127.0.0.1', port }],
    }));
  }
  workers.push({
    name: 'sink',
    modules: true,
    script: 'export default { async queue(batch) { batch.ackAll(); } };',
    compatibilityDate: COMPATIBILITY_DATE,
    queueConsumers: { [QUEUE]: { maxBatchSize: 100, maxBatchTimeout: 1, maxRetries: 0 } },
  });
  const v4 = { host: '127.0.0.1', port: 0, rootPath: ROOT, kvPersist: false, cachePersist: false, workers, ...miniflareOptions };
  const mf = new Miniflare(convertV4MiniflareOptions(v4 as never) as MiniflareOptions);
  try {
    await mf.ready;
    const kv = (await mf.getKVNamespace('FLAGS_KV', Object.keys(evaluate)[0])) as unknown as KVNamespace;
    const cascade = JSON.parse(readFileSync(resolve(ROOT, 'test/vectors/cascade.json'), 'utf8')) as { state: unknown };
    const layers = buildLayers(SourceStateSchema.parse(cascade.state), { version: 1, generatedAt: Date.now() });
    await kv.put(globalLayerKey, JSON.stringify(layers.global));
    for (const [orgId, layer] of Object.entries(layers.orgs)) await kv.put(orgLayerKey(orgId), JSON.stringify(layer));
    await kv.put(evaluateKeyKey(await sha256Hex(BENCH_EVAL_KEY)), JSON.stringify({ id: 'bench', name: 'bench (global)' }));
  } catch (err) {
    await mf.dispose().catch(() => {});
    throw err;
  }
  return { urls, evalKey: BENCH_EVAL_KEY, mf, close: () => mf.dispose() };
}

export interface Target {
  name: string;
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** A fixed request rate over all connections (req/s); unset: closed loop, as fast as answers come. */
  rate?: number;
}

export interface Segment {
  requests: number;
  seconds: number;
  ok: number;
  errors: number;
  /** autocannon's own percentiles (whole ms). */
  latency: { p50: number; p90: number; p99: number; max: number };
  /** Response times of the 2xx answers in 10 µs buckets (see LATENCY_BUCKET_US), for sub-millisecond percentiles. */
  histogram: Uint32Array;
  /** CPU time the server's workerd process used during the segment (ms), when its pid is known. */
  cpuMs?: number;
  /** Share of the machine's CPU time the hypervisor gave to other guests during the segment (0..1). */
  steal?: number;
}

/** user + system CPU time of a process so far, in ms (clock ticks of /proc/<pid>/stat, 10 ms each). */
export function cpuTimeMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

/** The machine's CPU time counters so far (/proc/stat's first line: user, nice, system, idle, iowait, irq, softirq, steal, …). */
function machineCpuTicks(): number[] {
  try {
    return readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  } catch {
    return [];
  }
}

/** Steal time between two readings of machineCpuTicks, as a share of all CPU time (NaN where unknown). */
function stealBetween(before: number[], after: number[]): number {
  if (before.length < 8 || after.length < 8) return Number.NaN;
  let total = 0;
  for (let i = 0; i < 8; i++) total += after[i]! - before[i]!;
  return total > 0 ? (after[7]! - before[7]!) / total : Number.NaN;
}

/** The request of bench (c) for `route` against a base URL: single check, bulk of every flag, or OFREP single. */
export function routeTarget(route: Route, label: string, base: string, evalKey: string, orgId: string, userId: string): Target {
  const headers = { authorization: `Bearer ${evalKey}`, 'content-type': 'application/json' };
  switch (route) {
    case 'single':
      return { name: `${label}GET /v1/flags/:key`, url: `${base}/v1/flags/campaign.creation.enabled?orgId=${orgId}&userId=${userId}&platform=meta`, method: 'GET', headers };
    case 'bulk':
      return { name: `${label}POST /v1/evaluate (all flags)`, url: `${base}/v1/evaluate`, method: 'POST', headers, body: JSON.stringify({ context: { orgId, userId, platform: 'meta' } }) };
    case 'ofrep':
      return {
        name: `${label}POST /ofrep/v1/evaluate/flags/:key`,
        url: `${base}/ofrep/v1/evaluate/flags/campaign.creation.enabled`,
        method: 'POST',
        headers,
        body: JSON.stringify({ context: { targetingKey: userId, orgId, platform: 'meta' } }),
      };
  }
}

/** One route's request to an evaluate Worker, and the same request to its bare Worker and contract floor. */
export interface RoutePair {
  evaluate: Target;
  bare: Target;
  floor?: Target;
}

/**
 * The pairs of every route of ROUTES, in that order: `bareOf(route)` and `floorOf(route)` are the base
 * URLs of that route's baselines (no floor without `floorOf`).
 */
export function pairedTargets(
  urls: { evaluate: string; bareOf: (route: Route) => string; floorOf?: (route: Route) => string },
  evalKey: string,
  orgId: string,
  userId: string,
): RoutePair[] {
  const target = (route: Route, label: string, base: string) => routeTarget(route, label, base, evalKey, orgId, userId);
  return ROUTES.map((route) => ({
    evaluate: target(route, '', urls.evaluate),
    bare: target(route, 'bare: ', urls.bareOf(route)),
    floor: urls.floorOf === undefined ? undefined : target(route, 'contract floor: ', urls.floorOf(route)),
  }));
}

/** The pairs of a rig started with route bodies: its `evaluate` Worker against `bare-<route>` and `contract-floor-<route>`. */
export function rigPairs(rig: Rig, orgId: string, userId: string): Required<RoutePair>[] {
  const url = (name: string) => {
    const base = rig.urls[name];
    if (base === undefined) throw new Error(`the rig has no Worker ${name} (started without route bodies?)`);
    return base;
  };
  const urls = { evaluate: url('evaluate'), bareOf: (route: Route) => url(`bare-${route}`), floorOf: (route: Route) => url(`contract-floor-${route}`) };
  return pairedTargets(urls, rig.evalKey, orgId, userId) as Required<RoutePair>[];
}

/** Width of a latency bucket; autocannon's own histogram keeps whole milliseconds, too coarse for "< 1 ms added". */
export const LATENCY_BUCKET_US = 10;
const LATENCY_BUCKETS = 20_000; // 200 ms; slower answers land in the last bucket

/** Percentile (0..100) of a bucketed latency histogram, in ms (bucket upper bound). */
export function histogramPercentile(histogram: Uint32Array, p: number): number {
  let total = 0;
  for (const n of histogram) total += n;
  if (total === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    seen += histogram[i]!;
    if (seen >= rank) return ((i + 1) * LATENCY_BUCKET_US) / 1000;
  }
  return (histogram.length * LATENCY_BUCKET_US) / 1000;
}

export function mergeHistograms(histograms: readonly Uint32Array[]): Uint32Array {
  const out = new Uint32Array(LATENCY_BUCKETS);
  for (const h of histograms) for (let i = 0; i < h.length; i++) out[i]! += h[i]!;
  return out;
}

export function runAutocannon(target: Target, seconds: number, connections: number): Promise<Segment> {
  const histogram = new Uint32Array(LATENCY_BUCKETS);
  return new Promise((resolvePromise, reject) => {
    const instance = autocannon(
      { url: target.url, method: target.method, headers: target.headers, body: target.body, connections, duration: seconds, pipelining: 1, overallRate: target.rate },
      (err: Error | null, result: autocannon.Result) => {
        if (err) return reject(err);
        resolvePromise({
          requests: result.requests.total,
          seconds,
          ok: result['2xx'],
          errors: result.errors + result.timeouts + result.non2xx,
          latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
          histogram,
        });
      },
    );
    // responseTime is autocannon's hrtime measurement in fractional ms.
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) histogram[Math.min(LATENCY_BUCKETS - 1, Math.floor((responseTime * 1000) / LATENCY_BUCKET_US))]! += 1;
    });
  });
}

/**
 * Fails loudly unless every target answers 200 (a 401/404 would otherwise be measured as speed);
 * returns the answers' bodies by target name, in the order of `targets`.
 */
export async function checkTargets(targets: readonly Target[]): Promise<Map<string, string>> {
  const bodies = new Map<string, string>();
  for (const t of targets) {
    const r = await fetch(t.url, { method: t.method, headers: t.headers, body: t.body });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`${t.name}: ${r.status} ${text}`);
    bodies.set(t.name, text);
  }
  return bodies;
}

/**
 * The evaluate Worker's answer to the request of each route (in ROUTES order), from a rig of its
 * own started and stopped here: the constant bodies of the baseline Workers of startRig's `routeBodies`.
 * Every answer of the bench's requests is the same bytes (one snapshot, one context; the request id
 * travels in a header), so the baselines then send exactly what the evaluate Worker sends.
 */
export async function routeAnswers(evaluateScript: string, vars: Record<string, string>, orgId: string, userId: string): Promise<string[]> {
  const rig = await startRig({ evaluate: evaluateScript }, vars);
  try {
    const targets = ROUTES.map((route) => routeTarget(route, '', rig.urls.evaluate!, rig.evalKey, orgId, userId));
    return [...(await checkTargets(targets)).values()];
  } finally {
    await rig.close();
  }
}

/**
 * Fails loudly unless each pair's baselines answered the evaluate Worker's body (what their fairness
 * rests on); `bodies` are checkTargets' answers.
 */
export function checkSameAnswers(pairs: readonly RoutePair[], bodies: ReadonlyMap<string, string>): void {
  for (const { evaluate, bare, floor } of pairs) {
    const expected = bodies.get(evaluate.name);
    for (const baseline of floor === undefined ? [bare] : [bare, floor]) {
      const actual = bodies.get(baseline.name);
      if (expected === undefined || actual !== expected) throw new Error(`${evaluate.name} and ${baseline.name} answer different bodies: ${expected} vs ${actual}`);
    }
  }
}

/**
 * Runs every target for `seconds` per round, `rounds` times, after a 1 s warm-up of each, in the order
 * `order` gives each round (checked before any load; see rounds.ts), rotatingRounds by default.
 * `onSegment` hears which target a measured segment is about to load.
 */
export async function interleave(
  targets: readonly Target[],
  options: {
    rounds: number;
    seconds: number;
    connections: number;
    order?: (round: number) => readonly Target[];
    log?: (line: string) => void;
    pid?: number;
    onSegment?: (target: Target) => void;
  },
): Promise<Map<string, Segment[]>> {
  const segments = new Map<string, Segment[]>(targets.map((t) => [t.name, []]));
  const orders = roundOrders(targets, options.rounds, options.order ?? rotatingRounds(targets));
  for (const t of targets) await runAutocannon(t, 1, options.connections);
  for (const [r, order] of orders.entries()) {
    for (const t of order) {
      options.log?.(`round ${r + 1}/${options.rounds} ${t.name} (${options.seconds} s)`);
      options.onSegment?.(t);
      const cpuBefore = options.pid === undefined ? Number.NaN : cpuTimeMs(options.pid);
      const ticksBefore = machineCpuTicks();
      const segment = await runAutocannon(t, options.seconds, options.connections);
      if (options.pid !== undefined) segment.cpuMs = cpuTimeMs(options.pid) - cpuBefore;
      segment.steal = stealBetween(ticksBefore, machineCpuTicks());
      segments.get(t.name)!.push(segment);
    }
  }
  return segments;
}
