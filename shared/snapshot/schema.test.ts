import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import cascade from '../../test/vectors/cascade.json';
import { evaluate } from '../engine';
import type { GlobalLayer, OrgLayer } from '../engine';
import { buildLayers } from './build';
import { EvaluateKeyRecordSchema, GlobalLayerSchema, OrgLayerSchema } from './schema';
import { SourceStateSchema } from './state';

const built = buildLayers(SourceStateSchema.parse(cascade.state), { version: 3, generatedAt: 1_700_000_000_000 });

function validGlobal(): GlobalLayer {
  return structuredClone({
    version: 1,
    generatedAt: 0,
    flags: {
      'a.flag': {
        type: 'boolean',
        default: false,
        off: false,
        killed: false,
        rollout: { percentage: 12.5, value: true, stickiness: 'userId' },
        platforms: { meta: { value: true, expiresAt: 5 } },
      },
    },
  });
}
function validOrg(): OrgLayer {
  return structuredClone({
    version: 1,
    orgId: 'org-a',
    flags: { 'a.flag': { value: true, percentage: 10, users: { 'u@x.io': { value: false } }, platforms: { meta: { value: true } } } },
  });
}

describe('snapshot schema round trip', () => {
  it('accepts what buildLayers produces, unchanged, after a trip through JSON (as in KV)', () => {
    const global = GlobalLayerSchema.parse(JSON.parse(JSON.stringify(built.global)));
    expect(global).toEqual(built.global);
    for (const layer of Object.values(built.orgs)) {
      expect(OrgLayerSchema.parse(JSON.parse(JSON.stringify(layer)))).toEqual(layer);
    }
  });

  it('decoded layers evaluate exactly like the built ones', () => {
    const global = GlobalLayerSchema.parse(JSON.parse(JSON.stringify(built.global)));
    const org = OrgLayerSchema.parse(JSON.parse(JSON.stringify(built.orgs['org-b'])));
    for (const c of cascade.cases) {
      const ctx = { ...c.context, orgId: 'org-b' };
      expect(evaluate({ global, org }, c.flag, ctx, Date.parse(c.now))).toEqual(
        evaluate({ global: built.global, org: built.orgs['org-b']! }, c.flag, ctx, Date.parse(c.now)),
      );
    }
  });

  it('accepts the hand-written valid layers and strips unknown fields', () => {
    expect(GlobalLayerSchema.parse(validGlobal())).toEqual(validGlobal());
    expect(OrgLayerSchema.parse({ ...validOrg(), futureField: 1 })).toEqual(validOrg());
  });
});

describe('snapshot schema rejects malformed layers', () => {
  const globalBreakers: [string, (g: any) => void][] = [
    ['missing version', (g) => delete g.version],
    ['negative version', (g) => (g.version = -1)],
    ['fractional generatedAt', (g) => (g.generatedAt = 1.5)],
    ['flags not an object', (g) => (g.flags = [])],
    ['bad flag key', (g) => (g.flags['Bad Key'] = g.flags['a.flag'])],
    ['unknown type', (g) => (g.flags['a.flag'].type = 'date')],
    ['default of the wrong type', (g) => (g.flags['a.flag'].default = 'yes')],
    ['off of the wrong type', (g) => (g.flags['a.flag'].off = 0)],
    ['killed not boolean', (g) => (g.flags['a.flag'].killed = 'no')],
    ['rollout above 100%', (g) => (g.flags['a.flag'].rollout.percentage = 100.01)],
    ['rollout with three decimals', (g) => (g.flags['a.flag'].rollout.percentage = 33.333)],
    ['rollout value of the wrong type', (g) => (g.flags['a.flag'].rollout.value = 1)],
    ['unknown stickiness', (g) => (g.flags['a.flag'].rollout.stickiness = 'platform')],
    ['platform value of the wrong type', (g) => (g.flags['a.flag'].platforms.meta.value = 'on')],
    ['expiry as a string', (g) => (g.flags['a.flag'].platforms.meta.expiresAt = '2026-01-01')],
    ['non-JSON value', (g) => (g.flags['a.flag'].default = undefined)],
  ];
  it.each(globalBreakers)('global layer: %s', (_, breakIt) => {
    const layer = validGlobal();
    breakIt(layer);
    expect(GlobalLayerSchema.safeParse(layer).success).toBe(false);
  });

  const orgBreakers: [string, (o: any) => void][] = [
    ['missing orgId', (o) => delete o.orgId],
    ['bad orgId', (o) => (o.orgId = 'org a')],
    ['percentage without value', (o) => delete o.flags['a.flag'].value],
    ['percentage out of range', (o) => (o.flags['a.flag'].percentage = -1)],
    ['bad userId key', (o) => (o.flags['a.flag'].users['user id'] = { value: true })],
    ['user override without value', (o) => (o.flags['a.flag'].users['u1'] = {})],
    ['entry not an object', (o) => (o.flags['a.flag'] = true)],
  ];
  it.each(orgBreakers)('org layer: %s', (_, breakIt) => {
    const layer = validOrg();
    breakIt(layer);
    expect(OrgLayerSchema.safeParse(layer).success).toBe(false);
  });

  it('rejects arbitrary junk without throwing', () => {
    fc.assert(
      fc.property(fc.anything(), (junk) => {
        expect(GlobalLayerSchema.safeParse(junk).success).toBe(false);
        expect(OrgLayerSchema.safeParse(junk).success).toBe(false);
      }),
    );
  });
});

describe('evaluate-key record', () => {
  it('accepts {id, orgId?, name} and rejects a bad orgId', () => {
    expect(EvaluateKeyRecordSchema.parse({ id: 'k1', name: 'ci' })).toEqual({ id: 'k1', name: 'ci' });
    expect(EvaluateKeyRecordSchema.safeParse({ id: 'k1', name: 'ci', orgId: 'a b' }).success).toBe(false);
  });
});
