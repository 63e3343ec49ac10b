import type { GlobalFlag, GlobalLayer, OrgFlag, OrgLayer, Override, SystemRollout } from '../engine';
import type { SourceFlag, SourceState } from './state';

export interface BuildOptions {
  /** Stamped on the global layer, and on every org layer that `orgVersions` does not name. Default 0. */
  version?: number;
  /** Epoch ms of the build; passed in because building is pure (no clock). Default 0. */
  generatedAt?: number;
  /** Per-org layer versions (snapshot_versions keeps one per layer). */
  orgVersions?: Record<string, number>;
}

export interface SnapshotLayers {
  global: GlobalLayer;
  /** Org layers keyed by orgId, only for orgs that have data for a live flag. */
  orgs: Record<string, OrgLayer>;
}

/** Records without a prototype, so ids such as `constructor` are ordinary keys while building. */
function emptyRecord<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Epoch ms of an ISO instant; an unreadable instant counts as long expired (fail closed). */
function expiryOf(instant: string | null | undefined): number | undefined {
  if (instant === null || instant === undefined) return undefined;
  const ms = Date.parse(instant);
  // before 1970 is long expired too: the layer schema only holds non-negative epoch ms
  return Number.isNaN(ms) || ms < 0 ? 0 : ms;
}

function overrideOf(row: { value: Override['value']; expiresAt?: string | null | undefined }): Override {
  const expiresAt = expiryOf(row.expiresAt);
  return expiresAt === undefined ? { value: row.value } : { value: row.value, expiresAt };
}

function globalFlagOf(source: SourceFlag): GlobalFlag {
  const flag: GlobalFlag = {
    type: source.type,
    default: source.defaultValue,
    off: source.offValue,
    killed: source.killed,
  };
  const rollout = source.rollout;
  if (rollout) {
    const compiled: SystemRollout = {
      percentage: rollout.percentage,
      value: rollout.value,
      stickiness: rollout.stickiness ?? 'userId',
    };
    if (rollout.salt) compiled.salt = rollout.salt;
    flag.rollout = compiled;
  }
  return flag;
}

/** The org layer entry for (orgId, key), creating the layer and the entry on first use. */
function orgFlagIn(
  orgs: Record<string, OrgLayer>,
  orgId: string,
  key: string,
  version: number,
  orgVersions: Record<string, number> | undefined,
): OrgFlag {
  let layer = orgs[orgId];
  if (layer === undefined) {
    const orgVersion = orgVersions && Object.hasOwn(orgVersions, orgId) ? orgVersions[orgId] : undefined;
    layer = { version: orgVersion ?? version, orgId, flags: emptyRecord<OrgFlag>() };
    orgs[orgId] = layer;
  }
  return (layer.flags[key] ??= {});
}

/**
 * Compiles the neutral state into the two KV layer kinds: one global layer, and one layer per org
 * that has data. Pure: no clock, no I/O. Archived flags are left out of the global layer (evaluation
 * then says FLAG_NOT_FOUND) but their org rows stay in the org layers: archiving and restoring
 * republish the global layer only, so an org layer compiled while a flag was archived must still hold
 * that flag's org values and overrides when it is restored. Rows of unknown flags are left out.
 * Expired overrides are kept: the engine skips
 * them by time, and their presence still makes the default a DEFAULT rather than STATIC.
 * Later rows win over earlier rows for the same target.
 */
export function buildLayers(state: SourceState, options: BuildOptions = {}): SnapshotLayers {
  const version = options.version ?? 0;
  const archived = new Set(state.archived);
  const flags = emptyRecord<GlobalFlag>();
  const known = new Set<string>();
  for (const source of state.flags) {
    known.add(source.key);
    if (!archived.has(source.key)) flags[source.key] = globalFlagOf(source);
  }

  const orgs = emptyRecord<OrgLayer>();
  const orgFlag = (orgId: string, key: string): OrgFlag => orgFlagIn(orgs, orgId, key, version, options.orgVersions);

  for (const row of state.orgValues) {
    if (!known.has(row.key)) continue;
    const entry = orgFlag(row.orgId, row.key);
    entry.value = row.value;
    if (row.percentage === null || row.percentage === undefined) delete entry.percentage;
    else entry.percentage = row.percentage;
  }
  for (const row of state.platformOverrides) {
    if (!known.has(row.key)) continue;
    let platforms: Record<string, Override>;
    if (row.orgId !== null) platforms = orgFlag(row.orgId, row.key).platforms ??= emptyRecord();
    else {
      const flag = flags[row.key];
      if (flag === undefined) continue; // archived: its global layer entry comes back with it
      platforms = flag.platforms ??= emptyRecord();
    }
    platforms[row.platform] = overrideOf(row);
  }
  for (const row of state.userOverrides) {
    if (!known.has(row.key)) continue;
    const users = (orgFlag(row.orgId, row.key).users ??= emptyRecord());
    users[row.userId] = overrideOf(row);
  }

  return {
    global: { version, generatedAt: options.generatedAt ?? 0, flags },
    orgs,
  };
}
