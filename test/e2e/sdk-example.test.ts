// examples/campaigns-worker in workerd (Miniflare), bundled as `wrangler deploy` would bundle it:
// - "local":   FLAGS_KV holds the same layers as the stack's KV (another workerd's in-memory KV cannot
//              be shared, so the test puts the layers into both);
// - "service": a real service binding to the stack's evaluate Worker;
// - "down" / "hung": service bindings to a closed port and to a server that never answers.
import { join } from 'node:path';
import { bundleWorker } from '../../scripts/stack/build';
import { Miniflare, convertV4MiniflareOptions, type MiniflareOptions } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../scripts/stack';
import { COMPATIBILITY_DATE } from '../../scripts/stack/workers';
import { appLayers, closedPortUrl, putLayers, startServer, type TestServer } from '../sdk/fixtures';
import { ROOT, startTestStack } from './stack';

const MODES = ['local', 'service', 'down', 'hung'] as const;
type Mode = (typeof MODES)[number];

function bundleExample(): Promise<string> {
  return bundleWorker(join(ROOT, 'examples/campaigns-worker/src/index.ts'), join(ROOT, '.wrangler', 'examples', 'campaigns-worker.js'));
}

const hostOf = (url: string) => new URL(url).host;

describe('campaigns example Worker against the real evaluate Worker and KV', () => {
  let stack: Stack;
  let mf: Miniflare;
  let hung: TestServer;

  beforeAll(async () => {
    stack = await startTestStack();
    const layers = appLayers();
    await putLayers(await stack.kv(), layers);
    hung = await startServer(() => {});
    const scriptPath = await bundleExample();
    const evaluateAt = (url: string) => ({ external: { address: hostOf(url), http: {} } });
    const worker = (name: Mode, bindings: Record<string, string>, evaluate: string) => ({
      name,
      modules: true,
      scriptPath,
      compatibilityDate: COMPATIBILITY_DATE,
      compatibilityFlags: ['nodejs_compat'],
      kvNamespaces: { FLAGS_KV: 'example-flags-kv' },
      serviceBindings: { EVALUATE: evaluateAt(evaluate) },
      bindings: { FLAGS_EVAL_KEY: stack.evalKey, FLAGS_TIMEOUT_MS: '300', ...bindings },
    });
    const options = {
      workers: [
        worker('local', { FLAGS_TRANSPORT: 'local' }, stack.urls.evaluate),
        worker('service', { FLAGS_TRANSPORT: 'service', FLAGS_TIMEOUT_MS: '5000' }, stack.urls.evaluate),
        worker('down', { FLAGS_TRANSPORT: 'service' }, await closedPortUrl()),
        worker('hung', { FLAGS_TRANSPORT: 'service' }, hung.url),
      ],
    };
    mf = new Miniflare(convertV4MiniflareOptions(options as never) as MiniflareOptions);
    await mf.ready;
    await putLayers((await mf.getKVNamespace('FLAGS_KV', 'local')) as unknown as KVNamespace, layers);
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    await hung?.close();
    await stack?.close();
  });

  async function call(mode: Mode, method: string, path: string, org: string, body?: unknown): Promise<Response> {
    const worker = await mf.getWorker(mode);
    const res = await worker.fetch(`http://campaigns.test${path}`, {
      method,
      redirect: 'manual',
      headers: { 'X-Org-Id': org, 'X-User-Id': 'u1', 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res as unknown as Response;
  }

  describe.each(['local', 'service'] as const)('%s transport', (mode) => {
    it('OAuth redirect: 302 for org-a (platform.meta.enabled set for it), 403 "Platform not available" for org-b', async () => {
      const allowed = await call(mode, 'GET', '/oauth/meta/redirect', 'org-a');
      expect(allowed.status).toBe(302);
      expect(allowed.headers.get('Location')).toContain('https://auth.example.com/meta/authorize');
      const refused = await call(mode, 'GET', '/oauth/meta/redirect', 'org-b');
      expect(refused.status).toBe(403);
      expect(refused.headers.get('Content-Type')).toBe('application/problem+json');
      expect(await refused.json()).toMatchObject({ status: 403, detail: 'Platform not available' });
    });

    it('campaign creation: 403 for org-b (campaign.creation.enabled false), 201 for org-a', async () => {
      const refused = await call(mode, 'POST', '/campaigns', 'org-b', { name: 'Spring' });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ detail: 'Feature campaign.creation.enabled is not enabled for this organization' });
      expect((await call(mode, 'POST', '/campaigns', 'org-a', { name: 'Spring' })).status).toBe(201);
    });

    it('publishing goes through the AdPlatformFactory: meta yes, google 403', async () => {
      const created = await call(mode, 'POST', '/campaigns', 'org-a', { name: 'Launch' });
      const { id } = (await created.json()) as { id: string };
      const ok = await call(mode, 'POST', `/campaigns/${id}/publish`, 'org-a', { platforms: ['meta'] });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ published: [{ platform: 'meta', externalId: `meta-${id}` }] });
      const refused = await call(mode, 'POST', `/campaigns/${id}/publish`, 'org-a', { platforms: ['google'] });
      expect(refused.status).toBe(403);
      expect(await refused.json()).toMatchObject({ detail: expect.stringContaining('Platform google is not enabled') });
    });
  });

  it.each(['down', 'hung'] as const)('evaluate Worker %s: campaign route and OAuth answer 403, not 500, within the timeout', async (mode) => {
    const started = Date.now();
    expect((await call(mode, 'POST', '/campaigns', 'org-a', { name: 'x' })).status).toBe(403);
    expect((await call(mode, 'GET', '/oauth/meta/redirect', 'org-a')).status).toBe(403);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});
