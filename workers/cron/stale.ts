import type { Pool } from '@neondatabase/serverless';
import { sql } from 'drizzle-orm';
import { staleDigests, staleMarks, withRls, type StaleKind } from '../../shared/db';
import { enqueueMessages, fitForQueue, namedNotificationId, type EventQueue, type FlagEvent } from '../../shared/events';
import { CRON_ACTOR } from './schedules';

/**
 * The stale-flag scan of the cron pass (CMIS plan, maintenance: "check for stale overrides",
 * "remove deprecated flags", "audit user overrides"). Each pass recomputes the findings at `nowMs`
 * and makes `cmis.stale_marks` equal to them: new findings are marked, findings that no longer
 * hold are cleared, a mark keeps the time it was first made. Once per ISO week, when there is
 * anything to clean up, a `stale.digest` notification goes to the global webhooks.
 */

const CONTEXT = { orgId: null, role: 'system', actor: CRON_ACTOR } as const;
const DAY_MS = 24 * 3_600_000;

export interface StaleOptions {
  /** A live flag with no evaluation for this many days (counted from its creation if never evaluated). */
  unusedDays: number;
  /** A flag that answered one value everywhere for this many days. */
  constantDays: number;
  /** A user override older than this (by its last change). */
  overrideMaxAgeDays: number;
}

export const DEFAULT_STALE: StaleOptions = { unusedDays: 30, constantDays: 30, overrideMaxAgeDays: 90 };

export interface StaleMark {
  flag: string;
  kind: StaleKind;
  /** '' for flag-level marks; '<orgId>/<userId>' for a user override. */
  target: string;
  orgId: string | null;
  detail: Record<string, unknown>;
}

export interface StaleScan {
  /** Findings now. */
  total: number;
  /** Findings that were not marked before this scan. */
  marked: number;
  /** Marks removed because they no longer hold. */
  cleared: number;
}

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

/** What is stale at `nowMs` (reads only). */
export async function findStale(pool: Pool, nowMs: number, options: StaleOptions = DEFAULT_STALE): Promise<StaleMark[]> {
  const now = new Date(nowMs).toISOString();
  const unusedSince = new Date(nowMs - options.unusedDays * DAY_MS).toISOString();
  const constantSince = new Date(nowMs - options.constantDays * DAY_MS).toISOString();
  const overrideSince = new Date(nowMs - options.overrideMaxAgeDays * DAY_MS).toISOString();
  return withRls(pool, CONTEXT, async (_tx, client) => {
    // Evaluations per flag from both tables (daily rows count from the start of their day).
    const flags = await client.query<{
      key: string;
      created_at: Date;
      expires_at: Date | null;
      first_at: Date | null;
      last_at: Date | null;
      values: string[] | null;
      window_count: string | null;
    }>(
      `WITH counts AS (
         SELECT feature_key, hour AS at, value_key, reason, count FROM cmis.flag_metrics_hourly WHERE hour <= $1::timestamptz
         UNION ALL
         SELECT feature_key, (day::timestamp AT TIME ZONE 'UTC'), value_key, reason, count FROM cmis.flag_metrics_daily
          WHERE (day::timestamp AT TIME ZONE 'UTC') <= $1::timestamptz
       ), per_flag AS (
         SELECT feature_key, min(at) AS first_at, max(at) AS last_at,
                array_agg(DISTINCT value_key) FILTER (WHERE at >= $2::timestamptz AND reason <> 'ERROR') AS values,
                sum(count) FILTER (WHERE at >= $2::timestamptz AND reason <> 'ERROR') AS window_count
           FROM counts GROUP BY feature_key
       )
       SELECT f.feature_key AS key, f.created_at, f.expires_at, p.first_at, p.last_at, p.values, p.window_count::text
         FROM cmis.feature_flags f LEFT JOIN per_flag p ON p.feature_key = f.feature_key
        WHERE f.org_id IS NULL AND f.archived_at IS NULL
        ORDER BY f.feature_key`,
      [now, constantSince],
    );
    const overrides = await client.query<{ key: string; org_id: string; user_id: string; expires_at: Date | null; updated_at: Date }>(
      `SELECT o.feature_key AS key, o.org_id, o.user_id, o.expires_at, o.updated_at
         FROM cmis.feature_flag_overrides o
         JOIN cmis.feature_flags f ON f.feature_key = o.feature_key AND f.org_id IS NULL AND f.archived_at IS NULL
        WHERE o.override_type = 'user' AND (o.expires_at <= $1::timestamptz OR o.updated_at <= $2::timestamptz)
        ORDER BY o.feature_key, o.org_id, o.user_id`,
      [now, overrideSince],
    );

    const marks: StaleMark[] = [];
    // "Unused" needs evidence that evaluations are counted at all: with no count for any flag in the
    // window (METRICS=off, no queue, SDKs counting nothing), every flag would look unused.
    const counting = flags.rows.some((f) => f.last_at !== null && iso(f.last_at)! > unusedSince);
    for (const f of flags.rows) {
      const mark = (kind: StaleKind, detail: Record<string, unknown>) => marks.push({ flag: f.key, kind, target: '', orgId: null, detail });
      const lastAt = iso(f.last_at);
      if (counting && (lastAt ?? iso(f.created_at)!) <= unusedSince) mark('unused', { lastEvaluatedAt: lastAt, days: options.unusedDays });
      // one value over the whole window: the flag existed and was evaluated since the window began
      const firstAt = iso(f.first_at);
      if (
        f.values?.length === 1 &&
        firstAt !== null &&
        firstAt <= new Date(Date.parse(constantSince) + DAY_MS).toISOString() &&
        iso(f.created_at)! <= constantSince
      ) {
        mark('constant', { value: f.values[0], evaluations: Number(f.window_count ?? 0), days: options.constantDays });
      }
      if (f.expires_at !== null && iso(f.expires_at)! <= now) mark('expired', { expiresAt: iso(f.expires_at) });
    }
    for (const o of overrides.rows) {
      const expired = o.expires_at !== null && iso(o.expires_at)! <= now;
      marks.push({
        flag: o.key,
        kind: 'override',
        target: `${o.org_id}/${o.user_id}`,
        orgId: o.org_id,
        detail: { userId: o.user_id, why: expired ? 'expired' : 'old', expiresAt: iso(o.expires_at), updatedAt: iso(o.updated_at) },
      });
    }
    return marks;
  });
}

/** Recomputes the findings and makes `cmis.stale_marks` match them, in one transaction. */
export async function scanStaleFlags(pool: Pool, nowMs: number, options: StaleOptions = DEFAULT_STALE): Promise<StaleScan & { marks: StaleMark[] }> {
  const marks = await findStale(pool, nowMs, options);
  const at = new Date(nowMs);
  return withRls(pool, CONTEXT, async (tx, client) => {
    const before = await tx.select({ flag: staleMarks.featureKey, kind: staleMarks.kind, target: staleMarks.target }).from(staleMarks);
    const idOf = (m: { flag: string; kind: string; target: string }) => `${m.flag}\u0000${m.kind}\u0000${m.target}`;
    const existing = new Set(before.map(idOf));
    const current = new Set(marks.map(idOf));
    const gone = before.filter((m) => !current.has(idOf(m)));
    if (gone.length > 0) {
      await client.query(
        `DELETE FROM cmis.stale_marks WHERE (feature_key, kind, target) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`,
        [gone.map((m) => m.flag), gone.map((m) => m.kind), gone.map((m) => m.target)],
      );
    }
    for (let i = 0; i < marks.length; i += 500) {
      await tx
        .insert(staleMarks)
        .values(marks.slice(i, i + 500).map((m) => ({ featureKey: m.flag, kind: m.kind, target: m.target, orgId: m.orgId, detail: m.detail, markedAt: at, checkedAt: at })))
        .onConflictDoUpdate({
          target: [staleMarks.featureKey, staleMarks.kind, staleMarks.target],
          set: { detail: sqlExcluded('detail'), orgId: sqlExcluded('org_id'), checkedAt: at },
        });
    }
    return { total: marks.length, marked: marks.filter((m) => !existing.has(idOf(m))).length, cleared: gone.length, marks };
  });
}

function sqlExcluded(column: string) {
  return sql.raw(`excluded.${column}`);
}

/** The Monday (UTC) of the ISO week of `nowMs`, as 'YYYY-MM-DD'. */
export function isoWeekOf(nowMs: number): string {
  const day = Math.floor(nowMs / DAY_MS);
  const weekday = (new Date(day * DAY_MS).getUTCDay() + 6) % 7; // Monday = 0
  return new Date((day - weekday) * DAY_MS).toISOString().slice(0, 10);
}

const KIND_LABEL: Record<StaleKind, string> = {
  unused: 'not evaluated',
  constant: 'one value everywhere',
  expired: 'past expiresAt',
  override: 'stale user override',
};

/** The digest's notification: one line for Slack, every mark (up to 200) in `details`. */
export function staleDigestEvent(marks: readonly StaleMark[], nowMs: number): FlagEvent {
  const byKind = new Map<StaleKind, number>();
  for (const m of marks) byKind.set(m.kind, (byKind.get(m.kind) ?? 0) + 1);
  const parts = [...byKind].map(([kind, n]) => `${n} ${KIND_LABEL[kind]}`);
  return {
    event: 'stale.digest',
    flag: null,
    orgId: null,
    actor: CRON_ACTOR,
    at: new Date(nowMs).toISOString(),
    summary: `Weekly flag cleanup: ${marks.length} finding(s) — ${parts.join(', ')}.`,
    details: {
      week: isoWeekOf(nowMs),
      marks: marks.slice(0, 200).map((m) => ({ flag: m.flag, kind: m.kind, target: m.target || undefined, ...m.detail })),
      truncated: marks.length > 200,
    },
  };
}

/**
 * Enqueues the week's digest once (the week's row is written only when the queue accepted it, so
 * a refused send is tried again next pass). Answers how many notifications were enqueued (0 or 1).
 * Every send of one week's digest has the same notification id: when the row's commit fails after
 * the send, the next pass sends it again, and the consumer fans the copy out to no webhook twice.
 */
export async function sendWeeklyDigest(pool: Pool, queue: EventQueue | undefined, marks: readonly StaleMark[], nowMs: number): Promise<number> {
  if (!queue || marks.length === 0) return 0;
  const week = isoWeekOf(nowMs);
  const id = await namedNotificationId(`stale.digest ${week}`);
  return withRls(pool, CONTEXT, async (tx) => {
    const fresh = await tx
      .insert(staleDigests)
      .values({ week, sentAt: new Date(nowMs), marks: marks.length })
      .onConflictDoNothing()
      .returning({ week: staleDigests.week });
    if (fresh.length === 0) return 0;
    const sent = await enqueueMessages(queue, [{ type: 'notification', id, event: fitForQueue(staleDigestEvent(marks, nowMs)) }]);
    if (sent !== 1) throw new Error('the queue refused the stale digest');
    return 1;
  });
}
