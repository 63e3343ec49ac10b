import type { MiddlewareHandler } from 'hono';
import { DEFAULT_METRICS, MetricsCollector, type MetricsSettings } from '../../shared/metrics';
import type { WaitUntil } from '../../shared/snapshot/cache';
import { executionCtxOf, type AppEnv, type Env } from './env';

/**
 * Evaluation metrics of the evaluate Worker: one collector per isolate (per app), filled by the
 * routes after they evaluate, flushed to the EVENTS queue in `waitUntil` after the response.
 * Vars: `METRICS=off` disables counting; `METRICS_FLUSH_MS`, `METRICS_FLUSH_COUNT`,
 * `METRICS_MAX_KEYS` tune the flush (defaults in DEFAULT_METRICS; `METRICS_FLUSH_MS=0` flushes
 * after every request, which the end-to-end tests use to be deterministic).
 */

function intVar(raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value >= min ? value : fallback;
}

/** The settings the bindings choose; null when metrics are off or there is no queue to send to. */
export function metricsSettingsOf(env: Partial<Env> | undefined): MetricsSettings | null {
  if (!env?.EVENTS || env.METRICS?.trim().toLowerCase() === 'off') return null;
  return {
    flushMs: intVar(env.METRICS_FLUSH_MS, DEFAULT_METRICS.flushMs, 0),
    flushCount: intVar(env.METRICS_FLUSH_COUNT, DEFAULT_METRICS.flushCount, 1),
    maxKeys: intVar(env.METRICS_MAX_KEYS, DEFAULT_METRICS.maxKeys, 1),
  };
}

/** Runs after the response is built: when a flush is due, it happens in `waitUntil`, a tick later. */
export function flushMetricsAfter(metricsOf: (env: Env) => MetricsCollector | null, clock: () => number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    // Without an execution context (app.request in tests) the counts wait for a request that has one.
    scheduleFlush(executionCtxOf(c), c.env, metricsOf(c.env), clock);
  };
}

/** After a response: when a flush is due, drain the counts to the EVENTS queue in `waitUntil`, a tick later. */
export function scheduleFlush(ctx: WaitUntil | undefined, env: Env, metrics: MetricsCollector | null, clock: () => number): void {
  if (ctx === undefined || metrics === null) return;
  const now = clock();
  if (!metrics.due(now)) return;
  metrics.begin(now);
  const queue = env.EVENTS;
  // The timer moves draining and sending past the return of the response.
  ctx.waitUntil(new Promise((resolve) => setTimeout(resolve, 0)).then(() => metrics.flushWhileDue(queue, clock)));
}
