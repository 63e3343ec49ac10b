// CI proof of the rollback plan: `npm run drill:rollback` (scripts/drill-rollback.ts) breaks KV on
// purpose against the real local stack, restores it with a cron pass (its read-back) and with POST
// /api/publish, and a bad change with an audit revert, and exits non-zero if any org's answers differ from before.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

function runDrill(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise) => {
    // node --import tsx: the same Node that runs vitest (node_modules/.bin first on PATH under npm)
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/drill-rollback.ts'], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = setTimeout(() => child.kill('SIGTERM'), 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

describe('rollback drill (npm run drill:rollback)', () => {
  it('restores every org answer after KV is broken and a bad change is made', { timeout: 250_000 }, async () => {
    const { code, output } = await runDrill();
    expect(output).toMatch(/PASS corrupt KV: every org keeps its last good copy/);
    expect(output).toMatch(/PASS corrupt KV, no good copy: fails closed/);
    expect(output).toMatch(/PASS cron read-back puts back deleted layers and evaluate keys/);
    expect(output).toMatch(/PASS POST \/api\/publish: 200 publish=done/);
    expect(output).toMatch(/PASS after republish: every org answers exactly as before/);
    expect(output).toMatch(/PASS bad change undone with POST \/api\/audit\/:id\/revert/);
    expect(code, output).toBe(0);
  });
});
