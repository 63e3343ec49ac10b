// (b, continued) publishing through real Postgres: org rows inserted in bulk, then a system-level
// change published exactly as the admin Worker does (commit, then publishLayer in its own
// transaction), with a KV stand-in that counts writes and bytes.
import type { Pool } from '@neondatabase/serverless';
import { checkReachable, startLocalDatabase } from '../scripts/db/local';
import { migrate } from '../scripts/db/migrate';
import { createPool, withRls } from '../shared/db';
import { useNodeWebSocket } from '../shared/db/node';
import { publishLayer, type LayerStore } from '../shared/snapshot/publish';
import { percentiles, round, type BenchContext, type SummaryRow } from './lib';

const SYSTEM = { orgId: null, role: 'system', actor: 'bench' } as const;
const FLAGS = 20;

function countingStore(): LayerStore & { writes: number; bytes: number; keys: string[] } {
  const store = {
    writes: 0,
    bytes: 0,
    keys: [] as string[],
    async put(key: string, value: string) {
      store.writes++;
      store.bytes += value.length;
      store.keys.push(key);
    },
  };
  return store;
}

async function sql(pool: Pool, text: string, params: unknown[] = []): Promise<void> {
  await withRls(pool, SYSTEM, async (_tx, client) => {
    await client.query(text, params);
  });
}

export async function publishScale(ctx: BenchContext, sizes: number[]): Promise<{ summary: SummaryRow[]; details: unknown; note?: string }> {
  const serverUrl = process.env.BENCH_DATABASE_URL || process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  try {
    await checkReachable(serverUrl, 2000);
  } catch (error) {
    const note = `publish part skipped: no Postgres at BENCH_DATABASE_URL/DATABASE_URL (${(error as Error).message}); PGlite is one session and not representative`;
    return { summary: [{ metric: 'publish through Postgres', value: 'skipped (no Postgres server)' }], details: null, note };
  }
  useNodeWebSocket();
  const local = await startLocalDatabase({ databaseUrl: serverUrl });
  const name = `cmis_bench_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = createPool({ databaseUrl: serverUrl, wsProxy: local.wsProxy, max: 1 });
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const pool = createPool({ databaseUrl: url.toString(), wsProxy: local.wsProxy, max: 2 });
  // DROP DATABASE … WITH (FORCE) at the end terminates idle connections: not an error here
  pool.on('error', () => {});
  admin.on('error', () => {});
  const rows: Record<string, unknown>[] = [];
  try {
    await migrate(pool);
    await sql(
      pool,
      `INSERT INTO cmis.feature_flags (feature_key, type, value, off_value)
       SELECT 'feature.f' || lpad(g::text, 2, '0') || '.enabled', 'boolean', to_jsonb(g % 2 = 0), 'false'::jsonb
       FROM generate_series(0, ${FLAGS - 1}) g`,
    );
    let have = 0;
    for (const n of sizes) {
      const t0 = Date.now();
      await sql(
        pool,
        `INSERT INTO cmis.feature_flags (feature_key, org_id, value)
         SELECT 'feature.f' || lpad((g % ${FLAGS})::text, 2, '0') || '.enabled', 'org-' || g, 'true'::jsonb FROM generate_series($1::int, $2::int) g`,
        [have, n - 1],
      );
      await sql(
        pool,
        `INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, org_id, user_id, value)
         SELECT 'feature.f02.enabled', 'user', 'org-' || g, 'u-' || g || '-a', 'true'::jsonb FROM generate_series($1::int, $2::int) g WHERE g % 10 = 0`,
        [have, n - 1],
      );
      await admin.query('SELECT 1');
      await sql(pool, 'ANALYZE cmis.feature_flags; ANALYZE cmis.feature_flag_overrides');
      const insertMs = Date.now() - t0;
      have = n;
      ctx.log(`scale: ${n} orgs in Postgres (${insertMs} ms to insert)`);

      // a system-level change, published like the admin Worker does: commit, then publish the layer
      const reps = ctx.quick ? 3 : 7;
      const publishMs: number[] = [];
      const changeMs: number[] = [];
      let writesPerChange = 0;
      let bytes = 0;
      let keys: string[] = [];
      for (let r = 0; r < reps; r++) {
        const store = countingStore();
        const c0 = process.hrtime.bigint();
        await sql(pool, `UPDATE cmis.feature_flags SET value = to_jsonb(NOT (value::text)::boolean) WHERE feature_key = 'feature.f00.enabled' AND org_id IS NULL`);
        const p0 = process.hrtime.bigint();
        await withRls(pool, SYSTEM, (tx) => publishLayer(tx, store, 'global'));
        const p1 = process.hrtime.bigint();
        changeMs.push(Number(p1 - c0) / 1e6);
        publishMs.push(Number(p1 - p0) / 1e6);
        writesPerChange = Math.max(writesPerChange, store.writes);
        bytes = store.bytes;
        keys = store.keys;
      }
      // one org's change: its own layer only
      const orgStore = countingStore();
      const o0 = process.hrtime.bigint();
      await withRls(pool, SYSTEM, (tx) => publishLayer(tx, orgStore, 'org:org-5'));
      const orgPublishMs = Number(process.hrtime.bigint() - o0) / 1e6;
      // full republish (POST /api/publish): sample 50 org layers, extrapolate to N + 1 layers
      const sample = 50;
      const s0 = process.hrtime.bigint();
      const fullStore = countingStore();
      for (let i = 0; i < sample; i++) await withRls(pool, SYSTEM, (tx) => publishLayer(tx, fullStore, `org:org-${(i * 197) % n}`));
      const perLayerMs = Number(process.hrtime.bigint() - s0) / 1e6 / sample;
      rows.push({
        orgs: n,
        insertMs,
        systemChange: { kvWrites: writesPerChange, kvKeys: keys, globalLayerBytes: bytes, publishMs: percentiles(publishMs, 1), commitAndPublishMs: percentiles(changeMs, 1) },
        orgChange: { kvWrites: orgStore.writes, kvKeys: orgStore.keys, publishMs: round(orgPublishMs, 1) },
        fullRepublish: { layers: n + 1, perLayerMsSampled: round(perLayerMs, 2), sampledLayers: sample, extrapolatedSeconds: round((perLayerMs * (n + 1)) / 1000, 0) },
      });
      ctx.log(`scale: system change at ${n} orgs → ${writesPerChange} KV write(s), publish p50 ${percentiles(publishMs, 1).p50} ms`);
    }
  } finally {
    await pool.end().catch(() => {});
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end().catch(() => {});
    await local.close().catch(() => {});
  }

  type Row = { orgs: number; systemChange: { kvWrites: number; globalLayerBytes: number; publishMs: { p50: number } }; orgChange: { kvWrites: number; publishMs: number }; fullRepublish: { perLayerMsSampled: number; extrapolatedSeconds: number } };
  const typed = rows as unknown as Row[];
  const summary: SummaryRow[] = typed.map((r) => ({
    metric: `system change with ${r.orgs / 1000}k orgs in Postgres: KV writes`,
    value: `${r.systemChange.kvWrites} (global layer ${r.systemChange.globalLayerBytes} B, publish p50 ${r.systemChange.publishMs.p50} ms)`,
    target: '1 write',
    pass: r.systemChange.kvWrites === 1,
  }));
  if (typed.length === 2) {
    summary.push({ metric: 'publish of the global layer, 100k ÷ 10k orgs (p50)', value: `${round(typed[1]!.systemChange.publishMs.p50 / typed[0]!.systemChange.publishMs.p50, 2)}×`, target: '≈ 1' });
  }
  const last = typed[typed.length - 1]!;
  summary.push({ metric: `full republish (POST /api/publish) at ${last.orgs / 1000}k orgs`, value: `~${last.fullRepublish.extrapolatedSeconds} s (${last.fullRepublish.perLayerMsSampled} ms/layer, sampled)` });
  return { summary, details: rows, note: sizes.length < 2 ? 'quick run: Postgres publish measured at 10k orgs only (the full run adds 100k)' : undefined };
}
