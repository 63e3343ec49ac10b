import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** One entry of a 422 answer: where the input is wrong and why. */
export interface FieldError {
  path: string;
  message: string;
}

/** RFC 9457 problem details, the only error shape of the admin and evaluate APIs. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  errorCode?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const SLUGS: Record<number, string> = {
  400: 'bad-request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not-found',
  405: 'method-not-allowed',
  409: 'conflict',
  412: 'precondition-failed',
  413: 'content-too-large',
  415: 'unsupported-media-type',
  422: 'validation',
  428: 'precondition-required',
  500: 'internal',
  503: 'unavailable',
};

/** Problem type URIs are stable identifiers; they are documented, not fetched. */
export const PROBLEM_TYPE_BASE = 'https://cmis-flags.dev/problems/';

export interface ProblemInit {
  detail: string;
  errors?: FieldError[];
  errorCode?: string;
  /** Overrides the type slug derived from the status. */
  slug?: string;
}

/** Thrown anywhere below a route; `onError` turns it into a problem response. */
export class ApiError extends Error {
  readonly status: number;
  readonly init: ProblemInit;

  constructor(status: number, init: ProblemInit | string) {
    const normalized = typeof init === 'string' ? { detail: init } : init;
    super(normalized.detail);
    this.name = 'ApiError';
    this.status = status;
    this.init = normalized;
  }
}

export function problemBody(status: number, init: ProblemInit): Problem {
  const body: Problem = {
    type: PROBLEM_TYPE_BASE + (init.slug ?? SLUGS[status] ?? 'error'),
    title: TITLES[status] ?? 'Error',
    status,
    detail: init.detail,
  };
  if (init.errors) body.errors = init.errors;
  if (init.errorCode) body.errorCode = init.errorCode;
  return body;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** The same response outside a Hono app (the cron Worker's local trigger). */
export function problemResponse(status: number, init: ProblemInit): Response {
  return Response.json(problemBody(status, init), { status, headers: { 'Content-Type': PROBLEM_CONTENT_TYPE } });
}

/** The one helper that writes an `application/problem+json` response. */
export function problem(c: Context, status: number, init: ProblemInit | string): Response {
  const normalized = typeof init === 'string' ? { detail: init } : init;
  const res = c.json(problemBody(status, normalized), status as ContentfulStatusCode);
  res.headers.set('Content-Type', PROBLEM_CONTENT_TYPE);
  return res;
}
