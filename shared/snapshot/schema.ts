import { z } from 'zod';
import { FLAG_TYPES, STICKINESS, valueMatchesType } from '../engine';
import type { FlagType, GlobalLayer, OrgLayer } from '../engine';
import { FlagKeySchema, OrgIdSchema, PercentageSchema, PlatformSchema, UserIdSchema } from './identifiers';

/**
 * The one schema of the KV snapshot layers, shared by the compiler (before it publishes) and the
 * evaluate Worker (when it decodes). Unknown fields are stripped, not rejected, so a newer compiler
 * can add fields without breaking an older evaluate Worker during a rolling deploy.
 */

const JsonValueSchema = z.json();

/** Layer versions and instants are non-negative integers (db versions, epoch ms). */
const CounterSchema = z.int().nonnegative();

const OverrideSchema = z.object({
  value: JsonValueSchema,
  expiresAt: CounterSchema.optional(),
});

const SystemRolloutSchema = z.object({
  percentage: PercentageSchema,
  value: JsonValueSchema,
  stickiness: z.enum(STICKINESS),
  salt: z.string().optional(),
});

function checkType(type: FlagType, value: unknown, path: (string | number)[], ctx: z.RefinementCtx): void {
  if (!valueMatchesType(type, value)) ctx.addIssue({ code: 'custom', message: `not a ${type} value`, path });
}

const GlobalFlagSchema = z
  .object({
    type: z.enum(FLAG_TYPES),
    default: JsonValueSchema,
    off: JsonValueSchema,
    killed: z.boolean(),
    rollout: SystemRolloutSchema.optional(),
    platforms: z.record(PlatformSchema, OverrideSchema).optional(),
  })
  .superRefine((flag, ctx) => {
    checkType(flag.type, flag.default, ['default'], ctx);
    checkType(flag.type, flag.off, ['off'], ctx);
    if (flag.rollout) checkType(flag.type, flag.rollout.value, ['rollout', 'value'], ctx);
    for (const [platform, override] of Object.entries(flag.platforms ?? {})) {
      checkType(flag.type, override.value, ['platforms', platform, 'value'], ctx);
    }
  });

/** `snap:v1:global`. */
export const GlobalLayerSchema = z.object({
  version: CounterSchema,
  generatedAt: CounterSchema,
  flags: z.record(FlagKeySchema, GlobalFlagSchema),
});

const OrgFlagSchema = z
  .object({
    value: JsonValueSchema.optional(),
    percentage: PercentageSchema.optional(),
    platforms: z.record(PlatformSchema, OverrideSchema).optional(),
    users: z.record(UserIdSchema, OverrideSchema).optional(),
  })
  .refine((flag) => flag.percentage === undefined || flag.value !== undefined, {
    message: 'an org percentage needs an org value',
    path: ['percentage'],
  });

/** `snap:v1:org:<orgId>`. Value types are checked by the engine, which has the global layer beside it. */
export const OrgLayerSchema = z.object({
  version: CounterSchema,
  orgId: OrgIdSchema,
  flags: z.record(FlagKeySchema, OrgFlagSchema),
});

/** `key:v1:<sha256 hex>`: an evaluate key, written by the admin Worker, read by the evaluate Worker. */
export const EvaluateKeyRecordSchema = z.object({
  id: z.string().min(1),
  orgId: OrgIdSchema.optional(),
  name: z.string(),
});
export type EvaluateKeyRecord = z.infer<typeof EvaluateKeyRecordSchema>;

// Type-level check: the schemas decode to exactly the engine's layer types (fails to compile otherwise).
type MutuallyAssignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type AssertTrue<T extends true> = T;
export type SchemaMatchesEngine = [
  AssertTrue<MutuallyAssignable<z.infer<typeof GlobalLayerSchema>, GlobalLayer>>,
  AssertTrue<MutuallyAssignable<z.infer<typeof OrgLayerSchema>, OrgLayer>>,
];
