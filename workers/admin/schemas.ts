import { z } from 'zod';
import { PLATFORMS } from '../../shared/config';
import { validationError } from './route';
import { FlagKeySchema, OrgIdSchema, PercentageSchema, UserIdSchema } from '../../shared/snapshot';
import { instantSchema } from '../../shared/snapshot/identifiers';

/** Zod pieces that several route groups share; each route's own shapes live beside its handler. */

export { FlagKeySchema, OrgIdSchema, PercentageSchema, UserIdSchema };

export const PlatformParamSchema = z.enum(PLATFORMS, { error: `platform must be one of ${PLATFORMS.join(', ')}` });

export const FlagTypeSchema = z.enum(['boolean', 'string', 'number', 'json']);

export const JsonValueSchema = z.json();

/** ISO 8601 instant with Z or an offset, from 1970 to 9999 (what Postgres, JS dates and the snapshot all hold). */
export const InstantSchema = instantSchema();

/** Optional reason of a change; the `X-Change-Reason` header wins. */
export const ReasonSchema = z.string().trim().min(1).max(500).optional();

export const PublishStateSchema = z.enum(['done', 'pending']);

export const LimitSchema = z.coerce.number().int().min(1).max(100).default(50);
export const CursorSchema = z.string().min(1).max(512).optional();

/** Opaque cursors: base64url JSON, so clients cannot build on their shape. */
export function encodeCursor(position: unknown): string {
  return btoa(JSON.stringify(position)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeCursor<T>(cursor: string | undefined, shape: z.ZodType<T>): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const json = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'));
    const parsed = shape.safeParse(JSON.parse(json));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to the one error below
  }
  throw validationError('query', new z.ZodError([{ code: 'custom', path: ['cursor'], message: 'invalid cursor', input: cursor }]));
}

export function page<T>(items: T[], limit: number, positionOf: (last: T) => unknown): { items: T[]; nextCursor: string | null } {
  const more = items.length > limit;
  const visible = more ? items.slice(0, limit) : items;
  const last = visible[visible.length - 1];
  return { items: visible, nextCursor: more && last !== undefined ? encodeCursor(positionOf(last)) : null };
}

export function listOf<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    errorCode: z.string().optional(),
  })
  .meta({ id: 'Problem' });
