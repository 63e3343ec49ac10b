import type { EvalContext, ErrorCode, GlobalLayer, Layers, OrgLayer } from './types';

/** The checked inputs of one call, shared by every flag a bulk evaluation resolves. */
export interface Prepared {
  global: GlobalLayer;
  /** The org layer when it belongs to the context's org, else null. */
  org: OrgLayer | null;
  orgId: string | undefined;
  userId: string | undefined;
  platform: string | undefined;
  version: string;
}

const MALFORMED = Symbol('malformed context field');

/** A plain object (not null, not an array): the only shape layers, entries and contexts may have. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The global layer if `layers` looks decodable, else undefined (the caller answers PARSE_ERROR). */
export function globalOf(layers: unknown): GlobalLayer | undefined {
  if (!isRecord(layers)) return undefined;
  const global = layers.global;
  return isRecord(global) && isRecord(global.flags) ? (global as unknown as GlobalLayer) : undefined;
}

/**
 * The version results carry: `<global>` or `<global>:<org>` for the layers given, so an ETag changes
 * whenever either layer does.
 */
export function snapshotVersion(layers: Layers): string {
  const org = layers.org;
  return org === null || org === undefined ? `${layers.global.version}` : `${layers.global.version}:${org.version}`;
}

/** Empty strings and null mean "absent" (outside every rollout); any other non-string is malformed. */
function contextField(value: unknown): string | undefined | typeof MALFORMED {
  if (typeof value === 'string') return value.length === 0 ? undefined : value;
  return value === undefined || value === null ? undefined : MALFORMED;
}

/**
 * Checks the layers and the context once per call. An org layer for another org is ignored rather
 * than applied: serving another tenant's overrides would be worse than serving the system value.
 */
export function prepare(layers: Layers, context: EvalContext | null | undefined): Prepared | ErrorCode {
  const global = globalOf(layers);
  if (global === undefined) return 'PARSE_ERROR';
  const org: unknown = layers.org ?? null;
  if (org !== null && !isRecord(org)) return 'PARSE_ERROR';
  if (context !== null && context !== undefined && !isRecord(context)) return 'INVALID_CONTEXT';
  const orgId = contextField(context?.orgId);
  const userId = contextField(context?.userId);
  const platform = contextField(context?.platform);
  if (orgId === MALFORMED || userId === MALFORMED || platform === MALFORMED) return 'INVALID_CONTEXT';
  const orgLayer = org as OrgLayer | null;
  return {
    global,
    org: orgLayer !== null && orgId !== undefined && orgLayer.orgId === orgId ? orgLayer : null,
    orgId,
    userId,
    platform,
    version: snapshotVersion(layers),
  };
}
