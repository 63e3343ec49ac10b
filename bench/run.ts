// npm run bench [-- --quick] [-- --only engine,scale,http,propagation,zero-downtime,instructions,metrics-overhead]
// Runs every benchmark, writes bench/results/<name>.json and the Markdown summary
// bench/results/README.md. Every figure is a ratio or a percentile against a baseline measured in
// the same run; each result describes the machine it ran on.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStack, type Stack } from '../scripts/stack';
import { freePort } from '../scripts/stack/ports';
import { bareWorkerOptions } from './http-rig';
import { RESULTS_DIR, ROOT, machine, type BenchContext, type BenchResult } from './lib';

type BenchModule = { run(ctx: BenchContext): Promise<BenchResult> };
const BENCHES: { name: string; needsStack: boolean; load: () => Promise<BenchModule> }[] = [
  { name: 'engine', needsStack: false, load: () => import('./engine') },
  { name: 'scale', needsStack: false, load: () => import('./scale') },
  { name: 'http', needsStack: true, load: () => import('./http') },
  { name: 'propagation', needsStack: true, load: () => import('./propagation') },
  { name: 'zero-downtime', needsStack: true, load: () => import('./zero-downtime') },
  { name: 'instructions', needsStack: false, load: () => import('./instructions') },
  { name: 'metrics-overhead', needsStack: false, load: () => import('./metrics-overhead') },
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyArg = args.find((a) => a.startsWith('--only'));
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1]! : args[args.indexOf(onlyArg) + 1]!).split(',') : null;
const selected = BENCHES.filter((b) => !only || only.includes(b.name));
const log = (line: string) => console.log(`[bench] ${line}`);

mkdirSync(RESULTS_DIR, { recursive: true });
const m = machine();
log(`machine: nproc ${m.nproc}, ${m.cpuModel}, node ${m.node}, load ${m.loadavg1m}; ${quick ? 'quick' : 'full'} run`);

let stack: Stack | undefined;
let stackBareUrl: string | undefined;
let failed = 0;
try {
  for (const bench of selected) {
    const started = Date.now();
    let result: BenchResult;
    try {
      if (bench.needsStack && !stack) {
        log('starting the local stack (PGlite in memory, three Workers in workerd)');
        const ports = { admin: await freePort(), evaluate: await freePort(), cron: await freePort() };
        // The bare baseline Worker rides along in the stack's workerd, for bench (c)'s "stack" rows.
        const barePort = await freePort();
        stack = await startStack({ root: ROOT, ports, dataDir: null, log: (l) => log(`stack: ${l}`), extraWorkers: [bareWorkerOptions(barePort)] });
        stackBareUrl = `http://127.0.0.1:${barePort}`;
      }
      log(`running ${bench.name}`);
      result = await (await bench.load()).run({ quick, log, stack, stackBareUrl });
    } catch (error) {
      failed++;
      result = {
        name: bench.name, title: bench.name, status: 'failed', note: (error as Error).stack ?? String(error), machine: machine(), quick,
        startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, summary: [], details: null,
      };
    }
    writeFileSync(join(RESULTS_DIR, `${bench.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    log(`${bench.name}: ${result.status} in ${Math.round(result.durationMs / 1000)} s`);
    for (const row of result.summary) log(`  ${row.pass === undefined ? ' ' : row.pass ? '✓' : '✗'} ${row.metric}: ${row.value}${row.target ? ` (target ${row.target})` : ''}`);
    if (result.note && result.status !== 'ok') log(`  note: ${result.note.split('\n')[0]}`);
  }
} finally {
  await stack?.close();
}

writeFileSync(join(RESULTS_DIR, 'README.md'), renderMarkdown());
log(`wrote ${RESULTS_DIR}/README.md`);
process.exitCode = failed ? 1 : 0;

function renderMarkdown(): string {
  const order = BENCHES.map((b) => b.name);
  const results = readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as BenchResult)
    .sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  const lines = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (`-- --quick` for the smoke version). Each figure is a ratio or a',
    'percentile against a baseline measured in the same run, on the machine named under each table;',
    'absolute figures from this shared, noisy machine are not comparable across runs.',
    '',
  ];
  for (const r of results) {
    const mach = r.machine;
    lines.push(`## ${r.title}`, '');
    lines.push(`${r.status === 'ok' ? '' : `**${r.status}** — `}${r.quick ? 'quick run' : 'full run'}, ${r.startedAt}, ${Math.round(r.durationMs / 1000)} s · nproc ${mach.nproc}, ${mach.cpuModel}, node ${mach.node}, load ${mach.loadavg1m} · \`bench/results/${r.name}.json\``, '');
    if (r.summary.length) {
      lines.push('| metric | measured | target | |', '| --- | --- | --- | --- |');
      for (const row of r.summary) lines.push(`| ${row.metric} | ${row.value} | ${row.target ?? ''} | ${row.pass === undefined ? '' : row.pass ? 'pass' : '**miss**'} |`);
      lines.push('');
    }
    if (r.note) lines.push(`${r.status === 'failed' ? '```\n' + r.note + '\n```' : r.note}`, '');
  }
  return `${lines.join('\n')}\n`;
}
