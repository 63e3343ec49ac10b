// Republish at scale: POST /api/publish puts the global layer and a bounded number of org layers, and
// hands the rest to the Queue (or, without one, to the reconciler); every layer ends at its db_version.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withRls } from '../../shared/db/rls';
import type { EventMessage, PublishMessage } from '../../shared/events';
import { LAYERS_PER_CHUNK } from '../../shared/snapshot/bulk';
import { handleEventMessages, type QueueMessage } from '../../workers/cron/queue';
import { RECONCILE_LAYERS_PER_PASS, reconcileLayers } from '../../workers/cron/reconcile';
import { call, createFlag, unique } from '../admin/helpers';
import { startCronHarness, type CronHarness } from './helpers';

const ORGS = 1_500;

let h: CronHarness;
let key: string;
beforeAll(async () => {
  h = await startCronHarness();
  key = await createFlag(h, { type: 'boolean', defaultValue: false });
  const pool = h.newPool();
  try {
    // one org value per org, written as the API would (audited, db_version bumped per org layer)
    await withRls(pool, { orgId: null, role: 'system', actor: 'test', reason: 'seed orgs' }, (_tx, client) =>
      client.query(
        `INSERT INTO cmis.feature_flags (feature_key, org_id, value)
         SELECT $1, 'bulk-' || lpad(i::text, 5, '0'), to_jsonb(i % 2 = 0) FROM generate_series(1, $2::int) AS i`,
        [key, ORGS],
      ),
    );
  } finally {
    await pool.end();
  }
}, 180_000);
afterAll(async () => {
  await h.close();
});

/** Miniflare's KV, counting the puts per key. */
function countingKv(kv: KVNamespace) {
  const puts = new Map<string, number>();
  const store = new Proxy(kv, {
    get(target, prop) {
      if (prop === 'put') {
        return (k: string, ...rest: unknown[]) => {
          puts.set(k, (puts.get(k) ?? 0) + 1);
          return (target.put as (...a: unknown[]) => Promise<void>)(k, ...rest);
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store, puts, total: () => [...puts.values()].reduce((a, b) => a + b, 0) };
}

function collectingQueue() {
  const sent: EventMessage[] = [];
  return { sent, sendBatch: async (messages: Iterable<{ body: unknown }>) => void sent.push(...[...messages].map((m) => m.body as EventMessage)) };
}

const behind = async () => Number((await h.sql<{ n: string }>(`SELECT count(*)::text AS n FROM cmis.snapshot_versions WHERE kv_version < db_version`))[0]!.n);
const layerCount = async () => Number((await h.sql<{ n: string }>(`SELECT count(*)::text AS n FROM cmis.snapshot_versions`))[0]!.n);

async function expectEveryLayerCurrent() {
  expect(await behind()).toBe(0);
  const [sample] = await h.sql<{ db_version: string }>(`SELECT db_version::text FROM cmis.snapshot_versions WHERE layer = 'org:bulk-00042'`);
  const layer = JSON.parse((await h.kv.get('snap:v1:org:bulk-00042'))!);
  expect(layer.version).toBe(Number(sample!.db_version));
  expect(layer.flags[key]).toMatchObject({ value: true });
  const global = JSON.parse((await h.kv.get('snap:v1:global'))!);
  expect(global.flags[key]).toBeDefined();
}

describe('publishing with many orgs', () => {
  it(`a system-level change is one KV put with ${ORGS} orgs`, async () => {
    const kv = countingKv(h.kv);
    const res = await call(h, 'POST', '/api/flags', { env: { ...h.env, FLAGS_KV: kv.store }, body: { key: unique('sys-'), type: 'boolean', defaultValue: true } });
    expect(res.status).toBe(201);
    expect(res.body.publish).toBe('done');
    expect([...kv.puts]).toEqual([['snap:v1:global', 1]]);
  });

  it(`POST /api/publish of ${ORGS} orgs: bounded inline work, the rest as Queue messages; the consumer brings every layer to db_version`, async () => {
    const layers = await layerCount();
    expect(layers).toBeGreaterThanOrEqual(ORGS + 1);
    const kv = countingKv(h.kv);
    const queue = collectingQueue();
    const env = { ...h.env, FLAGS_KV: kv.store, EVENTS: queue as unknown as Queue };

    const started = performance.now();
    const res = await call(h, 'POST', '/api/publish', { env, body: { reason: 'republish at scale' } });
    const requestMs = performance.now() - started;
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ publish: 'pending', layers, inline: LAYERS_PER_CHUNK + 1, queued: layers - LAYERS_PER_CHUNK - 1, via: 'queue', evaluateKeys: { put: 0, remaining: 0, deferred: 0 } });
    expect(kv.total()).toBe(LAYERS_PER_CHUNK + 1);
    // queued layers count as pending until a consumer puts them
    expect(await behind()).toBe(res.body.queued);

    const messages = queue.sent as PublishMessage[];
    expect(messages.every((m) => m.type === 'publish' && m.layers.length <= LAYERS_PER_CHUNK && !m.layers.includes('global'))).toBe(true);
    expect(messages.flatMap((m) => m.layers)).toHaveLength(res.body.queued);

    const consumed = performance.now();
    const pool = h.newPool();
    try {
      const acked: string[] = [];
      const batch: QueueMessage[] = messages.map((body, i) => ({ id: `m${i}`, body, attempts: 1, ack: () => void acked.push(`m${i}`), retry: () => {} }));
      await handleEventMessages(batch, { pool, kv: kv.store });
      expect(acked).toHaveLength(messages.length);
    } finally {
      await pool.end();
    }
    const consumerMs = performance.now() - consumed;

    await expectEveryLayerCurrent();
    expect(kv.puts.get('snap:v1:global')).toBe(1);
    expect(kv.total()).toBe(layers); // each layer put exactly once
    console.log(`[republish] ${h.engine}: ${layers} layers; request ${requestMs.toFixed(0)} ms (${res.body.inline} inline), ${messages.length} queue messages consumed in ${consumerMs.toFixed(0)} ms`);
  }, 180_000);

  it(`without a Queue, cron reconcile passes (≤ ${RECONCILE_LAYERS_PER_PASS} layers each) catch every layer up`, async () => {
    const layers = await layerCount();
    const kv = countingKv(h.kv);
    const env = { ...h.env, FLAGS_KV: kv.store, EVENTS: undefined };
    const res = await call(h, 'POST', '/api/publish', { env, body: {} });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ publish: 'pending', layers, inline: LAYERS_PER_CHUNK + 1, via: 'reconcile' });
    expect(await behind()).toBe(res.body.queued);

    const started = performance.now();
    const pool = h.newPool();
    let passes = 0;
    try {
      for (;;) {
        const before = kv.total();
        const pass = await reconcileLayers(pool, kv.store, Date.now());
        expect(kv.total() - before).toBeLessThanOrEqual(RECONCILE_LAYERS_PER_PASS);
        if (pass.reconciled === 0) break;
        passes += 1;
        expect(passes).toBeLessThan(20);
      }
    } finally {
      await pool.end();
    }
    const reconcileMs = performance.now() - started;
    expect(passes).toBe(Math.ceil(res.body.queued / RECONCILE_LAYERS_PER_PASS));
    await expectEveryLayerCurrent();
    expect(kv.puts.get('snap:v1:global')).toBe(1);
    expect(kv.total()).toBe(layers);
    console.log(`[republish] ${h.engine}: ${res.body.queued} layers reconciled in ${passes} passes, ${reconcileMs.toFixed(0)} ms`);
  }, 180_000);

  it('a publish message of a malformed shape is acknowledged without effect', async () => {
    const pool = h.newPool();
    try {
      let acked = false;
      await handleEventMessages(
        [{ id: 'bad', body: { type: 'publish', layers: ['nope'] }, attempts: 1, ack: () => void (acked = true), retry: () => {} }],
        { pool, kv: h.kv },
      );
      expect(acked).toBe(true);
    } finally {
      await pool.end();
    }
  });
});
