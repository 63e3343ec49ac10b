import { describe, expect, it } from 'vitest';
import { groupedRounds, roundOrders, rotatingRounds } from './rounds';

describe('grouped rounds', () => {
  const order = groupedRounds([['bare-a', 'eval-a', 'floor-a'], ['bare-b', 'eval-b'], ['extra']]);

  it('runs each group back to back, reversed every other round, and rotates the groups', () => {
    expect(order(0)).toEqual(['bare-a', 'eval-a', 'floor-a', 'bare-b', 'eval-b', 'extra']);
    expect(order(1)).toEqual(['eval-b', 'bare-b', 'extra', 'floor-a', 'eval-a', 'bare-a']);
    expect(order(2)).toEqual(['extra', 'bare-a', 'eval-a', 'floor-a', 'bare-b', 'eval-b']);
  });

  it('puts every target in every round exactly once, each group member next to the one it is compared with', () => {
    for (let round = 0; round < 12; round++) {
      const seen = order(round);
      expect([...seen].sort()).toEqual(['bare-a', 'bare-b', 'eval-a', 'eval-b', 'extra', 'floor-a']);
      expect(Math.abs(seen.indexOf('eval-a') - seen.indexOf('bare-a'))).toBe(1);
      expect(Math.abs(seen.indexOf('eval-a') - seen.indexOf('floor-a'))).toBe(1);
      expect(Math.abs(seen.indexOf('eval-b') - seen.indexOf('bare-b'))).toBe(1);
    }
  });

  it('lets the evaluate target run before its bare Worker as often as after it', () => {
    const evalFirst = Array.from({ length: 12 }, (_, round) => order(round)).filter((o) => o.indexOf('eval-a') < o.indexOf('bare-a'));
    expect(evalFirst).toHaveLength(6);
  });
});

describe('round orders', () => {
  const [a, b, c] = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];

  it('rotates by one each round by default', () => {
    expect(roundOrders([a, b, c], 3, rotatingRounds([a, b, c]))).toEqual([[a, b, c], [b, c, a], [c, a, b]]);
  });

  it('refuses, before anything runs, a round that misses a target, repeats one or runs another object', () => {
    expect(() => roundOrders([a, b, c], 2, (r) => (r === 1 ? [a, b] : [a, b, c]))).toThrow('round 2 must run every target exactly once');
    expect(() => roundOrders([a, b, c], 1, () => [a, a, b])).toThrow('round 1');
    expect(() => roundOrders([a, b, c], 1, () => [a, b, { name: 'c' }])).toThrow('round 1');
    expect(roundOrders([a, b, c], 2, groupedRounds([[a, b], [c]]))).toEqual([[a, b, c], [c, b, a]]);
  });
});
