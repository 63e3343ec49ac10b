import { and, asc, eq, sql, type SQL } from 'drizzle-orm';
import { featureFlags, staleMarks, type Db } from '../../shared/db';
import type { FlagRow } from '../../shared/store';

/**
 * Reads of the evaluation metrics (hourly rows, and daily rows once the hourly ones are past the
 * retention) and the stale marks, for `/api/flags/:key/metrics*`, `/api/stale` and the dashboard.
 * Every read runs in the caller's RLS transaction: an org role sees only its org's counts whatever
 * the filter says, and `orgId` narrows further.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface ValueCount {
  value: unknown;
  count: number;
}

export interface FlagMetrics {
  flag: string;
  orgId: string | null;
  from: string;
  to: string;
  total: number;
  byValue: ValueCount[];
  byReason: { reason: string; count: number }[];
  /** Hours with evaluations, ascending; days past the hourly retention appear as their 00:00 UTC hour. */
  hours: { hour: string; values: ValueCount[] }[];
}

/** The stored value key back to the value (a value cut at the key length stays its text). */
export function valueOfKey(valueKey: string): unknown {
  try {
    return JSON.parse(valueKey);
  } catch {
    return valueKey;
  }
}

/** Hourly and daily counts of one flag in [from, to) as one relation (at, org_id, value_key, reason, count). */
function countsOf(flag: string, orgId: string | null, from: Date, to: Date): SQL {
  const org = orgId === null ? sql`` : sql` AND org_id = ${orgId}`;
  return sql`(
    SELECT hour AS at, org_id, value_key, reason, count FROM cmis.flag_metrics_hourly
     WHERE feature_key = ${flag} AND hour >= ${from.toISOString()}::timestamptz AND hour < ${to.toISOString()}::timestamptz${org}
    UNION ALL
    SELECT (day::timestamp AT TIME ZONE 'UTC') AS at, org_id, value_key, reason, count FROM cmis.flag_metrics_daily
     WHERE feature_key = ${flag} AND (day::timestamp AT TIME ZONE 'UTC') >= ${from.toISOString()}::timestamptz
       AND (day::timestamp AT TIME ZONE 'UTC') < ${to.toISOString()}::timestamptz${org}
  )`;
}

const byCountDesc = <T extends { count: number }>(a: T, b: T) => b.count - a.count;

export async function flagMetrics(tx: Db, flag: string, orgId: string | null, from: Date, to: Date): Promise<FlagMetrics> {
  const { rows } = await tx.execute<{ at: string | Date; value_key: string; reason: string; n: string }>(
    sql`SELECT at, value_key, reason, sum(count)::text AS n FROM ${countsOf(flag, orgId, from, to)} c
        GROUP BY at, value_key, reason ORDER BY at, value_key, reason`,
  );
  const byValue = new Map<string, number>();
  const byReason = new Map<string, number>();
  const hours = new Map<string, Map<string, number>>();
  let total = 0;
  for (const row of rows) {
    const n = Number(row.n);
    const hour = new Date(row.at).toISOString();
    total += n;
    byValue.set(row.value_key, (byValue.get(row.value_key) ?? 0) + n);
    byReason.set(row.reason, (byReason.get(row.reason) ?? 0) + n);
    let values = hours.get(hour);
    if (!values) hours.set(hour, (values = new Map()));
    values.set(row.value_key, (values.get(row.value_key) ?? 0) + n);
  }
  const list = (m: Map<string, number>): ValueCount[] => [...m].map(([k, count]) => ({ value: valueOfKey(k), count })).sort(byCountDesc);
  return {
    flag,
    orgId,
    from: from.toISOString(),
    to: to.toISOString(),
    total,
    byValue: list(byValue),
    byReason: [...byReason].map(([reason, count]) => ({ reason, count })).sort(byCountDesc),
    hours: [...hours].map(([hour, values]) => ({ hour, values: list(values) })),
  };
}

export interface StaleMarkView {
  flag: string;
  kind: string;
  target: string | null;
  orgId: string | null;
  detail: Record<string, unknown>;
  markedAt: string;
  checkedAt: string;
}

/** Details of a flag-level mark that sum up every organization's evaluations: only a cross-org caller reads them. */
const CROSS_ORG_DETAILS = ['evaluations', 'lastEvaluatedAt'];

function detailFor(detail: Record<string, unknown>, markOrg: string | null, crossOrg: boolean): Record<string, unknown> {
  if (crossOrg || markOrg !== null) return detail;
  const shown = { ...detail };
  for (const name of CROSS_ORG_DETAILS) delete shown[name];
  return shown;
}

/**
 * Stale marks the caller may read (RLS: flag-level marks and its org's override marks). A flag-level
 * mark's counts are totals over every organization, so an org caller (`crossOrg` false) gets the
 * mark without them: how often other tenants evaluate a flag is theirs.
 */
export async function staleMarkViews(tx: Db, flag: string | undefined, crossOrg: boolean): Promise<StaleMarkView[]> {
  const rows = await tx
    .select()
    .from(staleMarks)
    .where(flag === undefined ? undefined : eq(staleMarks.featureKey, flag))
    .orderBy(asc(staleMarks.featureKey), asc(staleMarks.kind), asc(staleMarks.target));
  return rows.map((r) => ({
    flag: r.featureKey,
    kind: r.kind,
    target: r.target || null,
    orgId: r.orgId,
    detail: detailFor(r.detail, r.orgId, crossOrg),
    markedAt: r.markedAt.toISOString(),
    checkedAt: r.checkedAt.toISOString(),
  }));
}

export interface FlagMetricsSummary {
  flag: string;
  orgId: string | null;
  at: string;
  last24h: number;
  last7d: number;
  /** Share of each value over the last 7 days (0–1), most frequent first. */
  values: { value: unknown; count: number; share: number }[];
  /** Start of the last hour with evaluations (hour resolution), null if never evaluated. */
  lastEvaluatedAt: string | null;
  /** Distinct organizations that evaluated the flag in the last 7 days (contexts without an org not counted). */
  orgs: number;
  topOrgs: { orgId: string; count: number }[];
  /**
   * The percentage rollout as configured (the org row's percentage when `orgId` names an org that
   * has one, else the system rollout) and as observed over 7 days: SPLIT answers among the answers
   * that reached the percentage decision (SPLIT, DEFAULT, STATIC).
   */
  rollout: { configured: number | null; observed: number | null; evaluations: number };
  stale: StaleMarkView[];
}

export async function flagMetricsSummary(tx: Db, row: FlagRow, orgId: string | null, nowMs: number, crossOrg: boolean): Promise<FlagMetricsSummary> {
  const flag = row.featureKey;
  const to = new Date(Math.floor(nowMs / HOUR_MS) * HOUR_MS + HOUR_MS); // through the current hour
  const weekAgo = new Date(to.getTime() - 7 * DAY_MS);
  const dayAgo = new Date(to.getTime() - DAY_MS);
  const [grouped, last, orgRow, stale] = await Promise.all([
    tx.execute<{ org_id: string; value_key: string; reason: string; recent: string; n: string }>(
      sql`SELECT org_id, value_key, reason, sum(count) FILTER (WHERE at >= ${dayAgo.toISOString()}::timestamptz)::text AS recent, sum(count)::text AS n
            FROM ${countsOf(flag, orgId, weekAgo, to)} c GROUP BY org_id, value_key, reason`,
    ),
    tx.execute<{ last: string | Date | null }>(
      sql`SELECT max(at) AS last FROM ${countsOf(flag, orgId, new Date(0), to)} c`,
    ),
    orgId === null
      ? Promise.resolve([])
      : tx
          .select({ percentage: featureFlags.percentage })
          .from(featureFlags)
          .where(and(eq(featureFlags.featureKey, flag), eq(featureFlags.orgId, orgId))),
    staleMarkViews(tx, flag, crossOrg),
  ]);
  let last24h = 0;
  let last7d = 0;
  let split = 0;
  let decided = 0;
  const values = new Map<string, number>();
  const orgs = new Map<string, number>();
  for (const r of grouped.rows) {
    const n = Number(r.n);
    last7d += n;
    last24h += Number(r.recent ?? 0);
    values.set(r.value_key, (values.get(r.value_key) ?? 0) + n);
    if (r.org_id !== '') orgs.set(r.org_id, (orgs.get(r.org_id) ?? 0) + n);
    if (r.reason === 'SPLIT') split += n;
    if (r.reason === 'SPLIT' || r.reason === 'DEFAULT' || r.reason === 'STATIC') decided += n;
  }
  const orgPercentage = orgRow[0]?.percentage ?? null;
  const configured = orgPercentage ?? row.rollout?.percentage ?? null;
  const lastAt = last.rows[0]?.last ?? null;
  return {
    flag,
    orgId,
    at: new Date(nowMs).toISOString(),
    last24h,
    last7d,
    values: [...values]
      .map(([k, count]) => ({ value: valueOfKey(k), count, share: last7d ? count / last7d : 0 }))
      .sort(byCountDesc),
    lastEvaluatedAt: lastAt === null ? null : new Date(lastAt).toISOString(),
    orgs: orgs.size,
    topOrgs: [...orgs].map(([id, count]) => ({ orgId: id, count })).sort(byCountDesc).slice(0, 10),
    rollout: { configured, observed: configured !== null && decided > 0 ? Math.round((10_000 * split) / decided) / 100 : null, evaluations: decided },
    stale,
  };
}
