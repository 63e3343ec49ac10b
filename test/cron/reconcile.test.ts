// Reconcile: a write whose KV put failed stays pending until the next cron pass republishes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPass } from '../../workers/cron/pass';
import { call, createFlag, failingKv, mintRoleTokens, unique, type RoleTokens } from '../admin/helpers';
import { startCronHarness, type CronHarness } from './helpers';

let h: CronHarness;
let t: RoleTokens;
beforeAll(async () => {
  h = await startCronHarness();
  t = await mintRoleTokens(h);
});
afterAll(async () => {
  await h.close();
});

const layerOf = async (layer: string) => (await call(h, 'GET', '/api/status')).body.layers.find((l: { layer: string }) => l.layer === layer);

async function pass(kv: KVNamespace) {
  const pool = h.newPool();
  try {
    return await runPass({ pool, kv }, Date.now());
  } finally {
    await pool.end();
  }
}

describe('reconcile', () => {
  it('one pass brings KV to the Postgres version of every layer a failed publish left behind', async () => {
    await createFlag(h); // a published global layer to fall behind
    const env = { ...h.env, FLAGS_KV: failingKv(h.kv) };
    const key = unique('reconcile-');
    expect((await call(h, 'POST', '/api/flags', { env, body: { key } })).body.publish).toBe('pending');
    expect((await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { env, token: t.orgAdmin, body: { value: true } })).body.publish).toBe('pending');
    const before = (await call(h, 'GET', '/api/status')).body;
    expect(before.pending).toBeGreaterThanOrEqual(2);
    expect(JSON.parse((await h.kv.get('snap:v1:global'))!).flags[key]).toBeUndefined();

    // a pass whose KV fails too changes nothing and keeps the error
    const failed = await pass(failingKv(h.kv));
    expect(failed.reconciled).toBe(0);
    expect((await layerOf('global')).lastError).toContain('KV unavailable');

    const counts = await pass(h.kv);
    expect(counts.reconciled).toBeGreaterThanOrEqual(2);
    const after = (await call(h, 'GET', '/api/status')).body;
    expect(after.pending).toBe(0);
    for (const name of ['global', `org:${t.orgId}`]) {
      const row = after.layers.find((l: { layer: string }) => l.layer === name);
      expect(row.kvVersion).toBe(row.dbVersion);
      expect(row.lastError).toBeNull();
    }
    const global = JSON.parse((await h.kv.get('snap:v1:global'))!);
    expect(global.version).toBe((await layerOf('global')).dbVersion);
    expect(global.flags[key]).toBeDefined();
    expect(JSON.parse((await h.kv.get(`snap:v1:org:${t.orgId}`))!).flags[key]).toMatchObject({ value: true });
    expect(after.lastCronRun.counts.reconciled).toBe(counts.reconciled);

    // nothing left: the next pass republishes nothing
    expect((await pass(h.kv)).reconciled).toBe(0);
  });
});
