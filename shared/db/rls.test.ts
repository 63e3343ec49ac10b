import type { Pool } from '@neondatabase/serverless';
import { describe, expect, it } from 'vitest';
import { withRls } from './rls';

// The context is validated before any connection is taken (database behaviour: test/node/db/rls.test.ts).
const noPool = {
  connect: () => {
    throw new Error('must not connect');
  },
} as unknown as Pool;

describe('withRls context', () => {
  it('rejects unknown roles, org roles without an org, and missing actors', async () => {
    await expect(withRls(noPool, { orgId: null, role: 'root' as never, actor: 'a' }, async () => 1)).rejects.toThrow(/unknown role/);
    await expect(withRls(noPool, { orgId: null, role: 'viewer', actor: 'a' }, async () => 1)).rejects.toThrow(/needs an orgId/);
    await expect(withRls(noPool, { orgId: 'o', role: 'org_admin', actor: '' }, async () => 1)).rejects.toThrow(/actor is required/);
  });
});
