// Evaluate keys in KV are put back from Postgres: by POST /api/publish (every live key, as after KV
// was lost or recreated) and by the cron's read-back (a record missing or different, as after a
// revocation whose COMMIT failed once it had deleted the record). A revoked key is never put back,
// even by a restore that races its revocation (that case needs real Postgres: PGlite has one connection).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sha256Hex } from '../../shared/tokens';
import { evaluateKeyKey, EvaluateKeyRecordSchema, type LayerName } from '../../shared/snapshot';
import { putEvaluateKeys } from '../../shared/snapshot/evaluate-keys';
import { publishLayersBulk } from '../../shared/snapshot/bulk';
import { withRls } from '../../shared/db';
import { runPass } from '../../workers/cron/pass';
import { verifyEvaluateKeys } from '../../workers/cron/evaluate-keys';
import { VERIFY_SETTLE_MS } from '../../workers/cron/reconcile';
import { call, unique } from '../admin/helpers';
import { startCronHarness, type CronHarness } from './helpers';

let h: CronHarness;

beforeAll(async () => {
  h = await startCronHarness();
});
afterAll(async () => {
  await h?.close();
});

interface Minted {
  id: string;
  name: string;
  token: string;
  kvKey: string;
}

async function mintKey(orgId?: string): Promise<Minted> {
  const name = unique('app-');
  const res = await call(h, 'POST', '/api/tokens', { body: { name, role: 'evaluate', ...(orgId ? { orgId } : {}) } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id: res.body.id, name, token: res.body.token, kvKey: evaluateKeyKey(await sha256Hex(res.body.token)) };
}

/** The record as the evaluate Worker decodes it, or null. */
async function recordOf(key: Minted) {
  const text = await h.kv.get(key.kvKey);
  return text === null ? null : EvaluateKeyRecordSchema.parse(JSON.parse(text));
}

/** A pass time at which every key minted so far is past the read-back's settle time. */
const settledNow = () => Date.now() + VERIFY_SETTLE_MS + 60_000;

async function verifyAt(nowMs: number, limit?: number) {
  const pool = h.newPool();
  try {
    return await verifyEvaluateKeys(pool, h.kv, nowMs, limit);
  } finally {
    await pool.end();
  }
}

describe('evaluate keys are put back from Postgres', () => {
  it('POST /api/publish puts every live key back into an emptied namespace, and no revoked one', async () => {
    const orgId = unique('org-');
    const global = await mintKey();
    const scoped = await mintKey(orgId);
    const revoked = await mintKey();
    expect((await call(h, 'DELETE', `/api/tokens/${revoked.id}`)).status).toBe(204);
    const before = { global: await recordOf(global), scoped: await recordOf(scoped) };
    expect(before.scoped).toMatchObject({ id: scoped.id, orgId });
    for (const key of [global, scoped]) await h.kv.delete(key.kvKey);

    const res = await call(h, 'POST', '/api/publish', { body: { reason: 'KV namespace recreated' } });
    expect(res.status).toBe(200);
    expect(res.body.publish).toBe('done');
    const live = await h.sql<{ n: number }>(`SELECT count(*)::int AS n FROM cmis.api_tokens WHERE role = 'evaluate' AND revoked_at IS NULL`);
    expect(res.body.evaluateKeys).toEqual({ put: live[0]!.n, remaining: 0, deferred: 0 });
    expect(await recordOf(global)).toEqual(before.global);
    expect(await recordOf(scoped)).toEqual(before.scoped);
    expect(await h.kv.get(revoked.kvKey)).toBeNull();
  });

  it("the cron's read-back puts back a record a failed revocation deleted, and skips keys still settling", async () => {
    const key = await mintKey();
    // The KV delete of the revocation goes through, then the revocation fails (as when its COMMIT
    // fails): the key is still live in Postgres but the evaluate Worker would refuse it.
    const flaky = {
      ...h.env.FLAGS_KV,
      get: h.kv.get.bind(h.kv),
      put: h.kv.put.bind(h.kv),
      delete: async (name: string) => {
        await h.kv.delete(name);
        throw new Error('connection reset');
      },
    } as unknown as KVNamespace;
    const failed = await call(h, 'DELETE', `/api/tokens/${key.id}`, { env: { ...h.env, FLAGS_KV: flaky } });
    expect(failed.status).toBe(503);
    expect(await h.sql(`SELECT revoked_at FROM cmis.api_tokens WHERE id = $1`, [key.id])).toEqual([{ revoked_at: null }]);
    expect(await recordOf(key)).toBeNull();

    // a pass as of now leaves a key created under two minutes ago alone
    expect((await verifyAt(Date.now())).restored).toBe(0);
    expect(await recordOf(key)).toBeNull();

    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const pool = h.newPool();
    try {
      const counts = await runPass({ pool, kv: h.kv }, settledNow());
      expect(counts.restoredKeys).toBe(1);
      expect(await recordOf(key)).toEqual({ id: key.id, name: key.name });
      // the next pass finds every record in place
      expect((await runPass({ pool, kv: h.kv }, settledNow())).restoredKeys).toBe(0);
      // a record overwritten with something else is put back too
      await h.kv.put(key.kvKey, JSON.stringify({ id: key.id, name: 'tampered', orgId: 'someone-else' }));
      expect((await runPass({ pool, kv: h.kv }, settledNow())).restoredKeys).toBe(1);
      expect(await recordOf(key)).toEqual({ id: key.id, name: key.name });
    } finally {
      await pool.end();
      warn.mockRestore();
    }

    // once really revoked, the read-back does not bring it back, and deletes a record that came back
    expect((await call(h, 'DELETE', `/api/tokens/${key.id}`)).status).toBe(204);
    expect(await verifyAt(settledNow())).toMatchObject({ restored: 0, removed: 0 });
    expect(await recordOf(key)).toBeNull();
    await h.kv.put(key.kvKey, JSON.stringify({ id: key.id, name: key.name }));
    expect(await verifyAt(settledNow())).toMatchObject({ restored: 0, removed: 1 });
    expect(await recordOf(key)).toBeNull();
  });

  it('revoked keys do not crowd live ones out of the read-back, and one revoked moments ago is left to settle', async () => {
    for (let i = 0; i < 4; i++) {
      const revoked = await mintKey();
      expect((await call(h, 'DELETE', `/api/tokens/${revoked.id}`)).status).toBe(204);
    }
    const liveKeys = (await h.sql<{ n: number }>(`SELECT count(*)::int AS n FROM cmis.api_tokens WHERE role = 'evaluate' AND revoked_at IS NULL`))[0]!.n;
    const key = await mintKey();
    await h.kv.delete(key.kvKey);
    // a window as wide as the live keys: the newly revoked ones (more than the window) do not push this one out
    expect((await verifyAt(settledNow(), liveKeys + 1)).restored).toBe(1);
    expect(await recordOf(key)).toEqual({ id: key.id, name: key.name });

    const justRevoked = await mintKey();
    expect((await call(h, 'DELETE', `/api/tokens/${justRevoked.id}`)).status).toBe(204);
    await h.kv.put(justRevoked.kvKey, JSON.stringify({ id: justRevoked.id, name: justRevoked.name })); // as a stale edge copy would read
    expect((await verifyAt(Date.now())).removed).toBe(0);
    expect((await verifyAt(settledNow())).removed).toBe(1);
    expect(await recordOf(justRevoked)).toBeNull();
  });

  it('POST /api/publish reports keys it could not put and answers pending; the read-back puts them later', async () => {
    const key = await mintKey();
    await h.kv.delete(key.kvKey);
    const refusing = {
      get: h.kv.get.bind(h.kv),
      delete: h.kv.delete.bind(h.kv),
      put: async (name: string, value: string) => {
        if (name.startsWith('key:')) throw new Error('KV PUT failed: 429 Too Many Requests');
        await h.kv.put(name, value);
      },
    } as unknown as KVNamespace;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const res = await call(h, 'POST', '/api/publish', { env: { ...h.env, FLAGS_KV: refusing }, body: { reason: 'KV throttled' } });
      expect(res.status).toBe(200);
      expect(res.body.publish).toBe('pending');
      expect(res.body.evaluateKeys).toMatchObject({ put: 0, remaining: expect.any(Number), error: expect.stringContaining('429') });
      expect(res.body.evaluateKeys.remaining).toBeGreaterThanOrEqual(1);
      expect(res.body.layers.every((l: { ok: boolean }) => l.ok)).toBe(true);
      expect(await recordOf(key)).toBeNull();
      expect((await verifyAt(settledNow())).restored).toBeGreaterThanOrEqual(1);
      expect(await recordOf(key)).toEqual({ id: key.id, name: key.name });
    } finally {
      warn.mockRestore();
    }
  });
});

describe.skipIf(!process.env.DATABASE_URL)('a restore racing a revocation (real Postgres)', () => {
  it('the revocation that commits while a restore waits for its row lock stays revoked', async () => {
    const key = await mintKey();
    await h.kv.delete(key.kvKey);
    const revoker = h.newPool();
    const restorer = h.newPool();
    const client = await revoker.connect();
    try {
      // the revocation's UPDATE holds the row until it commits
      await client.query('BEGIN');
      await client.query(`UPDATE cmis.api_tokens SET revoked_at = now() WHERE id = $1`, [key.id]);
      const restore = withRls(restorer, { orgId: null, role: 'system', actor: 'cron' }, (tx) => putEvaluateKeys(tx, h.kv, [key.id]));
      await new Promise((r) => setTimeout(r, 300));
      await client.query('COMMIT');
      expect(await restore).toEqual({ put: 0, errors: [] });
      expect(await recordOf(key)).toBeNull();
    } finally {
      client.release();
      await revoker.end();
      await restorer.end();
    }
  });

  it('a revocation waiting on a restore whose other put failed stays revoked (every put settles before the locks go)', async () => {
    const failing = await mintKey();
    const slow = await mintKey();
    for (const key of [failing, slow]) await h.kv.delete(key.kvKey);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let slowStarted!: () => void;
    const started = new Promise<void>((r) => (slowStarted = r));
    const kv = {
      put: async (name: string, value: string) => {
        if (name === failing.kvKey) throw new Error('KV PUT failed: 429');
        slowStarted();
        await gate;
        await h.kv.put(name, value);
      },
    };
    const restorer = h.newPool();
    try {
      const restore = withRls(restorer, { orgId: null, role: 'system', actor: 'cron' }, (tx) => putEvaluateKeys(tx, kv, [failing.id, slow.id]));
      await started;
      const revoke = call(h, 'DELETE', `/api/tokens/${slow.id}`); // waits for the restore's row lock
      await new Promise((r) => setTimeout(r, 300));
      release();
      expect(await restore).toEqual({ put: 1, errors: ['KV PUT failed: 429'] });
      expect((await revoke).status).toBe(204);
      expect(await recordOf(slow)).toBeNull(); // before: the slow put landed after the revocation's delete
    } finally {
      await restorer.end();
    }
  });

  it("a key's put is never abandoned at the layers' put deadline: the revocation waits for it", async () => {
    const slow = await mintKey();
    await h.kv.delete(slow.kvKey);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let slowStarted!: () => void;
    const started = new Promise<void>((r) => (slowStarted = r));
    const kv = {
      putDeadlineMs: 50, // a layer put this slow would be abandoned
      put: async (name: string, value: string) => {
        slowStarted();
        await gate;
        await h.kv.put(name, value);
      },
    };
    const restorer = h.newPool();
    try {
      const restore = withRls(restorer, { orgId: null, role: 'system', actor: 'cron' }, (tx) => putEvaluateKeys(tx, kv, [slow.id]));
      await started;
      const revoke = call(h, 'DELETE', `/api/tokens/${slow.id}`);
      await new Promise((r) => setTimeout(r, 300)); // well past the deadline
      release();
      expect(await restore).toEqual({ put: 1, errors: [] });
      expect((await revoke).status).toBe(204);
      expect(await recordOf(slow)).toBeNull();
    } finally {
      await restorer.end();
    }
  });
});

describe('a layer chunk against a KV that hangs', () => {
  it('stops trying after its first late put, so its rows are held for about one deadline', async () => {
    const layers: LayerName[] = ['global', ...Array.from({ length: 39 }, (_, i) => `org:hang-${String(i).padStart(2, '0')}` as const)];
    const started: string[] = [];
    const hanging = { putDeadlineMs: 50, put: (name: string) => (started.push(name), new Promise<void>(() => {})) };
    const pool = h.newPool();
    try {
      const outcomes = await withRls(pool, { orgId: null, role: 'system', actor: 'cron' }, (tx) => publishLayersBulk(tx, hanging, layers));
      expect(started).toHaveLength(16); // the first round only
      expect(outcomes.filter((o) => o.error?.startsWith('late put'))).toHaveLength(16);
      expect(outcomes.filter((o) => o.error?.startsWith('not tried'))).toHaveLength(24);
    } finally {
      await pool.end();
    }
  });
});
