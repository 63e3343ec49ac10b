// Webhooks: admin writes and cron passes enqueue notifications; the queue consumer fans them out
// and delivers signed JSON / Slack messages to a local receiver, retrying failures with backoff.
import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EventMessage, EventQueue } from '../../shared/events';
import type { Env } from '../../workers/admin/env';
import { handleEventMessages, MAX_DELIVERY_ATTEMPTS, type QueueMessage } from '../../workers/cron/queue';
import { runPass } from '../../workers/cron/pass';
import { applyDueSchedules } from '../../workers/cron/schedules';
import { pgErrorCode, withRls } from '../../shared/db';
import { OUTBOX_GRACE_MS, OUTBOX_KEEP_MS, OUTBOX_RESEND_MS, stageNotifications } from '../../shared/store';
import { call, createFlag, mintRoleTokens, type RoleTokens } from '../admin/helpers';
import { HOUR, startCronHarness, type CronHarness } from './helpers';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let h: CronHarness;
let t: RoleTokens;
let server: Server;
let receiverUrl: string;
const received: Received[] = [];

/** A Queue binding that keeps what it is sent. */
function memoryQueue(): EventQueue & { sent: EventMessage[] } {
  const sent: EventMessage[] = [];
  return { sent, sendBatch: async (messages) => void sent.push(...[...messages].map((m) => m.body as EventMessage)) };
}

function messageOf(body: unknown, attempts = 1) {
  return {
    id: crypto.randomUUID(),
    body,
    attempts,
    ack: vi.fn<() => void>(),
    retry: vi.fn<(options?: { delaySeconds?: number }) => void>(),
  } satisfies QueueMessage;
}

async function consume(messages: QueueMessage[], queue?: EventQueue) {
  const pool = h.newPool();
  try {
    return await handleEventMessages(messages, { pool, queue, allowLoopback: true });
  } finally {
    await pool.end();
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(req.url === '/fail' ? 500 : 200).end(req.url === '/fail' ? 'boom' : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h = await startCronHarness();
  t = await mintRoleTokens(h);
});
afterAll(async () => {
  await h.close();
  await new Promise((resolve) => server.close(resolve));
});

describe('webhook routes', () => {
  it('create shows a generic secret once, list never; org admins manage their org\'s; audited at level webhook', async () => {
    const created = await call(h, 'POST', '/api/webhooks', { token: t.orgAdmin, body: { url: `${receiverUrl}/org`, kind: 'generic' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ kind: 'generic', orgId: t.orgId, events: [], secret: expect.stringMatching(/^whsec_[0-9a-f]{64}$/) });
    const listed = await call(h, 'GET', '/api/webhooks', { token: t.orgAdmin });
    expect(listed.body.items.map((w: { id: string }) => w.id)).toEqual([created.body.id]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    expect((await call(h, 'GET', '/api/webhooks', { token: t.otherOrgAdmin })).body.items).toEqual([]);
    expect((await call(h, 'POST', '/api/webhooks', { token: t.orgAdmin, body: { url: `${receiverUrl}/x`, kind: 'slack', orgId: t.otherOrgId } })).status).toBe(403);
    expect((await call(h, 'POST', '/api/webhooks', { body: { url: 'ftp://example.com', kind: 'slack' } })).status).toBe(422);
    expect((await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/x`, kind: 'generic', events: ['nope'] } })).status).toBe(422);
    expect((await call(h, 'DELETE', `/api/webhooks/${created.body.id}`, { token: t.otherOrgAdmin })).status).toBe(404);
    expect((await call(h, 'DELETE', `/api/webhooks/${created.body.id}`, { token: t.orgAdmin })).status).toBe(204);
    const audit = await h.sql(`SELECT level, org_id, actor, old_value, new_value FROM cmis.feature_flag_values WHERE target = $1 ORDER BY id`, [created.body.id]);
    expect(audit).toHaveLength(2);
    expect(audit.every((a) => a.level === 'webhook' && a.org_id === t.orgId)).toBe(true);
    // the audit log (which viewers read) shows the origin and a fingerprint, never the path: an
    // incoming-webhook path is a credential
    expect(audit[0]!.new_value).toMatchObject({ url: expect.stringMatching(new RegExp(`^${receiverUrl}/… \\(sha256:[0-9a-f]{12}\\)$`)), kind: 'generic' });
    expect(JSON.stringify(audit)).not.toContain('/org');
    expect(audit[1]!.new_value).toBeNull();
    expect(JSON.stringify(audit)).not.toContain('whsec_');
  });

  it('audit entries written before URLs were redacted show only the origin when read', async () => {
    const target = crypto.randomUUID();
    await h.sql(
      `INSERT INTO cmis.feature_flag_values (org_id, level, target, old_value, new_value, actor, reason) VALUES ($1, 'webhook', $2, NULL, $3, 'token:old', 'before the fix')`,
      [t.orgId, target, JSON.stringify({ url: 'https://hooks.slack.com/services/T0/B0/SECRETSECRET', kind: 'slack' })],
    );
    const res = await call(h, 'GET', `/api/audit?orgId=${t.orgId}&limit=100`, { token: t.viewer });
    expect(res.status).toBe(200);
    const entry = res.body.items.find((e: { target: string }) => e.target === target);
    expect(entry.newValue).toEqual({ url: 'https://hooks.slack.com/…', kind: 'slack' });
    expect(JSON.stringify(res.body)).not.toContain('SECRETSECRET');
  });

  it('refuses plain http: beyond loopback and URLs with credentials, naming body.url', async () => {
    const refused = [
      ['http://hooks.example/x', 'must be https:'],
      ['http://10.0.0.5/x', 'must be https:'],
      ['http://127.0.0.1.nip.io/x', 'must be https:'],
      ['http://[::2]/x', 'must be https:'],
      ['https://user:secret@hooks.example/x', 'must not contain credentials'],
      ['https://169.254.169.254/latest/meta-data', 'must not point at a private or reserved IPv4 address'],
      ['https://10.0.0.5/x', 'must not point at a private or reserved IPv4 address'],
      ['https://0x0a000005/x', 'must not point at a private or reserved IPv4 address'],
      ['https://192.168.1.10/x', 'must not point at a private or reserved IPv4 address'],
      ['https://172.31.255.1/x', 'must not point at a private or reserved IPv4 address'],
      ['https://100.64.0.1/x', 'must not point at a private or reserved IPv4 address'],
      ['https://[::ffff:a00:5]/x', 'must not point at a private, mapped or reserved IPv6 address'],
      ['https://[fd00::1]/x', 'must not point at a private, mapped or reserved IPv6 address'],
      ['https://[fe80::1]/x', 'must not point at a private, mapped or reserved IPv6 address'],
      ['https://metadata.google.internal/x', 'must not point at an internal host name'],
      ['https://printer.local/x', 'must not point at an internal host name'],
      ['https://localhost./x', 'must not point at an internal host name'],
      ['https://Metadata.Google.Internal./x', 'must not point at an internal host name'],
      ['https://intranet/x', 'must not point at an internal host name'],
      ['https://metadata/x', 'must not point at an internal host name'],
      ['https://kubernetes.default.svc/x', 'must not point at an internal host name'],
      ['https://wiki.corp/x', 'must not point at an internal host name'],
      ['https://hooks.example:0/x', 'must not use port 0'],
      ['https://[fec0::1]/x', 'must not point at a private, mapped or reserved IPv6 address'],
      ['https://[::a00:5]/x', 'must not point at a private, mapped or reserved IPv6 address'],
      ['https://[2002:a00:5::]/x', 'must not point at a private, mapped or reserved IPv6 address'],
      ['https://token@hooks.example/x', 'must not contain credentials'],
      [`${receiverUrl.replace('http://', 'http://user:pass@')}/x`, 'must not contain credentials'],
    ] as const;
    for (const [url, message] of refused) {
      const res = await call(h, 'POST', '/api/webhooks', { body: { url, kind: 'generic' } });
      expect(res.status, url).toBe(422);
      expect(res.body.errors, url).toEqual([{ path: 'body.url', message: expect.stringContaining(message) }]);
    }
    const stored = (await call(h, 'GET', '/api/webhooks?limit=100')).body.items.map((w: { url: string }) => w.url);
    expect(stored.filter((u: string) => refused.some(([url]) => url === u))).toEqual([]);

    // loopback may stay on http: (the local stack), and https: anywhere
    for (const url of ['http://localhost:9/x', 'http://127.9.8.7:9/x', 'http://[::1]:9/x', 'https://hooks.example/x', 'https://8.8.8.8/x', 'https://172.32.0.1/x', 'https://[2606:4700::1111]/x']) {
      const res = await call(h, 'POST', '/api/webhooks', { body: { url, kind: 'slack' } });
      expect(res.status, `${url}: ${JSON.stringify(res.body)}`).toBe(201);
      expect((await call(h, 'DELETE', `/api/webhooks/${res.body.id}`)).status).toBe(204);
    }
  });

  it('refuses an org webhook for events that concern no org (the stale digest, system alerts), naming body.events', async () => {
    for (const events of [['system.alert'], ['flag.changed', 'stale.digest']]) {
      const refused = await call(h, 'POST', '/api/webhooks', { token: t.orgAdmin, body: { url: `${receiverUrl}/org-alerts`, kind: 'generic', events } });
      expect(refused.status).toBe(422);
      expect(refused.body.errors).toEqual([{ path: 'body.events', message: expect.stringMatching(/only a global webhook/) }]);
    }
    const global = await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/ops-alerts`, kind: 'slack', events: ['system.alert'] } });
    expect(global.status).toBe(201);
    expect((await call(h, 'DELETE', `/api/webhooks/${global.body.id}`)).status).toBe(204);
  });

  it('refuses loopback targets unless WEBHOOKS_ALLOW_LOOPBACK=1 (local stack and tests): no reaching the host\'s own endpoints', async () => {
    const production: Env = { ...h.env, WEBHOOKS_ALLOW_LOOPBACK: undefined };
    for (const url of ['http://127.0.0.1:8789/__scheduled?time=2100-01-01T00:00:00Z', 'http://localhost:8787/api/publish', 'https://127.0.0.1:5432/', 'http://[::1]:9/x']) {
      const res = await call(h, 'POST', '/api/webhooks', { env: production, body: { url, kind: 'generic' } });
      expect(res.status, url).toBe(422);
      expect(res.body.errors, url).toEqual([{ path: 'body.url', message: expect.stringContaining('must not point at this machine') }]);
    }
    const allowed = await call(h, 'POST', '/api/webhooks', { body: { url: 'http://127.0.0.1:9/x', kind: 'generic' } });
    expect(allowed.status).toBe(201);
    expect((await call(h, 'DELETE', `/api/webhooks/${allowed.body.id}`)).status).toBe(204);
  });
});

describe('delivery', () => {
  it('an admin write → notification → signed generic JSON and a Slack message; a failing receiver is retried and shows in status', async () => {
    const generic = (await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/generic`, kind: 'generic', orgId: t.orgId } })).body;
    const slack = (await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/slack`, kind: 'slack', events: ['flag.changed'] } })).body;
    const failing = (await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/fail`, kind: 'generic', orgId: t.orgId } })).body;
    // another org's webhook hears nothing of this org
    await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/other`, kind: 'generic', orgId: t.otherOrgId } });

    const events = memoryQueue();
    const env: Env = { ...h.env, EVENTS: events as unknown as Queue };
    const key = await createFlag(h);
    const write = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { env, token: t.orgAdmin, body: { value: true }, headers: { 'X-Change-Reason': 'pilot' } });
    expect(write.status).toBe(200);
    expect(events.sent).toEqual([
      { type: 'notification', id: expect.any(String), event: expect.objectContaining({ event: 'flag.changed', flag: key, orgId: t.orgId, actor: expect.stringMatching(/^token:/) }) },
    ]);

    // fan-out: one delivery message per matching webhook
    const deliveries = memoryQueue();
    const fan = messageOf(events.sent[0]);
    await consume([fan], deliveries);
    expect(fan.ack).toHaveBeenCalled();
    expect(deliveries.sent.map((m) => (m as { webhookId: string }).webhookId).sort()).toEqual([generic.id, slack.id, failing.id].sort());
    // the queue delivers the same notification again (its acknowledgement was lost): nothing more goes out
    const again = messageOf(events.sent[0], 2);
    const more = memoryQueue();
    await consume([again], more);
    expect(again.ack).toHaveBeenCalled();
    expect(more.sent).toEqual([]); // before: a second delivery per webhook

    received.length = 0;
    const attempts = deliveries.sent.map((body) => messageOf(body));
    await consume(attempts);
    const byPath = Object.fromEntries(received.map((r) => [r.path, r]));
    expect(Object.keys(byPath).sort()).toEqual(['/fail', '/generic', '/slack']);

    const signed = byPath['/generic']!;
    const expected = `sha256=${createHmac('sha256', generic.secret).update(signed.body).digest('hex')}`;
    expect(signed.headers['x-cmis-signature']).toBe(expected);
    expect(signed.headers['x-cmis-event']).toBe('flag.changed');
    expect(JSON.parse(signed.body)).toMatchObject({ event: 'flag.changed', flag: key, orgId: t.orgId, details: { level: 'org', reason: 'pilot', newValue: { value: true } } });

    const message = JSON.parse(byPath['/slack']!.body);
    expect(message).toEqual({ text: expect.stringContaining(key), blocks: expect.any(Array) });
    expect(message.blocks[0]).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } });
    expect(byPath['/slack']!.headers['x-cmis-signature']).toBeUndefined();

    const failedAttempt = attempts.find((m) => (m.body as { webhookId: string }).webhookId === failing.id)!;
    expect(failedAttempt.retry).toHaveBeenCalledWith({ delaySeconds: 10 });
    expect(failedAttempt.ack).not.toHaveBeenCalled();
    for (const ok of attempts.filter((m) => m !== failedAttempt)) expect(ok.ack).toHaveBeenCalled();

    const status = (await call(h, 'GET', '/api/status')).body;
    expect(status.webhooks.failing).toBeGreaterThanOrEqual(1);
    expect(status.webhooks.lastFailure.url).toBe(`${receiverUrl}/… (sha256:${createHash('sha256').update('/fail').digest('hex').slice(0, 12)})`);
    const viewerStatus = (await call(h, 'GET', '/api/status', { token: t.viewer })).body;
    expect(JSON.stringify(viewerStatus)).not.toContain('/fail');
    expect(status.webhooks.lastFailure).toMatchObject({ webhookId: failing.id, lastStatus: 500, lastError: expect.stringContaining('HTTP 500'), attempts: 1, state: 'pending' });
    const listed = (await call(h, 'GET', '/api/webhooks')).body.items.find((w: { id: string }) => w.id === failing.id);
    expect(listed.lastDelivery).toMatchObject({ state: 'pending', lastStatus: 500 });

    // backoff grows; the last attempt gives up (acknowledged, marked failed)
    const third = messageOf(failedAttempt.body, 3);
    await consume([third]);
    expect(third.retry).toHaveBeenCalledWith({ delaySeconds: 40 });
    const last = messageOf(failedAttempt.body, MAX_DELIVERY_ATTEMPTS);
    await consume([last]);
    expect(last.ack).toHaveBeenCalled();
    expect(last.retry).not.toHaveBeenCalled();
    expect((await call(h, 'GET', '/api/status')).body.webhooks.lastFailure).toMatchObject({ webhookId: failing.id, state: 'failed', attempts: MAX_DELIVERY_ATTEMPTS });
    // an org admin removes its webhook with its delivery history
    expect((await call(h, 'DELETE', `/api/webhooks/${failing.id}`, { token: t.orgAdmin })).status).toBe(204);
    expect(await h.sql(`SELECT 1 FROM cmis.webhook_deliveries WHERE webhook_id = $1`, [failing.id])).toEqual([]);
  });

  it('without WEBHOOKS_ALLOW_LOOPBACK the cron does not deliver to a webhook on this machine (one made where it was allowed)', async () => {
    const hook = (await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/loopback`, kind: 'generic', orgId: t.orgId } })).body;
    const event = { event: 'flag.changed', flag: 'loop.flag', orgId: t.orgId, actor: 'test', at: new Date().toISOString(), summary: 'loop' };
    const fanned = memoryQueue();
    await consume([messageOf({ type: 'notification', event })], fanned);
    const [delivery] = fanned.sent.filter((m) => (m as { webhookId?: string }).webhookId === hook.id);
    expect(delivery).toBeDefined();
    received.length = 0;
    const pool = h.newPool();
    try {
      await handleEventMessages([messageOf(delivery, MAX_DELIVERY_ATTEMPTS)], { pool }); // production: allowLoopback unset
    } finally {
      await pool.end();
    }
    expect(received.filter((r) => r.path === '/loopback')).toEqual([]);
    const rows = await h.sql(`SELECT state, last_error FROM cmis.webhook_deliveries WHERE webhook_id = $1`, [hook.id]);
    expect(rows).toEqual([{ state: 'failed', last_error: expect.stringContaining('on this machine') }]);
    expect((await call(h, 'DELETE', `/api/webhooks/${hook.id}`)).status).toBe(204);
  });

  it('a fan-out rolled back after its messages were sent, and a repeated delivery message, still POST the receiver once', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const hook = (await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/once`, kind: 'generic', orgId: t.orgId } })).body;
    const event = { event: 'flag.changed', flag: 'once.flag', orgId: t.orgId, actor: 'test', at: new Date().toISOString(), summary: 'once' };
    const forHook = (queue: { sent: EventMessage[] }) => queue.sent.filter((m) => (m as { webhookId?: string }).webhookId === hook.id);

    // The queue takes the messages but the send reports a failure: the fan-out's transaction rolls
    // back after sending (as when its COMMIT fails), and the notification is retried.
    const lost = memoryQueue();
    const flaky: EventQueue = { sendBatch: async (messages) => { await lost.sendBatch(messages); throw new Error('acknowledgement lost'); } };
    const first = messageOf({ type: 'notification', event });
    await consume([first], flaky);
    expect(first.retry).toHaveBeenCalled();
    const good = memoryQueue();
    const second = messageOf({ type: 'notification', event }, 2);
    await consume([second], good);
    expect(second.ack).toHaveBeenCalled();
    const [orphanBody] = forHook(lost);
    const [deliveryBody] = forHook(good);
    expect(orphanBody).toBeDefined();
    expect(deliveryBody).toBeDefined();

    received.length = 0;
    const orphan = messageOf(orphanBody);
    const delivery = messageOf(deliveryBody);
    // the queue hands the same message to two consumers at once: one of them sends
    const copy = messageOf(deliveryBody);
    await Promise.all([consume([orphan, delivery]), consume([copy])]);
    expect(received.filter((r) => r.path === '/once')).toHaveLength(1);
    expect(delivery.ack).toHaveBeenCalled();
    expect(copy.ack).toHaveBeenCalled();
    // no row: maybe a fan-out still committing, so it waits; after the last attempt it is dropped unsent
    expect(orphan.retry).toHaveBeenCalledWith({ delaySeconds: 10 });
    expect(orphan.ack).not.toHaveBeenCalled();
    const repeated = messageOf(deliveryBody, 2);
    const lastOrphan = messageOf(orphanBody, MAX_DELIVERY_ATTEMPTS);
    await consume([repeated, lastOrphan]);
    for (const message of [repeated, lastOrphan]) {
      expect(message.ack).toHaveBeenCalledOnce();
      expect(message.retry).not.toHaveBeenCalled();
    }
    expect(received.filter((r) => r.path === '/once')).toHaveLength(1);
    expect(await h.sql(`SELECT state, attempts FROM cmis.webhook_deliveries WHERE webhook_id = $1`, [hook.id])).toEqual([{ state: 'delivered', attempts: 1 }]);
    warn.mockRestore();
  });

  it('the cron pass notifies applied and failed schedules; unknown message types are acknowledged', async () => {
    const key = await createFlag(h);
    const archived = await createFlag(h);
    const at = Date.now() + 1000 * HOUR;
    await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: new Date(at).toISOString(), change: { value: true } } });
    await call(h, 'POST', `/api/flags/${archived}/schedules`, { body: { at: new Date(at).toISOString(), change: { value: true } } });
    await call(h, 'DELETE', `/api/flags/${archived}`);
    const queue = memoryQueue();
    const pool = h.newPool();
    try {
      const outcome = await applyDueSchedules(pool, at, { queue });
      expect(outcome.notified).toBe(queue.sent.length);
    } finally {
      await pool.end();
    }
    const kinds = queue.sent.map((m) => m.type === 'notification' && [m.event.event, m.event.flag]);
    expect(kinds).toEqual(expect.arrayContaining([['schedule.applied', key], ['schedule.failed', archived]]));

    const unknown = messageOf({ type: 'some.future.kind' });
    await consume([unknown]);
    expect(unknown.ack).toHaveBeenCalled();
  });

  it('a change applied by the cron also notifies flag.changed, old → new, as the same change through the API does', async () => {
    const key = await createFlag(h);
    const at = Date.now() + 2000 * HOUR;
    await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: new Date(at).toISOString(), change: { killed: true } } });
    const ramp = await call(h, 'POST', `/api/flags/${key}/rollouts`, { body: { steps: [{ percentage: 20, at: new Date(at).toISOString() }] } });
    expect(ramp.status).toBe(201);
    const queue = memoryQueue();
    const pool = h.newPool();
    try {
      await applyDueSchedules(pool, at, { queue });
    } finally {
      await pool.end();
    }
    const events = queue.sent.flatMap((m) => (m.type === 'notification' && m.event.flag === key ? [m.event] : []));
    expect(events.map((e) => e.event)).toEqual(['flag.changed', 'schedule.applied', 'flag.changed', 'rollout.step', 'rollout.done']);
    const [kill, , step] = events;
    expect(kill).toMatchObject({ actor: 'cron', details: { level: 'system', oldValue: { killed: false }, newValue: { killed: true }, reason: expect.stringMatching(/^schedule /) } });
    expect(step).toMatchObject({ actor: 'cron', details: { level: 'system', oldValue: { rollout: null }, newValue: { rollout: { percentage: 20, value: true } } } });
    expect(kill!.details?.requestId).not.toBe(step!.details?.requestId);
    expect(step!.details?.auditId).toBeGreaterThan(kill!.details?.auditId as number); // the order they were applied in
  });

  it('a write of a value too large for a queue message still notifies, with the value left out', async () => {
    const events = memoryQueue();
    const env: Env = { ...h.env, EVENTS: events as unknown as Queue };
    const key = await createFlag(h, { type: 'string', defaultValue: '' });
    const write = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { env, token: t.orgAdmin, body: { value: 'y'.repeat(200_000) } });
    expect(write.status).toBe(200);
    expect(events.sent).toHaveLength(1);
    const sent = events.sent[0]!;
    expect(new TextEncoder().encode(JSON.stringify(sent)).length).toBeLessThan(128_000); // the Queues message limit
    expect(sent).toMatchObject({ type: 'notification', event: { event: 'flag.changed', flag: key, details: { newValue: { omitted: 'too large for a notification', bytes: expect.any(Number) } } } });
  });

  it('a scheduled change of a value too large for a queue message still notifies, within the limit', async () => {
    const key = await createFlag(h, { type: 'string', defaultValue: '' });
    const at = Date.now() + 60_000;
    expect((await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: new Date(at).toISOString(), change: { value: 'y'.repeat(200_000) } } })).status).toBe(201);
    const events = memoryQueue();
    const pool = h.newPool();
    try {
      await applyDueSchedules(pool, at + 1000, { kv: h.kv, queue: events });
    } finally {
      await pool.end();
    }
    const applied = events.sent.find((m) => m.type === 'notification' && m.event.event === 'schedule.applied' && m.event.flag === key);
    expect(applied).toBeDefined();
    expect(new TextEncoder().encode(JSON.stringify(applied)).length).toBeLessThan(128_000);
  });

  it('a notification or delivery message that does not fit its shape is acknowledged, not retried until the queue drops it', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const malformed = [
      messageOf({ type: 'notification' }),
      messageOf({ type: 'notification', event: { event: 'flag.changed' } }),
      messageOf({ type: 'webhook.delivery', event: null }),
      messageOf({ type: 'webhook.delivery', deliveryId: 'x', webhookId: 'y', event: { event: 'no.such.event', flag: null, orgId: null, actor: 'a', at: 'now', summary: 's' } }),
    ];
    expect(await consume(malformed)).toEqual({ settled: 2, retried: 0 });
    for (const message of malformed) {
      expect(message.ack).toHaveBeenCalledOnce();
      expect(message.retry).not.toHaveBeenCalled();
    }
    expect(warn.mock.calls.filter(([line]) => String(line).includes('"malformed"'))).toHaveLength(4);
    warn.mockRestore();
  });

  it('without a queue binding, writes still succeed', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'POST', `/api/flags/${key}/enable`, { env: { ...h.env, EVENTS: undefined } });
    expect(res.status).toBe(200);
    const broken = { sendBatch: async () => Promise.reject(new Error('queue down')) };
    const again = await call(h, 'POST', `/api/flags/${key}/disable`, { env: { ...h.env, EVENTS: broken as unknown as Queue } });
    expect(again.status).toBe(200);
  });
});

describe('notification outbox (0011): a notification the queue refuses after the commit is sent again', () => {
  const refusing = () => ({ sent: 0, sendBatch: async () => Promise.reject(new Error('queue down')) });
  const staged = (flag: string) =>
    h.sql<{ id: string; org_id: string | null; event: { event: string; flag: string }; resends: number }>(
      `SELECT id, org_id, event, resends FROM cmis.notification_outbox WHERE event->>'flag' = $1 ORDER BY seq`,
      [flag],
    );
  /** Moves a staged row's creation back by `ms`, as if it had waited that long. */
  const age = (id: string, ms: number) => h.sql(`UPDATE cmis.notification_outbox SET created_at = created_at - make_interval(secs => $2::double precision / 1000) WHERE id = $1`, [id, ms]);
  const pass = async (queue: EventQueue, nowMs = Date.now()) => {
    const pool = h.newPool();
    try {
      return await runPass({ pool, kv: h.kv, queue }, nowMs);
    } finally {
      await pool.end();
    }
  };
  const notificationsOf = (queue: { sent: EventMessage[] }, flag: string) =>
    queue.sent.filter((m): m is Extract<EventMessage, { type: 'notification' }> => m.type === 'notification' && m.event.flag === flag);

  it('a refused notification stays staged; the cron sends it again after the grace period, once, and the fan-out takes it', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const hook = (await call(h, 'POST', '/api/webhooks', { body: { url: `${receiverUrl}/outbox`, kind: 'generic', orgId: t.orgId, events: ['flag.changed'] } })).body;
    const key = await createFlag(h);
    const waiting = async (token: string) => (await call(h, 'GET', '/api/status', { token })).body.webhooks.waiting as { count: number; oldestAt: string | null };
    const [waitingBefore, otherBefore] = [await waiting(t.orgAdmin), await waiting(t.otherOrgAdmin)];
    const write = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { env: { ...h.env, EVENTS: refusing() as unknown as Queue }, token: t.orgAdmin, body: { value: true } });
    expect(write.status).toBe(200);
    const [row, ...others] = await staged(key);
    expect(others).toEqual([]);
    expect(row).toMatchObject({ org_id: t.orgId, event: { event: 'flag.changed', flag: key }, resends: 0 });
    expect(await waiting(t.orgAdmin)).toEqual({ count: waitingBefore.count + 1, oldestAt: expect.any(String) });
    expect(await waiting(t.otherOrgAdmin)).toEqual(otherBefore); // an org sees its own rows only

    // within the grace period the writer's own send may still be landing: nothing is sent again
    const early = memoryQueue();
    await pass(early);
    expect(notificationsOf(early, key)).toEqual([]);

    await age(row!.id, OUTBOX_GRACE_MS + 1000);
    const queue = memoryQueue();
    await pass(queue);
    const [again, ...more] = notificationsOf(queue, key);
    expect(more).toEqual([]);
    expect(again).toMatchObject({ id: row!.id, event: { event: 'flag.changed', flag: key, orgId: t.orgId } });
    expect((await staged(key)).map((r) => r.resends)).toEqual([1]);
    // not again on the next pass: the consumer has had no time to take it
    const next = memoryQueue();
    await pass(next);
    expect(notificationsOf(next, key)).toEqual([]);

    // the consumer fans it out and takes the staged copy in the same transaction
    const deliveries = memoryQueue();
    await consume([messageOf(again)], deliveries);
    expect(deliveries.sent.map((m) => (m as { webhookId: string }).webhookId)).toContain(hook.id);
    expect(await staged(key)).toEqual([]);
    expect((await waiting(t.orgAdmin)).count).toBe(waitingBefore.count);
    warn.mockRestore();
  });

  it('a notification the queue takes is taken from the outbox by its fan-out, under the id it was staged with', async () => {
    const events = memoryQueue();
    const key = await createFlag(h);
    expect((await call(h, 'POST', `/api/flags/${key}/enable`, { env: { ...h.env, EVENTS: events as unknown as Queue } })).status).toBe(200);
    const [sent] = notificationsOf(events, key);
    expect((await staged(key)).map((r) => r.id)).toEqual([sent!.id]);
    await consume([messageOf(sent)]);
    expect(await staged(key)).toEqual([]);
  });

  it('without a queue binding nothing is staged (nothing would ever send it)', async () => {
    const key = await createFlag(h);
    expect((await call(h, 'POST', `/api/flags/${key}/enable`, { env: { ...h.env, EVENTS: undefined } })).status).toBe(200);
    expect(await staged(key)).toEqual([]);
  });

  it('the cron stages the notifications of the changes it applies; a refused send is sent again by a later pass', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const key = await createFlag(h);
    const at = Date.now() + 3000 * HOUR;
    await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: new Date(at).toISOString(), change: { value: true } } });
    const pool = h.newPool();
    try {
      const outcome = await applyDueSchedules(pool, at, { kv: h.kv, queue: refusing() });
      expect(outcome.applied).toBe(1);
      expect(outcome.notified).toBe(0);
    } finally {
      await pool.end();
    }
    const rows = await staged(key);
    expect(rows.map((r) => r.event.event)).toEqual(['flag.changed', 'schedule.applied']);
    for (const row of rows) await age(row.id, OUTBOX_GRACE_MS + 1000);
    const queue = memoryQueue();
    await pass(queue);
    expect(notificationsOf(queue, key).map((m) => [m.id, m.event.event])).toEqual(rows.map((r) => [r.id, r.event.event]));
    warn.mockRestore();
  });

  it('a row the consumer does not take is sent again once per resend interval, refused or not, and given up (logged) after a week', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const key = await createFlag(h);
    await call(h, 'POST', `/api/flags/${key}/enable`, { env: { ...h.env, EVENTS: refusing() as unknown as Queue } });
    const [row] = await staged(key);
    await age(row!.id, OUTBOX_GRACE_MS + 1000);
    const backdateResend = () =>
      h.sql(`UPDATE cmis.notification_outbox SET resent_at = resent_at - make_interval(secs => $2::double precision / 1000) WHERE id = $1`, [row!.id, OUTBOX_RESEND_MS + 1000]);
    await pass(refusing() as EventQueue);
    expect((await staged(key)).map((r) => r.resends)).toEqual([1]); // refused, and counted: not tried again at once
    const soon = memoryQueue();
    await pass(soon);
    expect(notificationsOf(soon, key)).toEqual([]);
    await backdateResend();
    const queue = memoryQueue();
    await pass(queue);
    expect(notificationsOf(queue, key)).toHaveLength(1);
    await backdateResend();
    const later = memoryQueue();
    await pass(later);
    expect(notificationsOf(later, key)).toHaveLength(1);
    expect((await staged(key)).map((r) => r.resends)).toEqual([3]);

    await age(row!.id, OUTBOX_KEEP_MS);
    warn.mockClear();
    const last = memoryQueue();
    await pass(last);
    expect(notificationsOf(last, key)).toEqual([]);
    expect(await staged(key)).toEqual([]);
    expect(warn.mock.calls.some(([line]) => String(line).includes('"gaveUp"'))).toBe(true);
    warn.mockRestore();
  });

  it('a scheduled value of emoji cut in its summary line still applies and is staged (a split surrogate pair would be refused by jsonb)', async () => {
    const key = await createFlag(h, { type: 'string', defaultValue: '' });
    const at = Date.now() + 4000 * HOUR;
    await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: new Date(at).toISOString(), change: { value: '😀'.repeat(150) } } });
    const queue = memoryQueue();
    const pool = h.newPool();
    try {
      expect((await applyDueSchedules(pool, at, { kv: h.kv, queue })).results.map((r) => r.state)).toEqual(['applied']);
    } finally {
      await pool.end();
    }
    expect((await staged(key)).map((r) => r.event.event)).toEqual(['flag.changed', 'schedule.applied']);
    expect(notificationsOf(queue, key).find((m) => m.event.event === 'schedule.applied')?.event.summary).toMatch(/😀…$/);
  });

  it('rows Postgres refuses to stage do not cost the change: logged, and the messages still go out unstaged', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const key = await createFlag(h);
    const event = { event: 'flag.changed' as const, flag: key, orgId: null, actor: 'test', at: new Date().toISOString(), summary: 'split \ud83d pair' };
    const pool = h.newPool();
    try {
      const messages = await withRls(pool, { orgId: null, role: 'system', actor: 'test' }, async (tx) => {
        const staging = await stageNotifications(tx, [event]);
        await tx.execute(`UPDATE cmis.feature_flags SET description = 'after staging' WHERE feature_key = '${key}' AND org_id IS NULL`);
        return staging;
      });
      expect(messages).toEqual([{ type: 'notification', id: expect.any(String), event }]);
    } finally {
      await pool.end();
    }
    expect(await staged(key)).toEqual([]);
    expect((await call(h, 'GET', `/api/flags/${key}`)).body.description).toBe('after staging'); // the transaction went on and committed
    expect(warn.mock.calls.some(([line]) => String(line).includes('"unstaged":1'))).toBe(true);
    warn.mockRestore();
  });

  it('row-level security: an org reads only its own staged rows and cannot take or alter any', async () => {
    const key = await createFlag(h);
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { env: { ...h.env, EVENTS: memoryQueue() as unknown as Queue }, token: t.orgAdmin, body: { value: true } });
    const [row] = await staged(key);
    const pool = h.newPool();
    try {
      const as = (orgId: string) => ({ orgId, role: 'org_admin' as const, actor: `test:${orgId}` });
      const other = await withRls(pool, as(t.otherOrgId), (tx) => tx.execute(`SELECT id FROM cmis.notification_outbox WHERE id = '${row!.id}'`));
      expect(other.rows).toEqual([]);
      const own = await withRls(pool, as(t.orgId), async (tx) => {
        const seen = await tx.execute(`SELECT id FROM cmis.notification_outbox WHERE id = '${row!.id}'`);
        const deleted = await tx.execute(`DELETE FROM cmis.notification_outbox WHERE id = '${row!.id}' RETURNING id`);
        const updated = await tx.execute(`UPDATE cmis.notification_outbox SET resends = 5 WHERE id = '${row!.id}' RETURNING id`);
        return { seen: seen.rows.length, deleted: deleted.rows.length, updated: updated.rows.length };
      });
      expect(own).toEqual({ seen: 1, deleted: 0, updated: 0 });
      const refused = await withRls(pool, as(t.orgId), (tx) =>
        tx.execute(`INSERT INTO cmis.notification_outbox (id, org_id, event) VALUES (gen_random_uuid(), '${t.otherOrgId}', '{}')`),
      ).catch((error: unknown) => error);
      expect(pgErrorCode(refused)).toBe('42501'); // violates the row-level security policy
    } finally {
      await pool.end();
    }
    expect((await staged(key)).map((r) => r.resends)).toEqual([0]);
  });
});
