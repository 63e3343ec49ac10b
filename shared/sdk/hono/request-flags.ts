import type { Context } from 'hono';
import { executionCtxOf } from '../../http/execution-context';
import type { EvalContext } from '../../engine';
import type { FlagClient } from '../types';

/** Where the middleware and routes of a Hono app find the flag client and who is asking. */
export interface FlagMiddlewareOptions {
  /** A client built once (e.g. HTTP transport in Node). */
  client?: FlagClient;
  /** A client built from the request, typically from bindings: `(c) => createFlagClient({ kv: c.env.FLAGS_KV })`. */
  resolveClient?: (c: Context) => FlagClient;
  /** Who is asking; default `{ orgId: c.get('orgId'), userId: c.get('userId') }`. */
  context?: (c: Context) => EvalContext;
}

/** Add to an app's Variables to read the request's flag client with types: `c.var.flags`. */
export interface FlagVariables {
  flags: FlagClient;
}

function stringVar(c: Context, name: string): string | undefined {
  const value: unknown = c.get(name as never);
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The request's `waitUntil` for `createFlagClient({ kv, waitUntil })`, so a client built per request
 * reads layers ahead behind the answer; undefined where Hono has no execution context (`app.request`
 * in tests, Node).
 */
export function waitUntilOf(c: Context): ((promise: Promise<unknown>) => void) | undefined {
  const ctx = executionCtxOf(c);
  return ctx === undefined ? undefined : (promise) => ctx.waitUntil(promise);
}

export function defaultFlagContext(c: Context): EvalContext {
  return { orgId: stringVar(c, 'orgId'), userId: stringVar(c, 'userId') };
}

/** Checks the options once, when the middleware is created, not on the first request. */
export function checkOptions(options: FlagMiddlewareOptions, who: string): void {
  if (!options.client && !options.resolveClient) throw new TypeError(`${who} needs { client } or { resolveClient }`);
}

/**
 * The request's flag client: created on first use from the options, bound to the request's context and
 * memoised (one upstream lookup per flag per request), then shared through `c.var.flags` with every
 * later middleware and the handler.
 */
export function requestFlags(c: Context, options: FlagMiddlewareOptions): FlagClient {
  const existing: unknown = c.get('flags' as never);
  if (existing !== undefined) return existing as FlagClient;
  const client = options.client ?? options.resolveClient!(c);
  const scoped = client.forRequest((options.context ?? defaultFlagContext)(c));
  c.set('flags' as never, scoped as never);
  return scoped;
}

/**
 * Runs one check for a middleware with the request's client and this middleware's context. A
 * failure to even build the client (a missing binding) or the context (a `context` function that
 * throws) counts as "not enabled": fail closed, no 500.
 */
export async function checkFlag(c: Context, options: FlagMiddlewareOptions, check: (flags: FlagClient, ctx: EvalContext) => Promise<boolean>): Promise<boolean> {
  let flags: FlagClient;
  let ctx: EvalContext;
  try {
    flags = requestFlags(c, options);
    ctx = (options.context ?? defaultFlagContext)(c);
  } catch (err) {
    console.error(JSON.stringify({ at: 'sdk.hono', message: `flag check not possible: ${err instanceof Error ? err.message : String(err)}` }));
    return false;
  }
  return check(flags, ctx);
}
