// npm run drill:rollback — rehearses the rollback plan of docs/deploy.md against the local stack:
//   1. start the stack (in-memory PGlite, or a throw-away database in DATABASE_URL's server)
//   2. give several orgs their own values (admin API; overrides the API has no route for yet are
//      written through withRls and published), record every org's answers from the evaluate Worker
//   3. corrupt every snapshot key in KV: answers must not change (each isolate keeps its last good
//      copy), and an org never read before must fail closed (caller default, reason ERROR)
//   4. delete every snapshot key and the KV record of the evaluate key the answers are read with
//      (minted through the admin API in step 2): reported (a missing org layer reads as "org without
//      data"; once the isolate's key cache expires the key is refused, 401), then a cron pass as of a
//      few minutes later (the local trigger's ?time=, past the read-back's settle time) must find
//      every layer and the key missing and put them back: every answer must equal step 2
//   5. delete them again; POST /api/publish rebuilds KV from Postgres (layers and evaluate keys):
//      every answer must equal step 2, status pending 0
//   6. a bad flag change, undone with POST /api/audit/:id/revert: answers must equal step 2 again
// Exits non-zero on any difference in 3, 4, 5 or 6. Prints one line per check.
import { resolve } from 'node:path';
import { startStack, type Stack } from './stack';
import { freePort } from './stack/ports';
import { startLocalDatabase } from './db/local';
import { createPool, withRls } from '../shared/db';
import { useNodeWebSocket } from '../shared/db/node';
import { VERIFY_SETTLE_MS } from '../workers/cron/reconcile';
import { DEFAULT_KEY_CACHE } from '../workers/evaluate/auth';
import { evaluateKeyKey } from '../shared/snapshot/keys';
import { sha256Hex } from '../shared/tokens';

const ROOT = resolve(import.meta.dirname, '..');
const MAX_AGE_MS = 1000; // the stack's SNAPSHOT_MAX_AGE_MS
const ORGS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'];
const USERS = ['u-1', 'u-vip', 'u-42'];
const PLATFORMS = [undefined, 'meta', 'tiktok'];

type Answers = Record<string, string>; // "org|user|platform|flag" → JSON of {value, reason, source}

const log = (line: string) => console.log(`[drill] ${line}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Long enough for every isolate cache entry to be re-read from KV. */
const waitForCaches = () => sleep(MAX_AGE_MS + 300);

async function withDatabase<T>(work: (databaseUrl: string | undefined) => Promise<T>): Promise<T> {
  const serverUrl = process.env.DATABASE_URL?.trim();
  if (!serverUrl) return work(undefined);
  useNodeWebSocket();
  const local = await startLocalDatabase({ databaseUrl: serverUrl });
  const name = `cmis_drill_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = createPool({ databaseUrl: serverUrl, wsProxy: local.wsProxy, max: 1 });
  admin.on('error', () => {}); // idle connections ended by the server are not the drill's concern
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  try {
    return await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    await admin.end().catch(() => {});
    await local.close().catch(() => {});
  }
}

function api(stack: Stack, evalKey = stack.evalKey) {
  const adminHeaders = { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' };
  return {
    async admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
      const res = await fetch(`${stack.urls.admin}${path}`, { method, headers: adminHeaders, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.status, json: await res.json().catch(() => null) };
    },
    async bulk(orgId: string, userId: string, platform: string | undefined): Promise<{ status: number; json: any }> {
      const res = await fetch(`${stack.urls.evaluate}/v1/evaluate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${evalKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ context: { orgId, userId, ...(platform ? { platform } : {}) } }),
      });
      return { status: res.status, json: await res.json().catch(() => null) };
    },
  };
}

async function recordAnswers(stack: Stack, evalKey: string, orgs: string[] = ORGS): Promise<Answers> {
  const { bulk } = api(stack, evalKey);
  const answers: Answers = {};
  for (const org of orgs) {
    for (const user of USERS) {
      for (const platform of PLATFORMS) {
        const { status, json } = await bulk(org, user, platform);
        if (status !== 200 || !json?.flags) throw new Error(`POST /v1/evaluate for ${org}/${user}/${platform}: ${status} ${JSON.stringify(json)}`);
        for (const [flag, r] of Object.entries(json.flags as Record<string, { value: unknown; reason: string; source: string; errorCode?: string }>)) {
          answers[`${org}|${user}|${platform ?? '-'}|${flag}`] = JSON.stringify({ value: r.value, reason: r.reason, source: r.source, errorCode: r.errorCode });
        }
      }
    }
  }
  return answers;
}

function differences(before: Answers, after: Answers): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  const out: string[] = [];
  for (const key of [...keys].sort()) {
    if (before[key] !== after[key]) out.push(`${key}: ${before[key] ?? '(missing)'} → ${after[key] ?? '(missing)'}`);
  }
  return out;
}

async function seedOrgData(stack: Stack): Promise<void> {
  const { admin } = api(stack);
  const must = async (method: string, path: string, body?: unknown) => {
    const { status, json } = await admin(method, path, body);
    if (status >= 300) throw new Error(`${method} ${path}: ${status} ${JSON.stringify(json)}`);
    return json;
  };
  // system-level: a rollout and an all-orgs platform override
  await must('PATCH', '/api/flags/reporting.advanced.enabled', { rollout: { percentage: 40, value: true } });
  await must('PUT', '/api/flags/campaign.publishing.enabled/platforms/tiktok', { value: false });
  // org values through the admin API
  for (const [i, org] of ORGS.entries()) {
    await must('PUT', `/api/orgs/${org}/flags/platform.meta.enabled`, { value: i % 2 === 0 });
    await must('PUT', `/api/orgs/${org}/flags/platform.tiktok.enabled`, { value: true, percentage: 50 });
    if (i % 3 === 0) await must('PUT', `/api/orgs/${org}/flags/campaign.creation.enabled`, { value: false });
  }
  // user and org platform overrides: the admin API when it has the routes, else withRls + publish
  const probe = await admin('PUT', `/api/orgs/${ORGS[0]}/flags/campaign.creation.enabled/users/u-vip`, { value: true });
  if (probe.status < 300) {
    for (const org of ORGS.slice(1)) await must('PUT', `/api/orgs/${org}/flags/campaign.creation.enabled/users/u-vip`, { value: true });
    for (const org of ORGS.slice(0, 3)) await must('PUT', `/api/orgs/${org}/flags/campaign.editing.enabled/platforms/meta`, { value: false });
    log('org data written through the admin API (org values, user and org platform overrides)');
    return;
  }
  const pool = createPool({ databaseUrl: stack.databaseUrl, wsProxy: stack.wsProxy, max: 1, idleTimeoutMillis: 500 });
  try {
    await withRls(pool, { orgId: null, role: 'system', actor: 'drill', reason: 'rollback drill' }, async (_tx, client) => {
      for (const org of ORGS) {
        await client.query(
          `INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, org_id, user_id, value) VALUES ('campaign.creation.enabled', 'user', $1, 'u-vip', 'true'::jsonb)`,
          [org],
        );
      }
      for (const org of ORGS.slice(0, 3)) {
        await client.query(
          `INSERT INTO cmis.feature_flag_overrides (feature_key, override_type, org_id, platform, value) VALUES ('campaign.editing.enabled', 'platform', $1, 'meta', 'false'::jsonb)`,
          [org],
        );
      }
    });
  } finally {
    await pool.end();
  }
  await must('POST', '/api/publish', { reason: 'drill: publish overrides written through withRls' });
  log(`org values through the admin API; user and org platform overrides through withRls + POST /api/publish (no admin route yet: PUT …/users/:userId answered ${probe.status})`);
}

async function drill(stack: Stack): Promise<boolean> {
  const { admin } = api(stack);
  const kv = await stack.kv();
  const checks: { name: string; ok: boolean; detail: string }[] = [];
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    log(`${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
  };

  await seedOrgData(stack);
  // The answers are read with an evaluate key minted like an app's, so Postgres knows it.
  const minted = await admin('POST', '/api/tokens', { name: 'drill app', role: 'evaluate', reason: 'drill: the app key' });
  if (minted.status !== 201) throw new Error(`POST /api/tokens: ${minted.status} ${JSON.stringify(minted.json)}`);
  const appKey = minted.json.token as string;
  const appKeyKv = evaluateKeyKey(await sha256Hex(appKey));
  const appKeyRecord = await kv.get(appKeyKv);
  const { bulk } = api(stack, appKey);
  const record = (orgs?: string[]) => recordAnswers(stack, appKey, orgs);
  await waitForCaches();
  const before = await record();
  const distinct = new Set(Object.values(before)).size;
  log(`recorded ${Object.keys(before).length} answers (${ORGS.length} orgs × ${USERS.length} users × ${PLATFORMS.length} platforms × every flag; ${distinct} distinct)`);
  const stable = differences(before, await record());
  check('answers are stable without changes', stable.length === 0, stable.length ? stable.slice(0, 3).join('; ') : 'identical on a second read');

  // --- break KV: corrupt every snapshot key
  const snapshotKeys = (await kv.list({ prefix: 'snap:' })).keys.map((k) => k.name);
  for (const key of snapshotKeys) await kv.put(key, key.endsWith(':global') ? '{"version": "corrupt' : JSON.stringify({ version: 1 }));
  await kv.put('snap:v1:org:drill-cold', 'not json at all');
  log(`corrupted ${snapshotKeys.length} snapshot keys (${snapshotKeys.join(', ')}) and one never-read org layer`);
  await waitForCaches();
  const corrupt = differences(before, await record());
  check('corrupt KV: every org keeps its last good copy', corrupt.length === 0, corrupt.length ? `${corrupt.length} answers changed, e.g. ${corrupt.slice(0, 3).join('; ')}` : 'all answers identical');
  const cold = await bulk('drill-cold', 'u-1', undefined);
  const coldFlags = Object.values((cold.json?.flags ?? {}) as Record<string, { reason: string }>);
  const single = await fetch(`${stack.urls.evaluate}/v1/flags/platform.meta.enabled?orgId=drill-cold&default=false`, { headers: { authorization: `Bearer ${appKey}` } });
  const singleBody = (await single.json().catch(() => null)) as { value?: unknown; reason?: string } | null;
  check(
    'corrupt KV, no good copy: fails closed',
    cold.status === 200 && (coldFlags.length > 0 ? coldFlags.every((f) => f.reason === 'ERROR') : cold.json?.errorCode === 'GENERAL') && single.status === 200 && singleBody?.value === false && singleBody?.reason === 'ERROR',
    `bulk ${cold.status} ${cold.json?.errorCode ?? ''} (${coldFlags.length} flags, all reason ERROR: ${coldFlags.every((f) => f.reason === 'ERROR')}); single ${single.status} value ${JSON.stringify(singleBody?.value)} (caller default false) reason ${singleBody?.reason}`,
  );

  // --- break KV harder: delete every snapshot key; the cron's read-back puts them back
  const deleteSnapshots = async () => {
    for (const key of [...snapshotKeys, 'snap:v1:org:drill-cold', appKeyKv]) await kv.delete(key);
    await waitForCaches();
    return differences(before, await record());
  };
  const deleted = await deleteSnapshots();
  await sleep(DEFAULT_KEY_CACHE.hitTtlMs);
  const refused = await bulk('acme', 'u-1', undefined);
  log(`NOTE deleted key record: once the isolate's key cache expired the app key was answered ${refused.status}`);
  const deletedOrgs = new Set(deleted.map((d) => d.split('|')[0]));
  log(
    `NOTE deleted KV: the global layer keeps its last good copy; a missing org layer reads as "org without data", so ${deleted.length} answers of ${deletedOrgs.size} orgs fell back to system values until a republish` +
      (deleted.length ? ` (e.g. ${deleted[0]})` : ''),
  );
  const passAt = new Date(Date.now() + VERIFY_SETTLE_MS + 60_000);
  const pass = await stack.triggerCron(passAt);
  const passCounts = (await pass.json().catch(() => null)) as { reconciled?: number; restoredKeys?: number } | null;
  const keyBack = (await kv.get(appKeyKv)) === appKeyRecord;
  await waitForCaches();
  const repaired = differences(before, await record());
  check(
    'cron read-back puts back deleted layers and evaluate keys',
    refused.status === 401 && pass.status === 200 && passCounts?.reconciled === snapshotKeys.length && passCounts?.restoredKeys === 1 && keyBack && repaired.length === 0,
    `key refused (${refused.status}) after its record was deleted; pass as of ${passAt.toISOString()} answered ${pass.status}, reconciled ${passCounts?.reconciled} of ${snapshotKeys.length} layers, restored ${passCounts?.restoredKeys} key record (identical: ${keyBack}); ${repaired.length ? `${repaired.length} answers still differ, e.g. ${repaired.slice(0, 3).join('; ')}` : 'all answers identical'}`,
  );

  // --- restore from Postgres
  const deletedAgain = await deleteSnapshots();
  log(`deleted every snapshot key again: ${deletedAgain.length} answers differ until the republish`);
  const publish = await admin('POST', '/api/publish', { reason: 'rollback drill: rebuild KV from Postgres' });
  const layers = (publish.json?.layers ?? []) as { layer: string; ok: boolean }[];
  const keyRestored = (await kv.get(appKeyKv)) === appKeyRecord;
  check(
    'POST /api/publish',
    publish.status === 200 && publish.json?.publish === 'done' && publish.json?.evaluateKeys?.put >= 1 && keyRestored,
    `${publish.status} publish=${publish.json?.publish}, ${layers.filter((l) => l.ok).length}/${layers.length} layers put, ${publish.json?.evaluateKeys?.put} evaluate keys put (app key identical: ${keyRestored})`,
  );
  await waitForCaches();
  const restored = differences(before, await record());
  check('after republish: every org answers exactly as before', restored.length === 0, restored.length ? `${restored.length} differences, e.g. ${restored.slice(0, 5).join('; ')}` : `${Object.keys(before).length} answers identical`);
  const status = await admin('GET', '/api/status');
  check('GET /api/status: nothing pending', status.status === 200 && status.json?.pending === 0, `pending=${status.json?.pending}, ${status.json?.layers?.length} layers`);

  // --- a bad flag change, undone from the audit trail
  const bad = await admin('PATCH', '/api/flags/campaign.creation.enabled', { killed: true, reason: 'drill: the bad change' });
  await waitForCaches();
  const broken = differences(before, await record());
  const audit = await admin('GET', '/api/audit?flag=campaign.creation.enabled&limit=1');
  const entry = audit.json?.items?.[0] as { id: string; newValue: unknown } | undefined;
  const revert = entry ? await admin('POST', `/api/audit/${entry.id}/revert`, { reason: 'drill: revert the bad change' }) : { status: 0, json: null };
  await waitForCaches();
  const reverted = differences(before, await record());
  check(
    'bad change undone with POST /api/audit/:id/revert',
    bad.status === 200 && broken.length > 0 && revert.status < 300 && reverted.length === 0,
    `kill switch changed ${broken.length} answers; revert of audit entry ${entry?.id} answered ${revert.status}; ${reverted.length ? `${reverted.length} still differ, e.g. ${reverted.slice(0, 3).join('; ')}` : 'all answers identical again'}`,
  );

  const failed = checks.filter((c) => !c.ok);
  log(failed.length ? `FAILED: ${failed.map((c) => c.name).join('; ')}` : `all ${checks.length} checks passed: the rollback plan restores every org's answers`);
  return failed.length === 0;
}

const started = Date.now();
let ok = false;
try {
  ok = await withDatabase(async (databaseUrl) => {
    const ports = { admin: await freePort(), evaluate: await freePort(), cron: await freePort() };
    log(`starting the stack (${databaseUrl ? 'throw-away database in DATABASE_URL server' : 'in-memory PGlite'})`);
    const stack = await startStack({ root: ROOT, ports, dataDir: null, databaseUrl, log: (l) => log(`stack: ${l}`) });
    try {
      return await drill(stack);
    } finally {
      await stack.close();
    }
  });
} catch (error) {
  log(`ERROR ${(error as Error).stack ?? String(error)}`);
}
log(`${ok ? 'passed' : 'failed'} in ${Math.round((Date.now() - started) / 1000)} s`);
process.exit(ok ? 0 : 1);
