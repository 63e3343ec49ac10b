import type { Context } from 'hono';
import type { WaitUntil } from '../snapshot/cache';

/**
 * The request's execution context (background work after the answer); undefined where Hono has none
 * (`app.request` in tests, Node), where reading `c.executionCtx` throws.
 */
export function executionCtxOf(c: Context): WaitUntil | undefined {
  try {
    return c.executionCtx;
  } catch {
    return undefined;
  }
}
