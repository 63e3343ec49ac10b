/**
 * A stand-in for a request's `ctx.waitUntil` in tests: collects the background work a cache hands
 * to it, so a test can check what was started and settle it when it chooses.
 */
export function backgroundRunner() {
  const pending: Promise<unknown>[] = [];
  return {
    pending,
    waitUntil: (promise: Promise<unknown>) => void pending.push(promise),
    settle: () => Promise.all(pending.splice(0)),
  };
}
