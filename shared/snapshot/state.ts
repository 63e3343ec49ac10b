import { z } from 'zod';
import { FLAG_TYPES, STICKINESS, valueMatchesType } from '../engine';
import type { FlagType } from '../engine';
import { FlagKeySchema, OrgIdSchema, PercentageSchema, PlatformSchema, UserIdSchema } from './identifiers';

/**
 * The neutral source state: what the admin API stored, independent of Postgres (the shape of
 * vectors/cascade.json `state`). The DB compiler reads rows into this and hands it to buildLayers;
 * tests build it by hand. Optional fields also accept null because nullable columns produce null.
 */

const JsonValueSchema = z.json();
/** ISO 8601 instant with Z or an offset, as the API and the database print them. */
const InstantSchema = z.iso.datetime({ offset: true });

/** A system flag row (archived ones too: `archived` lists which to leave out). */
export const SourceFlagSchema = z.object({
  key: FlagKeySchema,
  type: z.enum(FLAG_TYPES),
  defaultValue: JsonValueSchema,
  offValue: JsonValueSchema,
  killed: z.boolean(),
  rollout: z
    .object({
      percentage: PercentageSchema,
      value: JsonValueSchema,
      stickiness: z.enum(STICKINESS).nullish(),
      salt: z.string().nullish(),
    })
    .nullish(),
});

/** An org row: the org's value, optionally only for a percentage of its users. */
export const SourceOrgValueSchema = z.object({
  key: FlagKeySchema,
  orgId: OrgIdSchema,
  value: JsonValueSchema,
  percentage: PercentageSchema.nullish(),
});

/** A platform override, for one org or (orgId null) for all of them. */
export const SourcePlatformOverrideSchema = z.object({
  key: FlagKeySchema,
  platform: PlatformSchema,
  /** null = the all-orgs override. */
  orgId: OrgIdSchema.nullable(),
  value: JsonValueSchema,
  expiresAt: InstantSchema.nullish(),
});

/** A user override inside one org. */
export const SourceUserOverrideSchema = z.object({
  key: FlagKeySchema,
  orgId: OrgIdSchema,
  userId: UserIdSchema,
  value: JsonValueSchema,
  expiresAt: InstantSchema.nullish(),
});

/** The whole state; values are checked against their flag's type so a bad row cannot reach a layer. */
export const SourceStateSchema = z
  .object({
    platforms: z.array(PlatformSchema).optional(),
    flags: z.array(SourceFlagSchema),
    archived: z.array(FlagKeySchema),
    orgValues: z.array(SourceOrgValueSchema),
    platformOverrides: z.array(SourcePlatformOverrideSchema),
    userOverrides: z.array(SourceUserOverrideSchema),
  })
  .superRefine((state, ctx) => {
    const types = new Map<string, FlagType>();
    const check = (type: FlagType | undefined, value: unknown, path: (string | number)[]): void => {
      if (type !== undefined && !valueMatchesType(type, value)) {
        ctx.addIssue({ code: 'custom', message: `not a ${type} value`, path });
      }
    };
    state.flags.forEach((flag, i) => {
      types.set(flag.key, flag.type);
      check(flag.type, flag.defaultValue, ['flags', i, 'defaultValue']);
      check(flag.type, flag.offValue, ['flags', i, 'offValue']);
      if (flag.rollout) check(flag.type, flag.rollout.value, ['flags', i, 'rollout', 'value']);
    });
    state.orgValues.forEach((row, i) => check(types.get(row.key), row.value, ['orgValues', i, 'value']));
    state.platformOverrides.forEach((row, i) => check(types.get(row.key), row.value, ['platformOverrides', i, 'value']));
    state.userOverrides.forEach((row, i) => check(types.get(row.key), row.value, ['userOverrides', i, 'value']));
  });

export type SourceFlag = z.infer<typeof SourceFlagSchema>;
export type SourceOrgValue = z.infer<typeof SourceOrgValueSchema>;
export type SourcePlatformOverride = z.infer<typeof SourcePlatformOverrideSchema>;
export type SourceUserOverride = z.infer<typeof SourceUserOverrideSchema>;
export type SourceState = z.infer<typeof SourceStateSchema>;
