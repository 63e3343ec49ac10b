import { Hono } from 'hono';
import { evaluate, evaluateEach, snapshotVersion, type EvalResult, type JsonValue } from '../../../shared/engine';
import { ApiError } from '../../../shared/http/problem';
import type { EvaluateKeyRecord } from '../../../shared/snapshot';
import { jsonAnswer, send, type Answer } from '../answer';
import { scopedOrgId } from '../auth';
import { executionCtxOf, type AppEnv, type Env } from '../env';
import type { WaitUntil } from '../../../shared/snapshot/cache';
import { withLayers, type EvaluateRuntime } from '../runtime';
import {
  BulkBodySchema,
  FlagKeySchema,
  FlagQuerySchema,
  describeErrors,
  fieldErrors,
  isFlagKey,
  parseJsonBody,
  quickBulkBody,
  quickFlagQuery,
  type RequestContext,
} from '../schemas';

/** Why an answer has no evaluated value: no snapshot layer could be read in this isolate yet. */
const NO_SNAPSHOT = 'No flag snapshot is available; answering the caller default.';
const NO_STORE = { 'Cache-Control': 'no-store' };

/** `default=` is JSON when it parses (`false`, `3`, `{"a":1}`), else the text itself. */
function callerDefault(raw: string | undefined): JsonValue {
  if (raw === undefined) return null;
  try {
    return JSON.parse(raw) as JsonValue;
  } catch {
    return raw;
  }
}

function invalid(errors: { path: string; message: string }[]): ApiError {
  return new ApiError(422, { detail: describeErrors(errors), errors });
}

/** One flag's answer in `/v1` shape; an error answer carries the caller's default (or null). */
function flagAnswer(result: EvalResult, fallback: JsonValue): Record<string, unknown> {
  if (result.errorCode !== undefined) {
    return { value: fallback, reason: 'ERROR', source: result.source, errorCode: result.errorCode };
  }
  // One literal per shape: every answer object of a bulk body then has the same hidden class.
  return result.variant === undefined
    ? { value: result.value, reason: result.reason, source: result.source }
    : { value: result.value, reason: result.reason, source: result.source, variant: result.variant };
}

/**
 * `GET /v1/flags/:key`: one flag, context in the query. Throws ApiError (422 bad input, 403 another
 * org, 404 no such flag). Without any snapshot: 200 ERROR with the caller's default (fail closed).
 */
export function answerFlag(
  runtime: EvaluateRuntime,
  env: Env,
  ctx: WaitUntil | undefined,
  caller: EvaluateKeyRecord,
  key: string,
  rawQuery: Record<string, string>,
): Answer | Promise<Answer> {
  // A valid request (the common case) is checked without zod; anything else gets zod's error answer.
  let query = isFlagKey(key) ? quickFlagQuery(rawQuery) : undefined;
  if (query === undefined) {
    const errors = [];
    const keyCheck = FlagKeySchema.safeParse(key);
    if (!keyCheck.success) errors.push({ path: 'key', message: keyCheck.error.issues[0]?.message ?? 'invalid flag key' });
    const parsed = FlagQuerySchema.safeParse(rawQuery);
    if (!parsed.success) errors.push(...fieldErrors(parsed.error));
    if (errors.length > 0 || !parsed.success) throw invalid(errors);
    query = parsed.data;
  }
  const orgId = scopedOrgId(caller, query.orgId);
  const context: RequestContext = { orgId, userId: query.userId, platform: query.platform };
  const fallback = query.default;
  return withLayers(runtime, env, ctx, orgId, (layers) => {
    if (layers === null) {
      return jsonAnswer({ key, value: callerDefault(fallback), reason: 'ERROR', source: 'system', errorCode: 'GENERAL', detail: NO_SNAPSHOT, version: null }, 200, NO_STORE);
    }
    const now = runtime.clock();
    const result = evaluate(layers, key, context, now);
    runtime.metrics(env)?.record(key, orgId, result, now);
    if (result.errorCode === 'FLAG_NOT_FOUND') {
      throw new ApiError(404, { detail: `No live flag "${key}".`, errorCode: 'FLAG_NOT_FOUND' });
    }
    return jsonAnswer({ key, ...flagAnswer(result, callerDefault(fallback)), version: result.version ?? null });
  });
}

/** `POST /v1/evaluate`: many flags (all live ones unless `flags` names some), context in the body. */
export function answerBulk(runtime: EvaluateRuntime, env: Env, ctx: WaitUntil | undefined, caller: EvaluateKeyRecord, text: string): Answer | Promise<Answer> {
  const json = parseJsonBody(text);
  if (!json.ok) throw new ApiError(400, { detail: `The body is not valid JSON: ${json.message}` });
  let body: { context?: { orgId?: unknown; userId?: unknown; platform?: unknown } | null; flags?: string[]; defaults?: Record<string, unknown> } | undefined = quickBulkBody(json.value);
  if (body === undefined) {
    const parsed = BulkBodySchema.safeParse(json.value);
    if (!parsed.success) throw invalid(fieldErrors(parsed.error));
    body = parsed.data;
  }

  const { context: input, flags: requested, defaults } = body;
  const orgId = scopedOrgId(caller, (input?.orgId as string | null | undefined) ?? undefined);
  const context: RequestContext = {
    orgId,
    userId: (input?.userId as string | null | undefined) ?? undefined,
    platform: (input?.platform as string | null | undefined) ?? undefined,
  };
  const fallback = (key: string): JsonValue => (defaults !== undefined && Object.hasOwn(defaults, key) ? (defaults[key] as JsonValue) : null);
  return withLayers(runtime, env, ctx, orgId, (layers) => {
    const flags: Record<string, unknown> = {};
    if (layers === null) {
      for (const key of requested ?? []) flags[key] = { value: fallback(key), reason: 'ERROR', source: 'system', errorCode: 'GENERAL' };
      return jsonAnswer({ version: null, errorCode: 'GENERAL', detail: NO_SNAPSHOT, flags }, 200, NO_STORE);
    }
    const now = runtime.clock();
    const metrics = runtime.metrics(env);
    evaluateEach(layers, context, now, requested, (key, result) => {
      if (Object.hasOwn(flags, key)) return; // named twice: answered and counted once
      metrics?.record(key, orgId, result, now);
      flags[key] = flagAnswer(result, fallback(key));
    });
    return jsonAnswer({ version: snapshotVersion(layers), flags });
  });
}

/**
 * `/v1` through Hono: `GET /v1/flags/:key` and `POST /v1/evaluate`. Errors are problem+json; an
 * evaluation that cannot happen (no snapshot) still answers 200 with reason ERROR and the caller's
 * default: fail closed, never a 5xx.
 */
export function v1Routes(runtime: EvaluateRuntime): Hono<AppEnv> {
  const v1 = new Hono<AppEnv>();
  v1.get('/flags/:key', async (c) => send(c, await answerFlag(runtime, c.env, executionCtxOf(c), c.get('caller'), c.req.param('key'), c.req.query())));
  v1.post('/evaluate', async (c) => send(c, await answerBulk(runtime, c.env, executionCtxOf(c), c.get('caller'), await c.req.text())));
  return v1;
}
