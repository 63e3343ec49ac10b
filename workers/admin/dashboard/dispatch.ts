import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { adminRoutes, handleError } from '../app';
import type { AppEnv } from '../env';
import type { FieldError } from '../problem';
import { problem } from '../problem';
import { mountRoutes } from '../route';

/**
 * The dashboard's only way to read through or write to the API: it runs the very route specs of
 * `adminRoutes` (zod validation, role check, handler, `applyChange`, audit, publish, error mapping)
 * in-process, as the session's caller. There is no second write path.
 *
 * The caller travels with the Request object in a WeakMap, never in a header, so nothing outside
 * this module can claim an identity; the internal app is not reachable over HTTP.
 */

const outers = new WeakMap<Request, Context<AppEnv>>();

const fromOuter: MiddlewareHandler<AppEnv> = async (c, next) => {
  const outer = outers.get(c.req.raw);
  if (!outer) return problem(c, 404, 'Not found.');
  c.set('requestId', outer.get('requestId'));
  c.set('config', outer.get('config'));
  // One database connection per browser request, shared with the page's own reads.
  c.set('db', outer.get('db'));
  await next();
};

const sessionCaller: MiddlewareHandler<AppEnv> = async (c, next) => {
  c.set('caller', outers.get(c.req.raw)!.get('caller'));
  await next();
};

let internal: Hono<AppEnv> | undefined;

/** Built on first use: `adminRoutes` and this module import each other. */
function internalApp(): Hono<AppEnv> {
  if (!internal) {
    const app = new Hono<AppEnv>();
    app.use('*', fromOuter);
    app.onError(handleError);
    app.notFound((c) => problem(c, 404, `No route for ${c.req.method} ${new URL(c.req.url).pathname}.`));
    internal = mountRoutes(app, adminRoutes, sessionCaller);
  }
  return internal;
}

export interface ApiAnswer<T = any> {
  status: number;
  ok: boolean;
  headers: Headers;
  body: T;
}

export interface ApiCall {
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** `If-Match`, `X-Change-Reason`. */
  headers?: Record<string, string>;
  /** A successful answer's body is left unread, as a stream (a file the route answers, e.g. the audit export). */
  raw?: boolean;
}

export async function callApi<T = any>(c: Context<AppEnv>, method: string, path: string, call: ApiCall = {}): Promise<ApiAnswer<T>> {
  const url = new URL(path, c.req.url);
  for (const [name, value] of Object.entries(call.query ?? {})) if (value !== undefined && value !== '') url.searchParams.set(name, value);
  const headers = new Headers(call.headers);
  let body: string | undefined;
  if (call.body !== undefined) {
    body = JSON.stringify(call.body);
    headers.set('Content-Type', 'application/json');
  }
  const request = new Request(url, { method, headers, body });
  outers.set(request, c);
  let ctx: ExecutionContext | undefined;
  try {
    ctx = c.executionCtx as ExecutionContext;
  } catch {
    ctx = undefined;
  }
  const res = await internalApp().fetch(request, c.env, ctx);
  if (call.raw && res.ok) return { status: res.status, ok: res.ok, headers: res.headers, body: res.body as T };
  const text = await res.text();
  return { status: res.status, ok: res.ok, headers: res.headers, body: (text ? JSON.parse(text) : null) as T };
}

/** A problem answer, as the pages show it. */
export interface ApiProblem {
  status: number;
  detail: string;
  errors: FieldError[];
}

export function problemOf(answer: ApiAnswer): ApiProblem {
  const body = (answer.body ?? {}) as { detail?: string; errors?: FieldError[] };
  return { status: answer.status, detail: body.detail ?? `Request failed (${answer.status}).`, errors: body.errors ?? [] };
}
