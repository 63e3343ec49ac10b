// The cascade state as a flagd flag definition (JSON Logic targeting), to time a real peer engine,
// @openfeature/flagd-core, on the same questions. An approximation of our semantics, not a port:
// expiry is ignored, org percentages and rollouts use flagd's own `fractional` hashing (so split
// answers may differ), and a killed flag serves its off variant with no targeting.
import type { SourceState } from '../shared/snapshot';

type Logic = Record<string, unknown>;

export function flagdConfigOf(state: SourceState): string {
  const flags: Record<string, unknown> = {};
  for (const flag of state.flags) {
    if (state.archived.includes(flag.key)) continue;
    const variants: Record<string, unknown> = {};
    const variantOf = (value: unknown): string => {
      const json = JSON.stringify(value);
      for (const [name, v] of Object.entries(variants)) if (JSON.stringify(v) === json) return name;
      const name = `v${Object.keys(variants).length}`;
      variants[name] = value;
      return name;
    };
    const defaultVariant = variantOf(flag.killed ? flag.offValue : flag.defaultValue);
    const branches: unknown[] = [];
    if (!flag.killed) {
      const eq = (field: string, value: string): Logic => ({ '==': [{ var: field }, value] });
      for (const u of state.userOverrides.filter((r) => r.key === flag.key)) {
        branches.push({ and: [eq('orgId', u.orgId), eq('targetingKey', u.userId)] }, variantOf(u.value));
      }
      for (const p of state.platformOverrides.filter((r) => r.key === flag.key && r.orgId !== null)) {
        branches.push({ and: [eq('orgId', p.orgId!), eq('platform', p.platform)] }, variantOf(p.value));
      }
      for (const p of state.platformOverrides.filter((r) => r.key === flag.key && r.orgId === null)) {
        branches.push(eq('platform', p.platform), variantOf(p.value));
      }
      for (const o of state.orgValues.filter((r) => r.key === flag.key)) {
        const then = o.percentage == null ? variantOf(o.value) : { fractional: [[variantOf(o.value), o.percentage], [defaultVariant, 100 - o.percentage]] };
        branches.push(eq('orgId', o.orgId), then);
      }
      if (flag.rollout) {
        const by = flag.rollout.stickiness === 'orgId' ? 'orgId' : 'targetingKey';
        branches.push({ '!!': [{ var: by }] }, {
          fractional: [{ cat: [{ var: '$flagd.flagKey' }, { var: by }] }, [variantOf(flag.rollout.value), flag.rollout.percentage], [defaultVariant, 100 - flag.rollout.percentage]],
        });
      }
    }
    const targeting = branches.length === 0 ? undefined : { if: [...branches, defaultVariant] };
    flags[flag.key] = { state: 'ENABLED', variants, defaultVariant, ...(targeting ? { targeting } : {}) };
  }
  return JSON.stringify({ flags });
}
