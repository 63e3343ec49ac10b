// (f) instructions per request: the evaluate Worker, the contract floor and the bare Worker of bench (c)
// in one workerd run under valgrind's callgrind, which counts the instructions the process executes.
// Counting does not depend on what else the machine does: this is the steady form of bench (c)'s
// "CPU per request ÷ bare" on a 2-core shared machine whose speed moves several-fold between 10 s
// stretches. It counts user-space instructions only (not the kernel's socket work, not
// cache misses), so it is not a prediction of throughput: bench (c) keeps the throughput verdict.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { bundleWorker } from '../scripts/stack/build';
import { checkSameAnswers, checkTargets, rigPairs, routeAnswers, startRig, type Target } from './http-rig';
import { ROOT, childProcessPids, machine, round, sleep, type BenchContext, type BenchResult, type SummaryRow } from './lib';

const WORKERD = (createRequire(import.meta.url)('workerd') as { default: string }).default;
const OUT_DIR = resolve(ROOT, '.wrangler', 'bench', 'callgrind');

/**
 * Under valgrind a request takes ~50× longer, so work the evaluate Worker does per unit of time (layer
 * refresh every half snapshot age, metrics flush every 10 s, key re-read every 5 s) would be counted
 * ~50× as often per request as it runs natively; these ages and the bench's entry
 * (bench/evaluate-quiet.ts: keys trusted for an hour) leave it out. Counting itself stays on (every
 * answer is recorded).
 */
const QUIET_VARS = { SNAPSHOT_MAX_AGE_MS: '3600000', METRICS_FLUSH_MS: '3600000', METRICS_FLUSH_COUNT: '100000000' };

/**
 * valgrind runs one thread at a time, so V8's background compiler threads barely run and hot code
 * would stay in the interpreter (seen: 5 of ~60 compile jobs finished in 4000 requests). Compiling on
 * the main thread lets the code reach its optimised tiers as it does natively.
 */
const V8_FLAGS = '--no-concurrent-recompilation';

function hasValgrind(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'pipe' });
    execFileSync('callgrind_control', ['-h'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** `text` quoted for sh. */
const shellQuoted = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** The script Miniflare starts instead of workerd: workerd under callgrind, instrumentation off until asked. */
function writeWrapper(): string {
  const wrapper = join(OUT_DIR, 'workerd.sh');
  writeFileSync(
    wrapper,
    '#!/bin/sh\n' +
      `exec valgrind --tool=callgrind --instr-atstart=no --smc-check=all-non-file --dump-instr=no ` +
      `--callgrind-out-file=${shellQuoted(join(OUT_DIR, 'callgrind.out.%p'))} --log-file=${shellQuoted(join(OUT_DIR, 'valgrind.%p.log'))} ${shellQuoted(WORKERD)} "$@"\n`,
    { mode: 0o755 },
  );
  return wrapper;
}

/** Runs a callgrind_control command; it exits 0 even when it fails, so its answer is checked for "OK.". */
function callgrindControl(pid: number, ...args: string[]): void {
  const out = execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'pipe' }).toString();
  if (!/^\s*OK\.\s*$/m.test(out)) throw new Error(`callgrind_control ${args.join(' ')} ${pid}: ${out.trim()}`);
}

function send(target: Target, amount: number): Promise<{ ok: number }> {
  return new Promise((resolvePromise, reject) => {
    autocannon(
      { url: target.url, method: target.method, headers: target.headers, body: target.body, connections: 1, amount, timeout: 120 },
      (err: Error | null, result: autocannon.Result) =>
        err ? reject(err) : resolvePromise({ ok: result['2xx'] }),
    );
  });
}

/** The instruction total of the dump callgrind wrote for `label` (it lands a moment after the command). */
async function dumpTotal(label: string, read: Set<string>): Promise<number> {
  const trigger = `Trigger: dump ${label}\n`;
  for (let attempt = 0; attempt < 120; attempt++) {
    for (const file of readdirSync(OUT_DIR).filter((f) => f.startsWith('callgrind.out.') && !read.has(f))) {
      const text = readFileSync(join(OUT_DIR, file), 'utf8');
      const total = /^totals: (\d+)/m.exec(text);
      if (!text.includes(trigger) || !total) continue;
      read.add(file);
      return Number(total[1]);
    }
    await sleep(250);
  }
  throw new Error(`callgrind wrote no dump for ${label}`);
}

interface Measured {
  target: string;
  /** Instructions per request, one per round. */
  perRequest: number[];
  errors: number;
}

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const started = Date.now();
  const base = {
    name: 'instructions',
    title: '(f) instructions per request: evaluate Worker vs bare Worker (callgrind, same workerd)',
    machine: machine(),
    quick: ctx.quick,
    startedAt: new Date(started).toISOString(),
  };
  if (!hasValgrind()) {
    return { ...base, status: 'skipped', note: 'valgrind (with callgrind_control) is not installed: apt-get install valgrind', durationMs: Date.now() - started, summary: [], details: null };
  }
  // Windows of thousands of requests: a young-generation collection (every few thousand requests, tens
  // of millions of instructions, freeing the runtime's request and header objects too) is the requests'
  // own cost, so it must land in the windows in proportion, not be left out or caught by chance.
  const rounds = ctx.quick ? 1 : 4;
  // Long enough for the hot functions to reach V8's optimising tiers before anything is counted: a
  // compile on the main thread inside a window counts as that window's requests (seen: one round of 3 at 2.4×).
  const warmup = ctx.quick ? 1500 : 10_000;
  const measured = ctx.quick ? 1000 : 3000;

  rmSync(OUT_DIR, { recursive: true, force: true });
  mkdirSync(OUT_DIR, { recursive: true });
  const [orgId, userId] = ['org-a', 'u1'];
  const bundle = await bundleWorker(resolve(ROOT, 'bench', 'evaluate-quiet.ts'), join(OUT_DIR, 'evaluate.js'));
  // The baselines answer, per route, the bytes the evaluate Worker answers (as in bench (c)).
  const routeBodies = await routeAnswers(bundle, QUIET_VARS, orgId, userId);
  const saved = { path: process.env.MINIFLARE_WORKERD_PATH, flags: process.env.MINIFLARE_WORKERD_V8_FLAGS };
  process.env.MINIFLARE_WORKERD_PATH = writeWrapper();
  process.env.MINIFLARE_WORKERD_V8_FLAGS = V8_FLAGS;
  const before = new Set(childProcessPids('callgrind'));
  let rig: Awaited<ReturnType<typeof startRig>> | undefined;
  try {
    rig = await startRig({ evaluate: bundle }, QUIET_VARS, { routeBodies });
  } finally {
    process.env.MINIFLARE_WORKERD_PATH = saved.path;
    process.env.MINIFLARE_WORKERD_V8_FLAGS = saved.flags;
    if (saved.path === undefined) delete process.env.MINIFLARE_WORKERD_PATH;
    if (saved.flags === undefined) delete process.env.MINIFLARE_WORKERD_V8_FLAGS;
  }
  try {
    const pid = childProcessPids('callgrind').find((p) => !before.has(p));
    if (pid === undefined) throw new Error('the workerd process under callgrind was not found');
    const control = (...args: string[]) => callgrindControl(pid, ...args);
    const dumps = new Set<string>();
    const pairs = rigPairs(rig, orgId, userId);
    const groups = pairs.map((p) => [p.bare, p.floor, p.evaluate] as const);
    const targets = groups.flat();
    checkSameAnswers(pairs, await checkTargets(targets));
    const results = new Map<string, Measured>(targets.map((t) => [t.name, { target: t.name, perRequest: [], errors: 0 }]));
    for (const t of targets) await send(t, warmup);

    let segment = 0;
    for (let r = 0; r < rounds; r++) {
      for (const group of groups) {
        for (let i = 0; i < group.length; i++) {
          const t = group[(i + r) % group.length]!;
          const label = `segment-${++segment}`;
          ctx.log(`instructions: round ${r + 1}/${rounds} ${t.name} (${measured} requests)`);
          control('-i', 'on');
          await send(t, 100); // re-translation after switching instrumentation on stays out of the count
          control('-z');
          const { ok } = await send(t, measured);
          control('-d', label);
          control('-i', 'off');
          const total = await dumpTotal(label, dumps);
          const m = results.get(t.name)!;
          m.perRequest.push(total / ok);
          m.errors += measured - ok;
        }
      }
    }

    const of = (t: Target) => results.get(t.name)!;
    const kilo = (n: number) => `${Math.round(n / 1000)}k`;
    const summary: SummaryRow[] = groups.flatMap(([b, f, e]) => {
      const ev = of(e), bw = of(b), fl = of(f);
      const steady = (m: Measured) => m.perRequest.reduce((sum, v) => sum + v, 0) / m.perRequest.length;
      const ratio = (x: Measured, y: Measured) => round(steady(x) / steady(y), 3);
      const all = (m: Measured) => m.perRequest.map(kilo).join(' ');
      return [
        {
          metric: `${e.name}: instructions per request ÷ bare (${rounds * measured} requests each)`,
          value: `${ratio(ev, bw)}× (${kilo(steady(ev))} vs ${kilo(steady(bw))}; rounds: ${all(ev)} vs ${all(bw)}; ${ev.errors + bw.errors} errors)`,
          pass: ev.errors + bw.errors === 0 ? undefined : false,
        },
        {
          metric: `${e.name}: instructions per request ÷ contract floor`,
          value: `${ratio(ev, fl)}× (contract floor ÷ bare ${ratio(fl, bw)}×, ${kilo(steady(fl))}; rounds: ${all(fl)})`,
        },
      ];
    });
    return {
      ...base,
      status: 'ok',
      note:
        `The workerd of bench (c) (evaluate bundle built from bench/evaluate-quiet.ts, bare and contract-floor Workers answering, per route, the bytes the evaluate Worker answers, KV from vectors/cascade.json, metrics counting on) started under valgrind --tool=callgrind with instrumentation off; V8 flag ${V8_FLAGS}; vars ${JSON.stringify(QUIET_VARS)}. ` +
        `Each target got ${warmup} warm-up requests, then per round and target: instrumentation on, 100 requests, counters zeroed, ${measured} requests on one connection, counters dumped; ${rounds} round(s), order rotating within each route. ` +
        'Counted: every instruction the workerd process ran in user space during the window (all threads: the Worker, V8 and its GC, the HTTP stack, the KV and queue simulators), divided by the 2xx answers. Not counted: kernel time, cache misses, waiting. ' +
        'A target\'s figure is all its instructions over all its windows divided by all its answers, so garbage collection (a young-generation collection every few thousand requests, which also frees the runtime\'s request, response and header objects) is counted in proportion; each window\'s figure is shown beside it, and they differ by up to ±10% depending on whether a collection fell in the window.',
      durationMs: Date.now() - started,
      summary,
      details: { rounds, warmup, measured, v8Flags: V8_FLAGS, vars: QUIET_VARS, targets: [...results.values()] },
    };
  } finally {
    await rig?.close();
    if (existsSync(OUT_DIR)) for (const f of readdirSync(OUT_DIR)) if (f.startsWith('callgrind.out.')) rmSync(join(OUT_DIR, f));
  }
}
