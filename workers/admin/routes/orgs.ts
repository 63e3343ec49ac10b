import type { Context } from 'hono';
import { z } from 'zod';
import { evaluateAll } from '../../../shared/engine';
import { compileLayers, readState } from '../../../shared/snapshot/compile';
import { layerOf } from '../../../shared/snapshot/publish';
import { ADMIN_ROLES, assertOrgAccess, WRITER_ROLES } from '../auth';
import { inTransaction } from '../db';
import type { AppEnv } from '../env';
import {
  assertNoLiveRamp,
  assertValueType,
  deleteOrgValue,
  deleteOverride,
  overrideView,
  putOrgValue,
  putOverride,
  requireFlag,
  type OverrideTarget,
} from '../../../shared/store';
import { ApiError } from '../problem';
import { applyChange } from '../publishing';
import { defineRoute } from '../route';
import {
  FlagKeySchema,
  InstantSchema,
  JsonValueSchema,
  OrgIdSchema,
  PercentageSchema,
  PlatformParamSchema,
  PublishStateSchema,
  ReasonSchema,
  UserIdSchema,
} from '../schemas';
import { OverrideWriteResultSchema } from './flags';

// ---- schemas --------------------------------------------------------------------------------

const OrgParams = z.object({ orgId: OrgIdSchema });
const OrgFlagParams = z.object({ orgId: OrgIdSchema, key: FlagKeySchema });
const OrgPlatformParams = OrgFlagParams.extend({ platform: PlatformParamSchema });
const OrgUserParams = OrgFlagParams.extend({ userId: UserIdSchema });

const OrgValueBody = z.strictObject({ value: JsonValueSchema, percentage: PercentageSchema.nullable().optional(), reason: ReasonSchema });
const OverrideBody = z.strictObject({ value: JsonValueSchema, expiresAt: InstantSchema.nullable().optional(), reason: ReasonSchema });
const ReasonBody = z.strictObject({ reason: ReasonSchema });

export const EffectiveValueSchema = z
  .object({
    key: z.string(),
    value: JsonValueSchema,
    source: z.enum(['user', 'platform', 'org', 'system', 'killed']),
    reason: z.string(),
    org: z.object({ value: JsonValueSchema, percentage: z.number().nullable() }).optional(),
  })
  .meta({ id: 'EffectiveValue' });

const OrgFlagsSchema = z.object({ orgId: z.string(), items: z.array(EffectiveValueSchema) }).meta({ id: 'OrgFlags' });

const OrgValueResultSchema = z
  .object({ key: z.string(), orgId: z.string(), value: JsonValueSchema, percentage: z.number().nullable(), version: z.int(), publish: PublishStateSchema })
  .meta({ id: 'OrgValue' });

// ---- helpers --------------------------------------------------------------------------------

/** Shared by the org platform and user override routes. */
function overrideRoutes(kind: 'platform' | 'user') {
  const params = kind === 'platform' ? OrgPlatformParams : OrgUserParams;
  const path = kind === 'platform' ? '/api/orgs/:orgId/flags/:key/platforms/:platform' : '/api/orgs/:orgId/flags/:key/users/:userId';
  const targetOf = (p: Record<string, string>): OverrideTarget =>
    kind === 'platform'
      ? { kind, key: p.key!, orgId: p.orgId!, platform: p.platform! }
      : { kind, key: p.key!, orgId: p.orgId!, userId: p.userId! };

  const put = defineRoute({
    method: 'put',
    path,
    summary: kind === 'platform' ? "An org's platform override" : 'A user override inside an org',
    tag: 'orgs',
    access: WRITER_ROLES,
    params,
    body: OverrideBody,
    headers: ['X-Change-Reason'],
    responses: { 200: { description: 'Set', schema: OverrideWriteResultSchema } },
    handler: async (c, input) => {
      const p = input.params as Record<string, string>;
      assertOrgAccess(c.get('caller'), p.orgId!);
      const { result, publish } = await applyChange(
        c,
        async (tx) => {
          const flag = await requireFlag(tx, p.key!);
          assertValueType(flag.type ?? 'json', input.body.value, 'body.value');
          const expiresAt = input.body.expiresAt ? new Date(input.body.expiresAt) : null;
          const row = await putOverride(tx, targetOf(p), { value: input.body.value, expiresAt });
          return { result: row, layers: [layerOf(p.orgId!)] };
        },
        { reason: input.body.reason },
      );
      return c.json({ ...overrideView(result), publish });
    },
  });

  const remove = defineRoute({
    method: 'delete',
    path,
    summary: kind === 'platform' ? "Remove an org's platform override" : 'Remove a user override',
    tag: 'orgs',
    access: WRITER_ROLES,
    params,
    body: ReasonBody,
    headers: ['X-Change-Reason'],
    responses: { 204: { description: 'Removed' }, 404: { description: 'No such override' } },
    handler: async (c, input) => {
      const p = input.params as Record<string, string>;
      assertOrgAccess(c.get('caller'), p.orgId!);
      await applyChange(
        c,
        async (tx) => {
          await requireFlag(tx, p.key!);
          if (!(await deleteOverride(tx, targetOf(p)))) throw new ApiError(404, `No such ${kind} override for ${p.key}.`);
          return { result: null, layers: [layerOf(p.orgId!)] };
        },
        { reason: input.body.reason },
      );
      return c.body(null, 204);
    },
  });
  return [put, remove];
}

async function effectiveValues(c: Context<AppEnv>, orgId: string) {
  const state = await inTransaction(c, (tx) => readState(tx, { orgId }));
  const layers = compileLayers(state);
  const orgRows = new Map(state.orgValues.map((row) => [row.key, row]));
  const results = evaluateAll({ global: layers.global, org: layers.orgs[orgId] ?? null }, { orgId }, Date.now());
  return Object.keys(results)
    .sort()
    .map((key) => {
      const result = results[key]!;
      const org = orgRows.get(key);
      return {
        key,
        value: result.value,
        source: result.source,
        reason: result.reason,
        ...(org ? { org: { value: org.value, percentage: org.percentage ?? null } } : {}),
      };
    });
}

// ---- routes ---------------------------------------------------------------------------------

const listOrgFlags = defineRoute({
  method: 'get',
  path: '/api/orgs/:orgId/flags',
  summary: 'Effective value of every live flag for an org (no user, no platform)',
  tag: 'orgs',
  access: ADMIN_ROLES,
  params: OrgParams,
  responses: { 200: { description: 'Effective values', schema: OrgFlagsSchema } },
  handler: async (c, { params }) => {
    assertOrgAccess(c.get('caller'), params.orgId);
    return c.json({ orgId: params.orgId, items: await effectiveValues(c, params.orgId) });
  },
});

const putOrgFlag = defineRoute({
  method: 'put',
  path: '/api/orgs/:orgId/flags/:key',
  summary: "Set an org's value (optionally for a percentage of its users)",
  tag: 'orgs',
  access: WRITER_ROLES,
  params: OrgFlagParams,
  body: OrgValueBody,
  headers: ['X-Change-Reason'],
  responses: { 200: { description: 'Set', schema: OrgValueResultSchema }, 409: { description: "A live ramp steers this org's value (abort it first)" } },
  handler: async (c, { params, body }) => {
    assertOrgAccess(c.get('caller'), params.orgId);
    const { result, publish } = await applyChange(
      c,
      async (tx) => {
        const flag = await requireFlag(tx, params.key);
        assertValueType(flag.type ?? 'json', body.value, 'body.value');
        await assertNoLiveRamp(tx, params.key, params.orgId);
        const row = await putOrgValue(tx, params.key, params.orgId, { value: body.value, percentage: body.percentage ?? null });
        return { result: row, layers: [layerOf(params.orgId)] };
      },
      { reason: body.reason },
    );
    return c.json({ key: result.featureKey, orgId: params.orgId, value: result.value, percentage: result.percentage, version: result.version, publish });
  },
});

const deleteOrgFlag = defineRoute({
  method: 'delete',
  path: '/api/orgs/:orgId/flags/:key',
  summary: 'Inherit the system value again',
  tag: 'orgs',
  access: WRITER_ROLES,
  params: OrgFlagParams,
  body: ReasonBody,
  headers: ['X-Change-Reason'],
  responses: {
    204: { description: 'Removed' },
    404: { description: 'The org has no value for this flag' },
    409: { description: "A live ramp steers this org's value (abort it first)" },
  },
  handler: async (c, { params, body }) => {
    assertOrgAccess(c.get('caller'), params.orgId);
    await applyChange(
      c,
      async (tx) => {
        await requireFlag(tx, params.key);
        await assertNoLiveRamp(tx, params.key, params.orgId);
        if (!(await deleteOrgValue(tx, params.key, params.orgId))) {
          throw new ApiError(404, `Org ${params.orgId} has no value for ${params.key}.`);
        }
        return { result: null, layers: [layerOf(params.orgId)] };
      },
      { reason: body.reason },
    );
    return c.body(null, 204);
  },
});

export const orgRoutes = [listOrgFlags, putOrgFlag, deleteOrgFlag, ...overrideRoutes('platform'), ...overrideRoutes('user')];
