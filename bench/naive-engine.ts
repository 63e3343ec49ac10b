// The "peer" baseline: the same cascade over the neutral source state kept as arrays and scanned on
// every check (what a straightforward ORM-backed or list-based implementation does). Same
// bucketing as the engine, so answers can be compared case by case.
import { inRollout } from '../shared/engine';
import type { SourceState } from '../shared/snapshot';

export interface NaiveContext {
  orgId?: string;
  userId?: string;
  platform?: string;
}

export interface NaiveResult {
  value: unknown;
  reason: string;
  source: string;
  errorCode?: string;
}

const live = (expiresAt: string | null | undefined, nowMs: number) => expiresAt == null || nowMs < Date.parse(expiresAt);

export function naiveEvaluate(state: SourceState, key: string, ctx: NaiveContext, nowMs: number): NaiveResult {
  const flag = state.flags.find((f) => f.key === key);
  if (!flag || state.archived.includes(key)) return { value: null, reason: 'ERROR', source: 'system', errorCode: 'FLAG_NOT_FOUND' };
  if (flag.killed) return { value: flag.offValue, reason: 'DISABLED', source: 'killed' };
  const { orgId, userId, platform } = ctx;
  if (orgId && userId) {
    const user = state.userOverrides.findLast((u) => u.key === key && u.orgId === orgId && u.userId === userId);
    if (user && live(user.expiresAt, nowMs)) return { value: user.value, reason: 'TARGETING_MATCH', source: 'user' };
  }
  if (platform) {
    const own = orgId ? state.platformOverrides.findLast((p) => p.key === key && p.orgId === orgId && p.platform === platform) : undefined;
    if (own && live(own.expiresAt, nowMs)) return { value: own.value, reason: 'TARGETING_MATCH', source: 'platform' };
    const all = state.platformOverrides.findLast((p) => p.key === key && p.orgId === null && p.platform === platform);
    if (all && live(all.expiresAt, nowMs)) return { value: all.value, reason: 'TARGETING_MATCH', source: 'platform' };
  }
  const org = orgId ? state.orgValues.findLast((o) => o.key === key && o.orgId === orgId) : undefined;
  if (org) {
    if (org.percentage == null) return { value: org.value, reason: 'TARGETING_MATCH', source: 'org' };
    if (userId && inRollout(key, userId, org.percentage)) return { value: org.value, reason: 'SPLIT', source: 'org' };
  }
  if (flag.rollout) {
    const subject = flag.rollout.stickiness === 'orgId' ? orgId : userId;
    if (subject && inRollout(flag.rollout.salt ?? key, subject, flag.rollout.percentage)) return { value: flag.rollout.value, reason: 'SPLIT', source: 'system' };
    return { value: flag.defaultValue, reason: 'DEFAULT', source: 'system' };
  }
  const targeted =
    state.platformOverrides.some((p) => p.key === key && p.orgId === null) ||
    (orgId !== undefined &&
      (state.orgValues.some((o) => o.key === key && o.orgId === orgId) ||
        state.platformOverrides.some((p) => p.key === key && p.orgId === orgId) ||
        state.userOverrides.some((u) => u.key === key && u.orgId === orgId)));
  return { value: flag.defaultValue, reason: targeted ? 'DEFAULT' : 'STATIC', source: 'system' };
}
