// How bench (c) turns paired segments into a verdict on a machine shared with other guests: a target
// and its counterpart run back to back in each round (bench/rounds.ts), every segment records its
// steal time, and a target is judged on the rounds in which neither segment lost more than
// STEAL_LIMIT of the machine.
import { median } from './lib';

/** A segment during which other guests took more than this share of the machine does not measure our code. */
export const STEAL_LIMIT = 0.05;
/** Fewer calm rounds than this and a target is reported, not judged. */
export const MIN_CALM_ROUNDS = 5;

/** Indexes of the rounds in which neither segment lost more than STEAL_LIMIT to steal time (a round whose steal is unknown counts as calm). */
export function calmRounds(steal: readonly number[], baseSteal: readonly number[]): number[] {
  const calm = (x: number | undefined) => x === undefined || x === null || !Number.isFinite(x) || x <= STEAL_LIMIT;
  return steal.map((_, i) => i).filter((i) => calm(steal[i]) && calm(baseSteal[i]));
}

/** Within-round ratios of a target to its counterpart, one per round (NaN where either is unknown or the counterpart is 0). */
function ratiosByRound(values: readonly (number | null)[], base: readonly (number | null)[]): number[] {
  return values.map((v, i) => (v === null || base[i] == null || base[i] === 0 ? Number.NaN : v / base[i]!));
}

/** Within-round ratios of a target to its counterpart, skipping rounds where either is unknown or the counterpart is 0. */
export function pairedRatios(values: readonly (number | null)[], base: readonly (number | null)[]): number[] {
  return ratiosByRound(values, base).filter((r) => Number.isFinite(r));
}

export interface CalmMedian {
  /** Median over the calm rounds when judged, else over all rounds. */
  median: number;
  judged: boolean;
  /** Values of the calm rounds, and of every round (unknown ones left out). */
  calm: number[];
  all: number[];
}

/** A per-round figure as judged: the median over the calm rounds, judged only with MIN_CALM_ROUNDS of them. */
export function calmMedian(perRound: readonly number[], calmIndexes: readonly number[]): CalmMedian {
  const known = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);
  const calm = calmIndexes.map((i) => perRound[i]).filter(known);
  const all = perRound.filter(known);
  const judged = calm.length >= MIN_CALM_ROUNDS;
  return { median: median(judged ? calm : all), judged, calm, all };
}

/** The within-round ratio of a target to its counterpart, as judged (calmMedian). */
export function calmRatio(
  target: { values: readonly (number | null)[]; steal: readonly number[] },
  base: { values: readonly (number | null)[]; steal: readonly number[] },
): CalmMedian {
  return calmMedian(ratiosByRound(target.values, base.values), calmRounds(target.steal, base.steal));
}
