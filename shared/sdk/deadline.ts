import { FlagEvaluationError } from './errors';

/**
 * Runs `work` with an AbortSignal that fires after `timeoutMs`, and settles no later than that even
 * if `work` ignores its signal (a hung KV read, a Fetcher without abort support).
 */
export async function withDeadline<T>(timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new FlagEvaluationError('GENERAL', 'timeout', `no answer within ${timeoutMs} ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), expired]);
  } finally {
    clearTimeout(timer);
  }
}
