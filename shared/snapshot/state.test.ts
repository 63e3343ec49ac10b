import { describe, expect, it } from 'vitest';
import cascade from '../../test/vectors/cascade.json';
import { SourceStateSchema } from './state';

const base = () => structuredClone(cascade.state) as any;

describe('SourceStateSchema', () => {
  it('accepts the cascade vectors state', () => {
    expect(SourceStateSchema.safeParse(cascade.state).success).toBe(true);
  });

  it('accepts null for nullable columns', () => {
    const state = base();
    state.orgValues[0].percentage = null;
    state.userOverrides[0].expiresAt = null;
    state.flags[0].rollout = null;
    expect(SourceStateSchema.safeParse(state).success).toBe(true);
  });

  const breakers: [string, (s: any) => void][] = [
    ['an unknown flag type', (s) => (s.flags[0].type = 'date')],
    ['a default of the wrong type', (s) => (s.flags[0].defaultValue = 'yes')],
    ['an org value of the wrong type', (s) => (s.orgValues[0].value = 'yes')],
    ['a platform override of the wrong type', (s) => (s.platformOverrides[0].value = 1)],
    ['a user override of the wrong type', (s) => (s.userOverrides[0].value = null)],
    ['a rollout value of the wrong type', (s) => (s.flags[4].rollout.value = 'on')],
    ['an expiry that is not an ISO instant', (s) => (s.userOverrides[3].expiresAt = 'next tuesday')],
    ['a percentage above 100', (s) => (s.orgValues[4].percentage = 101)],
    ['a bad flag key', (s) => (s.flags[0].key = 'Campaign')],
    ['a missing list', (s) => delete s.userOverrides],
  ];
  it.each(breakers)('rejects %s', (_, breakIt) => {
    const state = base();
    breakIt(state);
    expect(SourceStateSchema.safeParse(state).success).toBe(false);
  });
});
