import type { GlobalLayer, Layers, OrgLayer } from '../engine';
import { globalLayerKey, orgLayerKey } from './keys';
import { GlobalLayerSchema, OrgLayerSchema } from './schema';

/**
 * An isolate-level cache of decoded snapshot layers (DESIGN.md "Snapshots in KV"), for every reader of
 * KV: the evaluate Worker (`workers/evaluate/layers.ts`) and the SDK's local transport.
 *
 * - The global layer has its own slot and is never evicted; org layers (and "this org has no layer"
 *   markers) sit in an LRU bounded by entry count and estimated bytes.
 * - A layer is served from memory for `maxAgeMs`, then re-read; both layers are read in parallel, and
 *   an unchanged text keeps the decoded objects (no JSON.parse, no zod).
 * - Refresh ahead: a caller that can run work after its answer (a Worker's `ctx.waitUntil`) has a
 *   copy older than half the max age re-read in the background while it is answered from memory,
 *   so in steady traffic no request waits for KV; the max age still bounds every answer.
 * - A failed read (KV error, bad JSON, schema violation, vanished global layer) keeps the last good copy
 *   and retries after another `maxAgeMs`; with no good copy `layersFor` answers null (caller fails closed).
 * - Reads are not shared between requests: a Workers I/O promise must not be awaited by another request.
 *
 * Layers handed out are shared by every request of the isolate: never mutate them.
 */

/** What the cache reads: a KV binding, or anything with its `get(key, 'text')`. */
export interface LayerSource {
  get(key: string, type: 'text'): Promise<string | null>;
}

/** Runs work after the answer (a Worker's ExecutionContext fits). */
export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

/** Why a read did not replace the cached copy; reported, never thrown. */
export interface LayerReadError {
  kvKey: string;
  kind: 'kv' | 'json' | 'schema' | 'missing';
  message: string;
}

export interface LayerCacheSettings {
  /** How long a decoded layer is served before KV is asked again. */
  maxAgeMs: number;
  /** Org layers (and "no layer" markers) kept; the global layer is not counted. */
  maxEntries: number;
  /** Estimated bytes held, global layer included. */
  maxBytes: number;
}

export const DEFAULT_LAYER_CACHE: LayerCacheSettings = { maxAgeMs: 1000, maxEntries: 2000, maxBytes: 32 * 1024 * 1024 };

interface Slot<T> {
  kvKey: string;
  /** null = KV has no such layer (an org without data). Meaningful once `loaded`. */
  value: T | null;
  /** The text `value` came from: an unchanged re-read skips decoding. */
  text: string | null;
  bytes: number;
  /** Clock reading of the last read that reached KV. */
  checkedAt: number;
  /** True once one read succeeded: from then on there is a last good copy. */
  loaded: boolean;
  /** The Layers last handed out for this slot, reused while the values it holds are current (no allocation per request). */
  composed?: Layers;
  /** Clock reading at which a background re-read started (refresh ahead); NaN when none is in flight. */
  refreshingSince: number;
}

const EMPTY_SLOT_BYTES = 128;

/** Decoded objects outweigh their JSON and the text is kept too: three bytes per char, on purpose rough. */
function weightOf(text: string | null, kvKey: string): number {
  return EMPTY_SLOT_BYTES + kvKey.length + (text === null ? 0 : text.length * 3);
}

function newSlot<T>(kvKey: string): Slot<T> {
  return { kvKey, value: null, text: null, bytes: weightOf(null, kvKey), checkedAt: 0, loaded: false, refreshingSince: Number.NaN };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

type ReadErrorListener = (error: LayerReadError) => void;

export class LayerCache {
  private readonly settings: LayerCacheSettings;
  private readonly onError: ReadErrorListener;
  private readonly global: Slot<GlobalLayer> = newSlot(globalLayerKey);
  private readonly orgs = new Map<string, Slot<OrgLayer>>();
  private orgBytes = 0;
  /** The org asked for last: already at the newest end of the LRU order. */
  private newest: string | undefined;

  constructor(settings: Partial<LayerCacheSettings> = {}, onError: ReadErrorListener = () => {}) {
    this.settings = { ...DEFAULT_LAYER_CACHE, ...settings };
    this.onError = onError;
  }

  /**
   * The layers for an org (`undefined`: global only), or null when there is no usable copy.
   * Synchronous while both layers are fresh. `onReadError` also hears this call's failed reads, so a
   * caller can attribute them (the SDK reports them with the flag key that triggered the read). With
   * `background`, a fresh copy past half its max age is re-read in `background.waitUntil` (one read
   * per layer at a time) and this call still answers synchronously from memory.
   */
  layersFor(
    kv: LayerSource,
    orgId: string | undefined,
    nowMs: number,
    onReadError?: ReadErrorListener,
    background?: WaitUntil,
  ): Layers | null | Promise<Layers | null> {
    const global = this.global;
    const org = orgId === undefined ? null : this.orgSlot(orgId);
    const globalStale = this.stale(global, nowMs);
    const orgStale = org !== null && this.stale(org, nowMs);
    if (!globalStale && !orgStale) {
      if (background !== undefined) this.readAhead(global, org, kv, nowMs, onReadError, background);
      return compose(global, org);
    }
    return Promise.all([
      globalStale ? this.refresh(global, kv, nowMs, onReadError) : undefined,
      orgStale && org ? this.refresh(org, kv, nowMs, onReadError) : undefined,
    ]).then(() => compose(global, org));
  }

  /**
   * The layers for an org if both are in memory and fresh, without waiting for KV or touching the LRU;
   * undefined otherwise (then call `layersFor`). Lets a caller skip promises and timers on the hot path.
   * With `kv` and `background`, copies past half their max age are re-read as in `layersFor`.
   */
  freshLayersFor(orgId: string | undefined, nowMs: number, kv?: LayerSource, background?: WaitUntil): Layers | null | undefined {
    const global = this.global;
    if (this.stale(global, nowMs)) return undefined;
    const org = orgId === undefined ? null : this.orgs.get(orgId);
    if (org === undefined) return undefined; // never asked for: only layersFor may read it
    if (org !== null && this.stale(org, nowMs)) return undefined;
    if (kv !== undefined && background !== undefined) this.readAhead(global, org, kv, nowMs, undefined, background);
    return compose(global, org);
  }

  stats(): { orgEntries: number; bytes: number; globalVersion: number | null } {
    return {
      orgEntries: this.orgs.size,
      bytes: this.orgBytes + this.global.bytes,
      globalVersion: this.global.loaded ? (this.global.value?.version ?? null) : null,
    };
  }

  /** No copy yet, or the copy is at least the max age old: it must be read before it is served. */
  private stale(slot: Slot<unknown>, nowMs: number): boolean {
    return !slot.loaded || nowMs - slot.checkedAt >= this.settings.maxAgeMs;
  }

  private isGlobal(slot: Slot<unknown>): boolean {
    return slot === (this.global as Slot<unknown>);
  }

  private orgSlot(orgId: string): Slot<OrgLayer> {
    let slot = this.orgs.get(orgId);
    if (slot === undefined) {
      slot = newSlot<OrgLayer>(orgLayerKey(orgId));
      this.orgs.set(orgId, slot);
      this.orgBytes += slot.bytes;
      this.evict(slot);
    } else if (orgId !== this.newest) {
      // Map order is the LRU order: move to the newest end (already there when the same org asks again).
      this.orgs.delete(orgId);
      this.orgs.set(orgId, slot);
    }
    this.newest = orgId;
    return slot;
  }

  /** Starts a background re-read of each fresh layer past half its max age. */
  private readAhead(
    global: Slot<GlobalLayer>,
    org: Slot<OrgLayer> | null,
    kv: LayerSource,
    nowMs: number,
    onReadError: ReadErrorListener | undefined,
    background: WaitUntil,
  ): void {
    const ahead = this.settings.maxAgeMs / 2;
    if (nowMs - global.checkedAt >= ahead) this.refreshAhead(global, kv, nowMs, onReadError, background);
    if (org !== null && nowMs - org.checkedAt >= ahead) this.refreshAhead(org, kv, nowMs, onReadError, background);
  }

  /**
   * Re-reads a fresh slot in the background unless a read of it is already in flight. A read that
   * never settles (its request was cancelled) stops counting as in flight after a max age.
   */
  private refreshAhead<T>(slot: Slot<T>, kv: LayerSource, nowMs: number, onReadError: ReadErrorListener | undefined, background: WaitUntil): void {
    if (nowMs - slot.refreshingSince < this.settings.maxAgeMs) return;
    slot.refreshingSince = nowMs;
    background.waitUntil(
      this.refresh(slot, kv, nowMs, onReadError).finally(() => {
        if (slot.refreshingSince === nowMs) slot.refreshingSince = Number.NaN;
      }),
    );
  }

  private async refresh<T>(slot: Slot<T>, kv: LayerSource, nowMs: number, onReadError: ReadErrorListener | undefined): Promise<void> {
    const isGlobal = this.isGlobal(slot);
    const fail = (kind: LayerReadError['kind'], message: string) => this.failed(slot, nowMs, { kvKey: slot.kvKey, kind, message }, onReadError);
    let text: string | null;
    try {
      text = await kv.get(slot.kvKey, 'text');
    } catch (err) {
      return fail('kv', messageOf(err));
    }
    // A read that started later has already landed (a slow background read overtaken): keep the newer copy.
    if (slot.loaded && nowMs < slot.checkedAt) return;
    if (text === null) {
      // An org without data is normal; the global layer vanishing is not, so keep what we have.
      if (isGlobal) return fail('missing', 'no global layer in KV');
      return this.store(slot, null, null, nowMs);
    }
    if (slot.loaded && text === slot.text) {
      slot.checkedAt = nowMs;
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      return fail('json', messageOf(err));
    }
    const parsed = (isGlobal ? GlobalLayerSchema : OrgLayerSchema).safeParse(json);
    if (!parsed.success) {
      const first = parsed.error.issues[0];
      return fail('schema', first ? `${first.path.join('.')}: ${first.message}` : 'invalid layer');
    }
    if (!isGlobal && (parsed.data as OrgLayer).orgId !== orgIdOf(slot)) return fail('schema', 'orgId does not match the key');
    // Reads that started at the same clock reading (workerd's clock stands still between I/O) are not
    // ordered by it: of those, the higher version stays. A read that started later is taken as it is,
    // so a layer republished with lower versions (a database rebuilt from scratch) still gets through.
    if (slot.loaded && nowMs === slot.checkedAt && slot.value !== null && (parsed.data as GlobalLayer).version < (slot.value as GlobalLayer).version) return;
    this.store(slot, parsed.data as T, text, nowMs);
  }

  private store<T>(slot: Slot<T>, value: T | null, text: string | null, nowMs: number): void {
    const bytes = weightOf(text, slot.kvKey);
    if (!this.isGlobal(slot) && this.orgs.get(orgIdOf(slot)) === (slot as Slot<unknown>)) this.orgBytes += bytes - slot.bytes;
    // A new global layer: no org slot may keep the old one alive through its composed Layers.
    if (this.isGlobal(slot) && value !== slot.value) for (const org of this.orgs.values()) org.composed = undefined;
    slot.value = value;
    slot.text = text;
    slot.bytes = bytes;
    slot.loaded = true;
    slot.checkedAt = nowMs;
    this.evict(slot);
  }

  private failed<T>(slot: Slot<T>, nowMs: number, error: LayerReadError, onReadError: ReadErrorListener | undefined): void {
    // With a good copy, wait a full max-age before asking KV again; without one, the next call retries.
    if (slot.loaded) slot.checkedAt = Math.max(slot.checkedAt, nowMs);
    this.onError(error);
    onReadError?.(error);
  }

  /** Drops least recently used org entries until both bounds hold; `keep` (in use now) stays. */
  private evict(keep: Slot<unknown>): void {
    const { maxEntries, maxBytes } = this.settings;
    for (const [orgId, slot] of this.orgs) {
      if (this.orgs.size <= maxEntries && this.orgBytes + this.global.bytes <= maxBytes) return;
      if (slot === keep) continue;
      this.orgs.delete(orgId);
      this.orgBytes -= slot.bytes;
    }
  }
}

function orgIdOf(slot: Slot<unknown>): string {
  return slot.kvKey.slice(orgLayerKey('').length);
}

function compose(global: Slot<GlobalLayer>, org: Slot<OrgLayer> | null): Layers | null {
  if (!global.loaded || global.value === null) return null;
  const slot = org ?? global;
  if (!slot.loaded) return null;
  const orgValue = org === null ? null : org.value;
  const last = slot.composed;
  if (last !== undefined && last.global === global.value && last.org === orgValue) return last;
  return (slot.composed = { global: global.value, org: orgValue });
}
