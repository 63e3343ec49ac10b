// `npm start`: the whole stack on this machine. See README "Quick start".
import { resolve } from 'node:path';
import { startStack, type Stack } from './stack';
import { assertPortFree } from './stack/ports';
import { WORKER_NAMES, type WorkerName } from './stack/build';

const CRON_EVERY_MS = 60_000;
const root = resolve(import.meta.dirname, '..');
const host = '127.0.0.1';

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) fail(`${name} must be a port number (1-65535), got "${raw}"`);
  return value;
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  try {
    return JSON.stringify(err);
  } catch {
    return String(err);
  }
}

function fail(message: string): never {
  console.error(`cmis-flags: ${message}`);
  process.exit(1);
}

async function main(): Promise<void> {
  const ports: Record<WorkerName, number> = {
    admin: port('ADMIN_PORT', 8787),
    evaluate: port('EVALUATE_PORT', 8788),
    cron: port('CRON_PORT', 8789),
  };
  for (const name of WORKER_NAMES) await assertPortFree(ports[name], host, `${name} Worker`).catch((err: Error) => fail(err.message));

  // The admin Worker refuses a shorter bootstrap token (workers/admin/env.ts); say so before starting anything.
  const adminToken = process.env.FLAGS_ADMIN_TOKEN || undefined; // empty: generate one
  if (adminToken !== undefined && adminToken.length < 16) fail('FLAGS_ADMIN_TOKEN must be at least 16 characters (unset it to have one generated).');

  const databaseUrl = process.env.DATABASE_URL || undefined;
  let stack: Stack;
  try {
    stack = await startStack({
      root,
      ports,
      host,
      databaseUrl,
      dataDir: resolve(root, process.env.FLAGS_DATA_DIR || '.data'),
      adminToken,
      evalKey: process.env.FLAGS_EVAL_KEY,
      log: (line) => console.log(`  ${line}`),
    });
  } catch (err) {
    fail(describe(err));
  }

  const timer = setInterval(() => {
    stack.triggerCron().then(
      async (res) => { if (!res.ok) console.error(`cron pass failed: ${res.status} ${await res.text()}`); },
      (err: Error) => console.error(`cron pass failed: ${err.message}`),
    );
  }, CRON_EVERY_MS);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(timer);
    console.log(`\n${signal}: stopping…`);
    await stack.close();
    process.exit(0);
  };
  // Miniflare installs handlers that exit at once; replace them so the database (PGlite flushes
  // to .data) and workerd are closed in order before the process ends. Its 'exit' hook stays as a
  // last resort that kills workerd.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => void stop(signal));
  }

  const lines = [
    '',
    'CMIS Flags is running',
    `  dashboard + admin API  ${stack.urls.admin}        (GET /api/health, /api/openapi.json)`,
    `  evaluate API + OFREP   ${stack.urls.evaluate}        (GET /v1/flags/:key, POST /ofrep/v1/evaluate/flags)`,
    `  cron                   ${stack.urls.cron}/__scheduled (POST runs a pass now; runs every minute)`,
    `  database               ${databaseUrl ? 'DATABASE_URL' : 'embedded PGlite in .data/pglite'}`,
  ];
  const generated = [
    process.env.FLAGS_ADMIN_TOKEN ? '' : `  admin (system_admin)   ${stack.adminToken}`,
    process.env.FLAGS_EVAL_KEY ? '' : `  evaluate key           ${stack.evalKey}`,
  ].filter(Boolean);
  if (generated.length) {
    lines.push('', 'Tokens generated for this run (shown once; set FLAGS_ADMIN_TOKEN / FLAGS_EVAL_KEY to choose your own):', ...generated);
  }
  lines.push('', 'Ctrl-C stops everything.');
  console.log(lines.join('\n'));
}

void main();
