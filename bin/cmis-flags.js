#!/usr/bin/env node
// `npx cmis-flags …`: runs scripts/cli.ts on the project's own Node 22 (node_modules/.bin/node,
// the `node` devDependency) with tsx as the TypeScript loader, whatever Node started this shim.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundled = join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'node.cmd' : 'node');
const node = existsSync(bundled) ? bundled : process.execPath;
const tsx = import.meta.resolve('tsx');
const result = spawnSync(node, ['--import', tsx, join(root, 'scripts', 'cli.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
if (result.error) {
  process.stderr.write(`cmis-flags: cannot start ${node}: ${result.error.message}\n`);
  process.exit(1);
}
process.exit(result.status ?? 1);
