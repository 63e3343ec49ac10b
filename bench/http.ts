// (c) evaluate HTTP load: autocannon against the local evaluate Worker (single check, bulk check of
// every flag, OFREP single) and, interleaved in the same run, against a bare Worker that returns a
// constant JSON body from its own workerd with the same compatibility settings.
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { Miniflare, convertV4MiniflareOptions, type MiniflareOptions } from 'miniflare';
import { COMPATIBILITY_DATE } from '../scripts/stack/workers';
import { freePort } from '../scripts/stack/ports';
import { ROOT, childWorkerdPids, machine, percentiles, round, rssMiB, type BenchContext, type BenchResult } from './lib';

interface Target {
  name: string;
  url: string;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

interface Segment {
  requests: number;
  seconds: number;
  ok: number;
  errors: number;
  latency: { p50: number; p90: number; p99: number; max: number };
}

export async function startBareWorker(): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort();
  // Served like the stack serves its Workers (scripts/stack/workers.ts): a direct socket into the
  // Worker, not Miniflare's entry proxy, so both sides of the comparison take the same path.
  const v4 = {
    host: '127.0.0.1',
    port: 0,
    workers: [
      {
        name: 'bare',
        modules: true,
        scriptPath: resolve(ROOT, 'bench/bare-worker.js'),
        compatibilityDate: COMPATIBILITY_DATE,
        compatibilityFlags: ['nodejs_compat'],
        unsafeDirectSockets: [{ host: '127.0.0.1', port }],
      },
    ],
  };
  const mf = new Miniflare(convertV4MiniflareOptions(v4 as never) as MiniflareOptions);
  await mf.ready;
  return { url: `http://127.0.0.1:${port}`, close: () => mf.dispose() };
}

function runAutocannon(target: Target, seconds: number, connections: number): Promise<Segment> {
  return new Promise((resolvePromise, reject) => {
    autocannon(
      { url: target.url, method: target.method, headers: target.headers, body: target.body, connections, duration: seconds, pipelining: 1 },
      (err: Error | null, result: autocannon.Result) => {
        if (err) return reject(err);
        resolvePromise({
          requests: result.requests.total,
          seconds,
          ok: result['2xx'],
          errors: result.errors + result.timeouts + result.non2xx,
          latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
        });
      },
    );
  });
}

export async function prepareEvaluateData(stack: NonNullable<BenchContext['stack']>): Promise<void> {
  const admin = { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' };
  const put = (path: string, body: unknown) => fetch(`${stack.urls.admin}${path}`, { method: 'PUT', headers: admin, body: JSON.stringify(body) }).then((r) => r.text());
  await put('/api/orgs/org-1/flags/platform.meta.enabled', { value: true });
  await put('/api/orgs/org-1/flags/campaign.creation.enabled/users/u-1', { value: true });
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const started = Date.now();
  const stack = ctx.stack;
  if (!stack) throw new Error('http bench needs the stack');
  await prepareEvaluateData(stack);
  const stackPids = childWorkerdPids();
  const bare = await startBareWorker();
  const evalHeaders = { authorization: `Bearer ${stack.evalKey}`, 'content-type': 'application/json' };
  const context = { orgId: 'org-1', userId: 'u-1', platform: 'meta' };
  const targets: Target[] = [
    { name: 'bare worker (constant JSON)', url: `${bare.url}/`, method: 'GET' },
    { name: 'GET /v1/flags/:key', url: `${stack.urls.evaluate}/v1/flags/campaign.creation.enabled?orgId=org-1&userId=u-1&platform=meta`, method: 'GET', headers: evalHeaders },
    { name: 'POST /v1/evaluate (all flags)', url: `${stack.urls.evaluate}/v1/evaluate`, method: 'POST', headers: evalHeaders, body: JSON.stringify({ context }) },
    { name: 'POST /ofrep/v1/evaluate/flags/:key', url: `${stack.urls.evaluate}/ofrep/v1/evaluate/flags/campaign.creation.enabled`, method: 'POST', headers: evalHeaders, body: JSON.stringify({ context: { targetingKey: 'u-1', orgId: 'org-1', platform: 'meta' } }) },
  ];
  // check every target answers 200 before loading it
  for (const t of targets) {
    const r = await fetch(t.url, { method: t.method, headers: t.headers, body: t.body });
    if (r.status !== 200) throw new Error(`${t.name}: ${r.status} ${await r.text()}`);
  }

  const rounds = ctx.quick ? 2 : 6;
  const segmentSeconds = ctx.quick ? 5 : 10; // quick: 10 s per target, full: 60 s per target
  const connections = 4;
  const segments = new Map<string, Segment[]>(targets.map((t) => [t.name, []]));
  const rss: { t: number; mib: number }[] = [];
  const pid = stackPids[0];
  const sampler = setInterval(() => {
    if (pid !== undefined) rss.push({ t: Date.now() - started, mib: rssMiB(pid) });
  }, 500);
  try {
    for (const t of targets) await runAutocannon(t, 1, connections); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const t of targets) {
        ctx.log(`http: round ${r + 1}/${rounds} ${t.name} (${segmentSeconds} s)`);
        segments.get(t.name)!.push(await runAutocannon(t, segmentSeconds, connections));
      }
    }
  } finally {
    clearInterval(sampler);
    await bare.close();
  }

  const per = targets.map((t) => {
    const segs = segments.get(t.name)!;
    const requests = segs.reduce((a, s) => a + s.requests, 0);
    const seconds = segs.reduce((a, s) => a + s.seconds, 0);
    return {
      target: t.name,
      requests,
      rps: round(requests / seconds, 1),
      errors: segs.reduce((a, s) => a + s.errors, 0),
      // per-segment autocannon percentiles (ms); the worst segment's p99 is reported
      latencyMs: { p50: percentiles(segs.map((s) => s.latency.p50), 2).p50, p99: Math.max(...segs.map((s) => s.latency.p99)) },
      rpsPerSegment: segs.map((s) => round(s.requests / s.seconds, 1)),
    };
  });
  const base = per[0]!;
  // after warm-up: the second quarter of the run against the last quarter
  const q = Math.max(1, Math.floor(rss.length / 4));
  const firstQ = rss.slice(q, 2 * q).map((s) => s.mib);
  const lastQ = rss.slice(-q).map((s) => s.mib);
  const rssGrowth = round(percentiles(lastQ).p50 / percentiles(firstQ).p50, 3);
  const summary = per.slice(1).flatMap((p) => [
    { metric: `${p.target}: throughput ÷ bare`, value: `${round((p.rps / base.rps) * 100, 0)}% (${p.rps} vs ${base.rps} req/s)`, target: '≥ 80%', pass: p.rps / base.rps >= 0.8 },
    { metric: `${p.target}: p99 added latency vs bare`, value: `${round(p.latencyMs.p99 - base.latencyMs.p99, 2)} ms (p99 ${p.latencyMs.p99} vs ${base.latencyMs.p99} ms)`, target: '< 1 ms', pass: p.latencyMs.p99 - base.latencyMs.p99 < 1 },
    { metric: `${p.target}: errors`, value: `${p.errors} of ${p.requests}`, target: '0', pass: p.errors === 0 },
  ]);
  summary.push({ metric: 'workerd RSS after warm-up, last ÷ second quarter of the run', value: `${rssGrowth}× (${percentiles(firstQ).p50} → ${percentiles(lastQ).p50} MiB; start ${rss[0]?.mib} MiB, max ${Math.max(...rss.map((s) => s.mib))} MiB)`, target: 'flat (≈ 1)', pass: rssGrowth < 1.1 });
  return {
    name: 'http',
    title: '(c) evaluate Worker under load vs a bare Worker (autocannon, loopback)',
    status: 'ok',
    note: `${connections} connections, ${rounds} rounds × ${segmentSeconds} s per target, targets interleaved round by round. autocannon reports latency in whole ms, so "added latency" has 1 ms resolution. The bare Worker runs in its own workerd (same compatibility date and flags); the three stack Workers share the other. RSS is the stack's workerd process (all three Workers).`,
    machine: machine(),
    quick: ctx.quick,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    summary,
    details: { connections, rounds, segmentSeconds, targets: per, rss },
  };
}
