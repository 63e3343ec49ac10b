import { z } from 'zod';
import { ADMIN_ROLES, assertOrgAccess, type Caller } from '../auth';
import { inTransaction } from '../db';
import { requireFlag } from '../../../shared/store';
import { flagMetrics, flagMetricsSummary, staleMarkViews } from '../metrics-store';
import { defineRoute, invalidInput } from '../route';
import { FlagKeySchema, InstantSchema, OrgIdSchema } from '../schemas';

// ---- schemas --------------------------------------------------------------------------------

const DAY_MS = 24 * 3_600_000;
/** Longest range one request may ask for (hour buckets: ~8.8k). */
const MAX_RANGE_MS = 366 * DAY_MS;

const KeyParams = z.object({ key: FlagKeySchema });
const MetricsQuery = z.object({
  orgId: OrgIdSchema.optional(),
  from: InstantSchema.optional(),
  to: InstantSchema.optional(),
});
const SummaryQuery = z.object({ orgId: OrgIdSchema.optional() });
const StaleQuery = z.object({ flag: FlagKeySchema.optional() });

const ValueCountSchema = z.object({ value: z.json(), count: z.number() });

const FlagMetricsSchema = z
  .object({
    flag: z.string(),
    orgId: z.string().nullable().describe('null: every org the caller may see (system admins: all, including contexts without an org)'),
    from: z.string(),
    to: z.string(),
    total: z.number(),
    byValue: z.array(ValueCountSchema),
    byReason: z.array(z.object({ reason: z.string(), count: z.number() })),
    hours: z.array(z.object({ hour: z.string(), values: z.array(ValueCountSchema) })).describe('hours with evaluations only'),
  })
  .meta({ id: 'FlagMetrics' });

const StaleMarkSchema = z
  .object({
    flag: z.string(),
    kind: z.enum(['unused', 'constant', 'expired', 'override']),
    target: z.string().nullable().describe("user overrides: '<orgId>/<userId>'"),
    orgId: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()),
    markedAt: z.string(),
    checkedAt: z.string(),
  })
  .meta({ id: 'StaleMark' });

const FlagMetricsSummarySchema = z
  .object({
    flag: z.string(),
    orgId: z.string().nullable(),
    at: z.string(),
    last24h: z.number(),
    last7d: z.number(),
    values: z.array(ValueCountSchema.extend({ share: z.number() })),
    lastEvaluatedAt: z.string().nullable(),
    orgs: z.number(),
    topOrgs: z.array(z.object({ orgId: z.string(), count: z.number() })),
    rollout: z.object({ configured: z.number().nullable(), observed: z.number().nullable(), evaluations: z.number() }),
    stale: z.array(StaleMarkSchema),
  })
  .meta({ id: 'FlagMetricsSummary' });

// ---- helpers --------------------------------------------------------------------------------

/** An org role reads its own org's metrics (named or not); a system admin any org, or all. */
export function metricsOrg(caller: Caller, requested: string | undefined): string | null {
  if (caller.role === 'system_admin') return requested ?? null;
  const orgId = requested ?? caller.orgId;
  assertOrgAccess(caller, orgId);
  return orgId;
}

function rangeOf(query: { from?: string | undefined; to?: string | undefined }, nowMs: number): { from: Date; to: Date } {
  const to = query.to === undefined ? new Date(nowMs) : new Date(query.to);
  const from = query.from === undefined ? new Date(to.getTime() - DAY_MS) : new Date(query.from);
  const errors = [];
  if (from.getTime() >= to.getTime()) errors.push({ path: 'query.from', message: 'must be before to' });
  else if (to.getTime() - from.getTime() > MAX_RANGE_MS) errors.push({ path: 'query.from', message: 'the range may span at most 366 days' });
  if (errors.length) throw invalidInput('query', errors);
  return { from, to };
}

// ---- routes ---------------------------------------------------------------------------------

const metrics = defineRoute({
  method: 'get',
  path: '/api/flags/:key/metrics',
  summary: 'Evaluation counts of a flag by value and hour (default: the last 24 h)',
  tag: 'metrics',
  access: ADMIN_ROLES,
  params: KeyParams,
  query: MetricsQuery,
  responses: { 200: { description: 'Counts', schema: FlagMetricsSchema }, 404: { description: 'Unknown flag' } },
  handler: async (c, { params, query }) => {
    const orgId = metricsOrg(c.get('caller'), query.orgId);
    const { from, to } = rangeOf(query, Date.now());
    const body = await inTransaction(c, async (tx) => {
      await requireFlag(tx, params.key);
      return flagMetrics(tx, params.key, orgId, from, to);
    });
    c.header('Cache-Control', 'no-store');
    return c.json(body);
  },
});

const summary = defineRoute({
  method: 'get',
  path: '/api/flags/:key/metrics/summary',
  summary: 'Evaluations in the last 24 h / 7 d, value shares, last evaluation, orgs, observed vs configured rollout, stale marks',
  tag: 'metrics',
  access: ADMIN_ROLES,
  params: KeyParams,
  query: SummaryQuery,
  responses: { 200: { description: 'Summary', schema: FlagMetricsSummarySchema }, 404: { description: 'Unknown flag' } },
  handler: async (c, { params, query }) => {
    const orgId = metricsOrg(c.get('caller'), query.orgId);
    const body = await inTransaction(c, async (tx) => flagMetricsSummary(tx, await requireFlag(tx, params.key), orgId, Date.now(), c.get('caller').role === 'system_admin'));
    c.header('Cache-Control', 'no-store');
    return c.json(body);
  },
});

const stale = defineRoute({
  method: 'get',
  path: '/api/stale',
  summary: "Findings of the cron pass's stale scan: unused, constant and expired flags, stale user overrides",
  tag: 'metrics',
  access: ADMIN_ROLES,
  query: StaleQuery,
  responses: { 200: { description: 'Marks (an org sees flag-level marks and its own overrides)', schema: z.object({ items: z.array(StaleMarkSchema) }) } },
  handler: async (c, { query }) => {
    const items = await inTransaction(c, (tx) => staleMarkViews(tx, query.flag, c.get('caller').role === 'system_admin'));
    c.header('Cache-Control', 'no-store');
    return c.json({ items });
  },
});

export const metricsRoutes = [metrics, summary, stale];
