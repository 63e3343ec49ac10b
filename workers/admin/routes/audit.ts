import { and, asc, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import { featureFlagValues, type Db } from '../../../shared/db';
import { layerOf } from '../../../shared/snapshot/publish';
import type { LayerName } from '../../../shared/snapshot';
import { ADMIN_ROLES, assertOrgAccess, WRITER_ROLES, type Caller } from '../auth';
import { inTransaction } from '../db';
import {
  assertNoLiveRamp,
  deleteOrgValue,
  deleteOverride,
  putOrgValue,
  putOverride,
  requireFlag,
  updateSystemFlag,
  type FlagRow,
  type OverrideTarget,
} from '../../../shared/store';
import { ApiError } from '../problem';
import { shownWebhookAuditValue } from './webhooks';
import { applyChange } from '../publishing';
import { defineRoute } from '../route';
import {
  CursorSchema,
  decodeCursor,
  FlagKeySchema,
  InstantSchema,
  JsonValueSchema,
  LimitSchema,
  listOf,
  OrgIdSchema,
  page,
  PublishStateSchema,
  ReasonSchema,
} from '../schemas';

// ---- schemas --------------------------------------------------------------------------------

const LEVELS = ['system', 'org', 'platform', 'user', 'schedule', 'rollout', 'token', 'webhook'] as const;

export const AuditEntrySchema = z
  .object({
    id: z.string(),
    flag: z.string().nullable(),
    orgId: z.string().nullable(),
    level: z.enum(LEVELS),
    target: z.string().nullable(),
    oldValue: JsonValueSchema.nullable(),
    newValue: JsonValueSchema.nullable(),
    actor: z.string(),
    reason: z.string().nullable(),
    requestId: z.string().nullable(),
    at: z.string(),
  })
  .meta({ id: 'AuditEntry' });

const AuditQuery = z.object({
  flag: FlagKeySchema.optional(),
  orgId: OrgIdSchema.optional(),
  actor: z.string().min(1).max(200).optional(),
  level: z.enum(LEVELS).optional(),
  since: InstantSchema.optional(),
  until: InstantSchema.optional(),
  limit: LimitSchema,
  cursor: CursorSchema,
});

const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
const ExportQuery = AuditQuery.omit({ limit: true, cursor: true }).extend({ format: z.enum(EXPORT_FORMATS).default('csv') });

/**
 * Limits of one export. The file is built in memory (a Worker has 128 MB, and the rows, the lines
 * and the body exist at once), so both the entries and the bytes of their values are bounded.
 */
const EXPORT_MAX = 20_000;
const EXPORT_MAX_BYTES = 8 * 1024 * 1024;

const CSV_COLUMNS = ['id', 'at', 'actor', 'level', 'flag', 'orgId', 'target', 'oldValue', 'newValue', 'reason', 'requestId'] as const;

/**
 * One CSV cell (RFC 4180): quoted when it holds a comma, quote or line break. Text a spreadsheet
 * would run as a formula (= + - @ tab CR first) gets a leading apostrophe (OWASP CSV injection).
 */
function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV file; it starts with a byte-order mark, without which Excel reads UTF-8 as a legacy code page. */
function csvOf(entries: ReturnType<typeof auditView>[]): string {
  const lines = [`\uFEFF${CSV_COLUMNS.join(',')}`];
  for (const entry of entries) lines.push(CSV_COLUMNS.map((column) => csvCell(entry[column])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** The filters both the list and the export apply (row-level security adds the caller's org scope). */
function auditFilters(query: Pick<z.output<typeof AuditQuery>, 'flag' | 'orgId' | 'actor' | 'level' | 'since' | 'until'>): (SQL | undefined)[] {
  const t = featureFlagValues;
  return [
    query.flag === undefined ? undefined : eq(t.featureKey, query.flag),
    query.orgId === undefined ? undefined : eq(t.orgId, query.orgId),
    query.actor === undefined ? undefined : eq(t.actor, query.actor),
    query.level === undefined ? undefined : eq(t.level, query.level),
    query.since === undefined ? undefined : gte(t.at, new Date(query.since)),
    query.until === undefined ? undefined : lte(t.at, new Date(query.until)),
  ];
}

const IdParams = z.object({ id: z.string().regex(/^[1-9][0-9]{0,17}$/, 'not an audit entry id') });
const RevertBody = z.strictObject({ reason: ReasonSchema });
const RevertResultSchema = z
  .object({ reverted: z.string(), entries: z.array(AuditEntrySchema), publish: PublishStateSchema })
  .meta({ id: 'RevertResult' });

// ---- helpers --------------------------------------------------------------------------------

type AuditRow = typeof featureFlagValues.$inferSelect;

export function auditView(row: AuditRow) {
  return {
    id: String(row.id),
    flag: row.featureKey,
    orgId: row.orgId,
    level: row.level,
    target: row.target,
    oldValue: row.level === 'webhook' ? shownWebhookAuditValue(row.oldValue ?? null) : (row.oldValue ?? null),
    newValue: row.level === 'webhook' ? shownWebhookAuditValue(row.newValue ?? null) : (row.newValue ?? null),
    actor: row.actor,
    reason: row.reason,
    requestId: row.requestId,
    at: row.at.toISOString(),
  };
}

const dateOrNull = (v: unknown): Date | null => (typeof v === 'string' ? new Date(v) : null);

/** Maps the audited definition (API names, see 0003) back onto system-row columns. */
function systemColumns(old: Record<string, unknown>): Partial<FlagRow> {
  const columns: Partial<FlagRow> = {};
  if ('defaultValue' in old) columns.value = old.defaultValue;
  if ('offValue' in old) columns.offValue = old.offValue;
  if ('killed' in old) columns.killed = Boolean(old.killed);
  if ('rollout' in old) columns.rollout = (old.rollout ?? null) as FlagRow['rollout'];
  if ('description' in old) columns.description = String(old.description ?? '');
  if ('tags' in old) columns.tags = Array.isArray(old.tags) ? old.tags.map(String) : [];
  if ('owner' in old) columns.owner = (old.owner ?? null) as string | null;
  if ('expiresAt' in old) columns.expiresAt = dateOrNull(old.expiresAt);
  if ('archivedAt' in old) columns.archivedAt = dateOrNull(old.archivedAt);
  return columns;
}

/** Re-applies the entry's old side as a new change (audited by the triggers like any other). */
async function revertEntry(tx: Db, caller: Caller, entry: AuditRow): Promise<LayerName> {
  const key = entry.featureKey;
  if (!key || !['system', 'org', 'platform', 'user'].includes(entry.level)) {
    throw new ApiError(409, `Entries of level ${entry.level} cannot be reverted.`);
  }
  assertOrgAccess(caller, entry.orgId);
  const old = (entry.oldValue ?? null) as Record<string, unknown> | null;
  // Only system rows are locked: FOR UPDATE needs write access, which org contexts lack on them.
  const flag = await requireFlag(tx, key, { lock: entry.level === 'system' });
  const orgId = entry.orgId;

  switch (entry.level) {
    case 'system': {
      if ('type' in (old ?? {}) && old?.type !== flag.type) throw new ApiError(409, 'The flag changed type since; cannot revert.');
      if (old !== null && 'rollout' in old) await assertNoLiveRamp(tx, key, null);
      // Undoing a creation archives the flag: system rows are never deleted through the API.
      await updateSystemFlag(tx, flag, old === null ? { archivedAt: flag.archivedAt ?? new Date() } : systemColumns(old));
      return 'global';
    }
    case 'org': {
      if (!orgId) throw new ApiError(409, 'The entry has no org.');
      await assertNoLiveRamp(tx, key, orgId);
      if (old === null) await deleteOrgValue(tx, key, orgId);
      else await putOrgValue(tx, key, orgId, { value: old.value, percentage: old.percentage === null || old.percentage === undefined ? null : Number(old.percentage) });
      return layerOf(orgId);
    }
    default: {
      const target: OverrideTarget =
        entry.level === 'platform'
          ? { kind: 'platform', key, platform: entry.target ?? '', orgId }
          : { kind: 'user', key, orgId: orgId ?? '', userId: entry.target ?? '' };
      if (old === null) await deleteOverride(tx, target);
      else await putOverride(tx, target, { value: old.value, expiresAt: dateOrNull(old.expiresAt) });
      return layerOf(orgId);
    }
  }
}

// ---- routes ---------------------------------------------------------------------------------

const listAudit = defineRoute({
  method: 'get',
  path: '/api/audit',
  summary: 'The audit trail, newest first',
  tag: 'audit',
  access: ADMIN_ROLES,
  query: AuditQuery,
  responses: { 200: { description: 'A page of audit entries', schema: listOf(AuditEntrySchema) } },
  handler: async (c, { query }) => {
    const caller = c.get('caller');
    if (query.orgId !== undefined) assertOrgAccess(caller, query.orgId);
    const before = decodeCursor(query.cursor, z.object({ id: z.number().int().positive() }));
    const t = featureFlagValues;
    const filters = [...auditFilters(query), before === undefined ? undefined : lt(t.id, before.id)];
    // Row-level security limits org tokens to their org's entries and the system history.
    const rows = await inTransaction(c, (tx) =>
      tx
        .select()
        .from(t)
        .where(and(...filters))
        .orderBy(desc(t.id))
        .limit(query.limit + 1),
    );
    return c.json(page(rows.map(auditView), query.limit, (last) => ({ id: Number(last.id) })));
  },
});

const exportAudit = defineRoute({
  method: 'get',
  path: '/api/audit/export',
  summary: `The audit trail as one file, oldest first: CSV (default) or NDJSON; at most ${EXPORT_MAX} entries`,
  tag: 'audit',
  access: ADMIN_ROLES,
  query: ExportQuery,
  responses: {
    200: { description: 'The entries the filters select (and the caller may read), as an attachment', media: ['text/csv', 'application/x-ndjson'] },
    422: { description: `A filter is invalid, or more than ${EXPORT_MAX} entries (or ${EXPORT_MAX_BYTES / 1024 / 1024} MiB of values) match: narrow since/until` },
  },
  handler: async (c, { query }) => {
    const caller = c.get('caller');
    if (query.orgId !== undefined) assertOrgAccess(caller, query.orgId);
    const t = featureFlagValues;
    const rows = await inTransaction(c, async (tx) => {
      // Measured before anything is read: how many entries, how many bytes of values, up to which id
      // (the rows read are those counted, not ones committed in between).
      const [size] = await tx
        .select({
          entries: sql<number>`count(*)::int`,
          // each term on its own: a creation has no old side, a removal no new one (NULL would drop the row from the sum)
          bytes: sql<number>`coalesce(sum(coalesce(octet_length(${t.oldValue}::text), 0) + coalesce(octet_length(${t.newValue}::text), 0) + coalesce(octet_length(${t.reason}), 0)), 0)::float8`,
          lastId: sql<string | null>`max(${t.id})::text`,
        })
        .from(t)
        .where(and(...auditFilters(query)));
      const { entries = 0, bytes = 0, lastId = null } = size ?? {};
      if (entries > EXPORT_MAX || bytes > EXPORT_MAX_BYTES) {
        const what = entries > EXPORT_MAX ? `${entries} entries (at most ${EXPORT_MAX})` : `${(bytes / 1024 / 1024).toFixed(1)} MiB of values (at most ${EXPORT_MAX_BYTES / 1024 / 1024} MiB)`;
        throw new ApiError(422, {
          detail: `The audit entries that match come to ${what} for one export; export a shorter period (since/until) at a time.`,
          errors: [{ path: 'query.since', message: `${what} match: narrow the period` }],
        });
      }
      if (lastId === null) return [];
      return tx
        .select()
        .from(t)
        .where(and(...auditFilters(query), lte(t.id, Number(lastId))))
        .orderBy(asc(t.id));
    });
    const entries = rows.map(auditView);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    c.header('Cache-Control', 'no-store');
    c.header('Content-Disposition', `attachment; filename="cmis-audit-${stamp}.${query.format}"`);
    c.header('X-Audit-Entries', String(entries.length));
    if (query.format === 'ndjson') {
      return c.body(entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length ? '\n' : ''), 200, { 'Content-Type': 'application/x-ndjson; charset=utf-8' });
    }
    return c.body(csvOf(entries), 200, { 'Content-Type': 'text/csv; charset=utf-8' });
  },
});

const revertAudit = defineRoute({
  method: 'post',
  path: '/api/audit/:id/revert',
  summary: "Re-apply an entry's old value as a new, audited change",
  tag: 'audit',
  access: WRITER_ROLES,
  params: IdParams,
  body: RevertBody,
  headers: ['X-Change-Reason'],
  responses: {
    200: { description: 'Reverted', schema: RevertResultSchema },
    404: { description: 'No such entry (or not visible to the caller)' },
    409: { description: 'Not revertible (level, type changed), or a live ramp steers what it would change' },
  },
  handler: async (c, { params, body }) => {
    const caller = c.get('caller');
    const id = Number(params.id);
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const [entry] = await tx.select().from(featureFlagValues).where(eq(featureFlagValues.id, id));
        if (!entry) throw new ApiError(404, `No audit entry ${params.id}.`);
        const layer = await revertEntry(tx, caller, entry);
        const entries = await tx
          .select()
          .from(featureFlagValues)
          .where(and(eq(featureFlagValues.requestId, c.get('requestId')), sql`${featureFlagValues.at} = now()`))
          .orderBy(desc(featureFlagValues.id));
        return { result: entries.map(auditView), layers: [layer] };
      },
      { reason: body.reason ?? `revert of audit entry ${params.id}` },
    );
    return c.json({ reverted: params.id, entries: result, publish });
  },
});

export const auditRoutes = [listAudit, exportAudit, revertAudit];
