import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate, evaluateAll } from './evaluate';
import { ERROR_CODES, REASONS, SOURCES } from './types';
import type { EvalContext, EvalResult, GlobalLayer, Layers, OrgLayer } from './types';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const KEYS = ['on.flag', 'rollout.flag', 'org.flag', 'string.flag'] as const;

const global: GlobalLayer = {
  version: 1,
  generatedAt: NOW,
  flags: {
    'on.flag': { type: 'boolean', default: true, off: false, killed: false },
    'rollout.flag': {
      type: 'boolean',
      default: false,
      off: false,
      killed: false,
      rollout: { percentage: 50, value: true, stickiness: 'userId' },
      platforms: { meta: { value: true } },
    },
    'org.flag': { type: 'number', default: 1, off: 0, killed: false },
    'string.flag': { type: 'string', default: 'a', off: 'off', killed: false },
  },
};
const org: OrgLayer = {
  version: 1,
  orgId: 'org-a',
  flags: {
    'org.flag': { value: 5, percentage: 40, users: { u1: { value: 9 } }, platforms: { meta: { value: 7, expiresAt: NOW } } },
    'string.flag': { value: 'b' },
  },
};

/** Anything, as nasty as fast-check makes it: null prototypes, boxed values, getters-free exotic objects. */
const nasty = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});
const text = fc.oneof(fc.string({ unit: 'binary' }), fc.constantFrom('org-a', 'u1', 'meta', '', 'constructor', '__proto__'));
const key = fc.oneof(fc.constantFrom(...KEYS), text);
const context = fc.oneof(
  nasty,
  fc.record(
    { orgId: fc.oneof(text, nasty), userId: fc.oneof(text, nasty), platform: fc.oneof(text, nasty), attributes: nasty },
    { requiredKeys: [] },
  ),
);
const now = fc.oneof(fc.constant(NOW), fc.double(), fc.integer());

function expectWellFormed(result: EvalResult): void {
  expect(REASONS).toContain(result.reason);
  expect(SOURCES).toContain(result.source);
  if (result.reason === 'ERROR') {
    expect(ERROR_CODES).toContain(result.errorCode);
    expect(result.value).toBeNull();
  } else {
    expect(result.errorCode).toBeUndefined();
    expect(result.value).not.toBeUndefined();
  }
}

function expectAllWellFormed(results: Record<string, EvalResult>): void {
  for (const result of Object.values(results)) expectWellFormed(result);
}

describe('evaluate never throws and always answers well-formed', () => {
  it('on arbitrary contexts', () => {
    fc.assert(
      fc.property(key, context, (flagKey, ctx) => {
        expectWellFormed(evaluate({ global, org }, flagKey, ctx as EvalContext, NOW));
        expectAllWellFormed(evaluateAll({ global, org }, ctx as EvalContext, NOW));
      }),
      { numRuns: 500 },
    );
  });

  it('on arbitrary clocks', () => {
    fc.assert(
      fc.property(key, now, (flagKey, nowMs) => {
        expectWellFormed(evaluate({ global, org }, flagKey, { orgId: 'org-a', userId: 'u1', platform: 'meta' }, nowMs));
      }),
    );
  });

  it('on huge and unicode ids', () => {
    const huge = '🚀é\uD800x'.repeat(250_000);
    for (const flagKey of [...KEYS, huge]) {
      const result = evaluate({ global, org }, flagKey, { orgId: 'org-a', userId: huge, platform: huge }, NOW);
      expectWellFormed(result);
    }
    expect(evaluate({ global, org }, 'rollout.flag', { userId: huge }, NOW).reason).toMatch(/^(SPLIT|DEFAULT)$/);
  });

  it('on anything in place of the layers', () => {
    fc.assert(
      fc.property(nasty, key, context, (layers, flagKey, ctx) => {
        expectWellFormed(evaluate(layers as Layers, flagKey, ctx as EvalContext, NOW));
        expectAllWellFormed(evaluateAll(layers as Layers, ctx as EvalContext, NOW));
        expectAllWellFormed(evaluateAll(layers as Layers, ctx as EvalContext, NOW, [...KEYS]));
      }),
      { numRuns: 500 },
    );
  });

  it('on anything in place of the global layer, the org layer or the flag tables', () => {
    fc.assert(
      fc.property(nasty, nasty, key, context, (a, b, flagKey, ctx) => {
        const variants = [
          { global: a, org: b },
          { global: { ...global, flags: a }, org: b },
          { global, org: { ...org, flags: a } },
          { global: { ...global, version: a }, org: { ...org, version: b } },
        ] as unknown as Layers[];
        for (const layers of variants) {
          expectWellFormed(evaluate(layers, flagKey, ctx as EvalContext, NOW));
          expectAllWellFormed(evaluateAll(layers, ctx as EvalContext, NOW));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('on anything in place of a flag, an org entry or their fields', () => {
    const flagField = fc.constantFrom('type', 'default', 'off', 'killed', 'rollout', 'platforms');
    const orgField = fc.constantFrom('value', 'percentage', 'platforms', 'users');
    fc.assert(
      fc.property(fc.constantFrom(...KEYS), nasty, flagField, orgField, context, (flagKey, junk, ff, of, ctx) => {
        const variants: Layers[] = [
          { global: { ...global, flags: { ...global.flags, [flagKey]: junk } } as GlobalLayer, org },
          { global, org: { ...org, flags: { ...org.flags, [flagKey]: junk } } as OrgLayer },
          { global: { ...global, flags: { ...global.flags, [flagKey]: { ...global.flags[flagKey], [ff]: junk } } } as GlobalLayer, org },
          { global, org: { ...org, flags: { ...org.flags, [flagKey]: { ...org.flags[flagKey], [of]: junk } } } as OrgLayer },
        ];
        for (const layers of variants) {
          for (const c of [ctx, { orgId: 'org-a', userId: 'u1', platform: 'meta' }, { orgId: 'org-a', userId: 'u2' }]) {
            expectWellFormed(evaluate(layers, flagKey, c as EvalContext, NOW));
          }
          expectAllWellFormed(evaluateAll(layers, { orgId: 'org-a', userId: 'u1' }, NOW));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('rollouts through evaluate', () => {
  it('raising a system or org percentage never removes a subject', () => {
    const percentage = fc.integer({ min: 0, max: 10_000 }).map((h) => h / 100);
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), percentage, percentage, (userId, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        const at = (p: number): Layers => ({
          global: {
            ...global,
            flags: { 'rollout.flag': { ...global.flags['rollout.flag']!, rollout: { percentage: p, value: true, stickiness: 'userId' } } },
          },
          org: { ...org, flags: { 'rollout.flag': { value: true, percentage: p } } },
        });
        for (const orgId of ['org-a', 'org-b']) {
          const before = evaluate(at(low), 'rollout.flag', { orgId, userId }, NOW);
          const after = evaluate(at(high), 'rollout.flag', { orgId, userId }, NOW);
          if (before.reason === 'SPLIT') expect(after.reason).toBe('SPLIT');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
