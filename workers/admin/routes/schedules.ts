import { and, asc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { flagSchedules } from '../../../shared/db';
import { ADMIN_ROLES, assertOrgAccess, WRITER_ROLES } from '../auth';
import { inTransaction } from '../db';
import { assertNoLiveRamp, findOrgValue, planChange, requireFlag, scheduleView, touchesRampedLevel, writeAuditNote } from '../../../shared/store';
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

const ChangeSchema = z
  .strictObject({
    value: JsonValueSchema.optional(),
    killed: z.boolean().optional(),
    percentage: PercentageSchema.optional(),
  })
  .refine((c) => c.value !== undefined || c.killed !== undefined || c.percentage !== undefined, {
    message: 'give at least one of value, killed, percentage',
  });

const CreateBody = z.strictObject({
  at: InstantSchema,
  orgId: OrgIdSchema.optional(),
  change: ChangeSchema,
  reason: ReasonSchema,
});

const STATES = ['pending', 'applied', 'cancelled', 'failed'] as const;

export const ScheduleSchema = z
  .object({
    id: z.string(),
    flag: z.string(),
    orgId: z.string().nullable(),
    at: z.string(),
    change: z.record(z.string(), JsonValueSchema),
    state: z.enum(STATES),
    error: z.string().nullable(),
    appliedAt: z.string().nullable(),
    createdAt: z.string(),
    createdBy: z.string().nullable(),
  })
  .meta({ id: 'Schedule' });

const ScheduleWriteResultSchema = ScheduleSchema.extend({ publish: PublishStateSchema });

const KeyParams = z.object({ key: FlagKeySchema });
const IdParams = z.object({ id: z.uuid() });
const ListQuery = z.object({ state: z.enum(STATES).optional(), limit: LimitSchema, cursor: CursorSchema });
const ReasonBody = z.strictObject({ reason: ReasonSchema });

/** Keyset position at the precision a cursor can carry (JS dates have milliseconds). */
const atMs = sql`date_trunc('milliseconds', ${flagSchedules.at})`;

// ---- routes ---------------------------------------------------------------------------------

const createSchedule = defineRoute({
  method: 'post',
  path: '/api/flags/:key/schedules',
  summary: 'Schedule a change (value, kill switch or percentage), system-wide or for one org',
  tag: 'schedules',
  access: WRITER_ROLES,
  params: KeyParams,
  body: CreateBody,
  headers: ['X-Change-Reason'],
  responses: {
    201: { description: 'Scheduled', schema: ScheduleWriteResultSchema },
    409: { description: 'The flag is archived, or a live ramp steers what the change touches (the rollout, or the org value)' },
  },
  handler: async (c, { params, body }) => {
    const caller = c.get('caller');
    const orgId = body.orgId ?? null;
    assertOrgAccess(caller, orgId);
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const flag = await requireFlag(tx, params.key);
        if (flag.archivedAt) throw new ApiError(409, `Flag ${params.key} is archived; restore it first.`);
        // Checked against the flag as it is now, and again when the change is due.
        planChange(flag, orgId, orgId === null ? undefined : await findOrgValue(tx, params.key, orgId), body.change);
        if (touchesRampedLevel(orgId, body.change)) await assertNoLiveRamp(tx, params.key, orgId);
        const [row] = await tx
          .insert(flagSchedules)
          .values({ featureKey: params.key, orgId, at: new Date(body.at), change: body.change, kind: 'schedule', createdBy: caller.actor })
          .returning();
        await writeAuditNote(tx, {
          level: 'schedule',
          featureKey: params.key,
          orgId,
          target: row!.id,
          oldValue: null,
          newValue: { at: body.at, change: body.change, state: 'pending' },
        });
        return { result: row!, layers: [] };
      },
      { reason: body.reason },
    );
    c.header('Location', `/api/flags/${params.key}/schedules`);
    return c.json({ ...scheduleView(result), publish }, 201);
  },
});

const listSchedules = defineRoute({
  method: 'get',
  path: '/api/flags/:key/schedules',
  summary: "A flag's scheduled changes (an org sees the system-wide ones and its own), soonest first",
  tag: 'schedules',
  access: ADMIN_ROLES,
  params: KeyParams,
  query: ListQuery,
  responses: { 200: { description: 'A page of schedules', schema: listOf(ScheduleSchema) } },
  handler: async (c, { params, query }) => {
    const after = decodeCursor(query.cursor, z.object({ at: z.iso.datetime(), id: z.uuid() }));
    const rows = await inTransaction(c, async (tx) => {
      await requireFlag(tx, params.key);
      return tx
        .select()
        .from(flagSchedules)
        .where(
          and(
            eq(flagSchedules.featureKey, params.key),
            eq(flagSchedules.kind, 'schedule'),
            query.state ? eq(flagSchedules.state, query.state) : undefined,
            after ? sql`(${atMs}, ${flagSchedules.id}) > (${after.at}::timestamptz, ${after.id}::uuid)` : undefined,
          ),
        )
        .orderBy(asc(atMs), asc(flagSchedules.id))
        .limit(query.limit + 1);
    });
    return c.json(page(rows.map(scheduleView), query.limit, (last) => ({ at: last.at, id: last.id })));
  },
});

const cancelSchedule = defineRoute({
  method: 'delete',
  path: '/api/schedules/:id',
  summary: 'Cancel a pending schedule (ramp steps: abort the ramp)',
  tag: 'schedules',
  access: WRITER_ROLES,
  params: IdParams,
  body: ReasonBody,
  headers: ['X-Change-Reason'],
  responses: {
    200: { description: 'Cancelled', schema: ScheduleWriteResultSchema },
    404: { description: 'Unknown schedule' },
    409: { description: 'Not pending any more, or a ramp step' },
  },
  handler: async (c, { params, body }) => {
    const caller = c.get('caller');
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const [row] = await tx.select().from(flagSchedules).where(eq(flagSchedules.id, params.id)).for('update');
        if (!row) throw new ApiError(404, `No schedule ${params.id}.`);
        assertOrgAccess(caller, row.orgId);
        if (row.kind === 'ramp_step') throw new ApiError(409, `Schedule ${row.id} is a ramp step; abort ramp ${row.rampId} instead.`);
        if (row.state !== 'pending') throw new ApiError(409, `Schedule ${row.id} is ${row.state}; only pending schedules can be cancelled.`);
        const [cancelled] = await tx.update(flagSchedules).set({ state: 'cancelled' }).where(eq(flagSchedules.id, row.id)).returning();
        await writeAuditNote(tx, {
          level: 'schedule',
          featureKey: row.featureKey,
          orgId: row.orgId,
          target: row.id,
          oldValue: { state: 'pending' },
          newValue: { state: 'cancelled' },
        });
        return { result: cancelled!, layers: [] };
      },
      { reason: body.reason },
    );
    return c.json({ ...scheduleView(result), publish });
  },
});

export const scheduleRoutes = [createSchedule, listSchedules, cancelSchedule];
