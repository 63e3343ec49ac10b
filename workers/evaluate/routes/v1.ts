import { Hono } from 'hono';
import { evaluate, evaluateAll, snapshotVersion, type EvalResult, type JsonValue } from '../../../shared/engine';
import { ApiError } from '../../../shared/http/problem';
import { scopedOrgId } from '../auth';
import type { AppEnv } from '../env';
import type { EvaluateRuntime } from '../runtime';
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
  const out: Record<string, unknown> = { value: result.value, reason: result.reason, source: result.source };
  if (result.variant !== undefined) out.variant = result.variant;
  return out;
}

/**
 * `/v1`: `GET /v1/flags/:key` (one flag, context in the query) and `POST /v1/evaluate` (many flags,
 * context in the body). Errors are problem+json; an evaluation that cannot happen (no snapshot)
 * still answers 200 with reason ERROR and the caller's default: fail closed, never a 5xx.
 */
export function v1Routes(runtime: EvaluateRuntime): Hono<AppEnv> {
  const v1 = new Hono<AppEnv>();

  v1.get('/flags/:key', async (c) => {
    const key = c.req.param('key');
    const rawQuery = c.req.query();
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

    const orgId = scopedOrgId(c.get('caller'), query.orgId);
    const context: RequestContext = { orgId, userId: query.userId, platform: query.platform };
    // Fresh cached layers come back synchronously: no await (no extra turn) on the hot path.
    const pending = runtime.layers(c.env, orgId);
    const layers = pending instanceof Promise ? await pending : pending;
    if (layers === null) {
      c.header('Cache-Control', 'no-store');
      return c.json({ key, value: callerDefault(query.default), reason: 'ERROR', source: 'system', errorCode: 'GENERAL', detail: NO_SNAPSHOT, version: null });
    }
    const now = runtime.clock();
    const result = evaluate(layers, key, context, now);
    runtime.metrics(c.env)?.record(key, orgId, result, now);
    if (result.errorCode === 'FLAG_NOT_FOUND') {
      throw new ApiError(404, { detail: `No live flag "${key}".`, errorCode: 'FLAG_NOT_FOUND' });
    }
    const answer = flagAnswer(result, callerDefault(query.default));
    return c.json({ key, ...answer, version: result.version ?? null });
  });

  v1.post('/evaluate', async (c) => {
    const json = parseJsonBody(await c.req.text());
    if (!json.ok) throw new ApiError(400, { detail: `The body is not valid JSON: ${json.message}` });
    let body: { context?: { orgId?: unknown; userId?: unknown; platform?: unknown } | null; flags?: string[]; defaults?: Record<string, unknown> } | undefined = quickBulkBody(json.value);
    if (body === undefined) {
      const parsed = BulkBodySchema.safeParse(json.value);
      if (!parsed.success) throw invalid(fieldErrors(parsed.error));
      body = parsed.data;
    }

    const { context: input, flags: requested, defaults } = body;
    const orgId = scopedOrgId(c.get('caller'), (input?.orgId as string | null | undefined) ?? undefined);
    const context: RequestContext = {
      orgId,
      userId: (input?.userId as string | null | undefined) ?? undefined,
      platform: (input?.platform as string | null | undefined) ?? undefined,
    };
    const fallback = (key: string): JsonValue => (defaults !== undefined && Object.hasOwn(defaults, key) ? (defaults[key] as JsonValue) : null);
    const pending = runtime.layers(c.env, orgId);
    const layers = pending instanceof Promise ? await pending : pending;
    const flags: Record<string, unknown> = {};
    if (layers === null) {
      for (const key of requested ?? []) flags[key] = { value: fallback(key), reason: 'ERROR', source: 'system', errorCode: 'GENERAL' };
      c.header('Cache-Control', 'no-store');
      return c.json({ version: null, errorCode: 'GENERAL', detail: NO_SNAPSHOT, flags });
    }
    const now = runtime.clock();
    const results = evaluateAll(layers, context, now, requested);
    runtime.metrics(c.env)?.recordAll(orgId, results, now);
    for (const key in results) flags[key] = flagAnswer(results[key]!, fallback(key));
    return c.json({ version: snapshotVersion(layers), flags });
  });

  return v1;
}

