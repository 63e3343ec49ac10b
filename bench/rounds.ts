// The order in which a bench runs its targets round after round, when targets are compared in groups
// (an evaluate target, its bare Worker, its contract floor). The machine's speed drifts by tens of
// percent within seconds (steal time, other guests' cache and memory traffic), so a comparison is
// only as good as how close in time its two segments ran.

/**
 * The order of each round: the members of a group run back to back, in the given order on even rounds
 * and reversed on odd ones (A B, then B A: neither always runs first, so a drift in either direction
 * falls on each side equally often), and the groups rotate from round to round so no group always
 * runs first.
 */
export function groupedRounds<T>(groups: readonly (readonly T[])[]): (round: number) => T[] {
  return (round) => {
    const order: T[] = [];
    for (let i = 0; i < groups.length; i++) {
      const group = groups[(i + round) % groups.length]!;
      order.push(...(round % 2 === 0 ? group : [...group].reverse()));
    }
    return order;
  };
}

/** The targets in a list that rotates by one each round, so no target always follows the same neighbour. */
export function rotatingRounds<T>(targets: readonly T[]): (round: number) => T[] {
  return (round) => targets.map((_, i) => targets[(i + round) % targets.length]!);
}

/**
 * The order of every round, checked before any load runs: each round must run each of `targets`
 * (the same objects) exactly once, or the segments of two targets would no longer pair up by round.
 */
export function roundOrders<T>(targets: readonly T[], rounds: number, order: (round: number) => readonly T[]): T[][] {
  return Array.from({ length: rounds }, (_, round) => {
    const seen = order(round);
    if (seen.length !== targets.length || new Set(seen).size !== seen.length || seen.some((t) => !targets.includes(t))) {
      throw new Error(`round ${round + 1} must run every target exactly once`);
    }
    return [...seen];
  });
}
