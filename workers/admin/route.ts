import type { Context, Hono, MiddlewareHandler } from 'hono';
import { z } from 'zod';
import type { AppEnv } from './env';
import type { Role } from './auth';
import { authenticate, requireRole } from './auth';
import { ApiError, type FieldError } from './problem';
import { MAX_INPUT_DEPTH } from '../../shared/http/input';

/**
 * One admin route: its schemas, who may call it and its handler. The same object mounts the route
 * (validation with one hook), feeds the OpenAPI document and drives the generated role-matrix test.
 */
export interface RouteSpec<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
> {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Hono path syntax, `/api/flags/:key`. */
  path: string;
  summary: string;
  tag: string;
  /** `public` routes take no token; otherwise the roles allowed to call it. */
  access: 'public' | readonly Role[];
  params?: P;
  query?: Q;
  body?: B;
  /** Header names the route reads, documented in OpenAPI. */
  headers?: readonly string[];
  /** `media`: the content types of a non-JSON answer (no schema), for the OpenAPI document. */
  responses: Record<number, { description: string; schema?: z.ZodType; media?: readonly string[] }>;
  handler: (
    c: Context<AppEnv>,
    input: { params: z.output<P>; query: z.output<Q>; body: z.output<B> },
  ) => Promise<Response> | Response;
}

/** Identity helper so each route infers its own input types. */
export function defineRoute<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  spec: RouteSpec<P, Q, B>,
): RouteSpec {
  return spec as unknown as RouteSpec;
}

/** The one 422 for input a route refuses: each entry names its field (`body.url`, `query.from`, …). */
export function invalidInput(where: 'params' | 'query' | 'body', errors: FieldError[]): ApiError {
  return new ApiError(422, { detail: `The request ${where} does not match the schema.`, errors });
}

/** The zod hook, set once: every issue becomes one `errors` entry of a 422 problem. */
export function validationError(where: 'params' | 'query' | 'body', error: z.ZodError): ApiError {
  return invalidInput(
    where,
    error.issues.map((issue) => ({ path: [where, ...issue.path.map(String)].join('.'), message: issue.message })),
  );
}

function parseWith<S extends z.ZodType>(where: 'params' | 'query' | 'body', schema: S, value: unknown): z.output<S> {
  const unstorable = unstorableInput(where, value);
  if (unstorable.length > 0) throw invalidInput(where, unstorable);
  const result = schema.safeParse(value);
  if (!result.success) throw validationError(where, result.error);
  return result.data;
}

/** NUL (Postgres text and jsonb cannot hold it) and unpaired surrogates (not UTF-8). */
const UNSTORABLE_TEXT = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Input the schemas cannot judge safely: too deep, text Postgres cannot store, a key zod would drop. One entry per place. */
function unstorableInput(where: 'params' | 'query' | 'body', value: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const stack: [unknown, string[]][] = [[value, [where]]];
  while (stack.length > 0 && errors.length < 20) {
    const [item, path] = stack.pop()!;
    if (typeof item === 'string') {
      if (UNSTORABLE_TEXT.test(item)) errors.push({ path: path.join('.'), message: 'must not contain NUL or unpaired surrogate characters' });
      continue;
    }
    if (item === null || typeof item !== 'object') continue;
    if (path.length > MAX_INPUT_DEPTH) {
      errors.push({ path: path.join('.'), message: `nested deeper than ${MAX_INPUT_DEPTH} levels` });
      continue;
    }
    for (const [key, child] of Object.entries(item)) {
      if (UNSTORABLE_TEXT.test(key)) errors.push({ path: path.join('.'), message: 'a key contains NUL or unpaired surrogate characters' });
      // zod drops it while validating: refused, rather than stored without it
      if (key === '__proto__' && where === 'body') errors.push({ path: path.join('.'), message: 'a key named "__proto__" cannot be stored' });
      stack.push([child, [...path, key]]);
    }
  }
  return errors;
}

/** Reads the body as JSON: an empty body is `{}`, anything unparsable is a 400. */
async function readJsonBody(c: Context<AppEnv>): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(400, { detail: 'Malformed JSON in request body.', slug: 'malformed-json' });
  }
}

/**
 * Mounts each route behind `identify` (the token middleware; the dashboard passes its session's
 * caller instead) and the route's role check.
 */
export function mountRoutes(app: Hono<AppEnv>, routes: readonly RouteSpec[], identify: MiddlewareHandler<AppEnv> = authenticate): Hono<AppEnv> {
  for (const spec of routes) {
    const handlers = [
      ...(spec.access === 'public' ? [] : [identify, requireRole(...spec.access)]),
      async (c: Context<AppEnv>) => {
        const params = spec.params ? parseWith('params', spec.params, c.req.param()) : {};
        const query = spec.query ? parseWith('query', spec.query, c.req.query()) : {};
        const body = spec.body ? parseWith('body', spec.body, await readJsonBody(c)) : {};
        return spec.handler(c, { params, query, body });
      },
    ];
    app.on(spec.method.toUpperCase(), spec.path, ...(handlers as [never]));
  }
  return app;
}
