// docs/openfeature.md, executed: @openfeature/server-sdk + @openfeature/ofrep-provider against the
// stack's evaluate Worker, with the CMIS checks as the page shows them. (OFREP conformance over all
// vectors is test/e2e/ofrep.test.ts.)
import { OFREPProvider } from '@openfeature/ofrep-provider';
import { OpenFeature, type Client } from '@openfeature/server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stack } from '../../scripts/stack';
import { appLayers, closedPortUrl, putLayers } from '../sdk/fixtures';
import { startTestStack } from './stack';

describe('docs/openfeature.md', () => {
  let stack: Stack;
  let flags: Client;
  let down: Client;

  beforeAll(async () => {
    stack = await startTestStack();
    await putLayers(await stack.kv(), appLayers());
    // As the page sets it up (under a domain of its own, so other suites keep their providers).
    await OpenFeature.setProviderAndWait(
      'docs',
      new OFREPProvider({ baseUrl: stack.urls.evaluate, headers: [['Authorization', `Bearer ${stack.evalKey}`]] }),
    );
    flags = OpenFeature.getClient('docs');
    await OpenFeature.setProviderAndWait('docs-down', new OFREPProvider({ baseUrl: await closedPortUrl(), headers: [['Authorization', 'Bearer x']] }));
    down = OpenFeature.getClient('docs-down');
  }, 120_000);

  afterAll(async () => {
    await OpenFeature.clearProviders();
    await stack?.close();
  });

  it('route check: campaign.creation.enabled per org (org-b has it off, user u-vip overrides)', async () => {
    expect(await flags.getBooleanValue('campaign.creation.enabled', false, { targetingKey: 'u1', orgId: 'org-a' })).toBe(true);
    expect(await flags.getBooleanValue('campaign.creation.enabled', false, { targetingKey: 'u1', orgId: 'org-b' })).toBe(false);
    expect(await flags.getBooleanValue('campaign.creation.enabled', false, { targetingKey: 'u-vip', orgId: 'org-b' })).toBe(true);
  });

  it('platform check with the platform in the context', async () => {
    const ctx = { targetingKey: 'u1', orgId: 'org-a' };
    expect(await flags.getBooleanValue('platform.meta.enabled', false, { ...ctx, platform: 'meta' })).toBe(true);
    expect(await flags.getBooleanValue('platform.google.enabled', false, { ...ctx, platform: 'google' })).toBe(false);
    const details = await flags.getBooleanDetails('platform.meta.enabled', false, { ...ctx, platform: 'meta' });
    expect(details).toMatchObject({ value: true, reason: 'TARGETING_MATCH', flagMetadata: { source: 'org' } });
  });

  it('typed values', async () => {
    expect(await flags.getNumberValue('campaign.max_budget', 1000, { orgId: 'org-b' })).toBe(5000);
    expect(await flags.getStringValue('ui.theme', 'light', { orgId: 'org-a', platform: 'google' })).toBe('google-blue');
  });

  it('fails closed: unknown flag, evaluate Worker down → the default with reason ERROR', async () => {
    expect(await flags.getBooleanDetails('no.such.flag', false, {})).toMatchObject({ value: false, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    expect(await down.getBooleanDetails('platform.meta.enabled', false, { orgId: 'org-a' })).toMatchObject({ value: false, reason: 'ERROR' });
  });
});
