// The dependency rules of DESIGN.md ("Snapshots in KV"), checked over the source: no Worker imports
// another; the evaluate Worker, the SDK and the engine never reach shared/db; the engine imports
// nothing of ours outside shared/engine. Specifiers are read with a regex, relative ones resolved.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** `import … from 'x'`, `export … from 'x'`, `import 'x'`, `import('x')`, `require('x')`. */
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"])([^'"\n]+)\1/g;

export function importSpecifiers(source: string): string[] {
  // comments may mention paths; strip them first (good enough for our own code, no regex literals with //)
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  return [...code.matchAll(SPECIFIER)].map((m) => m[2]!);
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|tsx|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path.split(sep).join('/'));
  }
  return out;
}

const CANDIDATES = ['', '.ts', '.tsx', '.js', '/index.ts', '/index.tsx'];

/** Repo-relative path of a relative specifier (extension resolved when the file exists), else null. */
function resolveSpecifier(from: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const base = join(dirname(from), specifier);
  for (const suffix of CANDIDATES) {
    const candidate = base + suffix;
    if (existsSync(join(ROOT, candidate)) && statSync(join(ROOT, candidate)).isFile()) return candidate.split(sep).join('/');
  }
  return base.split(sep).join('/');
}

export interface Edge {
  from: string;
  to: string;
}

export function edgesOf(files: Record<string, string>, resolveFn: (from: string, spec: string) => string | null = resolveSpecifier): Edge[] {
  return Object.entries(files).flatMap(([from, source]) =>
    importSpecifiers(source)
      .map((spec) => resolveFn(from, spec))
      .filter((to): to is string => to !== null)
      .map((to) => ({ from, to })),
  );
}

const workerOf = (path: string): string | null => /^workers\/([^/]+)\//.exec(path)?.[1] ?? null;
const isTest = (path: string) => /\.test\.tsx?$/.test(path);
const under = (path: string, dir: string) => path === dir || path === `${dir}.ts` || path.startsWith(`${dir}/`);

/** Every rule broken by the edges, one line each. */
export function violations(edges: readonly Edge[]): string[] {
  const found: string[] = [];
  const adjacency = new Map<string, string[]>();
  for (const { from, to } of edges) adjacency.set(from, [...(adjacency.get(from) ?? []), to]);

  for (const { from, to } of edges) {
    const a = workerOf(from);
    const b = workerOf(to);
    if (a && b && a !== b) found.push(`${from} imports ${to}: no Worker imports another`);
    if (under(from, 'shared/engine') && !isTest(from) && !under(to, 'shared/engine')) found.push(`${from} imports ${to}: the engine imports nothing outside shared/engine`);
  }
  // shared/db must stay out of what the evaluate Worker and the SDK bundle, directly or through a shared module
  for (const root of ['workers/evaluate', 'shared/sdk', 'shared/engine']) {
    const starts = [...adjacency.keys()].filter((f) => under(f, root) && !isTest(f));
    const seen = new Map<string, string>(starts.map((s) => [s, s]));
    const queue = [...starts];
    while (queue.length) {
      const file = queue.shift()!;
      for (const to of adjacency.get(file) ?? []) {
        if (under(to, 'shared/db')) {
          found.push(`${seen.get(file)} reaches shared/db (via ${file} → ${to}): ${root} never imports shared/db`);
          continue;
        }
        if (!seen.has(to)) {
          seen.set(to, seen.get(file)!);
          queue.push(to);
        }
      }
    }
  }
  return [...new Set(found)];
}

function repoEdges(): Edge[] {
  const files = Object.fromEntries([...sourceFiles('workers'), ...sourceFiles('shared')].map((f) => [f, readFileSync(join(ROOT, f), 'utf8')]));
  return edgesOf(files);
}

describe('architecture', () => {
  it('the source keeps the dependency rules', () => {
    const edges = repoEdges();
    expect(edges.length).toBeGreaterThan(100); // the scan did find the imports
    expect(violations(edges)).toEqual([]);
  });

  it('the cron Worker uses the shared store, not the admin Worker', () => {
    const cron = repoEdges().filter((e) => under(e.from, 'workers/cron'));
    expect(cron.some((e) => under(e.to, 'shared/store'))).toBe(true);
  });

  describe('the checker catches', () => {
    const resolveFake = (from: string, spec: string) => (spec.startsWith('.') ? `${join(dirname(from), spec).split(sep).join('/')}.ts` : null);
    const check = (files: Record<string, string>) => violations(edgesOf(files, resolveFake));

    it('a Worker importing another (static, re-export and dynamic forms)', () => {
      expect(check({ 'workers/cron/a.ts': "import { x } from '../admin/flag-store';" })).toHaveLength(1);
      expect(check({ 'workers/cron/a.ts': "export * from '../admin/x';" })).toHaveLength(1);
      expect(check({ 'workers/cron/a.ts': "const m = await import('../evaluate/y');" })).toHaveLength(1);
      expect(check({ 'workers/cron/a.ts': "import type { T } from '../cron/z';\nimport { s } from '../../shared/store';" })).toEqual([]);
    });

    it('shared/db reached from evaluate, the SDK or the engine, directly or transitively', () => {
      expect(check({ 'workers/evaluate/a.ts': "import { createPool } from '../../shared/db';" })).toHaveLength(1);
      expect(
        check({
          'shared/sdk/a.ts': "import { b } from '../snapshot/b';",
          'shared/snapshot/b.ts': "import { featureFlags } from '../db/schema';",
        }),
      ).toHaveLength(1);
      expect(check({ 'workers/admin/a.ts': "import { withRls } from '../../shared/db';" })).toEqual([]);
    });

    it('the engine importing outside itself; comments do not count', () => {
      expect(check({ 'shared/engine/a.ts': "import { z } from '../snapshot/schema';" })).toHaveLength(1);
      expect(check({ 'shared/engine/a.ts': "// from '../snapshot/schema'\nimport { b } from './b';" })).toEqual([]);
    });
  });
});
