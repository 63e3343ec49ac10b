import { z } from 'zod';
import { PLATFORMS } from '../../shared/config';
import type { FieldError } from '../../shared/http/problem';
import { FlagKeySchema, OrgIdSchema, UserIdSchema } from '../../shared/snapshot';

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
  /** Per-flag values to answer when a flag cannot be evaluated (no snapshot, or an error). */
  defaults: z.record(z.string(), z.json()).optional(),
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

/** The JSON of a request body, `{}` when empty; `ok: false` when it is not JSON (400 / PARSE_ERROR). */
export function parseJsonBody(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : 'invalid JSON' };
  }
}
