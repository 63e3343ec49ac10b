/**
 * The deepest nesting a request may carry, flag values and caller defaults included, in the admin
 * API and the evaluate API alike: deeper input would overflow the recursive validators (a 500).
 */
export const MAX_INPUT_DEPTH = 64;

/** Whether a parsed JSON value nests deeper than `max` levels; iterative, so no input overflows the stack. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (item === null || typeof item !== 'object') continue;
    if (depth >= max) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}
