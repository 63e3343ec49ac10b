// Shared pieces of the benchmarks: the machine description, percentiles, an interleaved
// micro-benchmark runner, the local stack for HTTP benchmarks, and result files.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const RESULTS_DIR = resolve(ROOT, 'bench', 'results');

export interface Machine {
  nproc: number;
  cpuModel: string;
  node: string;
  loadavg1m: number;
  memGiB: number;
  note: string;
}

/** Every result carries this: figures are only comparable with others of the same run. */
export function machine(): Machine {
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {
    // cpus().length is close enough
  }
  return {
    nproc,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavg1m: Math.round(loadavg()[0]! * 100) / 100,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    note: 'shared, noisy machine: compare ratios and percentiles within one run, not absolute figures across runs',
  };
}

/** Nearest-rank percentile of an unsorted sample (p in 0..100). */
export function percentile(sample: readonly number[], p: number): number {
  if (sample.length === 0) return Number.NaN;
  const sorted = [...sample].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** The middle value; the mean of the two middle values of an even count (`percentile` takes the lower one). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export interface Percentiles {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentiles(sample: readonly number[], digits = 1): Percentiles {
  const r = (x: number) => Math.round(x * 10 ** digits) / 10 ** digits;
  return {
    n: sample.length,
    p50: r(percentile(sample, 50)),
    p90: r(percentile(sample, 90)),
    p99: r(percentile(sample, 99)),
    max: r(sample.length ? Math.max(...sample) : Number.NaN),
  };
}

export const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

export interface MicroCase {
  name: string;
  /** One operation; its result is consumed so the optimiser cannot drop the call. */
  op: () => unknown;
}

/**
 * Runs every case in rounds, one batch of each per round (round-robin), so that noise from other
 * processes hits all cases alike; each case gets its own loop function (own inline caches).
 * Returns ns/op of every batch, per case.
 */
export function runInterleaved(cases: readonly MicroCase[], options: { rounds: number; batch: number; warmup: number }): Map<string, number[]> {
  const loops = cases.map(() => new Function('op', 'n', 'let s = 0; for (let i = 0; i < n; i++) { if (op() === undefined) s++; } return s;') as (op: () => unknown, n: number) => number);
  let sink = 0;
  cases.forEach((c, i) => {
    sink += loops[i]!(c.op, options.warmup);
  });
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let round = 0; round < options.rounds; round++) {
    cases.forEach((c, i) => {
      const start = process.hrtime.bigint();
      sink += loops[i]!(c.op, options.batch);
      const ns = Number(process.hrtime.bigint() - start) / options.batch;
      samples.get(c.name)!.push(ns);
    });
  }
  if (sink === -1) console.log(sink);
  return samples;
}

/** workerd processes started by this Node process (Miniflare spawns one per instance). */
export function childWorkerdPids(): number[] {
  return childProcessPids('workerd');
}

/** Child processes of this Node process whose command name starts with `commPrefix`. */
export function childProcessPids(commPrefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm.startsWith(commPrefix) && ppid === process.pid) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

/** Resident set size in MiB, or NaN when the process is gone. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return Number.NaN;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** What every benchmark module exports and `bench/run.ts` runs. */
export interface BenchContext {
  quick: boolean;
  log: (line: string) => void;
  /** The running local stack, for the HTTP benchmarks (started once by run.ts). */
  stack?: import('../scripts/stack').Stack;
  /** The bare baseline Worker run inside the stack's workerd (bench/http.ts), when run.ts added it. */
  stackBareUrl?: string;
}

export interface BenchResult {
  name: string;
  title: string;
  status: 'ok' | 'skipped' | 'failed';
  note?: string;
  machine: Machine;
  quick: boolean;
  startedAt: string;
  durationMs: number;
  /** Rows for the Markdown summary: what, measured, baseline or target, verdict. */
  summary: SummaryRow[];
  details: unknown;
}

export interface SummaryRow {
  metric: string;
  value: string;
  target?: string;
  pass?: boolean;
}
