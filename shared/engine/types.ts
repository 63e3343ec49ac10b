/**
 * The decoded snapshot layers and the evaluation vocabulary. The engine owns these types:
 * `shared/snapshot` validates KV JSON into exactly these shapes, everything else imports them.
 *
 * Layers are shared by every request of an isolate (they sit in its cache): never mutate them.
 */

/** Any JSON value: flag values travel through KV and HTTP as JSON. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Flag value types; every answer is checked against its flag's type so `isActive` never sees a string. */
export const FLAG_TYPES = ['boolean', 'string', 'number', 'json'] as const;
export type FlagType = (typeof FLAG_TYPES)[number];

/** Which context field a system rollout buckets: users by default, or whole organizations. */
export const STICKINESS = ['userId', 'orgId'] as const;
export type Stickiness = (typeof STICKINESS)[number];

/** Why a value was chosen (OpenFeature / OFREP vocabulary). */
export const REASONS = ['STATIC', 'DEFAULT', 'TARGETING_MATCH', 'SPLIT', 'DISABLED', 'ERROR'] as const;
export type Reason = (typeof REASONS)[number];

/** Which level of the cascade answered. Errors report `system`: the caller falls back to its default. */
export const SOURCES = ['user', 'platform', 'org', 'system', 'killed'] as const;
export type Source = (typeof SOURCES)[number];

/** OpenFeature error codes; the engine itself produces FLAG_NOT_FOUND, PARSE_ERROR, TYPE_MISMATCH, INVALID_CONTEXT and GENERAL. */
export const ERROR_CODES = [
  'FLAG_NOT_FOUND',
  'PARSE_ERROR',
  'TYPE_MISMATCH',
  'INVALID_CONTEXT',
  'TARGETING_KEY_MISSING',
  'PROVIDER_NOT_READY',
  'PROVIDER_FATAL',
  'GENERAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** A targeted value that may lapse (platform and user overrides). */
export interface Override {
  /** The value served while the override is active. */
  value: JsonValue;
  /** Epoch ms after which the override no longer applies (active iff now < expiresAt); absent = never expires. Precomputed so the hot path compares numbers, not dates. */
  expiresAt?: number;
}

/** A system-level percentage rollout. */
export interface SystemRollout {
  /** 0–100 with at most two decimals; a subject is inside iff bucket < round(percentage * 100). */
  percentage: number;
  /** What subjects inside the rollout get (everyone else gets the flag's default). */
  value: JsonValue;
  /** The context field that is bucketed; always filled in by the compiler so the hot path has no defaulting. */
  stickiness: Stickiness;
  /** Hash salt; absent = the flag key, which keeps flags independent of each other. */
  salt?: string;
}

/** One live flag in the global layer (archived flags are simply absent: FLAG_NOT_FOUND). */
export interface GlobalFlag {
  /** Declared value type; answers of another type become TYPE_MISMATCH errors (fail closed). */
  type: FlagType;
  /** The system value when no level targets the context. */
  default: JsonValue;
  /** What everyone gets while the flag is killed. */
  off: JsonValue;
  /** Kill switch: beats every override. */
  killed: boolean;
  /** Present only when the flag has a system rollout (its presence also turns STATIC into DEFAULT). */
  rollout?: SystemRollout;
  /** All-orgs platform overrides keyed by platform; present only when non-empty (presence turns STATIC into DEFAULT). */
  platforms?: Record<string, Override>;
}

/** The `snap:v1:global` layer: everything that is the same for every organization. */
export interface GlobalLayer {
  /** The layer's committed version (snapshot_versions.db_version); results and ETags carry it. */
  version: number;
  /** Epoch ms when the compiler built the layer; for status pages and staleness checks. */
  generatedAt: number;
  /** Live flags keyed by flag key: one property lookup per evaluation. */
  flags: Record<string, GlobalFlag>;
}

/** Everything one organization sets for one flag. Its mere presence turns STATIC into DEFAULT. */
export interface OrgFlag {
  /** The org row's value; absent when the org only has platform or user overrides for the flag. */
  value?: JsonValue;
  /** Org rollout: only users (by userId, salt = flag key) inside it get `value`, others fall through. */
  percentage?: number;
  /** Org-specific platform overrides keyed by platform; they beat the all-orgs ones. */
  platforms?: Record<string, Override>;
  /** User overrides keyed by userId; they beat everything but the kill switch. */
  users?: Record<string, Override>;
}

/** The `snap:v1:org:<orgId>` layer: one organization's data, so a system change costs one KV write. */
export interface OrgLayer {
  /** The layer's committed version; results carry `<global>:<org>`. */
  version: number;
  /** The organization this layer belongs to; the engine ignores a layer whose orgId is not the context's. */
  orgId: string;
  /** This org's flag entries keyed by flag key (only flags it has data for). */
  flags: Record<string, OrgFlag>;
}

/** What `evaluate` reads: the global layer and the context org's layer (null when it has none). */
export interface Layers {
  global: GlobalLayer;
  org: OrgLayer | null;
}

/** Who is asking. Empty strings and null count as absent; other non-string ids are INVALID_CONTEXT. */
export interface EvalContext {
  orgId?: string;
  userId?: string;
  platform?: string;
  /** Reserved for attribute rules; the cascade does not read it yet. */
  attributes?: Record<string, JsonValue>;
}

/** One evaluation's answer. Errors carry value null and an errorCode: the caller substitutes its default. */
export interface EvalResult {
  value: JsonValue;
  reason: Reason;
  source: Source;
  variant?: string;
  errorCode?: ErrorCode;
  /** `<global version>` or `<global version>:<org version>` of the layers evaluated. */
  version?: string;
}
