import type { Context } from 'hono';
import type { ContentfulStatusCode, StatusCode } from 'hono/utils/http-status';
import { ApiError, PROBLEM_CONTENT_TYPE, problemBody, type ProblemInit } from '../../shared/http/problem';
import type { AppEnv } from './env';

/**
 * What an evaluate route decided, before it becomes a Response. The routes compute answers without
 * touching Hono, so the same answer reaches the caller through the Hono app (`send`) or through the
 * hot path (`render`, workers/evaluate/hot.ts), with the same status, headers and bytes.
 */
export interface Answer {
  status: number;
  /** The body: a value to serialise as JSON, or text already serialised (the OFREP bulk body, whose ETag digests it), or null (304). */
  body: { json: unknown } | { text: string | null };
  /** Route-chosen headers (Cache-Control, Retry-After, ETag). */
  headers?: Record<string, string>;
  /** Defaults to `application/json` (Hono's `c.json`). */
  contentType?: string;
}

export const JSON_UTF8 = 'application/json; charset=UTF-8';

export function jsonAnswer(json: unknown, status = 200, headers?: Record<string, string>): Answer {
  return headers === undefined ? { status, body: { json } } : { status, body: { json }, headers };
}

/** The one shape of an error answer: RFC 9457 problem+json. */
export function problemAnswer(status: number, init: ProblemInit): Answer {
  return { status, body: { json: problemBody(status, init) }, contentType: PROBLEM_CONTENT_TYPE };
}

/**
 * An error thrown below a route, as an answer: ApiError keeps its status and words; anything else is
 * logged with the request id and answered 500 without internals.
 */
export function errorAnswer(err: unknown, requestId: string | undefined): Answer {
  if (err instanceof ApiError) return problemAnswer(err.status, err.init);
  console.error(
    JSON.stringify({ at: 'evaluate', requestId, error: String(err), stack: err instanceof Error ? err.stack : undefined }),
  );
  return problemAnswer(500, { detail: `Internal error; quote request id ${requestId ?? 'unknown'}.` });
}

/** An answer through Hono (the edge middleware then adds the common headers). */
export function send(c: Context<AppEnv>, answer: Answer): Response {
  if (answer.headers !== undefined) for (const name in answer.headers) c.header(name, answer.headers[name]);
  const body = answer.body;
  if ('text' in body) {
    if (body.text === null) return c.body(null, answer.status as StatusCode);
    return c.body(body.text, answer.status as ContentfulStatusCode, { 'Content-Type': answer.contentType ?? 'application/json' });
  }
  const res = c.json(body.json, answer.status as ContentfulStatusCode);
  if (answer.contentType !== undefined) res.headers.set('Content-Type', answer.contentType);
  return res;
}
