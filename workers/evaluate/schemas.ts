import { z } from 'zod';
import { PLATFORMS, isPlatform } from '../../shared/config';
import type { FieldError } from '../../shared/http/problem';
import { MAX_INPUT_DEPTH, nestsDeeperThan } from '../../shared/http/input';
import { FlagKeySchema, OrgIdSchema, UserIdSchema } from '../../shared/snapshot';
import { FLAG_KEY_PATTERN, SUBJECT_ID_PATTERN } from '../../shared/snapshot/identifiers';

/**
 * Request schemas of the evaluate routes (API.md "Common rules"). Context objects accept extra
 * attributes (OpenFeature clients send whatever their context holds) and ignore them; the fields the
 * cascade reads are checked strictly. `null` counts as absent, as OpenFeature contexts often carry it.
 */

export const PlatformNameSchema = z.enum(PLATFORMS, { error: `must be one of ${PLATFORMS.join(', ')}` });

export { FlagKeySchema };

/** `GET /v1/flags/:key` query. `default` is what the caller wants back when evaluation fails. */
export const FlagQuerySchema = z.object({
  orgId: OrgIdSchema.optional(),
  userId: UserIdSchema.optional(),
  platform: PlatformNameSchema.optional(),
  default: z.string().max(4096).optional(),
});

export const V1ContextSchema = z.looseObject({
  orgId: OrgIdSchema.nullish(),
  userId: UserIdSchema.nullish(),
  platform: PlatformNameSchema.nullish(),
});

/** `POST /v1/evaluate`. */
export const BulkBodySchema = z.object({
  context: V1ContextSchema.nullish(),
  flags: z.array(FlagKeySchema).max(1000).optional(),
  /**
   * Per-flag values to answer when a flag cannot be evaluated (no snapshot, or an error). The body is
   * parsed JSON already; the check is its depth (zod's recursive z.json() overflowed the stack on a
   * 4 KB body of nested arrays: a 500).
   */
  defaults: z.record(z.string(), z.unknown().refine((value) => !nestsDeeperThan(value, MAX_INPUT_DEPTH), `nested deeper than ${MAX_INPUT_DEPTH} levels`)).optional(),
});

/** OFREP evaluation context: `targetingKey` is the user id (`userId` is accepted as a synonym). */
export const OfrepContextSchema = z.looseObject({
  targetingKey: UserIdSchema.nullish(),
  userId: UserIdSchema.nullish(),
  orgId: OrgIdSchema.nullish(),
  platform: PlatformNameSchema.nullish(),
});

export const OfrepBodySchema = z.looseObject({
  context: OfrepContextSchema.nullish(),
});

/*
 * Hot-path checks. Each accepts a subset of what its zod schema accepts (same patterns, no
 * transforms), so a request they pass gets exactly the answer the schema would give; anything they
 * do not pass goes through the schema, which then produces the usual error answer. They spare the
 * common, valid request the cost of zod's parse machinery.
 */

/** True when `FlagKeySchema` accepts `key`. */
export function isFlagKey(key: string): boolean {
  return FLAG_KEY_PATTERN.test(key);
}

function isOptionalId(value: unknown): boolean {
  return value === undefined || (typeof value === 'string' && SUBJECT_ID_PATTERN.test(value));
}

function isNullishId(value: unknown): boolean {
  return value === null || isOptionalId(value);
}

function isNullishPlatform(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && isPlatform(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `FlagQuerySchema`'s output for a valid query, or undefined (then parse with the schema). */
export function quickFlagQuery(query: Record<string, string>): { orgId?: string; userId?: string; platform?: string; default?: string } | undefined {
  const { orgId, userId, platform } = query;
  const fallback = query.default;
  if (!isOptionalId(orgId) || !isOptionalId(userId)) return undefined;
  if (platform !== undefined && !isPlatform(platform)) return undefined;
  if (fallback !== undefined && fallback.length > 4096) return undefined;
  return { orgId, userId, platform, default: fallback };
}

/** The context of a body `OfrepBodySchema` accepts (null when it has none), or undefined (then parse with the schema). */
export function quickOfrepContext(json: unknown): Record<string, unknown> | null | undefined {
  if (!isPlainObject(json)) return undefined;
  const ctx = json.context;
  if (ctx === undefined || ctx === null) return null;
  if (!isPlainObject(ctx)) return undefined;
  if (!isNullishId(ctx.targetingKey) || !isNullishId(ctx.userId) || !isNullishId(ctx.orgId) || !isNullishPlatform(ctx.platform)) return undefined;
  return ctx;
}

/** `BulkBodySchema`'s output for a body without `defaults` (those need the schema's JSON check), or undefined. */
export function quickBulkBody(json: unknown): { context?: Record<string, unknown> | null; flags?: string[] } | undefined {
  if (!isPlainObject(json) || json.defaults !== undefined) return undefined;
  const ctx = json.context;
  if (ctx !== undefined && ctx !== null) {
    if (!isPlainObject(ctx) || !isNullishId(ctx.orgId) || !isNullishId(ctx.userId) || !isNullishPlatform(ctx.platform)) return undefined;
  }
  const flags = json.flags;
  if (flags !== undefined) {
    if (!Array.isArray(flags) || flags.length > 1000) return undefined;
    for (const key of flags) if (typeof key !== 'string' || !FLAG_KEY_PATTERN.test(key)) return undefined;
  }
  return { context: ctx as Record<string, unknown> | null | undefined, flags: flags as string[] | undefined };
}

/** The fields the engine reads, after validation and org scoping. */
export interface RequestContext {
  orgId: string | undefined;
  userId: string | undefined;
  platform: string | undefined;
}

/** One `{path, message}` per zod issue, paths dotted (`context.orgId`). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.') || '(body)', message: issue.message }));
}

/** "orgId: invalid orgId; platform: must be one of …" — the detail line of a 422 / OFREP 400. */
export function describeErrors(errors: FieldError[]): string {
  return errors.map((e) => `${e.path}: ${e.message}`).join('; ');
}

/** The JSON of a request body, `{}` when empty (or only whitespace); `ok: false` when it is not JSON (400 / PARSE_ERROR). */
export function parseJsonBody(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    // Checked only after a failed parse: the common, non-empty body is not copied by trim().
    if (text.trim() === '') return { ok: true, value: {} };
    return { ok: false, message: err instanceof Error ? err.message : 'invalid JSON' };
  }
}
