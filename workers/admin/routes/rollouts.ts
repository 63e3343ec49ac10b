import { and, desc, eq, sql } from 'drizzle-orm';
import type { Context } from 'hono';
import { z } from 'zod';
import { flagSchedules, rollouts, type Db } from '../../../shared/db';
import { inRollout, type FlagType } from '../../../shared/engine';
import type { LayerName } from '../../../shared/snapshot';
import { MAX_INSTANT_MS } from '../../../shared/snapshot/identifiers';
import { ADMIN_ROLES, assertOrgAccess, WRITER_ROLES } from '../auth';
import { inTransaction } from '../db';
import type { AppEnv } from '../env';
import {
  assertValueType,
  findOrgValue,
  liveRamp,
  lockRampLevel,
  pendingSchedulesTouching,
  rampBaseline,
  rampSteps,
  rampView,
  requireFlag,
  restoreBaseline,
  sameJson,
  writeAuditNote,
  type FlagRow,
  type RampRow,
} from '../../../shared/store';
import { ApiError } from '../problem';
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
  PercentageSchema,
  PublishStateSchema,
  ReasonSchema,
} from '../schemas';

// ---- schemas --------------------------------------------------------------------------------

const MAX_STEPS = 20;
/** Longest interval between shorthand steps (a year); longer ones overflow dates and mean nothing. */
const MAX_EVERY_MS = 366 * 86_400_000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ISO_DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** `'1h'`, `'30m'`, `'1d'`, an ISO 8601 duration (`PT1H`, `P1DT12H`, weeks/days/time only) or milliseconds. */
export function parseInterval(input: string | number): number | null {
  if (typeof input === 'number') return Number.isInteger(input) && input > 0 ? input : null;
  const text = input.trim();
  if (/^\d+$/.test(text)) return parseInterval(Number(text));
  const short = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text);
  if (short) return Math.round(Number(short[1]) * UNIT_MS[short[2]!]!) || null;
  const iso = ISO_DURATION.exec(text);
  if (!iso || text === 'P' || text.endsWith('T')) return null;
  const [w, d, h, m, s] = iso.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number, number];
  return Math.round(w * UNIT_MS.w! + d * UNIT_MS.d! + h * UNIT_MS.h! + m * UNIT_MS.m! + s * 1_000) || null;
}

const StepSchema = z.strictObject({ percentage: PercentageSchema, at: InstantSchema });

const RampBody = z
  .strictObject({
    orgId: OrgIdSchema.optional(),
    value: JsonValueSchema.optional(),
    stickiness: z.enum(['userId', 'orgId']).optional(),
    steps: z.array(StepSchema).min(1).max(MAX_STEPS).optional(),
    start: InstantSchema.optional(),
    every: z.union([z.string().max(40), z.number()]).optional(),
    percentages: z.array(PercentageSchema).min(1).max(MAX_STEPS).optional(),
    reason: ReasonSchema,
  })
  .superRefine((b, ctx) => {
    const shorthand = b.percentages !== undefined || b.every !== undefined || b.start !== undefined;
    if (b.steps && shorthand) ctx.addIssue({ code: 'custom', path: ['steps'], message: 'give steps, or start/every/percentages, not both' });
    if (!b.steps && !shorthand) ctx.addIssue({ code: 'custom', path: ['steps'], message: 'give steps, or every and percentages' });
    if (!b.steps && shorthand) {
      if (!b.percentages) ctx.addIssue({ code: 'custom', path: ['percentages'], message: 'required with every' });
      if (b.every === undefined) ctx.addIssue({ code: 'custom', path: ['every'], message: 'required with percentages' });
      else {
        const every = parseInterval(b.every);
        if (every === null || every > MAX_EVERY_MS) {
          ctx.addIssue({ code: 'custom', path: ['every'], message: "an interval of at most 366 days: '1h', '30m', '1d', an ISO 8601 duration (PT1H) or milliseconds" });
        } else if (b.percentages && b.start !== undefined && Date.parse(b.start) + (b.percentages.length - 1) * every > MAX_INSTANT_MS) {
          ctx.addIssue({ code: 'custom', path: ['every'], message: 'the last step would fall after 9999-12-31' });
        }
      }
    }
    if (b.orgId !== undefined && b.stickiness === 'orgId') {
      ctx.addIssue({ code: 'custom', path: ['stickiness'], message: "an org's percentage always buckets its users (userId)" });
    }
    const percentages = b.steps?.map((s) => s.percentage) ?? b.percentages ?? [];
    percentages.forEach((p, i) => {
      if (i > 0 && p < percentages[i - 1]!) {
        ctx.addIssue({ code: 'custom', path: [b.steps ? 'steps' : 'percentages', i], message: 'percentages of a ramp may not go down' });
      }
    });
    b.steps?.forEach((s, i) => {
      if (i === 0) return;
      const gap = Date.parse(s.at) - Date.parse(b.steps![i - 1]!.at);
      if (gap <= 0) ctx.addIssue({ code: 'custom', path: ['steps', i, 'at'], message: 'steps must be in time order' });
      else if (gap > MAX_EVERY_MS) ctx.addIssue({ code: 'custom', path: ['steps', i, 'at'], message: 'steps may be at most 366 days apart' });
    });
  });

type RampInput = z.output<typeof RampBody>;

const RAMP_STATES = ['running', 'paused', 'done', 'aborted'] as const;

export const RampSchema = z
  .object({
    id: z.string(),
    flag: z.string(),
    orgId: z.string().nullable(),
    value: JsonValueSchema,
    stickiness: z.enum(['userId', 'orgId']),
    steps: z.array(
      z.object({
        id: z.string(),
        percentage: z.number(),
        at: z.string(),
        state: z.enum(['pending', 'applied', 'cancelled', 'failed']),
        appliedAt: z.string().nullable(),
        error: z.string().nullable(),
      }),
    ),
    state: z.enum(RAMP_STATES),
    pausedAt: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string().nullable(),
  })
  .meta({ id: 'Ramp' });

const RampWriteResultSchema = RampSchema.extend({ publish: PublishStateSchema });

const KeyParams = z.object({ key: FlagKeySchema });
const IdParams = z.object({ id: z.uuid() });
const ListQuery = z.object({ state: z.enum(RAMP_STATES).optional(), limit: LimitSchema, cursor: CursorSchema });
const ReasonBody = z.strictObject({ reason: ReasonSchema });
/** `restore: false` stops the ramp where it is (the current rollout stays); default: put back the pre-ramp state. */
const AbortBody = z.strictObject({ reason: ReasonSchema, restore: z.boolean().optional() });

// ---- helpers --------------------------------------------------------------------------------

/**
 * The partial rollout a level has now, which a ramp without a value continues: the system rollout, or
 * an org row with a percentage. An org row without one is the org's value, not a rollout.
 */
function levelRollout(flag: FlagRow, orgId: string | null, orgRow: FlagRow | undefined): { value: unknown; percentage: number } | undefined {
  if (orgId === null) return flag.rollout ?? undefined;
  return orgRow && orgRow.percentage !== null ? { value: orgRow.value, percentage: orgRow.percentage } : undefined;
}

function notGradual(path: string, message: string): ApiError {
  return new ApiError(422, { detail: `The ramp would not be gradual: ${message}.`, errors: [{ path, message }] });
}

/**
 * A ramp only adds subjects step by step. Refused (422):
 * - System ramp: a value everyone outside it already gets (the default value); a current rollout of
 *   the same value by another stickiness (switching would take some of its subjects out); a first
 *   step below the current rollout of the same value and stickiness.
 * - Org ramp: users outside an org's percentage fall through to the system level (docs/design.md).
 *   If that gives the value to every user of the org (the default value with no rollout of another
 *   value in the way, or a rollout by organization that includes the org), the whole org would have it
 *   at the first step; if it gives it to the users of a by-user rollout of that value (the lowest
 *   buckets, as an org percentage takes them), the first step must reach that share, as it must reach
 *   the org's own value (100% without a percentage).
 * A ramp to a value other than the current rollout's replaces that rollout: its subjects leave it.
 */
function assertGradual(
  flag: FlagRow,
  orgId: string | null,
  orgRow: FlagRow | undefined,
  value: unknown,
  stickiness: string,
  firstPercentage: number,
  firstPath: string,
): void {
  const v = JSON.stringify(value);
  const rollout = flag.rollout ?? undefined;
  const rolloutStickiness = rollout?.stickiness ?? 'userId';
  const rolloutGives = rollout !== undefined && rollout.percentage > 0 && sameJson(rollout.value, value);
  const defaultGives = sameJson(flag.value, value);
  let already = 0;
  if (orgId === null) {
    if (defaultGives) throw notGradual('body.value', `everyone outside the rollout already gets the default value ${v}`);
    if (rolloutGives && rolloutStickiness !== stickiness) {
      throw notGradual(
        'body.stickiness',
        `the current rollout gives ${v} to ${rollout.percentage}% by ${rolloutStickiness}; a ramp by ${stickiness} would take some of them out: ramp by ${rolloutStickiness}, or clear the rollout first`,
      );
    }
    if (rolloutGives) already = rollout.percentage;
  } else {
    // The share of this org's users the system level gives the value when they fall through.
    let fallThrough: number;
    if (rollout === undefined || rollout.percentage === 0) fallThrough = defaultGives ? 100 : 0;
    else if (rolloutStickiness === 'orgId') fallThrough = (inRollout(flag.featureKey, orgId, rollout.percentage) ? rolloutGives : defaultGives) ? 100 : 0;
    else fallThrough = (rolloutGives ? rollout.percentage : 0) + (defaultGives ? 100 - rollout.percentage : 0);
    if (fallThrough >= 100) {
      throw notGradual(
        'body.value',
        `users outside an org's percentage fall through to the system level, which gives ${v} to all of this org's users, so the whole org would have it from the first step; set the org's value instead (PUT /api/orgs/${orgId}/flags/${flag.featureKey})`,
      );
    }
    if (fallThrough > 0 && !(rolloutGives && rolloutStickiness === 'userId')) {
      throw notGradual('body.value', `users outside an org's percentage fall through to the system level, which gives ${v} to ${fallThrough}% of this org's users (those outside its rollout of another value), so a ramp cannot start below that`);
    }
    already = Math.max(fallThrough, orgRow && sameJson(orgRow.value, value) ? (orgRow.percentage ?? 100) : 0);
  }
  if (firstPercentage < already) {
    throw notGradual(
      firstPath,
      orgId === null
        ? `${already}% already get ${v} (the current rollout); a lower first step would take subjects out, so start at ${already} or higher`
        : `${already}% of this org's users get ${v} from the first step anyway (its value, or the system rollout its other users fall through to); start at ${already} or higher`,
    );
  }
}

function stepsOf(body: RampInput, nowMs: number): { percentage: number; at: Date }[] {
  if (body.steps) return body.steps.map((s) => ({ percentage: s.percentage, at: new Date(s.at) }));
  const start = body.start ? Date.parse(body.start) : nowMs;
  const every = parseInterval(body.every!)!;
  return body.percentages!.map((percentage, i) => ({ percentage, at: new Date(start + i * every) }));
}

/** The ramp visible to the caller (RLS), locked; another org's ramp is a 404. */
async function lockRamp(tx: Db, c: Context<AppEnv>, id: string): Promise<RampRow> {
  const [ramp] = await tx.select().from(rollouts).where(eq(rollouts.id, id)).for('update');
  if (!ramp) throw new ApiError(404, `No ramp ${id}.`);
  assertOrgAccess(c.get('caller'), ramp.orgId);
  return ramp;
}

async function answerRamp(tx: Db, ramp: RampRow) {
  return rampView(ramp, await rampSteps(tx, ramp.id));
}

type RampAction = 'pause' | 'resume' | 'abort';

const ACTION_FROM: Record<RampAction, readonly RampRow['state'][]> = {
  pause: ['running'],
  resume: ['paused'],
  abort: ['running', 'paused'],
};

function rampAction(action: RampAction) {
  return defineRoute({
    method: 'post',
    path: `/api/rollouts/:id/${action}`,
    summary:
      action === 'pause'
        ? 'Pause a ramp: no step applies until it resumes'
        : action === 'resume'
          ? 'Resume a paused ramp; its pending steps move later by the time it was paused'
          : "Abort a ramp: cancel its pending steps and put back the flag's pre-ramp rollout/percentage ({restore: false}: keep the current one)",
    tag: 'rollouts',
    access: WRITER_ROLES,
    params: IdParams,
    body: action === 'abort' ? AbortBody : ReasonBody,
    headers: ['X-Change-Reason'],
    responses: {
      200: { description: 'The ramp afterwards', schema: RampWriteResultSchema },
      404: { description: 'Unknown ramp' },
      409: { description: `The ramp is not ${ACTION_FROM[action].join(' or ')}` },
    },
    handler: async (c, { params, body }) => {
      const { result, publish } = await applyChange(
        c,
        async (tx) => {
          const ramp = await lockRamp(tx, c, params.id);
          if (!ACTION_FROM[action].includes(ramp.state)) {
            throw new ApiError(409, `Ramp ${ramp.id} is ${ramp.state}; ${action} needs it ${ACTION_FROM[action].join(' or ')}.`);
          }
          const now = new Date();
          let next: RampRow['state'] = ramp.state;
          let retried: string[] = [];
          let restored = false;
          // abort {restore: false}: stop where the ramp is
          const keep = action === 'abort' && (body as z.output<typeof AbortBody>).restore === false;
          const layers: LayerName[] = [];
          if (action === 'pause') {
            next = 'paused';
            await tx.update(rollouts).set({ state: next, pausedAt: now, updatedAt: now }).where(eq(rollouts.id, ramp.id));
          } else if (action === 'resume') {
            next = 'running';
            const pausedFor = Math.max(0, now.getTime() - (ramp.pausedAt?.getTime() ?? now.getTime()));
            await tx
              .update(flagSchedules)
              .set({ at: sql`${flagSchedules.at} + make_interval(secs => ${pausedFor / 1000})`, contendedSince: null })
              .where(and(eq(flagSchedules.rampId, ramp.id), eq(flagSchedules.state, 'pending')));
            // A step whose failure paused the ramp is tried again, due now (it was due when it failed, so
            // it stays before the shifted later steps): resuming after fixing the cause carries on from
            // where the ramp stopped, and a failed last step does not leave the ramp nothing to finish.
            retried = (
              await tx
                .update(flagSchedules)
                .set({ state: 'pending', error: null, contendedSince: null, at: sql`GREATEST(${flagSchedules.at}, ${now})` })
                .where(and(eq(flagSchedules.rampId, ramp.id), eq(flagSchedules.state, 'failed')))
                .returning({ id: flagSchedules.id })
            ).map((s) => s.id);
            await tx.update(rollouts).set({ state: next, pausedAt: null, updatedAt: now }).where(eq(rollouts.id, ramp.id));
          } else {
            next = 'aborted';
            await tx
              .update(flagSchedules)
              .set({ state: 'cancelled' })
              .where(and(eq(flagSchedules.rampId, ramp.id), eq(flagSchedules.state, 'pending')));
            await tx.update(rollouts).set({ state: next, pausedAt: null, updatedAt: now }).where(eq(rollouts.id, ramp.id));
            // Before its first step the ramp has changed nothing, and what it recorded at creation may
            // be older than the flag now: there is nothing to put back.
            restored = !keep && (await rampSteps(tx, ramp.id)).some((step) => step.state === 'applied');
            if (restored) layers.push(await restoreBaseline(tx, ramp));
          }
          await writeAuditNote(tx, {
            level: 'rollout',
            featureKey: ramp.featureKey,
            orgId: ramp.orgId,
            target: ramp.id,
            oldValue: { state: ramp.state },
            newValue: {
              state: next,
              ...(restored ? { restored: ramp.previous } : {}),
              ...(keep ? { restore: false } : {}),
              ...(retried.length ? { retried } : {}),
            },
          });
          const [after] = await tx.select().from(rollouts).where(eq(rollouts.id, ramp.id));
          return { result: await answerRamp(tx, after!), layers };
        },
        { reason: body.reason },
      );
      return c.json({ ...result, publish });
    },
  });
}

// ---- routes ---------------------------------------------------------------------------------

const createRamp = defineRoute({
  method: 'post',
  path: '/api/flags/:key/rollouts',
  summary: 'Start a percentage ramp: steps [{percentage, at}], or start/every/percentages',
  tag: 'rollouts',
  access: WRITER_ROLES,
  params: KeyParams,
  body: RampBody,
  headers: ['X-Change-Reason'],
  responses: {
    201: { description: 'The ramp, running', schema: RampWriteResultSchema },
    409: { description: 'The flag is archived, or a ramp of this flag and level is live already' },
  },
  handler: async (c, { params, body }) => {
    const caller = c.get('caller');
    const orgId = body.orgId ?? null;
    assertOrgAccess(caller, orgId);
    const steps = stepsOf(body, Date.now());
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        // only system ramps write the system row (an org admin could not lock it: RLS)
        const flag = await requireFlag(tx, params.key, { lock: orgId === null });
        if (flag.archivedAt) throw new ApiError(409, `Flag ${params.key} is archived; restore it first.`);
        const type: FlagType = flag.type ?? 'json';
        await lockRampLevel(tx, params.key, orgId); // before reading what the ramp replaces (see lockRampLevel)
        const orgRow = orgId === null ? undefined : await findOrgValue(tx, params.key, orgId);
        const current = levelRollout(flag, orgId, orgRow);
        const value = body.value !== undefined ? body.value : (current?.value ?? (type === 'boolean' ? true : undefined));
        if (value === undefined) {
          throw new ApiError(422, {
            detail: `A ramp of a ${type} flag needs the value to roll out.`,
            errors: [{ path: 'body.value', message: 'required for a non-boolean flag' }],
          });
        }
        assertValueType(type, value, 'body.value');
        const live = await liveRamp(tx, params.key, orgId);
        if (live) throw new ApiError(409, `Ramp ${live.id} of ${params.key} is live already; abort it first.`);
        // Pending schedules that would change what the ramp steers would fail when due: say so now.
        const clashing = await pendingSchedulesTouching(tx, params.key, orgId);
        if (clashing.length > 0) {
          throw new ApiError(409, `Pending schedules ${clashing.map((s) => s.id).join(', ')} change what the ramp would steer (they would fail when due under it); cancel them first.`);
        }
        const stickiness = orgId === null ? (body.stickiness ?? flag.rollout?.stickiness ?? 'userId') : 'userId';
        assertGradual(flag, orgId, orgRow, value, stickiness, steps[0]!.percentage, body.steps ? 'body.steps.0.percentage' : 'body.percentages.0');
        const [ramp] = await tx
          .insert(rollouts)
          .values({ featureKey: params.key, orgId, value, stickiness, previous: rampBaseline(flag, orgId, orgRow), createdBy: caller.actor })
          .returning();
        await tx.insert(flagSchedules).values(
          steps.map((step) => ({
            featureKey: params.key,
            orgId,
            at: step.at,
            change: { percentage: step.percentage, value, ...(orgId === null ? { stickiness } : {}) },
            kind: 'ramp_step' as const,
            rampId: ramp!.id,
            createdBy: caller.actor,
          })),
        );
        await writeAuditNote(tx, {
          level: 'rollout',
          featureKey: params.key,
          orgId,
          target: ramp!.id,
          oldValue: ramp!.previous,
          newValue: { state: 'running', value, stickiness, steps: steps.map((s) => ({ percentage: s.percentage, at: s.at.toISOString() })) },
        });
        return { result: await answerRamp(tx, ramp!), layers: [] as LayerName[] };
      },
      { reason: body.reason },
    );
    c.header('Location', `/api/rollouts/${result.id}`);
    return c.json({ ...result, publish }, 201);
  },
});

const listRamps = defineRoute({
  method: 'get',
  path: '/api/flags/:key/rollouts',
  summary: "A flag's ramps, newest first (an org sees the system-wide ones and its own)",
  tag: 'rollouts',
  access: ADMIN_ROLES,
  params: KeyParams,
  query: ListQuery,
  responses: { 200: { description: 'A page of ramps', schema: listOf(RampSchema) } },
  handler: async (c, { params, query }) => {
    const before = decodeCursor(query.cursor, z.object({ createdAt: z.iso.datetime(), id: z.uuid() }));
    const createdMs = sql`date_trunc('milliseconds', ${rollouts.createdAt})`;
    const items = await inTransaction(c, async (tx) => {
      await requireFlag(tx, params.key);
      const rows = await tx
        .select()
        .from(rollouts)
        .where(
          and(
            eq(rollouts.featureKey, params.key),
            query.state ? eq(rollouts.state, query.state) : undefined,
            before ? sql`(${createdMs}, ${rollouts.id}) < (${before.createdAt}::timestamptz, ${before.id}::uuid)` : undefined,
          ),
        )
        .orderBy(desc(createdMs), desc(rollouts.id))
        .limit(query.limit + 1);
      return Promise.all(rows.map((ramp) => answerRamp(tx, ramp)));
    });
    return c.json(page(items, query.limit, (last) => ({ createdAt: last.createdAt, id: last.id })));
  },
});

const getRamp = defineRoute({
  method: 'get',
  path: '/api/rollouts/:id',
  summary: 'One ramp with its steps',
  tag: 'rollouts',
  access: ADMIN_ROLES,
  params: IdParams,
  responses: { 200: { description: 'The ramp', schema: RampSchema }, 404: { description: 'Unknown ramp' } },
  handler: async (c, { params }) => {
    const ramp = await inTransaction(c, async (tx) => {
      const [row] = await tx.select().from(rollouts).where(eq(rollouts.id, params.id));
      if (!row) throw new ApiError(404, `No ramp ${params.id}.`);
      return answerRamp(tx, row);
    });
    return c.json(ramp);
  },
});

export const rolloutRoutes = [createRamp, listRamps, getRamp, rampAction('pause'), rampAction('resume'), rampAction('abort')];
