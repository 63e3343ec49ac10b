import { and, desc, eq, gt, min, ne, sql } from 'drizzle-orm';
import { z } from 'zod';
import { notificationOutbox, webhookDeliveries, webhooks, type Db } from '../../../shared/db';
import { GLOBAL_ONLY_EVENTS, NOTIFICATION_EVENTS } from '../../../shared/events';
import { isLoopbackHost } from '../../../shared/http/loopback';
import { assertOrgAccess, WRITER_ROLES } from '../auth';
import { inTransaction } from '../db';
import { ApiError } from '../problem';
import { defineRoute, invalidInput } from '../route';
import { writeAuditNote } from '../../../shared/store';
import { CursorSchema, decodeCursor, LimitSchema, listOf, OrgIdSchema, page, ReasonSchema } from '../schemas';
import { sha256Hex, toHex } from '../../../shared/tokens';

// ---- schemas --------------------------------------------------------------------------------

/** IPv4 ranges a webhook may not point into (RFC 6890 special-purpose space), loopback aside: [first octets, prefix length]. */
const RESERVED_V4: [number[], number][] = [
  [[0], 8], [[10], 8], [[100, 64], 10], [[169, 254], 16], [[172, 16], 12], [[192, 0, 0], 24], [[192, 0, 2], 24],
  [[192, 168], 16], [[198, 18], 15], [[198, 51, 100], 24], [[203, 0, 113], 24], [[224], 4], [[240], 4],
];

function inV4Range(octets: number[], [prefix, bits]: [number[], number]): boolean {
  const value = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const base = (((prefix[0] ?? 0) << 24) | ((prefix[1] ?? 0) << 16) | ((prefix[2] ?? 0) << 8)) >>> 0;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (value & mask) === (base & mask);
}

/**
 * Why a host is refused as a webhook target: a private, link-local, shared or otherwise reserved
 * address, or an internal-only name; undefined for a public host (or loopback, the local stack's).
 * The URL parser has already normalised decimal, hex and short IPv4 forms and IPv6 spelling. Names
 * are not resolved (a Worker cannot): Cloudflare's own network does not route Worker fetches to
 * private space, this check refuses what is visibly aimed there.
 */
function reservedHost(hostname: string): string | undefined {
  if (isLoopbackHost(hostname)) return undefined;
  const name = hostname.toLowerCase().replace(/\.+$/, ''); // `localhost.` and `foo.internal.` are the same hosts
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(hostname);
  if (v4) {
    const octets = v4.slice(1).map(Number);
    return RESERVED_V4.some((range) => inV4Range(octets, range)) ? 'a private or reserved IPv4 address' : undefined;
  }
  if (hostname.startsWith('[')) {
    const v6 = hostname.slice(1, -1).toLowerCase();
    // unspecified and IPv4-compatible/mapped (::…), unique local (fc00::/7), link- and site-local
    // (fe80::/10, fec0::/10), multicast, NAT64, documentation, 6to4 and Teredo (which embed IPv4)
    const reserved = v6.startsWith('::') || /^f[c-d]/.test(v6) || /^fe[89a-f]/.test(v6) || v6.startsWith('ff') || v6.startsWith('64:ff9b:') || v6.startsWith('2001:db8:') || v6.startsWith('2002:') || v6.startsWith('2001:0:') || v6.startsWith('2001::');
    return reserved ? 'a private, mapped or reserved IPv6 address' : undefined;
  }
  // A single label (`intranet`, `metadata`) is resolved by a local search domain, never publicly;
  // the suffixes are the ones private networks and clusters use.
  const internal = !name.includes('.') || /(^|\.)(localhost|local|internal|localdomain|home\.arpa|svc|corp|lan|intranet|private)$/.test(name);
  return internal ? 'an internal host name' : undefined;
}

const UrlSchema = z
  .url({ protocol: /^https?$/, error: 'an http(s) URL' })
  .max(2000)
  .superRefine((raw, ctx) => {
    if (!URL.canParse(raw)) return; // already refused by z.url()
    const url = new URL(raw);
    // Credentials in the URL would be stored in plain text, listed to every writer and written to the audit log.
    if (url.username !== '' || url.password !== '') ctx.addIssue({ code: 'custom', message: 'must not contain credentials (user:password@)' });
    // http: is only for this machine (the local stack, tests); anything that leaves it must be TLS.
    if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) ctx.addIssue({ code: 'custom', message: 'must be https: (http: only for localhost / 127.0.0.0/8 / [::1])' });
    if (url.port === '0') ctx.addIssue({ code: 'custom', message: 'must not use port 0' });
    const reserved = url.protocol === 'https:' ? reservedHost(url.hostname) : undefined;
    if (reserved) ctx.addIssue({ code: 'custom', message: `must not point at ${reserved}` });
  });

/**
 * A webhook URL as the audit log and the status page show it: the origin and a fingerprint of the
 * rest. The path of an incoming-webhook URL (Slack's `/services/T…/B…/<secret>`) is a bearer
 * credential, and viewers read the audit log and the status page; the full URL stays in the
 * webhook list, which only writers see. The fingerprint tells two URLs of one host apart.
 */
export async function shownUrl(raw: string): Promise<string> {
  const url = new URL(raw);
  const rest = url.pathname + url.search;
  if (rest === '/') return url.origin + '/';
  return `${url.origin}/… (sha256:${(await sha256Hex(rest)).slice(0, 12)})`;
}

const SHOWN_URL = /^https?:\/\/[^/]+\/(… \(sha256:[0-9a-f]{12}\))?$/;

/**
 * A webhook audit value as it may be shown to any reader: entries written before URLs were audited
 * as `shownUrl` (they are immutable) get their URL cut to the origin when they are read.
 */
export function shownWebhookAuditValue(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || !('url' in value)) return value;
  const url = (value as { url: unknown }).url;
  if (typeof url !== 'string' || SHOWN_URL.test(url)) return value;
  return { ...value, url: URL.canParse(url) ? `${new URL(url).origin}/…` : '…' };
}

const CreateBody = z.strictObject({
  url: UrlSchema,
  kind: z.enum(['slack', 'generic']),
  orgId: OrgIdSchema.optional(),
  events: z.array(z.enum(NOTIFICATION_EVENTS)).max(NOTIFICATION_EVENTS.length).optional(),
  reason: ReasonSchema,
});

const DeliverySchema = z.object({
  state: z.enum(['pending', 'delivered', 'failed']),
  event: z.string(),
  attempts: z.int(),
  lastStatus: z.int().nullable(),
  lastError: z.string().nullable(),
  at: z.string(),
});

export const WebhookSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    kind: z.enum(['slack', 'generic']),
    orgId: z.string().nullable(),
    events: z.array(z.string()).describe('empty: every event'),
    createdAt: z.string(),
    lastDelivery: DeliverySchema.nullable(),
  })
  .meta({ id: 'Webhook' });

const CreatedWebhookSchema = WebhookSchema.extend({
  secret: z.string().nullable().describe('generic webhooks: the HMAC-SHA256 key of X-CMIS-Signature, shown once'),
}).meta({ id: 'CreatedWebhook' });

const IdParams = z.object({ id: z.uuid() });
const ListQuery = z.object({ limit: LimitSchema, cursor: CursorSchema });
const ReasonBody = z.strictObject({ reason: ReasonSchema });

// ---- helpers --------------------------------------------------------------------------------

type WebhookRow = typeof webhooks.$inferSelect;
type DeliveryRow = typeof webhookDeliveries.$inferSelect;

function newSecret(): string {
  return `whsec_${toHex(crypto.getRandomValues(new Uint8Array(32)))}`;
}

function webhookView(row: WebhookRow, last: DeliveryRow | null = null) {
  return {
    id: row.id,
    url: row.url,
    kind: row.kind,
    orgId: row.orgId,
    events: row.events,
    createdAt: row.createdAt.toISOString(),
    lastDelivery: last
      ? { state: last.state, event: last.event, attempts: last.attempts, lastStatus: last.lastStatus, lastError: last.lastError, at: last.updatedAt.toISOString() }
      : null,
  };
}

const createdMs = sql`date_trunc('milliseconds', ${webhooks.createdAt})`;

export const WebhookStatusSchema = z
  .object({
    total: z.int(),
    failing: z.int().describe('deliveries of the last 24 h not delivered after at least one failed attempt'),
    lastFailure: z.object({ webhookId: z.string(), url: z.string() }).extend(DeliverySchema.shape).nullable(),
    waiting: z
      .object({
        count: z.int().describe('notifications staged with their changes that the queue consumer has not taken yet; the cron sends them again after two minutes'),
        oldestAt: z.iso.datetime().nullable(),
      })
      .describe('the notification outbox (0011), the rows the caller may read'),
  })
  .meta({ id: 'WebhookStatus' });

/** For `GET /api/status`: webhooks the caller may see and their failing deliveries. */
export async function webhookStatus(tx: Db): Promise<z.output<typeof WebhookStatusSchema>> {
  const since = new Date(Date.now() - 24 * 3_600_000);
  const failingWhere = and(ne(webhookDeliveries.state, 'delivered'), sql`${webhookDeliveries.lastError} IS NOT NULL`, gt(webhookDeliveries.updatedAt, since));
  const [[total], [failing], [last], [waiting]] = await Promise.all([
    tx.select({ n: sql<number>`count(*)::int` }).from(webhooks),
    tx.select({ n: sql<number>`count(*)::int` }).from(webhookDeliveries).where(failingWhere),
    tx
      .select({ delivery: webhookDeliveries, url: webhooks.url })
      .from(webhookDeliveries)
      .innerJoin(webhooks, eq(webhooks.id, webhookDeliveries.webhookId))
      .where(failingWhere)
      .orderBy(desc(webhookDeliveries.updatedAt))
      .limit(1),
    tx.select({ n: sql<number>`count(*)::int`, oldest: min(notificationOutbox.createdAt) }).from(notificationOutbox),
  ]);
  const d = last?.delivery;
  return {
    total: total?.n ?? 0,
    failing: failing?.n ?? 0,
    lastFailure: d
      ? { webhookId: d.webhookId, url: await shownUrl(last.url), state: d.state, event: d.event, attempts: d.attempts, lastStatus: d.lastStatus, lastError: d.lastError, at: d.updatedAt.toISOString() }
      : null,
    waiting: { count: waiting?.n ?? 0, oldestAt: waiting?.oldest?.toISOString() ?? null },
  };
}

// ---- routes ---------------------------------------------------------------------------------

const createWebhook = defineRoute({
  method: 'post',
  path: '/api/webhooks',
  summary: 'Add a Slack or generic (signed JSON) webhook for flag changes, schedule/ramp steps and failures, health alerts (global webhooks only)',
  tag: 'webhooks',
  access: WRITER_ROLES,
  body: CreateBody,
  headers: ['X-Change-Reason'],
  responses: { 201: { description: 'Created; a generic webhook shows its secret once', schema: CreatedWebhookSchema } },
  handler: async (c, { body }) => {
    const caller = c.get('caller');
    if (c.env.WEBHOOKS_ALLOW_LOOPBACK !== '1' && isLoopbackHost(new URL(body.url).hostname)) {
      throw invalidInput('body', [{ path: 'body.url', message: 'must not point at this machine (localhost, 127.0.0.0/8, [::1]) outside local development (WEBHOOKS_ALLOW_LOOPBACK=1)' }]);
    }
    // An org admin's webhooks belong to its org; a system admin's are global unless it names an org.
    const orgId = body.orgId ?? (caller.role === 'system_admin' ? null : caller.orgId);
    assertOrgAccess(caller, orgId);
    const globalOnly = orgId === null ? [] : (body.events ?? []).filter((e) => GLOBAL_ONLY_EVENTS.includes(e));
    if (globalOnly.length > 0) {
      throw invalidInput('body', [{ path: 'body.events', message: `${globalOnly.join(', ')} concern no organization: only a global webhook (no orgId) receives them` }]);
    }
    const secret = body.kind === 'generic' ? newSecret() : null;
    const row = await inTransaction(
      c,
      async (tx) => {
        const [created] = await tx
          .insert(webhooks)
          .values({ url: body.url, kind: body.kind, orgId, events: body.events ?? [], secret })
          .returning();
        await writeAuditNote(tx, {
          level: 'webhook',
          featureKey: null,
          orgId,
          target: created!.id,
          oldValue: null,
          newValue: { url: await shownUrl(body.url), kind: body.kind, orgId, events: created!.events },
        });
        return created!;
      },
      { reason: body.reason },
    );
    c.header('Location', `/api/webhooks/${row.id}`);
    return c.json({ ...webhookView(row), secret }, 201);
  },
});

const listWebhooks = defineRoute({
  method: 'get',
  path: '/api/webhooks',
  summary: "Webhooks with their last delivery (an org admin sees its org's)",
  tag: 'webhooks',
  access: WRITER_ROLES,
  query: ListQuery,
  responses: { 200: { description: 'A page of webhooks', schema: listOf(WebhookSchema) } },
  handler: async (c, { query }) => {
    const before = decodeCursor(query.cursor, z.object({ createdAt: z.iso.datetime(), id: z.uuid() }));
    const items = await inTransaction(c, async (tx) => {
      const rows = await tx
        .select()
        .from(webhooks)
        .where(before ? sql`(${createdMs}, ${webhooks.id}) < (${before.createdAt}::timestamptz, ${before.id}::uuid)` : undefined)
        .orderBy(desc(createdMs), desc(webhooks.id))
        .limit(query.limit + 1);
      const views = [];
      for (const row of rows) {
        const [last] = await tx
          .select()
          .from(webhookDeliveries)
          .where(eq(webhookDeliveries.webhookId, row.id))
          .orderBy(desc(webhookDeliveries.updatedAt))
          .limit(1);
        views.push(webhookView(row, last ?? null));
      }
      return views;
    });
    return c.json(page(items, query.limit, (last) => ({ createdAt: last.createdAt, id: last.id })));
  },
});

const deleteWebhook = defineRoute({
  method: 'delete',
  path: '/api/webhooks/:id',
  summary: 'Remove a webhook',
  tag: 'webhooks',
  access: WRITER_ROLES,
  params: IdParams,
  body: ReasonBody,
  headers: ['X-Change-Reason'],
  responses: { 204: { description: 'Removed' }, 404: { description: 'Unknown webhook' } },
  handler: async (c, { params, body }) => {
    const caller = c.get('caller');
    await inTransaction(
      c,
      async (tx) => {
        // Locked: a second removal of the same webhook waits for this one, then finds nothing (404).
        const [row] = await tx.select().from(webhooks).where(eq(webhooks.id, params.id)).for('update');
        if (!row) throw new ApiError(404, `No webhook ${params.id}.`);
        assertOrgAccess(caller, row.orgId);
        await tx.delete(webhooks).where(eq(webhooks.id, row.id));
        await writeAuditNote(tx, {
          level: 'webhook',
          featureKey: null,
          orgId: row.orgId,
          target: row.id,
          oldValue: { url: await shownUrl(row.url), kind: row.kind, orgId: row.orgId, events: row.events },
          newValue: null,
        });
      },
      { reason: body.reason },
    );
    return c.body(null, 204);
  },
});

export const webhookRoutes = [createWebhook, listWebhooks, deleteWebhook];
