import type { EvalContext } from '../engine';

/** `base` extended by `extra`; fields `extra` leaves undefined keep the base's value. */
export function mergeContext(base: EvalContext | undefined, extra: EvalContext | undefined): EvalContext {
  if (extra === undefined) return base ?? {};
  if (base === undefined) return extra;
  const merged: EvalContext = { ...base };
  if (extra.orgId !== undefined) merged.orgId = extra.orgId;
  if (extra.userId !== undefined) merged.userId = extra.userId;
  if (extra.platform !== undefined) merged.platform = extra.platform;
  if (extra.attributes !== undefined) merged.attributes = { ...base.attributes, ...extra.attributes };
  return merged;
}

/** Identity of a context for memoisation: the fields the cascade reads. */
export function contextId(ctx: EvalContext): string {
  return `${ctx.orgId ?? ''}\u0000${ctx.userId ?? ''}\u0000${ctx.platform ?? ''}`;
}
