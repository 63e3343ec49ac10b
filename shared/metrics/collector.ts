import { queueBatches, type EventQueue, type MetricsCount, type MetricsMessage } from '../events';

/**
 * Evaluation counting for the evaluate Worker (and any other isolate that evaluates): counts per
 * (flag, org, value, reason, hour) in an isolate-level map, drained into `metrics` queue messages
 * that the cron Worker's consumer adds to `cmis.flag_metrics_hourly`. Counting is a few map
 * operations; sending happens later, in `waitUntil`, and its failure only loses counts, never an
 * answer.
 */

export interface MetricsSettings {
  /** Flush when the oldest unsent count is this old (ms). 0 = after every request (tests). */
  flushMs: number;
  /** …or when this many evaluations wait. */
  flushCount: number;
  /** Bound of the map (distinct flag/org/value/reason/hour keys); counts of new keys beyond it are dropped. */
  maxKeys: number;
}

export const DEFAULT_METRICS: MetricsSettings = { flushMs: 10_000, flushCount: 10_000, maxKeys: 5_000 };

/** Value keys are JSON text cut to this length (a huge JSON value is still one key, not megabytes). */
export const METRICS_VALUE_MAX = 256;

/** Counts per queue message: 100 worst-case entries (128-char keys and orgs, 256 non-ASCII value chars) stay under the 128 KB message limit. */
export const MAX_COUNTS_PER_MESSAGE = 100;

const HOUR_MS = 3_600_000;

/** A scheduled flush older than this no longer holds back the next one. */
export const STALE_FLUSH_MS = 60_000;

/** What is counted of an answer (the engine's EvalResult fits). */
export interface CountedResult {
  value: unknown;
  reason: string;
  errorCode?: string | undefined;
}

// Layer values are shared, immutable objects: their JSON text is computed once per object. String
// values are remembered too (bounded), so a string flag does not JSON-encode on every evaluation.
const objectKeys = new WeakMap<object, string>();
const stringKeys = new Map<string, string>();
const MAX_STRING_KEYS = 1000;

/** The value's key in the metrics tables: its JSON text, cut at METRICS_VALUE_MAX characters. */
export function valueKeyOf(value: unknown): string {
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'string': {
      let key = stringKeys.get(value);
      if (key === undefined) {
        key = JSON.stringify(value).slice(0, METRICS_VALUE_MAX);
        if (stringKeys.size < MAX_STRING_KEYS && value.length <= METRICS_VALUE_MAX) stringKeys.set(value, key);
      }
      return key;
    }
    case 'object': {
      if (value === null) return 'null';
      let key = objectKeys.get(value);
      if (key === undefined) {
        key = (JSON.stringify(value) ?? 'null').slice(0, METRICS_VALUE_MAX);
        objectKeys.set(value, key);
      }
      return key;
    }
    default:
      return 'null';
  }
}

/** Start of the UTC hour of `nowMs`. */
export function hourOf(nowMs: number): number {
  return nowMs - (((nowMs % HOUR_MS) + HOUR_MS) % HOUR_MS);
}

/** hour → org → flag → the (value, reason) counts of that flag (usually one to three). */
type CountTree = Map<number, Map<string, Map<string, MetricsCount[]>>>;

export class MetricsCollector {
  readonly settings: MetricsSettings;
  // Nested maps keyed by strings the layers already hold (flag keys, org ids, literal reasons), so a
  // count is a few hash lookups of cached hashes and no string building.
  private tree: CountTree = new Map();
  private keys = 0;
  /** The org's flag map of the last call: most calls in a row are for the same hour and org. */
  private lastHour = Number.NaN;
  private lastOrg = '';
  private lastFlags: Map<string, MetricsCount[]> | undefined;
  /** Evaluations counted since the last drain, and when the first of them happened. */
  private waiting = 0;
  private firstAt = 0;
  /** Clock reading at which the flush under way was scheduled (`begin`); NaN when none is. */
  private flushingSince = Number.NaN;
  /** Evaluations not counted because the map was full (reported with the next flush's log line). */
  dropped = 0;

  constructor(settings: Partial<MetricsSettings> = {}) {
    this.settings = { ...DEFAULT_METRICS, ...settings };
  }

  /** Counts one answer. Unknown flags are not counted: their keys are whatever callers send. */
  record(flag: string, orgId: string | undefined, result: CountedResult, nowMs: number): void {
    if (result.errorCode === 'FLAG_NOT_FOUND') return;
    const hour = hourOf(nowMs);
    const org = orgId ?? '';
    this.add(this.flagsOf(hour, org), flag, org, result, hour, nowMs);
  }

  /** Counts every answer of a bulk evaluation (one context, so one org and one hour). */
  recordAll(orgId: string | undefined, results: Record<string, CountedResult>, nowMs: number): void {
    const hour = hourOf(nowMs);
    const org = orgId ?? '';
    const flags = this.flagsOf(hour, org);
    for (const flag in results) {
      const result = results[flag]!;
      if (result.errorCode !== 'FLAG_NOT_FOUND') this.add(flags, flag, org, result, hour, nowMs);
    }
  }

  private flagsOf(hour: number, org: string): Map<string, MetricsCount[]> {
    if (this.lastFlags !== undefined && hour === this.lastHour && org === this.lastOrg) return this.lastFlags;
    let orgs = this.tree.get(hour);
    if (orgs === undefined) this.tree.set(hour, (orgs = new Map()));
    let flags = orgs.get(org);
    if (flags === undefined) orgs.set(org, (flags = new Map()));
    this.lastHour = hour;
    this.lastOrg = org;
    this.lastFlags = flags;
    return flags;
  }

  private add(flags: Map<string, MetricsCount[]>, flag: string, org: string, result: CountedResult, hour: number, nowMs: number): void {
    const value = valueKeyOf(result.value);
    const reason = result.reason;
    let counts = flags.get(flag);
    let entry: MetricsCount | undefined;
    if (counts === undefined) {
      counts = [];
    } else {
      for (let i = 0; i < counts.length; i++) {
        const c = counts[i]!;
        if (c[2] === value && c[3] === reason) {
          entry = c;
          break;
        }
      }
    }
    if (entry !== undefined) {
      entry[5] += 1;
    } else if (this.keys < this.settings.maxKeys) {
      if (counts.length === 0) flags.set(flag, counts);
      counts.push([flag, org, value, reason, hour, 1]);
      this.keys += 1;
    } else {
      this.dropped += 1;
      return;
    }
    if (this.waiting === 0) this.firstAt = nowMs;
    this.waiting += 1;
  }

  /** Evaluations counted and not yet drained. */
  get size(): number {
    return this.waiting;
  }

  /** Whether a flush should be scheduled now (and none is under way, or the one under way is stale). */
  due(nowMs: number): boolean {
    if (this.flushUnderWay(nowMs) || this.waiting === 0) return false;
    const { flushMs, flushCount, maxKeys } = this.settings;
    return this.waiting >= flushCount || nowMs - this.firstAt >= flushMs || this.keys >= maxKeys;
  }

  /** A flush is scheduled or sending, and not yet stale (NaN, none: false). */
  private flushUnderWay(nowMs: number): boolean {
    return nowMs - this.flushingSince < STALE_FLUSH_MS;
  }

  /**
   * Marks a flush as scheduled so that concurrent requests do not schedule another, until it ends or
   * STALE_FLUSH_MS have passed (a flush that never ran or never ended, its `waitUntil` cut off or its
   * queue hanging, must not stop the counts of the rest of the isolate's life from being sent).
   */
  begin(nowMs: number): void {
    this.flushingSince = nowMs;
  }

  /** Everything counted so far as queue messages (at most MAX_COUNTS_PER_MESSAGE counts each); the map starts over. */
  drain(newId: () => string = () => crypto.randomUUID()): MetricsMessage[] {
    const counts: MetricsCount[] = [];
    for (const orgs of this.tree.values()) for (const flags of orgs.values()) for (const list of flags.values()) counts.push(...list);
    this.tree = new Map();
    this.lastFlags = undefined;
    this.keys = 0;
    this.waiting = 0;
    const messages: MetricsMessage[] = [];
    for (let i = 0; i < counts.length; i += MAX_COUNTS_PER_MESSAGE) {
      messages.push({ type: 'metrics', batchId: newId(), counts: counts.slice(i, i + MAX_COUNTS_PER_MESSAGE) });
    }
    return messages;
  }

  /**
   * Drains and sends. Never throws: a queue that refuses (or no queue) loses these counts, logged.
   * Answers how many evaluations the queue accepted.
   */
  async flush(queue: EventQueue | undefined, nowMs?: number): Promise<number> {
    // Under way from now on, for `due`: a new mark unless a fresh one is there (`begin`'s). A stale mark,
    // left by a flush that outlived the one that replaced it, would let `due` start another beside this one.
    if (nowMs !== undefined && !this.flushUnderWay(nowMs)) this.flushingSince = nowMs;
    const since = this.flushingSince;
    try {
      const messages = this.drain();
      const dropped = this.dropped;
      this.dropped = 0;
      if (dropped > 0) console.warn(JSON.stringify({ at: 'metrics', droppedFullMap: dropped }));
      if (messages.length === 0) return 0;
      if (!queue) return 0;
      let sent = 0;
      for (const group of queueBatches(messages)) {
        const evaluations = group.reduce((n, m) => n + m.counts.reduce((s, c) => s + c[5], 0), 0);
        try {
          await queue.sendBatch(group.map((body) => ({ body })));
          sent += evaluations;
        } catch (error) {
          console.warn(JSON.stringify({ at: 'metrics', lostEvaluations: evaluations, error: String(error) }));
        }
      }
      return sent;
    } finally {
      // A flush that ended after another replaced it (it had gone stale) leaves that one's mark.
      if (Object.is(this.flushingSince, since)) this.flushingSince = Number.NaN;
    }
  }

  /**
   * Flushes, then flushes again while more counts are due: counts recorded while a flush was sending
   * (when `due` says no, so no request schedules another) are not left waiting for the next request.
   * At most `rounds` flushes, so one request's `waitUntil` stays short. Answers the evaluations sent.
   */
  async flushWhileDue(queue: EventQueue | undefined, clock: () => number, rounds = 4): Promise<number> {
    let sent = await this.flush(queue, clock());
    for (let round = 1; round < rounds && this.due(clock()); round++) sent += await this.flush(queue, clock());
    return sent;
  }
}
