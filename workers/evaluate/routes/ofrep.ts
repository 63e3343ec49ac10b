import { Hono } from 'hono';
import { evaluate, evaluateEach, snapshotVersion, type EvalResult } from '../../../shared/engine';
import type { EvaluateKeyRecord } from '../../../shared/snapshot';
import { sha256Hex } from '../../../shared/tokens';
import { JSON_UTF8, jsonAnswer, send, type Answer } from '../answer';
import { scopedOrgId } from '../auth';
import { executionCtxOf, type AppEnv, type Env } from '../env';
import type { WaitUntil } from '../../../shared/snapshot/cache';
import { withLayers, type EvaluateRuntime } from '../runtime';
import { OfrepBodySchema, describeErrors, fieldErrors, isFlagKey, parseJsonBody, quickOfrepContext, type RequestContext } from '../schemas';

/**
 * OpenFeature Remote Evaluation Protocol (OFREP v1), as `@openfeature/ofrep-core` reads it:
 * 200 `{key, value, reason, variant?, metadata}`; 400/404 `{key, errorCode, errorDetails}`;
 * bulk 200 `{flags}` with a strong ETag, 304 on `If-None-Match`, 400 `{errorCode, errorDetails}`.
 * 401/403 are problem+json (the provider only reads the status). Without any snapshot the answer is
 * 503 + Retry-After: every OpenFeature SDK then returns the caller's default with reason ERROR.
 */

type OfrepErrorCode = 'PARSE_ERROR' | 'INVALID_CONTEXT' | 'FLAG_NOT_FOUND' | 'GENERAL';

const NO_SNAPSHOT = 'No flag snapshot is available yet; use your default and retry shortly.';

/** The context the engine reads; `targetingKey` is the user id. Result: the context or a 400 answer. */
function readContext(caller: EvaluateKeyRecord, text: string): { context: RequestContext } | { code: OfrepErrorCode; details: string } {
  const json = parseJsonBody(text);
  if (!json.ok) return { code: 'PARSE_ERROR', details: `The body is not valid JSON: ${json.message}` };
  // A valid context (the common case) is checked without zod; anything else gets zod's error answer.
  let ctx: { targetingKey?: unknown; userId?: unknown; orgId?: unknown; platform?: unknown } | null | undefined = quickOfrepContext(json.value);
  if (ctx === undefined) {
    const body = OfrepBodySchema.safeParse(json.value);
    if (!body.success) return { code: 'INVALID_CONTEXT', details: describeErrors(fieldErrors(body.error)) };
    ctx = body.data.context;
  }
  const targetingKey = (ctx?.targetingKey as string | null | undefined) ?? undefined;
  const userId = (ctx?.userId as string | null | undefined) ?? undefined;
  if (targetingKey !== undefined && userId !== undefined && targetingKey !== userId) {
    return { code: 'INVALID_CONTEXT', details: 'context.targetingKey and context.userId differ' };
  }
  const orgId = scopedOrgId(caller, (ctx?.orgId as string | null | undefined) ?? undefined);
  return { context: { orgId, userId: targetingKey ?? userId, platform: (ctx?.platform as string | null | undefined) ?? undefined } };
}

/** An engine error in OFREP terms: only these codes are OFREP's; anything else is GENERAL. */
function failureOf(key: string, result: EvalResult): { key: string; errorCode: OfrepErrorCode; errorDetails: string } {
  switch (result.errorCode) {
    case 'FLAG_NOT_FOUND':
      return { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `No live flag "${key}".` };
    case 'INVALID_CONTEXT':
      return { key, errorCode: 'INVALID_CONTEXT', errorDetails: 'The context cannot be evaluated.' };
    default:
      return { key, errorCode: 'GENERAL', errorDetails: `The flag cannot be evaluated for this context (${result.errorCode ?? 'error'}).` };
  }
}

/**
 * One flag's OFREP answer. A single evaluation's metadata carries the snapshot version; a bulk
 * entry's does not (the bulk answer carries it once, in its own metadata): a web provider compares
 * entries between fetches and reports every changed one, and a version in each entry would make
 * every publish look like a change of every flag.
 */
function success(key: string, result: EvalResult, withVersion = true): Record<string, unknown> {
  const metadata = withVersion ? { source: result.source, version: result.version ?? '' } : { source: result.source };
  return result.variant === undefined
    ? { key, value: result.value, reason: result.reason, metadata }
    : { key, value: result.value, reason: result.reason, variant: result.variant, metadata };
}

/** True when an `If-None-Match` list names `etag` (weak comparison, as RFC 9110 prescribes for it). */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const trimmed = ifNoneMatch.trim();
  if (trimmed === '*') return true;
  for (const part of trimmed.split(',')) {
    const candidate = part.trim();
    if ((candidate.startsWith('W/') ? candidate.slice(2) : candidate) === etag) return true;
  }
  return false;
}

/**
 * Strong ETag of a bulk answer: the layer versions, then a digest of the body. The body is what the
 * context produced at this instant, so the tag also changes when an override expires between two
 * publishes (a version-plus-context tag would not).
 */
async function bulkEtag(version: string, body: string): Promise<string> {
  // 96 bits of the digest: plenty to tell two answers apart, short on the wire.
  return `"${version}-${(await sha256Hex(body)).slice(0, 24)}"`;
}

const RETRY_SOON = { 'Retry-After': '1' };

/** `POST /ofrep/v1/evaluate/flags/:key`: one flag, context in the body. 403 (another org) is thrown as ApiError. */
export function answerOfrepFlag(
  runtime: EvaluateRuntime,
  env: Env,
  ctx: WaitUntil | undefined,
  caller: EvaluateKeyRecord,
  key: string,
  text: string,
): Answer | Promise<Answer> {
  const read = readContext(caller, text);
  if ('code' in read) return jsonAnswer({ key, errorCode: read.code, errorDetails: read.details }, 400);
  if (!isFlagKey(key)) return jsonAnswer({ key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `"${key}" is not a valid flag key.` }, 404);
  const { context } = read;
  return withLayers(runtime, env, ctx, context.orgId, (layers) => {
    if (layers === null) return jsonAnswer({ key, errorCode: 'GENERAL', errorDetails: NO_SNAPSHOT }, 503, RETRY_SOON);
    const now = runtime.clock();
    const result = evaluate(layers, key, context, now);
    runtime.metrics(env)?.record(key, context.orgId, result, now);
    if (result.errorCode === undefined) return jsonAnswer(success(key, result));
    const failure = failureOf(key, result);
    return jsonAnswer(failure, failure.errorCode === 'FLAG_NOT_FOUND' ? 404 : 400);
  });
}

/** `POST /ofrep/v1/evaluate/flags`: every live flag, with a strong ETag and 304 on `If-None-Match`. */
export async function answerOfrepBulk(
  runtime: EvaluateRuntime,
  env: Env,
  ctx: WaitUntil | undefined,
  caller: EvaluateKeyRecord,
  text: string,
  ifNoneMatch: string | undefined,
): Promise<Answer> {
  const read = readContext(caller, text);
  if ('code' in read) return jsonAnswer({ errorCode: read.code, errorDetails: read.details }, 400);
  const pending = runtime.layers(env, read.context.orgId, ctx);
  const layers = pending instanceof Promise ? await pending : pending;
  if (layers === null) return jsonAnswer({ errorCode: 'GENERAL', errorDetails: NO_SNAPSHOT }, 503, RETRY_SOON);
  const now = runtime.clock();
  const flags: Record<string, unknown>[] = [];
  const results: EvalResult[] = [];
  evaluateEach(layers, read.context, now, undefined, (key, result) => {
    results.push(result);
    flags.push(result.errorCode === undefined ? success(key, result, false) : failureOf(key, result));
  });
  const version = snapshotVersion(layers);
  const body = JSON.stringify({ flags, metadata: { version } });
  const etag = await bulkEtag(version, body);
  // A revalidation answered 304 delivers no evaluation: only answers sent are counted (a polling
  // browser would otherwise count every flag on every poll).
  if (etagMatches(ifNoneMatch, etag)) return { status: 304, body: { text: null }, headers: { ETag: etag } };
  const metrics = runtime.metrics(env);
  if (metrics !== null) for (let i = 0; i < results.length; i++) metrics.record(flags[i]!.key as string, read.context.orgId, results[i]!, now);
  return { status: 200, body: { text: body }, headers: { ETag: etag }, contentType: JSON_UTF8 };
}

export function ofrepRoutes(runtime: EvaluateRuntime): Hono<AppEnv> {
  const ofrep = new Hono<AppEnv>();
  ofrep.post('/evaluate/flags/:key', async (c) => send(c, await answerOfrepFlag(runtime, c.env, executionCtxOf(c), c.get('caller'), c.req.param('key'), await c.req.text())));
  ofrep.post('/evaluate/flags', async (c) =>
    send(c, await answerOfrepBulk(runtime, c.env, executionCtxOf(c), c.get('caller'), await c.req.text(), c.req.header('If-None-Match'))),
  );
  return ofrep;
}
