// Shared by the SDK tests: the cascade vectors' state compiled to KV layers, a Miniflare KV, and
// local HTTP servers that misbehave on purpose.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Miniflare, convertV4MiniflareOptions, type MiniflareOptions } from 'miniflare';
import cascade from '../vectors/cascade.json';
import { DEFAULT_FLAGS } from '../../shared/config';
import type { EvalContext } from '../../shared/engine';
import { buildLayers, globalLayerKey, orgLayerKey, SourceStateSchema, type SnapshotLayers } from '../../shared/snapshot';

export interface VectorCase {
  name: string;
  flag: string;
  context: EvalContext;
  now: string;
  expect: { value?: unknown; reason?: string; source?: string; errorCode?: string };
}

export const vectorCases = cascade.cases as VectorCase[];

export function vectorLayers(version = 1): SnapshotLayers {
  return buildLayers(SourceStateSchema.parse(cascade.state), { version, generatedAt: Date.parse('2026-06-01T00:00:00Z') });
}

/**
 * The vectors' state plus the CMIS default flags it lacks (e.g. `campaign.editing.enabled`), as the
 * example app expects a seeded installation to have them.
 */
export function appLayers(version = 1): SnapshotLayers {
  const state = SourceStateSchema.parse(cascade.state);
  const known = new Set(state.flags.map((f) => f.key));
  const extra = DEFAULT_FLAGS.filter((f) => !known.has(f.key)).map((f) => ({ key: f.key, type: f.type, defaultValue: f.defaultValue, offValue: false, killed: false }));
  return buildLayers(SourceStateSchema.parse({ ...cascade.state, flags: [...cascade.state.flags, ...extra] }), { version });
}

/** Puts the global layer and every org layer where the evaluate Worker and the SDK read them. */
export async function putLayers(kv: Pick<KVNamespace, 'put'>, layers: SnapshotLayers): Promise<void> {
  await kv.put(globalLayerKey, JSON.stringify(layers.global));
  for (const [orgId, layer] of Object.entries(layers.orgs)) await kv.put(orgLayerKey(orgId), JSON.stringify(layer));
}

/** A Miniflare KV namespace reachable from Node (the same KV implementation workerd uses). */
export async function startKv(): Promise<{ kv: KVNamespace; close(): Promise<void> }> {
  const mf = new Miniflare(
    convertV4MiniflareOptions({ modules: true, script: 'export default {fetch(){return new Response()}}', kvNamespaces: ['FLAGS_KV'] } as never) as MiniflareOptions,
  );
  const kv = (await mf.getKVNamespace('FLAGS_KV')) as unknown as KVNamespace;
  return { kv, close: () => mf.dispose() };
}

export interface TestServer {
  url: string;
  requests: { method: string; url: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

/** A local HTTP server answering with `handler`; it records every request. */
export async function startServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: TestServer['requests'] = [];
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then closed). */
export async function closedPortUrl(): Promise<string> {
  const server = await startServer(() => {});
  await server.close();
  return server.url;
}
