import { describe, expect, it } from 'vitest';
import { MIN_CALM_ROUNDS, calmRatio, calmRounds, pairedRatios } from './verdict';

const calm = (n: number) => Array.from({ length: n }, () => 0.01);

describe('bench verdict over paired rounds', () => {
  it('pairs each round with its counterpart and skips rounds with a missing or zero counterpart', () => {
    expect(pairedRatios([80, 90, null, 50], [100, 100, 100, 0])).toEqual([0.8, 0.9]);
  });

  it('a round is calm only when neither segment lost more than 5% to steal; unknown steal counts as calm', () => {
    expect(calmRounds([0.01, 0.2, 0.05, Number.NaN, 0.01], [0.01, 0.01, 0.01, 0.01, 0.3])).toEqual([0, 2, 3]);
  });

  it('judges the median of the calm rounds, not the disturbed ones', () => {
    // Five calm rounds at 70%; five disturbed rounds where both Workers wait for the CPU and look alike.
    const values = [70, 70, 70, 70, 70, 95, 95, 95, 95, 95];
    const base = Array.from({ length: 10 }, () => 100);
    const steal = [...calm(5), 0.3, 0.3, 0.3, 0.3, 0.3];
    const verdict = calmRatio({ values, steal }, { values: base, steal: calm(10) });
    expect(verdict).toMatchObject({ judged: true, median: 0.7 });
    expect(verdict.all).toHaveLength(10);
  });

  it(`with fewer than ${MIN_CALM_ROUNDS} calm rounds the median of all rounds is shown, not judged`, () => {
    const verdict = calmRatio({ values: [80, 90, 100], steal: [0.01, 0.2, 0.2] }, { values: [100, 100, 100], steal: calm(3) });
    expect(verdict).toMatchObject({ judged: false, median: 0.9, calm: [0.8] });
  });
});
