import { describe, expect, it } from 'vitest';
import { bucketOf, inRollout } from './bucket';
import { evaluate, evaluateAll, evaluateEach } from './evaluate';
import type { EvalContext, GlobalLayer, Layers, OrgLayer } from './types';

const NOW = Date.parse('2026-06-01T12:00:00Z');

/** Hand-built layers for the cases the shared vectors leave out. */
function fixture(): { global: GlobalLayer; org: OrgLayer } {
  const global: GlobalLayer = {
    version: 7,
    generatedAt: NOW,
    flags: {
      'plain.flag': { type: 'boolean', default: false, off: false, killed: false },
      'expiring.platform': {
        type: 'string',
        default: 'none',
        off: 'off',
        killed: false,
        platforms: { meta: { value: 'global-meta', expiresAt: NOW } },
      },
      'layered.flag': {
        type: 'string',
        default: 'default',
        off: 'off',
        killed: false,
        platforms: { google: { value: 'global-google' } },
      },
      'org.rollout': { type: 'boolean', default: false, off: false, killed: false },
      'org.sticky': {
        type: 'boolean',
        default: false,
        off: false,
        killed: false,
        rollout: { percentage: 100, value: true, stickiness: 'orgId' },
      },
      'salted.rollout': {
        type: 'boolean',
        default: false,
        off: false,
        killed: false,
        rollout: { percentage: 50, value: true, stickiness: 'userId', salt: 'shared-salt' },
      },
      'killed.flag': {
        type: 'boolean',
        default: true,
        off: false,
        killed: true,
        platforms: { meta: { value: true } },
      },
      'json.flag': { type: 'json', default: { a: 1 }, off: null, killed: false },
      'mistyped.flag': { type: 'boolean', default: false, off: false, killed: false },
    },
  };
  const org: OrgLayer = {
    version: 3,
    orgId: 'org-a',
    flags: {
      'layered.flag': {
        value: 'org',
        platforms: { google: { value: 'org-google', expiresAt: NOW - 1 } },
        users: { 'u-temp': { value: 'user', expiresAt: NOW + 1 }, 'u-gone': { value: 'user', expiresAt: NOW } },
      },
      'org.rollout': { value: true, percentage: 100 },
      'json.flag': { value: null },
      'mistyped.flag': { value: 'yes' },
      'plain.flag': { users: { constructor: { value: true } } },
    },
  };
  return { global, org };
}

function layers(withOrg = true): Layers {
  const { global, org } = fixture();
  return { global, org: withOrg ? org : null };
}

const ctx = (context: EvalContext) => context;

describe('evaluate: cascade details the vectors leave out', () => {
  it('an override applies until its expiry instant, exclusive', () => {
    expect(evaluate(layers(), 'layered.flag', { orgId: 'org-a', userId: 'u-temp' }, NOW)).toMatchObject({
      value: 'user',
      reason: 'TARGETING_MATCH',
      source: 'user',
    });
    expect(evaluate(layers(), 'layered.flag', { orgId: 'org-a', userId: 'u-temp' }, NOW + 1)).toMatchObject({
      value: 'org',
      source: 'org',
    });
    expect(evaluate(layers(), 'layered.flag', { orgId: 'org-a', userId: 'u-gone' }, NOW)).toMatchObject({ value: 'org' });
  });

  it('an expired org platform override falls back to the all-orgs one', () => {
    expect(evaluate(layers(), 'layered.flag', { orgId: 'org-a', platform: 'google' }, NOW)).toMatchObject({
      value: 'global-google',
      reason: 'TARGETING_MATCH',
      source: 'platform',
    });
    expect(evaluate(layers(), 'layered.flag', { orgId: 'org-a', platform: 'google' }, NOW - 2)).toMatchObject({
      value: 'org-google',
      source: 'platform',
    });
  });

  it('an expired all-orgs platform override still makes the default DEFAULT, not STATIC', () => {
    expect(evaluate(layers(), 'expiring.platform', { platform: 'meta' }, NOW - 1)).toMatchObject({ value: 'global-meta' });
    expect(evaluate(layers(), 'expiring.platform', { platform: 'meta' }, NOW)).toMatchObject({
      value: 'none',
      reason: 'DEFAULT',
      source: 'system',
    });
    expect(evaluate(layers(), 'expiring.platform', {}, NOW)).toMatchObject({ reason: 'DEFAULT' });
  });

  it('an org entry with only user overrides makes the default DEFAULT for that org only', () => {
    expect(evaluate(layers(), 'plain.flag', { orgId: 'org-a', userId: 'u1' }, NOW)).toMatchObject({ reason: 'DEFAULT' });
    expect(evaluate(layers(false), 'plain.flag', { orgId: 'org-b', userId: 'u1' }, NOW)).toMatchObject({ reason: 'STATIC' });
  });

  it('an org rollout, even at 100%, needs a userId; without one the subject falls through', () => {
    expect(evaluate(layers(), 'org.rollout', { orgId: 'org-a', userId: 'u1' }, NOW)).toMatchObject({
      value: true,
      reason: 'SPLIT',
      source: 'org',
    });
    expect(evaluate(layers(), 'org.rollout', { orgId: 'org-a' }, NOW)).toMatchObject({
      value: false,
      reason: 'DEFAULT',
      source: 'system',
    });
  });

  it('an org rollout splits users exactly at bucket < round(percentage * 100), salt = flag key', () => {
    const base = layers();
    const at375: Layers = { ...base, org: { ...base.org!, flags: { 'org.rollout': { value: true, percentage: 37.5 } } } };
    let inside = 0;
    for (let i = 0; i < 500; i++) {
      const userId = `user-${i}`;
      const expected = bucketOf('org.rollout', userId) < 3750;
      if (expected) inside++;
      expect(evaluate(at375, 'org.rollout', { orgId: 'org-a', userId }, NOW)).toMatchObject(
        expected ? { value: true, reason: 'SPLIT', source: 'org' } : { value: false, reason: 'DEFAULT', source: 'system' },
      );
    }
    expect(inside).toBeGreaterThan(100);
  });

  it('an orgId-sticky rollout puts a context without orgId outside', () => {
    expect(evaluate(layers(false), 'org.sticky', { orgId: 'org-z' }, NOW)).toMatchObject({ value: true, reason: 'SPLIT' });
    expect(evaluate(layers(false), 'org.sticky', { userId: 'u1' }, NOW)).toMatchObject({ value: false, reason: 'DEFAULT' });
  });

  it('a rollout salt replaces the flag key in the hash', () => {
    const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
    const differs = users.find((u) => inRollout('shared-salt', u, 50) !== inRollout('salted.rollout', u, 50));
    expect(differs).toBeDefined();
    for (const userId of users) {
      const inside = bucketOf('shared-salt', userId) < 5000;
      expect(evaluate(layers(false), 'salted.rollout', { userId }, NOW).value).toBe(inside);
    }
  });

  it('the kill switch beats a matching platform override', () => {
    expect(evaluate(layers(), 'killed.flag', { platform: 'meta' }, NOW)).toMatchObject({
      value: false,
      reason: 'DISABLED',
      source: 'killed',
    });
  });

  it('an org value of null is a value for a json flag', () => {
    expect(evaluate(layers(), 'json.flag', { orgId: 'org-a' }, NOW)).toMatchObject({
      value: null,
      reason: 'TARGETING_MATCH',
      source: 'org',
    });
    expect(evaluate(layers(), 'json.flag', {}, NOW)).toMatchObject({ value: { a: 1 }, reason: 'STATIC' });
  });
});

describe('evaluate: errors and odd inputs', () => {
  it('a value of the wrong type is a TYPE_MISMATCH error, not a wrong answer', () => {
    expect(evaluate(layers(), 'mistyped.flag', { orgId: 'org-a' }, NOW)).toEqual({
      value: null,
      reason: 'ERROR',
      source: 'system',
      errorCode: 'TYPE_MISMATCH',
      version: '7:3',
    });
  });

  it.each([
    ['a number userId', { userId: 42 }],
    ['an object orgId', { orgId: { id: 'org-a' } }],
    ['a boolean platform', { platform: true }],
    ['a string context', 'org-a'],
    ['an array context', ['org-a']],
  ])('%s is INVALID_CONTEXT', (_, context) => {
    expect(evaluate(layers(), 'plain.flag', context as unknown as EvalContext, NOW)).toMatchObject({
      value: null,
      reason: 'ERROR',
      errorCode: 'INVALID_CONTEXT',
    });
  });

  it('null, undefined and empty-string ids count as absent', () => {
    const absent = evaluate(layers(false), 'org.sticky', ctx({ orgId: '' }), NOW);
    expect(absent).toMatchObject({ value: false, reason: 'DEFAULT' });
    expect(evaluate(layers(false), 'org.sticky', { orgId: null } as unknown as EvalContext, NOW)).toEqual(absent);
    expect(evaluate(layers(false), 'org.sticky', null, NOW)).toEqual(absent);
    expect(evaluate(layers(false), 'org.sticky', undefined, NOW)).toEqual(absent);
  });

  it('ignores an org layer that belongs to another org, or to no org in the context', () => {
    expect(evaluate(layers(), 'layered.flag', { orgId: 'org-b' }, NOW)).toMatchObject({ value: 'default', reason: 'DEFAULT' });
    expect(evaluate(layers(), 'org.rollout', { orgId: 'org-b', userId: 'u1' }, NOW)).toMatchObject({ reason: 'STATIC' });
    expect(evaluate(layers(), 'org.rollout', { userId: 'u1' }, NOW)).toMatchObject({ reason: 'STATIC' });
  });

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'no.such.flag'])('key %s is FLAG_NOT_FOUND', (key) => {
    expect(evaluate(layers(), key, { orgId: 'org-a' }, NOW)).toEqual({
      value: null,
      reason: 'ERROR',
      source: 'system',
      errorCode: 'FLAG_NOT_FOUND',
      version: '7:3',
    });
  });

  it('ids named like Object.prototype members match only real entries', () => {
    expect(evaluate(layers(), 'plain.flag', { orgId: 'org-a', userId: 'constructor' }, NOW)).toMatchObject({
      value: true,
      source: 'user',
    });
    expect(evaluate(layers(), 'plain.flag', { orgId: 'org-a', userId: 'toString' }, NOW)).toMatchObject({
      value: false,
      reason: 'DEFAULT',
    });
    expect(evaluate(layers(), 'layered.flag', { orgId: 'org-a', platform: 'valueOf', userId: '__proto__' }, NOW)).toMatchObject({
      value: 'org',
    });
  });

  it('a throwing context getter becomes a GENERAL error', () => {
    const hostile = {
      get userId(): string {
        throw new Error('boom');
      },
    };
    expect(evaluate(layers(), 'plain.flag', hostile, NOW)).toMatchObject({ reason: 'ERROR', errorCode: 'GENERAL' });
  });

  it('carries the snapshot version of the layers it read', () => {
    expect(evaluate(layers(false), 'plain.flag', {}, NOW).version).toBe('7');
    expect(evaluate(layers(), 'plain.flag', { orgId: 'org-a' }, NOW).version).toBe('7:3');
  });

  it('never writes to the layers (they are shared by every request of an isolate)', () => {
    const frozen = deepFreeze(layers());
    for (const key of Object.keys(frozen.global.flags)) {
      for (const context of [{}, { orgId: 'org-a', userId: 'u-temp', platform: 'google' }, { orgId: 'org-a', userId: 'u1' }]) {
        expect(evaluate(frozen, key, context, NOW).errorCode ?? 'none').not.toBe('GENERAL');
      }
    }
  });
});

describe('evaluateAll', () => {
  it('evaluates every live flag by default', () => {
    const all = evaluateAll(layers(), { orgId: 'org-a', userId: 'u1' }, NOW);
    expect(Object.keys(all).sort()).toEqual(Object.keys(fixture().global.flags).sort());
    for (const [key, result] of Object.entries(all)) {
      expect(result).toEqual(evaluate(layers(), key, { orgId: 'org-a', userId: 'u1' }, NOW));
    }
  });

  it('answers requested unknown keys with FLAG_NOT_FOUND, __proto__ included', () => {
    const some = evaluateAll(layers(), { orgId: 'org-a' }, NOW, ['json.flag', 'nope', '__proto__']);
    expect(Object.keys(some)).toEqual(['json.flag', 'nope', '__proto__']);
    expect(some['json.flag']).toMatchObject({ value: null, reason: 'TARGETING_MATCH' });
    expect(some['nope']).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
    expect(some['__proto__']).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
  });

  it('reports an invalid context on every flag', () => {
    const all = evaluateAll(layers(), { userId: 7 } as unknown as EvalContext, NOW);
    expect(Object.keys(all)).toHaveLength(Object.keys(fixture().global.flags).length);
    for (const result of Object.values(all)) expect(result.errorCode).toBe('INVALID_CONTEXT');
  });

  it('keeps one broken flag from affecting the others', () => {
    const broken = layers();
    (broken.global.flags as Record<string, unknown>)['plain.flag'] = null;
    (broken.org!.flags as Record<string, unknown>)['json.flag'] = 5;
    const all = evaluateAll(broken, { orgId: 'org-a', userId: 'u1' }, NOW);
    expect(all['plain.flag']).toMatchObject({ reason: 'ERROR', errorCode: 'PARSE_ERROR' });
    expect(all['json.flag']).toMatchObject({ reason: 'ERROR', errorCode: 'PARSE_ERROR' });
    expect(all['org.rollout']).toMatchObject({ value: true, reason: 'SPLIT' });
  });

  it('answers PARSE_ERROR for requested keys when the layers are not decodable', () => {
    expect(evaluateAll({} as Layers, {}, NOW)).toEqual({});
    expect(evaluateAll({} as Layers, {}, NOW, ['a'])['a']).toMatchObject({ errorCode: 'PARSE_ERROR' });
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

describe('evaluateEach', () => {
  const visit = (l: Layers, context: EvalContext | null | undefined, keys?: string[]) => {
    const seen: [string, unknown][] = [];
    evaluateEach(l, context, NOW, keys, (key, result) => seen.push([key, result]));
    return seen;
  };

  it('visits every live flag in layer order with what evaluate() answers for it', () => {
    for (const context of [{ orgId: 'org-a', userId: 'u1' }, { userId: 7 } as unknown as EvalContext, null]) {
      expect(visit(layers(), context)).toEqual(Object.keys(fixture().global.flags).map((key) => [key, evaluate(layers(), key, context, NOW)]));
    }
    expect(visit(layers(), { orgId: 'org-a' }, ['json.flag', 'nope', '__proto__'])).toEqual(
      Object.entries(evaluateAll(layers(), { orgId: 'org-a' }, NOW, ['json.flag', 'nope', '__proto__'])),
    );
  });

  it('visits a key named twice twice, and skips keys that are not strings', () => {
    const seen = visit(layers(), {}, ['plain.flag', 7 as unknown as string, 'plain.flag']);
    expect(seen.map(([key]) => key)).toEqual(['plain.flag', 'plain.flag']);
  });

  it('reads the flags of each new layer, not those of an earlier one', () => {
    const first = layers();
    expect(visit(first, {}).map(([key]) => key)).toEqual(Object.keys(first.global.flags));
    const next = layers();
    const { ['plain.flag']: _dropped, ...rest } = next.global.flags;
    const smaller = { ...next, global: { ...next.global, flags: rest } } as Layers;
    expect(visit(smaller, {}).map(([key]) => key)).toEqual(Object.keys(rest));
  });

  it('never calls back for layers it cannot read', () => {
    expect(visit(null as unknown as Layers, {})).toEqual([]);
    expect(visit({ global: { flags: 5 } } as unknown as Layers, {})).toEqual([]);
  });
});
