// (a) evaluate() per case of the cascade vectors, against baselines measured in the same run:
// a plain object property read, JSON.parse of a tiny body, a naive array-scanning engine (the
// "peer" baseline) and a real peer engine, @openfeature/flagd-core (offline, in-process).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { FlagdCore } from '@openfeature/flagd-core';
import { evaluate, type EvalContext } from '../shared/engine';
import { buildLayers, SourceStateSchema } from '../shared/snapshot';
import { flagdConfigOf } from './flagd-config';
import { ROOT, machine, percentiles, round, runInterleaved, type BenchContext, type BenchResult, type MicroCase } from './lib';
import { naiveEvaluate } from './naive-engine';

interface VectorCase {
  name: string;
  flag: string;
  context: EvalContext;
  now: string;
  expect: { value?: unknown; reason?: string; source?: string; errorCode?: string };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const median = (xs: number[]) => percentiles(xs).p50;

export async function run(ctx: BenchContext): Promise<BenchResult> {
  const started = Date.now();
  const vectors = JSON.parse(readFileSync(resolve(ROOT, 'test/vectors/cascade.json'), 'utf8')) as { state: unknown; cases: VectorCase[] };
  const state = SourceStateSchema.parse(vectors.state);
  const layers = buildLayers(state, { version: 7 });
  const flagd = new FlagdCore();
  flagd.setConfigurations(flagdConfigOf(state));
  const types = new Map(state.flags.map((f) => [f.key, f.type]));

  const record: Record<string, number> = { a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8 };
  const recordKeys = Object.keys(record);
  let k = 0;
  const tinyBody = '{"orgId":"org-a","userId":"u1"}';
  const cases: MicroCase[] = [
    { name: 'baseline: object property read', op: () => record[recordKeys[(k = (k + 1) & 7)]!] },
    { name: 'baseline: JSON.parse tiny body', op: () => JSON.parse(tinyBody) },
  ];

  const agreement = { engine: 0, naive: 0, flagdValue: 0, total: vectors.cases.length };
  vectors.cases.forEach((c, i) => {
    const nowMs = Date.parse(c.now);
    const pair = { global: layers.global, org: (c.context.orgId && layers.orgs[c.context.orgId]) || null };
    const ctxFlagd: Record<string, string> = {};
    if (c.context.userId !== undefined) ctxFlagd.targetingKey = c.context.userId;
    if (c.context.orgId !== undefined) ctxFlagd.orgId = c.context.orgId;
    if (c.context.platform !== undefined) ctxFlagd.platform = c.context.platform;
    const got = evaluate(pair, c.flag, c.context, nowMs);
    const naive = naiveEvaluate(state, c.flag, c.context, nowMs);
    const expectOk = (r: { value?: unknown; reason?: string; source?: string; errorCode?: string }) =>
      c.expect.errorCode ? r.errorCode === c.expect.errorCode : same(r.value, c.expect.value) && r.reason === c.expect.reason && r.source === c.expect.source;
    if (expectOk(got)) agreement.engine++;
    if (expectOk(naive)) agreement.naive++;
    const type = types.get(c.flag) ?? 'boolean';
    const resolveFlagd = () =>
      type === 'boolean'
        ? flagd.resolveBooleanEvaluation(c.flag, false, ctxFlagd)
        : type === 'string'
          ? flagd.resolveStringEvaluation(c.flag, '', ctxFlagd)
          : type === 'number'
            ? flagd.resolveNumberEvaluation(c.flag, 0, ctxFlagd)
            : flagd.resolveObjectEvaluation(c.flag, {}, ctxFlagd);
    let flagdValue: unknown;
    try {
      flagdValue = resolveFlagd().value;
    } catch {
      flagdValue = undefined; // flagd throws for unknown flags
    }
    if (c.expect.errorCode ? flagdValue === undefined : same(flagdValue, c.expect.value)) agreement.flagdValue++;
    const label = `#${String(i).padStart(2, '0')} ${c.flag}`;
    cases.push({ name: `engine ${label}`, op: () => evaluate(pair, c.flag, c.context, nowMs) });
    cases.push({ name: `naive ${label}`, op: () => naiveEvaluate(state, c.flag, c.context, nowMs) });
    cases.push({
      name: `flagd ${label}`,
      op: () => {
        try {
          return resolveFlagd();
        } catch {
          return null;
        }
      },
    });
  });

  const options = ctx.quick ? { rounds: 25, batch: 1000, warmup: 5000 } : { rounds: 150, batch: 2000, warmup: 20000 };
  ctx.log(`engine: ${cases.length} cases × ${options.rounds} rounds × ${options.batch} ops, interleaved`);
  const samples = runInterleaved(cases, options);
  const stats = new Map([...samples].map(([name, s]) => [name, percentiles(s, 1)]));
  const prop = stats.get('baseline: object property read')!;
  const json = stats.get('baseline: JSON.parse tiny body')!;
  const of = (prefix: string) => [...stats].filter(([n]) => n.startsWith(prefix)).map(([n, s]) => ({ name: n.slice(prefix.length), ...s }));
  const engine = of('engine ');
  const naive = of('naive ');
  const flagdRows = of('flagd ');
  const engineP50 = median(engine.map((e) => e.p50));
  const engineWorstP99 = Math.max(...engine.map((e) => e.p99));
  const naiveP50 = median(naive.map((e) => e.p50));
  const flagdP50 = median(flagdRows.map((e) => e.p50));
  const perCase = engine.map((e, i) => ({
    case: e.name,
    engine: { p50: e.p50, p90: e.p90, p99: e.p99 },
    vsPropertyRead: round(e.p50 / prop.p50, 1),
    vsJsonParse: round(e.p50 / json.p50, 2),
    naiveP50: naive[i]!.p50,
    naiveVsEngine: round(naive[i]!.p50 / e.p50, 2),
    flagdP50: flagdRows[i]!.p50,
    flagdVsEngine: round(flagdRows[i]!.p50 / e.p50, 1),
  }));

  return {
    name: 'engine',
    title: '(a) engine: evaluate() per cascade case vs baselines (ns/op)',
    status: 'ok',
    machine: machine(),
    quick: ctx.quick,
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    note: 'ns/op per batch, percentiles over batches; all cases interleaved round-robin in one process. flagd-core runs the same state translated to flagd JSON Logic (approximate semantics, see bench/flagd-config.ts).',
    summary: [
      { metric: 'engine evaluate(), median of per-case p50', value: `${engineP50} ns/op` },
      { metric: 'engine ÷ object property read (p50)', value: `${round(engineP50 / prop.p50, 1)}× (${prop.p50} ns)` },
      { metric: 'engine ÷ JSON.parse of a tiny body (p50)', value: `${round(engineP50 / json.p50, 2)}× (${json.p50} ns)` },
      { metric: 'engine worst case p99 (over all 50 cases)', value: `${engineWorstP99} ns = ${round(engineWorstP99 / 1e6, 4)} ms`, target: '< 5 ms per check', pass: engineWorstP99 < 5e6 },
      { metric: 'naive array-scanning engine ÷ engine (p50)', value: `${round(naiveP50 / engineP50, 2)}×` },
      { metric: 'flagd-core ÷ engine (p50)', value: `${round(flagdP50 / engineP50, 1)}×` },
      { metric: 'answers matching the vectors (engine / naive / flagd value)', value: `${agreement.engine}/${agreement.total} · ${agreement.naive}/${agreement.total} · ${agreement.flagdValue}/${agreement.total}`, target: 'engine all', pass: agreement.engine === agreement.total },
    ],
    details: { options, baselines: { propertyRead: prop, jsonParseTiny: json }, medians: { engineP50, naiveP50, flagdP50 }, agreement, perCase },
  };
}
