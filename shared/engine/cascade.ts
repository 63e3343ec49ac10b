import { inRollout } from './bucket';
import type { Prepared } from './prepare';
import { answer, failure } from './result';
import type { EvalResult, GlobalFlag, OrgFlag, Override } from './types';

const OBJECT_PROTOTYPE: unknown = Object.prototype;

/**
 * An entry of a layer table, never an Object.prototype member: ids such as `constructor` or
 * `__proto__` must find nothing. Every inherited member is a function except `__proto__`, which is
 * Object.prototype itself, and no decoded entry can be either, so these checks replace
 * Object.hasOwn (which doubles the cost of each lookup on the hot path). Malformed entries (null,
 * numbers) pass through so the caller reports PARSE_ERROR instead of silently ignoring them.
 */
function entryOf<T>(table: Record<string, T> | undefined, key: string): T | undefined {
  if (typeof table !== 'object' || table === null) return undefined;
  const entry = table[key];
  return entry === undefined || typeof entry === 'function' || entry === OBJECT_PROTOTYPE ? undefined : entry;
}

/** An override applies until its expiry instant (exclusive). */
function isLive(override: Override, nowMs: number): boolean {
  const expiresAt = override.expiresAt;
  return expiresAt === undefined || nowMs < expiresAt;
}

/**
 * The cascade of DESIGN.md "Evaluation semantics" for one flag: killed, user, platform (org then
 * all-orgs), org row (with its rollout), system rollout, default. First level that applies wins.
 */
export function resolveFlag(input: Prepared, key: string, nowMs: number): EvalResult {
  const version = input.version;
  if (typeof key !== 'string') return failure('FLAG_NOT_FOUND', version);
  const flag: GlobalFlag | undefined = entryOf(input.global.flags, key);
  if (flag === undefined) return failure('FLAG_NOT_FOUND', version);
  if (typeof flag !== 'object' || flag === null) return failure('PARSE_ERROR', version);
  const type = flag.type;
  if (flag.killed === true) return answer(type, flag.off, 'DISABLED', 'killed', version);

  const { userId, platform } = input;
  const orgFlag: OrgFlag | undefined = input.org === null ? undefined : entryOf(input.org.flags, key);
  if (orgFlag !== undefined) {
    if (typeof orgFlag !== 'object' || orgFlag === null) return failure('PARSE_ERROR', version);
    if (userId !== undefined) {
      const user = entryOf(orgFlag.users, userId);
      if (user !== undefined && isLive(user, nowMs)) return answer(type, user.value, 'TARGETING_MATCH', 'user', version);
    }
    if (platform !== undefined) {
      const override = entryOf(orgFlag.platforms, platform);
      if (override !== undefined && isLive(override, nowMs)) {
        return answer(type, override.value, 'TARGETING_MATCH', 'platform', version);
      }
    }
  }
  if (platform !== undefined) {
    const override = entryOf(flag.platforms, platform);
    if (override !== undefined && isLive(override, nowMs)) {
      return answer(type, override.value, 'TARGETING_MATCH', 'platform', version);
    }
  }
  if (orgFlag !== undefined && orgFlag.value !== undefined) {
    const percentage = orgFlag.percentage;
    if (percentage === undefined) return answer(type, orgFlag.value, 'TARGETING_MATCH', 'org', version);
    if (userId !== undefined && inRollout(key, userId, percentage)) {
      return answer(type, orgFlag.value, 'SPLIT', 'org', version);
    }
  }

  const rollout = flag.rollout;
  if (rollout !== undefined) {
    const subject = rollout.stickiness === 'orgId' ? input.orgId : userId;
    const salt = typeof rollout.salt === 'string' ? rollout.salt : key;
    if (subject !== undefined && inRollout(salt, subject, rollout.percentage)) {
      return answer(type, rollout.value, 'SPLIT', 'system', version);
    }
    return answer(type, flag.default, 'DEFAULT', 'system', version);
  }
  // STATIC only when nothing could have targeted this context: no rollout (above), no all-orgs
  // platform override of any platform, and no entry at all (even an expired one) in the org layer.
  const untargeted = orgFlag === undefined && flag.platforms === undefined;
  return answer(type, flag.default, untargeted ? 'STATIC' : 'DEFAULT', 'system', version);
}
