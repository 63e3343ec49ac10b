// Reconcile: a write whose KV put failed stays pending until the next cron pass republishes it.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runPass } from '../../workers/cron/pass';
import { LATE_PUT_SETTLE_MS, VERIFY_SETTLE_MS, verifyLayers } from '../../workers/cron/reconcile';
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

async function pass(kv: KVNamespace, nowMs = Date.now()) {
  const pool = h.newPool();
  try {
    return await runPass({ pool, kv }, nowMs);
  } finally {
    await pool.end();
  }
}

describe('reconcile', () => {
  it('a layer deleted or overwritten in KV outside the admin Worker is put back by the next pass', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const key = unique('verify-');
    expect((await call(h, 'POST', '/api/flags', { body: { key } })).body.publish).toBe('done');
    expect((await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin, body: { value: true } })).body.publish).toBe('done');
    const orgKey = `snap:v1:org:${t.orgId}`;
    await h.kv.delete(orgKey);
    await h.kv.put('snap:v1:global', '{"version": 1, "flags": ');
    // Postgres still says both copies are published: only reading them back can tell.
    expect((await call(h, 'GET', '/api/status')).body.pending).toBe(0);

    // Within the settle time a layer is not read back (KV elsewhere may still see the previous copy).
    expect((await pass(h.kv)).reconciled).toBe(0);
    const later = Date.now() + VERIFY_SETTLE_MS + 1000;
    expect((await pass(h.kv, later)).reconciled).toBeGreaterThanOrEqual(2);
    expect(JSON.parse((await h.kv.get(orgKey))!).flags[key]).toMatchObject({ value: true });
    const global = JSON.parse((await h.kv.get('snap:v1:global'))!);
    expect(global.version).toBe((await layerOf('global')).dbVersion);
    expect(global.flags[key]).toBeDefined();
    expect((await layerOf(`org:${t.orgId}`)).lastError).toBeNull();
    expect((await pass(h.kv, later + 60_000)).reconciled).toBe(0);
  });

  it('the read-back takes every org layer when they fit in one pass, else a full window that wraps round', async () => {
    const key = unique('window-');
    expect((await call(h, 'POST', '/api/flags', { body: { key } })).body.publish).toBe('done');
    for (const org of ['w-a', 'w-b', 'w-c', 'w-d', 'w-e'].map((o) => unique(o))) {
      expect((await call(h, 'PUT', `/api/orgs/${org}/flags/${key}`, { body: { value: true } })).status).toBe(200);
    }
    const settled = Date.now() + VERIFY_SETTLE_MS + 1000;
    // the org layers the read-back may take at `settled`: published, up to date, settled
    const orgLayers = (
      await h.sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM cmis.snapshot_versions WHERE layer <> 'global' AND kv_version > 0 AND kv_version = db_version AND published_at < $1`,
        [new Date(settled - VERIFY_SETTLE_MS).toISOString()],
      )
    )[0]!.n;
    expect(orgLayers).toBeGreaterThanOrEqual(5);
    const pool = h.newPool();
    try {
      // nothing drifted: the outcome says how many layers were read back (global + org layers)
      expect(await verifyLayers(pool, h.kv, settled)).toEqual({ checked: 1 + orgLayers, drifted: [] });
      // a window of 2 is 2 org layers at every minute, also where it runs past the end of the list
      for (let minute = 0; minute < orgLayers; minute++) {
        expect((await verifyLayers(pool, h.kv, settled + minute * 60_000, 2)).checked, `minute ${minute}`).toBe(3);
      }
    } finally {
      await pool.end();
    }
  });

  it('a pass as of a later instant (the local ?time= trigger) records when it really published, so the read-back still comes', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    await createFlag(h);
    await h.sql(`UPDATE cmis.snapshot_versions SET kv_version = 0 WHERE layer = 'global'`); // behind: the pass republishes it
    expect((await pass(h.kv, Date.now() + 3_600_000)).reconciled).toBeGreaterThanOrEqual(1);
    const publishedAt = Date.parse((await layerOf('global')).publishedAt);
    expect(Math.abs(publishedAt - Date.now())).toBeLessThan(60_000);
    await h.kv.delete('snap:v1:global');
    const pool = h.newPool();
    try {
      expect((await verifyLayers(pool, h.kv, Date.now() + VERIFY_SETTLE_MS + 1000)).drifted).toContain('global');
    } finally {
      await pool.end();
    }
    expect((await pass(h.kv, Date.now() + VERIFY_SETTLE_MS + 1000)).reconciled).toBeGreaterThanOrEqual(1);
    expect(await h.kv.get('snap:v1:global')).not.toBeNull();
  });

  it('a put abandoned at its deadline that lands after a newer copy is found by the next pass and put right', async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const key = await createFlag(h);
    let landed!: Promise<void>;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const slow = new Proxy(h.kv, {
      get(target, prop) {
        // the put goes through only when the test lets it: after the kill switch's own put
        if (prop === 'put') return (k: string, v: string) => (landed = held.then(() => target.put(k, v)));
        if (prop === 'putDeadlineMs') return 50;
        return Reflect.get(target, prop) as unknown;
      },
    });
    // the write answers at the deadline (its put abandoned), so the kill switch right after is not held up
    const late = await call(h, 'PATCH', `/api/flags/${key}`, { env: { ...h.env, FLAGS_KV: slow }, body: { description: 'late' } });
    expect(late.body.publish).toBe('pending');
    expect((await layerOf('global')).lastError).toMatch(/^late put/);
    const kill = await call(h, 'PATCH', `/api/flags/${key}`, { body: { killed: true } });
    expect(kill.body.publish).toBe('done');
    release();
    await landed; // the abandoned put lands last: KV holds the copy from before the kill
    expect(JSON.parse((await h.kv.get('snap:v1:global'))!).flags[key].killed).toBe(false);
    // a minute after the kill's publish: not due for the usual read-back (2 minutes), but watched for the late put
    const result = await pass(h.kv, Date.now() + LATE_PUT_SETTLE_MS + 1000);
    expect(result.reconciled).toBeGreaterThanOrEqual(1);
    expect(JSON.parse((await h.kv.get('snap:v1:global'))!).flags[key].killed).toBe(true);
  });

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
