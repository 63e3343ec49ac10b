import type { EvalContext, EvalResult } from '../../engine';
import { FlagEvaluationError } from '../errors';
import type { TransportName } from '../types';
import type { Call, Transport } from './transport';
import { WireBulkSchema, WireProblemSchema, WireResultSchema, resultOf } from './wire';

type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface RemoteTransportOptions {
  name: Extract<TransportName, 'service' | 'http'>;
  /** Origin (and optional path prefix) of the evaluate Worker, without a trailing slash. */
  baseUrl: string;
  apiKey: string;
  fetch: FetchLike;
}

/** The fields the cascade reads; attributes do not travel (the Worker ignores them today). */
function contextFields(ctx: EvalContext): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const name of ['orgId', 'userId', 'platform'] as const) {
    const value = ctx[name];
    if (typeof value === 'string' && value !== '') fields[name] = value;
  }
  return fields;
}

function statusFailure(status: number, detail: string | undefined): FlagEvaluationError {
  const suffix = detail ? `: ${detail}` : '';
  if (status === 400 || status === 422) return new FlagEvaluationError('INVALID_CONTEXT', 'context', `evaluate Worker rejected the context (${status})${suffix}`, { status });
  if (status === 401 || status === 403) return new FlagEvaluationError('GENERAL', 'status', `evaluate Worker refused the API key (${status})${suffix}`, { status });
  return new FlagEvaluationError('GENERAL', 'status', `evaluate Worker answered ${status}${suffix}`, { status });
}

/**
 * `GET /v1/flags/:key` for single flags and `POST /v1/evaluate` for all flags, over any fetch: the
 * global one (HTTP) or a service binding's. Every non-2xx answer except a FLAG_NOT_FOUND 404 and every
 * body that does not match the contract rejects; the client turns that into the caller's default.
 */
export function remoteTransport(options: RemoteTransportOptions): Transport {
  const base = options.baseUrl.replace(/\/+$/, '');
  const headers = { Authorization: `Bearer ${options.apiKey}`, Accept: 'application/json' };

  async function exchange(url: string, init: RequestInit, call: Call): Promise<{ status: number; json: unknown }> {
    let response: Response;
    let text: string;
    try {
      response = await options.fetch(url, { ...init, signal: call.signal });
      text = await response.text();
    } catch (err) {
      if (call.signal.aborted) throw call.signal.reason instanceof FlagEvaluationError ? call.signal.reason : new FlagEvaluationError('GENERAL', 'timeout', 'evaluate Worker did not answer in time', { cause: err });
      throw new FlagEvaluationError('GENERAL', 'network', `evaluate Worker unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      if (!response.ok) throw statusFailure(response.status, undefined);
      throw new FlagEvaluationError('PARSE_ERROR', 'response', `evaluate Worker answered ${response.status} with a body that is not JSON`, { cause: err, status: response.status });
    }
    return { status: response.status, json };
  }

  function unexpected(status: number, what: string, cause: unknown): FlagEvaluationError {
    return new FlagEvaluationError('PARSE_ERROR', 'response', `evaluate Worker answered ${status} with an unexpected ${what}`, { cause, status });
  }

  return {
    name: options.name,

    async evaluate(key: string, ctx: EvalContext, call: Call): Promise<EvalResult> {
      const query = new URLSearchParams(contextFields(ctx)).toString();
      const url = `${base}/v1/flags/${encodeURIComponent(key)}${query ? `?${query}` : ''}`;
      const { status, json } = await exchange(url, { method: 'GET', headers }, call);
      if (status === 404) {
        const problem = WireProblemSchema.safeParse(json);
        if (problem.success && problem.data.errorCode === 'FLAG_NOT_FOUND') return { value: null, reason: 'ERROR', source: 'system', errorCode: 'FLAG_NOT_FOUND' };
      }
      if (status < 200 || status > 299) {
        const problem = WireProblemSchema.safeParse(json);
        throw statusFailure(status, problem.success ? problem.data.detail : undefined);
      }
      const parsed = WireResultSchema.safeParse(json);
      if (!parsed.success) throw unexpected(status, 'flag result', parsed.error);
      return resultOf(parsed.data, undefined);
    },

    async evaluateAll(ctx: EvalContext, call: Call): Promise<Record<string, EvalResult>> {
      const init = { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify({ context: contextFields(ctx) }) };
      const { status, json } = await exchange(`${base}/v1/evaluate`, init, call);
      if (status < 200 || status > 299) {
        const problem = WireProblemSchema.safeParse(json);
        throw statusFailure(status, problem.success ? problem.data.detail : undefined);
      }
      const parsed = WireBulkSchema.safeParse(json);
      if (!parsed.success) throw unexpected(status, 'bulk result', parsed.error);
      if (parsed.data.errorCode !== undefined) {
        throw new FlagEvaluationError('PROVIDER_NOT_READY', 'snapshot', `evaluate Worker could not evaluate: ${parsed.data.detail ?? parsed.data.errorCode}`, { status });
      }
      const results = Object.create(null) as Record<string, EvalResult>;
      for (const [key, wire] of Object.entries(parsed.data.flags)) results[key] = resultOf(wire, parsed.data.version);
      return results;
    },
  };
}
