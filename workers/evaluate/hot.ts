import { getQueryParam } from 'hono/utils/url';
import { errorAnswer, type Answer } from './answer';
import { presentedKey } from './auth';
import { render, requestIdOf, wantsCors } from './edge';
import type { Env } from './env';
import { scheduleFlush } from './metrics';
import { answerBulk, answerFlag } from './routes/v1';
import { answerOfrepBulk, answerOfrepFlag } from './routes/ofrep';
import type { EvaluateRuntime } from './runtime';
import type { EvaluateKeyRecord } from '../../shared/snapshot';

/**
 * The hot path: the four evaluation routes, answered without Hono's routing, middleware chain and
 * header copying, for the request that is by far the most common: a known key already in the isolate's
 * key cache, a plain path, a body with a declared length under the limit. It calls the same route
 * functions as the Hono app (routes/v1.ts, routes/ofrep.ts) and renders their answers with the same
 * headers (edge.ts), so the two give byte-identical answers (test/workers/hot-path.test.ts proves it
 * request by request). Anything else returns undefined before it has read or changed anything, and
 * the Hono app answers: preflights, /health, unknown routes, a first or unknown key (KV lookup, 401),
 * percent-encoded paths or fragments, a GET with a body, a POST body without a plain Content-Length,
 * with Transfer-Encoding, or over 1 MiB.
 */

type Route =
  | { kind: 'flag'; key: string }
  | { kind: 'bulk' }
  | { kind: 'ofrep-flag'; key: string }
  | { kind: 'ofrep-bulk' };

const FLAG_PREFIX = '/v1/flags/';
const OFREP_FLAGS = '/ofrep/v1/evaluate/flags';
const OFREP_FLAG_PREFIX = `${OFREP_FLAGS}/`;

/** A path segment the Hono router would take as it is (no decoding, no further segment). */
function plainSegment(segment: string): boolean {
  return segment !== '' && !segment.includes('/') && !segment.includes('%');
}

/** The route of a request by method and path; undefined for anything the hot path leaves to Hono. */
function routeOf(method: string, url: string): Route | undefined {
  const pathStart = url.indexOf('/', url.indexOf('//') + 2);
  if (pathStart === -1 || url.includes('#', pathStart)) return undefined;
  const queryStart = url.indexOf('?', pathStart);
  const path = queryStart === -1 ? url.slice(pathStart) : url.slice(pathStart, queryStart);
  if (method === 'GET') {
    if (!path.startsWith(FLAG_PREFIX)) return undefined;
    const key = path.slice(FLAG_PREFIX.length);
    return plainSegment(key) ? { kind: 'flag', key } : undefined;
  }
  if (method !== 'POST') return undefined;
  if (path === '/v1/evaluate') return { kind: 'bulk' };
  if (path === OFREP_FLAGS) return { kind: 'ofrep-bulk' };
  if (path.startsWith(OFREP_FLAG_PREFIX)) {
    const key = path.slice(OFREP_FLAG_PREFIX.length);
    return plainSegment(key) ? { kind: 'ofrep-flag', key } : undefined;
  }
  return undefined;
}

/**
 * The query as Hono's `c.req.query()` reads it (first value of a repeated name wins, a name without
 * `=` has the empty value). A query with nothing to decode (no `%` or `+`) is split here in one pass;
 * any other goes to Hono's own parser.
 */
function queryOf(url: string): Record<string, string> {
  const start = url.indexOf('?');
  const query = Object.create(null) as Record<string, string>;
  if (start === -1) return query;
  if (url.includes('%', start) || url.includes('+', start) || url.includes('#', start)) return getQueryParam(url) as Record<string, string>;
  let at = start + 1;
  while (at <= url.length) {
    let end = url.indexOf('&', at);
    if (end === -1) end = url.length;
    const eq = url.indexOf('=', at);
    const name = url.slice(at, eq === -1 || eq > end ? end : eq);
    if (name !== '' && query[name] === undefined) query[name] = eq === -1 || eq > end ? '' : url.slice(eq + 1, end);
    at = end + 1;
  }
  return query;
}

const DIGITS = /^\d{1,10}$/;

/**
 * The hot path over a runtime; `maxBodyBytes` is the largest declared body it reads itself (larger or
 * undeclared lengths go through Hono's body limit).
 */
export function hotPath(runtime: EvaluateRuntime, maxBodyBytes: number) {
  const finish = (answer: Answer, requestId: string, cors: boolean, env: Env, ctx: ExecutionContext | undefined): Response => {
    const res = render(answer, requestId, cors);
    scheduleFlush(ctx, env, runtime.metrics(env), runtime.clock);
    return res;
  };

  /** A POST route: one async step (the body), then the same route functions; errors become answers. */
  const answerPost = async (
    route: Route,
    req: Request,
    env: Env,
    ctx: ExecutionContext | undefined,
    caller: EvaluateKeyRecord,
    requestId: string,
    cors: boolean,
  ): Promise<Response> => {
    let answer: Answer;
    try {
      const text = await req.text();
      let pending: Answer | Promise<Answer>;
      if (route.kind === 'bulk') pending = answerBulk(runtime, env, ctx, caller, text);
      else if (route.kind === 'ofrep-flag') pending = answerOfrepFlag(runtime, env, ctx, caller, route.key, text);
      else pending = answerOfrepBulk(runtime, env, ctx, caller, text, req.headers.get('If-None-Match') ?? undefined);
      // No extra turn when the layers were cached.
      answer = pending instanceof Promise ? await pending : pending;
    } catch (err) {
      answer = errorAnswer(err, requestId);
    }
    return finish(answer, requestId, cors, env, ctx);
  };

  /** The answer, or undefined when the request is left to the Hono app (nothing read, nothing changed). */
  return (req: Request, env: Env, ctx: ExecutionContext | undefined): Response | Promise<Response> | undefined => {
    const url = req.url;
    const route = routeOf(req.method, url);
    if (route === undefined) return undefined;
    const headers = req.headers;
    if (route.kind === 'flag') {
      if (req.body !== null) return undefined; // a GET with a body: Hono's body limit applies to it
    } else {
      const length = headers.get('Content-Length');
      if (length === null || !DIGITS.test(length) || Number(length) > maxBodyBytes || headers.has('Transfer-Encoding')) return undefined;
    }
    const token = presentedKey(headers.get('Authorization') ?? undefined, () => headers.get('X-API-Key') ?? undefined);
    if (token === undefined) return undefined;
    const caller = runtime.keys.peek(token, runtime.clock(), env.FLAGS_KV, ctx);
    if (caller == null) return undefined;

    const requestId = requestIdOf(headers);
    const cors = wantsCors(headers);
    if (route.kind !== 'flag') return answerPost(route, req, env, ctx, caller, requestId, cors);
    let pending: Answer | Promise<Answer>;
    try {
      pending = answerFlag(runtime, env, ctx, caller, route.key, queryOf(url));
    } catch (err) {
      return finish(errorAnswer(err, requestId), requestId, cors, env, ctx);
    }
    if (!(pending instanceof Promise)) return finish(pending, requestId, cors, env, ctx);
    return pending.then(
      (answer) => finish(answer, requestId, cors, env, ctx),
      (err: unknown) => finish(errorAnswer(err, requestId), requestId, cors, env, ctx),
    );
  };
}
