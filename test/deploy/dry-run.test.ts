// CI proof that all three Workers bundle as `wrangler deploy` would (offline dry run), and that the
// check really fails when one of them cannot be bundled.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SCRIPT = join(ROOT, 'scripts', 'deploy-check.sh');
const run = promisify(execFile);

async function deployCheck(env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run('bash', [SCRIPT], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 170_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('deploy dry run (scripts/deploy-check.sh)', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('bundles admin, evaluate and cron from wrangler.toml', { timeout: 180_000 }, async () => {
    const { code, output } = await deployCheck();
    expect(output).toMatch(/^ok\s+admin\s+\d+ bytes/m);
    expect(output).toMatch(/^ok\s+evaluate\s+\d+ bytes/m);
    expect(output).toMatch(/^ok\s+cron\s+\d+ bytes/m);
    expect(code, output).toBe(0);
  });

  it('fails when one Worker cannot be bundled', { timeout: 180_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cmis-deploy-check-test-'));
    dirs.push(dir);
    // The real config with absolute entry points, and the evaluate entry pointing at a missing file.
    const config = (await readFile(join(ROOT, 'wrangler.toml'), 'utf8'))
      .replace(/^main = "workers\/(\w+)\/index\.ts"$/gm, (_, name: string) => `main = "${join(ROOT, 'workers', name, 'index.ts')}"`)
      .replace(join(ROOT, 'workers', 'evaluate', 'index.ts'), join(ROOT, 'workers', 'evaluate', 'does-not-exist.ts'));
    const path = join(dir, 'wrangler.toml');
    await writeFile(path, config);
    const { code, output } = await deployCheck({ DEPLOY_CHECK_CONFIG: path });
    expect(output).toMatch(/^FAIL\s+evaluate\s+exit [1-9]/m);
    expect(output).toMatch(/^deploy-check: FAILED$/m);
    expect(code).not.toBe(0);
  });
});
