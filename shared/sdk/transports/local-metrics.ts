import type { EvalResult } from '../../engine';
import { DEFAULT_METRICS, MetricsCollector } from '../../metrics';
import type { LocalMetricsOptions } from '../types';

/**
 * Evaluation counts of the local transport, sent the way the evaluate Worker sends its own: `metrics`
 * messages on the EVENTS queue, which the cron Worker's consumer adds to `cmis.flag_metrics_hourly`.
 * One collector per queue binding for the isolate's lifetime, since apps build a client per request.
 * Counting never throws and never waits: it is a few map operations, the send happens a tick later
 * (inside `waitUntil` when given), and a queue that refuses only loses counts.
 */

const collectors = new WeakMap<object, MetricsCollector>();

export interface LocalMetrics {
  record(flag: string, orgId: string | undefined, result: EvalResult, nowMs: number): void;
  recordAll(orgId: string | undefined, results: Record<string, EvalResult>, nowMs: number): void;
}

function collectorFor(options: LocalMetricsOptions): MetricsCollector {
  let collector = collectors.get(options.queue);
  if (collector === undefined) {
    collector = new MetricsCollector({
      flushMs: Math.max(0, options.flushMs ?? DEFAULT_METRICS.flushMs),
      flushCount: Math.max(1, options.flushCount ?? DEFAULT_METRICS.flushCount),
    });
    collectors.set(options.queue, collector);
  }
  return collector;
}

function lost(error: unknown): void {
  console.warn(JSON.stringify({ at: 'sdk-metrics', error: String(error) }));
}

export function localMetrics(options: LocalMetricsOptions): LocalMetrics {
  const { queue, waitUntil } = options;
  const collector = collectorFor(options);

  function flushIfDue(nowMs: number): void {
    if (!collector.due(nowMs)) return;
    collector.begin(nowMs);
    // The timer moves draining and sending past the answer, as in the evaluate Worker.
    const flushing = new Promise((resolve) => setTimeout(resolve, 0)).then(() => collector.flushWhileDue(queue, Date.now)).catch(lost);
    if (waitUntil) {
      try {
        waitUntil(flushing);
      } catch (error) {
        lost(error); // the flush still runs; only the isolate may not wait for it
      }
    }
  }

  return {
    record(flag, orgId, result, nowMs) {
      try {
        collector.record(flag, orgId, result, nowMs);
        flushIfDue(nowMs);
      } catch (error) {
        lost(error);
      }
    },
    recordAll(orgId, results, nowMs) {
      try {
        collector.recordAll(orgId, results, nowMs);
        flushIfDue(nowMs);
      } catch (error) {
        lost(error);
      }
    },
  };
}
