import { z } from 'zod';

/**
 * Identifier rules of API.md "Common rules", in one place so the admin routes, the neutral state and
 * the KV layers agree on what a key or id may be.
 */

/** The patterns themselves, for hot paths that check without zod (the evaluate Worker's requests). */
export const FLAG_KEY_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;
/** Organization and user ids. */
export const SUBJECT_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;

/** Flag key: `^[a-z0-9][a-z0-9._-]{0,127}$`. */
export const FlagKeySchema = z.string().regex(FLAG_KEY_PATTERN, 'invalid flag key');

/** Organization id: 1–128 chars of `[A-Za-z0-9._:@-]`. */
export const OrgIdSchema = z.string().regex(SUBJECT_ID_PATTERN, 'invalid orgId');

/** User id: 1–128 chars of `[A-Za-z0-9._:@-]`. */
export const UserIdSchema = z.string().regex(SUBJECT_ID_PATTERN, 'invalid userId');

/** Platform name; which platforms exist is configuration, so only the shape is checked here. */
export const PlatformSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'invalid platform');

/** A percentage as stored: two decimals exactly (float noise such as 12.3400000001 becomes 12.34). */
export const roundPercentage = (p: number): number => Math.round(p * 100) / 100;

/**
 * Rollout percentage: 0–100 with at most two decimals (the bucket granularity is 0.01 %), parsed to
 * two decimals exactly, so float noise is stored nowhere (flag rollouts, org values, schedules, ramp steps).
 */
export const PercentageSchema = z
  .number()
  .min(0)
  .max(100)
  .refine((p) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-6, 'at most two decimals')
  .overwrite(roundPercentage);

/**
 * Instants every part of the system can hold, as epoch ms: from 1970 (snapshot layers carry
 * non-negative epoch ms) to the end of 9999 (JS dates, ISO strings and Postgres timestamptz).
 */
export const MIN_INSTANT_MS = 0;
export const MAX_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** An ISO 8601 instant with Z or an offset within MIN_INSTANT_MS..MAX_INSTANT_MS; `message`: the one for a malformed text. */
export function instantSchema(message?: string) {
  return z.iso
    // abort: text that is no instant at all gets one error, not also "must be between …"
    .datetime(message === undefined ? { offset: true, abort: true } : { offset: true, abort: true, message })
    .refine((s) => {
      const ms = Date.parse(s);
      return ms >= MIN_INSTANT_MS && ms <= MAX_INSTANT_MS;
    }, 'must be between 1970-01-01 and 9999-12-31');
}
