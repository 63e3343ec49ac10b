// `npm start` as a user runs it: a child process, real ports, SIGTERM, and the clear failures.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/stack/ports';
import { ROOT } from './stack';

const NODE = join(ROOT, 'node_modules/.bin/node');

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Started {
  let output = '';
  const child = spawn(NODE, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

describe('npm start', () => {
  let dataDir: string;
  let ports: { admin: number; evaluate: number; cron: number };
  let stack: Started;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'cmis-start-'));
    ports = { admin: await freePort(), evaluate: await freePort(), cron: await freePort() };
    stack = start({
      FLAGS_DATA_DIR: dataDir,
      ADMIN_PORT: String(ports.admin),
      EVALUATE_PORT: String(ports.evaluate),
      CRON_PORT: String(ports.cron),
      FLAGS_ADMIN_TOKEN: '',
      FLAGS_EVAL_KEY: '',
    });
    await waitFor(() => stack.output().includes('Ctrl-C stops everything') || stack.child.exitCode !== null, 90_000);
  }, 120_000);

  afterAll(async () => {
    if (stack.child.exitCode === null) stack.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts, seeds a new database and prints generated tokens once', () => {
    expect(stack.child.exitCode, stack.output()).toBeNull();
    expect(stack.output()).toContain('seeded');
    expect(stack.output()).toMatch(/admin \(system_admin\)\s+cmf_admin_[A-Za-z0-9_-]{43}/);
    expect(stack.output()).toMatch(/evaluate key\s+cmf_eval_[A-Za-z0-9_-]{43}/);
  });

  it('answers health on admin (db up through the Neon driver) and evaluate', async () => {
    const admin = await fetch(`http://127.0.0.1:${ports.admin}/api/health`);
    expect(admin.status).toBe(200);
    expect(await admin.json()).toMatchObject({ ok: true, db: 'up' });
    const evaluate = await fetch(`http://127.0.0.1:${ports.evaluate}/health`);
    expect(evaluate.status).toBe(200);
  });

  it('runs a cron pass on POST /__scheduled and records it', async () => {
    const res = await fetch(`http://127.0.0.1:${ports.cron}/__scheduled`, { method: 'POST' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ applied: expect.any(Number), reconciled: expect.any(Number), rolledUp: expect.any(Number), notified: expect.any(Number) });
    // the run is recorded in Postgres and visible through the admin API
    const token = /admin \(system_admin\)\s+(\S+)/.exec(stack.output())![1];
    const status = await fetch(`http://127.0.0.1:${ports.admin}/api/status`, { headers: { authorization: `Bearer ${token}` } });
    expect(status.status).toBe(200);
    const { lastCronRun } = (await status.json()) as { lastCronRun: { startedAt: string } | null };
    expect(lastCronRun).not.toBeNull();
    expect(Date.now() - Date.parse(lastCronRun!.startedAt)).toBeLessThan(60_000);
  });

  it('refuses a taken port with a clear message and a non-zero exit', async () => {
    const other = start({
      FLAGS_DATA_DIR: join(dataDir, 'other'),
      ADMIN_PORT: String(ports.admin),
      EVALUATE_PORT: String(await freePort()),
      CRON_PORT: String(await freePort()),
    });
    expect(await other.exited).toBe(1);
    expect(other.output()).toContain(`Port ${ports.admin} on 127.0.0.1 (admin Worker) is already in use`);
    expect(other.output()).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('names an unreachable DATABASE_URL in one line', async () => {
    const closed = await freePort();
    const other = start({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/postgres`,
      FLAGS_DATA_DIR: join(dataDir, 'other'),
      ADMIN_PORT: String(await freePort()),
      EVALUATE_PORT: String(await freePort()),
      CRON_PORT: String(await freePort()),
    });
    expect(await other.exited).toBe(1);
    expect(other.output()).toContain('DATABASE_URL');
    expect(other.output()).toContain(String(closed));
    expect(other.output()).not.toMatch(/\n\s+at /);
  });

  it('stops every child on SIGTERM: nothing listens afterwards', async () => {
    stack.child.kill('SIGTERM');
    expect(await stack.exited).toBe(0);
    for (const port of Object.values(ports)) expect(await listening(port)).toBe(false);
  });
});

