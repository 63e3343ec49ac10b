import { and, arrayContains, asc, eq, gt, ilike, isNotNull, isNull, or, type SQL } from 'drizzle-orm';
import type { Context } from 'hono';
import { z } from 'zod';
import { featureFlags } from '../../../shared/db';
import type { FlagType } from '../../../shared/engine';
import { ADMIN_ROLES, SYSTEM_ROLES } from '../auth';
import { inTransaction } from '../db';
import type { AppEnv } from '../env';
import {
  sameJson,
  assertNoLiveRamp,
  assertValueType,
  deleteOverride,
  etagOf,
  flagView,
  overrideView,
  putOverride,
  requireFlag,
  updateSystemFlag,
  type FlagRow,
} from '../../../shared/store';
import { ApiError } from '../problem';
import { applyChange } from '../publishing';
import { defineRoute } from '../route';
import {
  CursorSchema,
  decodeCursor,
  FlagKeySchema,
  FlagTypeSchema,
  InstantSchema,
  JsonValueSchema,
  LimitSchema,
  listOf,
  page,
  PercentageSchema,
  PlatformParamSchema,
  PublishStateSchema,
  ReasonSchema,
} from '../schemas';

// ---- schemas --------------------------------------------------------------------------------

const TagsSchema = z.array(z.string().trim().min(1).max(64)).max(32);
const RolloutSchema = z.strictObject({
  percentage: PercentageSchema,
  value: JsonValueSchema,
  stickiness: z.enum(['userId', 'orgId']).optional(),
});

export const FlagSchema = z
  .object({
    key: z.string(),
    type: FlagTypeSchema,
    description: z.string(),
    defaultValue: JsonValueSchema,
    offValue: JsonValueSchema,
    killed: z.boolean(),
    rollout: RolloutSchema.nullable(),
    tags: z.array(z.string()),
    owner: z.string().nullable(),
    expiresAt: z.string().nullable(),
    archivedAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    version: z.int(),
  })
  .meta({ id: 'Flag' });

const FlagWriteResultSchema = FlagSchema.extend({ publish: PublishStateSchema });

const KeyParams = z.object({ key: FlagKeySchema });
const PlatformParams = z.object({ key: FlagKeySchema, platform: PlatformParamSchema });

const ListQuery = z.object({
  q: z.string().max(200).optional(),
  tag: z.string().max(64).optional(),
  archived: z.enum(['true', 'false', 'all']).default('false'),
  limit: LimitSchema,
  cursor: CursorSchema,
});

const CreateBody = z.strictObject({
  key: FlagKeySchema,
  type: FlagTypeSchema.default('boolean'),
  description: z.string().max(2000).optional(),
  defaultValue: JsonValueSchema.optional(),
  offValue: JsonValueSchema.optional(),
  tags: TagsSchema.optional(),
  owner: z.string().max(200).optional(),
  expiresAt: InstantSchema.optional(),
  reason: ReasonSchema,
});

const PatchBody = z
  .strictObject({
    description: z.string().max(2000).optional(),
    defaultValue: JsonValueSchema.optional(),
    offValue: JsonValueSchema.optional(),
    killed: z.boolean().optional(),
    rollout: RolloutSchema.nullable().optional(),
    tags: TagsSchema.optional(),
    owner: z.string().max(200).nullable().optional(),
    expiresAt: InstantSchema.nullable().optional(),
    reason: ReasonSchema,
  })
  .refine((b) => Object.keys(b).some((k) => k !== 'reason'), { message: 'nothing to change' });

const ReasonBody = z.strictObject({ reason: ReasonSchema });
const OverrideBody = z.strictObject({ value: JsonValueSchema, expiresAt: InstantSchema.nullable().optional(), reason: ReasonSchema });

export const OverrideSchema = z
  .object({
    key: z.string(),
    platform: z.string().optional(),
    userId: z.string().optional(),
    orgId: z.string().nullable(),
    value: JsonValueSchema,
    expiresAt: z.string().nullable(),
    updatedAt: z.string(),
    version: z.int(),
  })
  .meta({ id: 'Override' });
export const OverrideWriteResultSchema = OverrideSchema.extend({ publish: PublishStateSchema });

// ---- helpers --------------------------------------------------------------------------------

const TYPE_DEFAULTS: Record<FlagType, unknown> = { boolean: false, string: '', number: 0, json: {} };

/** `If-Match: "3"` (or `W/"3"`, a list, or `*`) against the flag's version. */
function checkIfMatch(c: Context<AppEnv>, row: FlagRow): void {
  const header = c.req.header('If-Match');
  if (!header) return;
  const tags = header.split(',').map((t) => t.trim().replace(/^W\//, ''));
  if (tags.includes('*') || tags.includes(etagOf(row.version))) return;
  throw new ApiError(412, { detail: `The flag is at version ${row.version}; reload it and retry.` });
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

function flagAnswer(c: Context<AppEnv>, row: FlagRow, publish: 'done' | 'pending', status: 200 | 201 = 200): Response {
  c.header('ETag', etagOf(row.version));
  return c.json({ ...flagView(row), publish }, status);
}

function setSystemValue(value: boolean) {
  return async (c: Context<AppEnv>, { params, body }: { params: z.output<typeof KeyParams>; body: z.output<typeof ReasonBody> }) => {
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const row = await requireFlag(tx, params.key, { lock: true });
        if (row.type !== 'boolean') {
          throw new ApiError(409, { detail: `enable/disable apply to boolean flags; ${params.key} is ${row.type}.` });
        }
        return { result: await updateSystemFlag(tx, row, { value }), layers: ['global'] };
      },
      { reason: body.reason },
    );
    return flagAnswer(c, result, publish);
  };
}

// ---- routes ---------------------------------------------------------------------------------

const listFlags = defineRoute({
  method: 'get',
  path: '/api/flags',
  summary: 'List flags (live by default)',
  tag: 'flags',
  access: ADMIN_ROLES,
  query: ListQuery,
  responses: { 200: { description: 'A page of flags', schema: listOf(FlagSchema) } },
  handler: async (c, { query }) => {
    const after = decodeCursor(query.cursor, z.object({ key: FlagKeySchema }));
    const filters: (SQL | undefined)[] = [isNull(featureFlags.orgId)];
    if (query.archived === 'false') filters.push(isNull(featureFlags.archivedAt));
    if (query.archived === 'true') filters.push(isNotNull(featureFlags.archivedAt));
    if (query.q) {
      const pattern = `%${escapeLike(query.q)}%`;
      filters.push(or(ilike(featureFlags.featureKey, pattern), ilike(featureFlags.description, pattern)));
    }
    if (query.tag) filters.push(arrayContains(featureFlags.tags, [query.tag]));
    if (after) filters.push(gt(featureFlags.featureKey, after.key));
    const rows = await inTransaction(c, (tx) =>
      tx
        .select()
        .from(featureFlags)
        .where(and(...filters))
        .orderBy(asc(featureFlags.featureKey))
        .limit(query.limit + 1),
    );
    return c.json(page(rows.map(flagView), query.limit, (last) => ({ key: last.key })));
  },
});

const createFlag = defineRoute({
  method: 'post',
  path: '/api/flags',
  summary: 'Create a flag',
  tag: 'flags',
  access: SYSTEM_ROLES,
  body: CreateBody,
  headers: ['X-Change-Reason'],
  responses: {
    201: { description: 'Created', schema: FlagWriteResultSchema },
    409: { description: 'The key exists (also when archived)' },
  },
  handler: async (c, { body }) => {
    const defaultValue = body.defaultValue === undefined ? TYPE_DEFAULTS[body.type] : body.defaultValue;
    const offValue = body.offValue === undefined ? (body.type === 'boolean' ? false : defaultValue) : body.offValue;
    assertValueType(body.type, defaultValue, 'body.defaultValue');
    assertValueType(body.type, offValue, 'body.offValue');
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const [row] = await tx
          .insert(featureFlags)
          .values({
            featureKey: body.key,
            type: body.type,
            value: defaultValue,
            offValue,
            description: body.description ?? '',
            tags: body.tags ?? [],
            owner: body.owner ?? null,
            expiresAt: body.expiresAt ? new Date(body.expiresAt) : null,
          })
          .onConflictDoNothing()
          .returning();
        if (!row) throw new ApiError(409, { detail: `A flag ${body.key} exists already (it may be archived: restore it).` });
        return { result: row, layers: ['global'] };
      },
      { reason: body.reason },
    );
    c.header('Location', `/api/flags/${result.featureKey}`);
    return flagAnswer(c, result, publish, 201);
  },
});

const getFlag = defineRoute({
  method: 'get',
  path: '/api/flags/:key',
  summary: 'One flag, with its version as ETag',
  tag: 'flags',
  access: ADMIN_ROLES,
  params: KeyParams,
  responses: { 200: { description: 'The flag', schema: FlagSchema }, 404: { description: 'Unknown key' } },
  handler: async (c, { params }) => {
    const row = await inTransaction(c, (tx) => requireFlag(tx, params.key));
    c.header('ETag', etagOf(row.version));
    return c.json(flagView(row));
  },
});

const patchFlag = defineRoute({
  method: 'patch',
  path: '/api/flags/:key',
  summary: 'Change a flag (optimistic concurrency with If-Match)',
  tag: 'flags',
  access: SYSTEM_ROLES,
  params: KeyParams,
  body: PatchBody,
  headers: ['If-Match', 'X-Change-Reason'],
  responses: {
    200: { description: 'Changed', schema: FlagWriteResultSchema },
    409: { description: 'A live ramp steers the rollout (abort it first)' },
    412: { description: 'If-Match does not match the current version' },
  },
  handler: async (c, { params, body }) => {
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const row = await requireFlag(tx, params.key, { lock: true });
        checkIfMatch(c, row);
        const type = row.type ?? 'json';
        if (body.defaultValue !== undefined) assertValueType(type, body.defaultValue, 'body.defaultValue');
        if (body.offValue !== undefined) assertValueType(type, body.offValue, 'body.offValue');
        if (body.rollout) assertValueType(type, body.rollout.value, 'body.rollout.value');
        if (body.rollout !== undefined && !sameJson(body.rollout, row.rollout)) await assertNoLiveRamp(tx, params.key, null);
        const updated = await updateSystemFlag(tx, row, {
          description: body.description,
          value: body.defaultValue,
          offValue: body.offValue,
          killed: body.killed,
          rollout: body.rollout,
          tags: body.tags,
          owner: body.owner,
          expiresAt: body.expiresAt === undefined ? undefined : body.expiresAt === null ? null : new Date(body.expiresAt),
        });
        return { result: updated, layers: ['global'] };
      },
      { reason: body.reason },
    );
    return flagAnswer(c, result, publish);
  },
});

const archiveFlag = defineRoute({
  method: 'delete',
  path: '/api/flags/:key',
  summary: 'Archive a flag (evaluation then answers FLAG_NOT_FOUND)',
  tag: 'flags',
  access: SYSTEM_ROLES,
  params: KeyParams,
  body: ReasonBody,
  headers: ['If-Match', 'X-Change-Reason'],
  responses: { 204: { description: 'Archived; X-Publish tells done or pending' } },
  handler: async (c, { params, body }) => {
    await applyChange(
      c,
      async (tx) => {
        const row = await requireFlag(tx, params.key, { lock: true });
        checkIfMatch(c, row);
        if (!row.archivedAt) await updateSystemFlag(tx, row, { archivedAt: new Date() });
        return { result: null, layers: ['global'] };
      },
      { reason: body.reason },
    );
    return c.body(null, 204);
  },
});

const restoreFlag = defineRoute({
  method: 'post',
  path: '/api/flags/:key/restore',
  summary: 'Undo an archive',
  tag: 'flags',
  access: SYSTEM_ROLES,
  params: KeyParams,
  body: ReasonBody,
  headers: ['X-Change-Reason'],
  responses: { 200: { description: 'Live again', schema: FlagWriteResultSchema } },
  handler: async (c, { params, body }) => {
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const row = await requireFlag(tx, params.key, { lock: true });
        return { result: row.archivedAt ? await updateSystemFlag(tx, row, { archivedAt: null }) : row, layers: ['global'] };
      },
      { reason: body.reason },
    );
    return flagAnswer(c, result, publish);
  },
});

const enableFlag = defineRoute({
  method: 'post',
  path: '/api/flags/:key/enable',
  summary: 'Boolean flag: system value true',
  tag: 'flags',
  access: SYSTEM_ROLES,
  params: KeyParams,
  body: ReasonBody,
  headers: ['X-Change-Reason'],
  responses: { 200: { description: 'Enabled', schema: FlagWriteResultSchema }, 409: { description: 'Not a boolean flag' } },
  handler: setSystemValue(true),
});

const disableFlag = defineRoute({
  method: 'post',
  path: '/api/flags/:key/disable',
  summary: 'Boolean flag: system value false',
  tag: 'flags',
  access: SYSTEM_ROLES,
  params: KeyParams,
  body: ReasonBody,
  headers: ['X-Change-Reason'],
  responses: { 200: { description: 'Disabled', schema: FlagWriteResultSchema }, 409: { description: 'Not a boolean flag' } },
  handler: setSystemValue(false),
});

const putPlatform = defineRoute({
  method: 'put',
  path: '/api/flags/:key/platforms/:platform',
  summary: 'All-orgs platform override',
  tag: 'flags',
  access: SYSTEM_ROLES,
  params: PlatformParams,
  body: OverrideBody,
  headers: ['X-Change-Reason'],
  responses: { 200: { description: 'Set', schema: OverrideWriteResultSchema } },
  handler: async (c, { params, body }) => {
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const flag = await requireFlag(tx, params.key);
        assertValueType(flag.type ?? 'json', body.value, 'body.value');
        const row = await putOverride(
          tx,
          { kind: 'platform', key: params.key, platform: params.platform, orgId: null },
          { value: body.value, expiresAt: body.expiresAt ? new Date(body.expiresAt) : null },
        );
        return { result: row, layers: ['global'] };
      },
      { reason: body.reason },
    );
    return c.json({ ...overrideView(result), publish });
  },
});

const deletePlatform = defineRoute({
  method: 'delete',
  path: '/api/flags/:key/platforms/:platform',
  summary: 'Remove an all-orgs platform override',
  tag: 'flags',
  access: SYSTEM_ROLES,
  params: PlatformParams,
  body: ReasonBody,
  headers: ['X-Change-Reason'],
  responses: { 204: { description: 'Removed' }, 404: { description: 'No such override' } },
  handler: async (c, { params, body }) => {
    await applyChange(
      c,
      async (tx) => {
        await requireFlag(tx, params.key);
        const removed = await deleteOverride(tx, { kind: 'platform', key: params.key, platform: params.platform, orgId: null });
        if (!removed) throw new ApiError(404, `No all-orgs ${params.platform} override for ${params.key}.`);
        return { result: null, layers: ['global'] };
      },
      { reason: body.reason },
    );
    return c.body(null, 204);
  },
});

export const flagRoutes = [
  listFlags,
  createFlag,
  getFlag,
  patchFlag,
  archiveFlag,
  restoreFlag,
  enableFlag,
  disableFlag,
  putPlatform,
  deletePlatform,
];
