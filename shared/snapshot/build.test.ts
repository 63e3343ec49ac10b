import { describe, expect, it } from 'vitest';
import cascade from '../../test/vectors/cascade.json';
import { evaluate } from '../engine';
import { buildLayers } from './build';
import { OrgLayerSchema } from './schema';
import { SourceStateSchema } from './state';
import type { SourceState } from './state';

const emptyState = (): SourceState => ({ flags: [], archived: [], orgValues: [], platformOverrides: [], userOverrides: [] });
const booleanFlag = (key: string) => ({ key, type: 'boolean' as const, defaultValue: false, offValue: false, killed: false });

describe('buildLayers', () => {
  const state = SourceStateSchema.parse(cascade.state);
  const { global, orgs } = buildLayers(state, { version: 4, generatedAt: 1_700_000_000_000 });

  it('leaves archived flags out of the global layer, keeps their org rows (a restore republishes only the global layer), drops rows of unknown flags', () => {
    expect(global.flags['legacy.export.enabled']).toBeUndefined();
    const archivedState: SourceState = {
      ...emptyState(),
      flags: [booleanFlag('old.flag')],
      archived: ['old.flag'],
      orgValues: [{ key: 'old.flag', orgId: 'org-a', value: true }, { key: 'gone.flag', orgId: 'org-a', value: true }],
      userOverrides: [{ key: 'old.flag', orgId: 'org-b', userId: 'u1', value: true }],
      platformOverrides: [
        { key: 'old.flag', platform: 'meta', orgId: null, value: true },
        { key: 'old.flag', platform: 'google', orgId: 'org-a', value: false },
      ],
    };
    const layers = buildLayers(archivedState);
    expect(layers.global).toEqual({ version: 0, generatedAt: 0, flags: {} });
    expect(layers.orgs['org-a']!.flags).toEqual({ 'old.flag': { value: true, platforms: { google: { value: false } } } });
    expect(layers.orgs['org-b']!.flags).toEqual({ 'old.flag': { users: { u1: { value: true } } } });
    expect(evaluate({ global: layers.global, org: layers.orgs['org-a']! }, 'old.flag', { orgId: 'org-a' }, 0)).toMatchObject({ errorCode: 'FLAG_NOT_FOUND' });
  });

  it('builds org layers only for orgs with data', () => {
    expect(Object.keys(orgs).sort()).toEqual(['org-a', 'org-b']);
    expect(orgs['org-a']).toMatchObject({ version: 4, orgId: 'org-a' });
  });

  it('stamps versions and the build time it is given', () => {
    expect(global.version).toBe(4);
    expect(global.generatedAt).toBe(1_700_000_000_000);
    const perOrg = buildLayers(state, { version: 9, orgVersions: { 'org-b': 2 } });
    expect(perOrg.orgs['org-a']!.version).toBe(9);
    expect(perOrg.orgs['org-b']!.version).toBe(2);
  });

  it('compiles the global layer', () => {
    expect(global.flags['reporting.v2.enabled']).toEqual({
      type: 'boolean',
      default: false,
      off: false,
      killed: false,
      rollout: { percentage: 30, value: true, stickiness: 'userId' },
    });
    expect(global.flags['campaign.publishing.enabled']!.platforms).toEqual({ tiktok: { value: false } });
    expect(global.flags['ui.theme']!.platforms).toBeUndefined();
  });

  it('compiles org entries: values, percentages, org platform overrides, user overrides with expiry in epoch ms', () => {
    expect(orgs['org-b']!.flags).toEqual({
      'campaign.creation.enabled': { value: false, users: { 'u-vip': { value: true } } },
      'reporting.v2.enabled': { value: true, percentage: 60 },
      'campaign.max_budget': { value: 5000 },
      'campaign.publishing.enabled': { platforms: { snapchat: { value: false } } },
      'ui.theme': { users: { 'u-old': { value: 'retro', expiresAt: Date.parse('2026-01-01T00:00:00Z') } } },
    });
  });

  it('compiles an expiry before 1970 (a row written before the API refused them) as long expired, so the layer still passes its schema', () => {
    const built = buildLayers({
      ...emptyState(),
      flags: [booleanFlag('a')],
      userOverrides: [{ key: 'a', orgId: 'org-x', userId: 'u-1', value: true, expiresAt: '1969-12-31T00:00:00Z' }],
    });
    expect(built.orgs['org-x']!.flags['a']!.users).toEqual({ 'u-1': { value: true, expiresAt: 0 } });
    expect(() => OrgLayerSchema.parse(built.orgs['org-x'])).not.toThrow();
  });

  it('fills in the default stickiness and keeps a custom salt', () => {
    const built = buildLayers({
      ...emptyState(),
      flags: [
        { ...booleanFlag('a'), rollout: { percentage: 5, value: true } },
        { ...booleanFlag('b'), rollout: { percentage: 5, value: true, stickiness: 'orgId', salt: 's' } },
      ],
    });
    expect(built.global.flags['a']!.rollout).toEqual({ percentage: 5, value: true, stickiness: 'userId' });
    expect(built.global.flags['b']!.rollout).toEqual({ percentage: 5, value: true, stickiness: 'orgId', salt: 's' });
  });

  it('lets a later row win and drops a percentage the later row does not have', () => {
    const built = buildLayers({
      ...emptyState(),
      flags: [booleanFlag('a')],
      orgValues: [
        { key: 'a', orgId: 'o', value: true, percentage: 10 },
        { key: 'a', orgId: 'o', value: false, percentage: null },
      ],
    });
    expect(built.orgs['o']!.flags['a']).toEqual({ value: false });
  });

  it('drops rows of unknown flags and treats ids like constructor as plain keys', () => {
    const built = buildLayers({
      ...emptyState(),
      flags: [booleanFlag('a')],
      orgValues: [{ key: 'ghost', orgId: 'o', value: true }],
      userOverrides: [{ key: 'a', orgId: 'constructor', userId: 'constructor', value: true }],
    });
    expect(Object.keys(built.orgs)).toEqual(['constructor']);
    expect(built.orgs['constructor']!.flags['a']!.users).toEqual({ constructor: { value: true } });
  });

  it('is pure: same state, same layers, and the state is not modified', () => {
    const input = SourceStateSchema.parse(cascade.state);
    const copy = structuredClone(input);
    expect(JSON.stringify(buildLayers(input, { version: 1 }))).toBe(JSON.stringify(buildLayers(input, { version: 1 })));
    expect(input).toEqual(copy);
  });
});
