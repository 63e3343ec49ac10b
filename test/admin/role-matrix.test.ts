// Generated role matrix: every mounted admin route × every kind of caller. The expectations are a
// hand-written table (not derived from the routes' own `access`), and a route missing from the table
// fails the run, so a new route cannot ship without deciding who may call it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminRoutes } from '../../workers/admin/app';
import { call, createFlag, mintRoleTokens, startHarness, unique, type Harness, type RoleTokens } from './helpers';

type Caller = 'system_admin' | 'org_admin' | 'org_admin_other' | 'viewer' | 'evaluate' | 'none' | 'bad';
const CALLERS: Caller[] = ['system_admin', 'org_admin', 'org_admin_other', 'viewer', 'evaluate', 'none', 'bad'];
type Allowed = 'public' | Caller[];

const ALL_ADMINS: Caller[] = ['system_admin', 'org_admin', 'org_admin_other', 'viewer'];
const OWN_ORG_READERS: Caller[] = ['system_admin', 'org_admin', 'viewer'];
const OWN_ORG_WRITERS: Caller[] = ['system_admin', 'org_admin'];
const WRITERS: Caller[] = ['system_admin', 'org_admin', 'org_admin_other'];
const SYSTEM: Caller[] = ['system_admin'];

let h: Harness;
let t: RoleTokens;

interface Request {
  path: string;
  body?: unknown;
}

/** Who may call what; `hidden`: another org's resource is invisible to it (404 rather than 403). */
const MATRIX: Record<string, { allowed: Allowed; hidden?: boolean; prepare: () => Promise<Request> }> = {
  'GET /api/health': { allowed: 'public', prepare: async () => ({ path: '/api/health' }) },
  'GET /api/openapi.json': { allowed: 'public', prepare: async () => ({ path: '/api/openapi.json' }) },
  'GET /api/flags': { allowed: ALL_ADMINS, prepare: async () => ({ path: '/api/flags?limit=1' }) },
  'POST /api/flags': { allowed: SYSTEM, prepare: async () => ({ path: '/api/flags', body: { key: unique('matrix-') } }) },
  'GET /api/flags/:key': { allowed: ALL_ADMINS, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}` }) },
  'PATCH /api/flags/:key': { allowed: SYSTEM, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}`, body: { description: 'm' } }) },
  'DELETE /api/flags/:key': { allowed: SYSTEM, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}` }) },
  'POST /api/flags/:key/restore': { allowed: SYSTEM, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/restore` }) },
  'POST /api/flags/:key/enable': { allowed: SYSTEM, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/enable` }) },
  'POST /api/flags/:key/disable': { allowed: SYSTEM, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/disable` }) },
  'PUT /api/flags/:key/platforms/:platform': {
    allowed: SYSTEM,
    prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/platforms/meta`, body: { value: true } }),
  },
  'DELETE /api/flags/:key/platforms/:platform': {
    allowed: SYSTEM,
    prepare: async () => {
      const key = await createFlag(h);
      await call(h, 'PUT', `/api/flags/${key}/platforms/meta`, { body: { value: true } });
      return { path: `/api/flags/${key}/platforms/meta` };
    },
  },
  'GET /api/orgs/:orgId/flags': { allowed: OWN_ORG_READERS, prepare: async () => ({ path: `/api/orgs/${t.orgId}/flags` }) },
  'PUT /api/orgs/:orgId/flags/:key': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => ({ path: `/api/orgs/${t.orgId}/flags/${await createFlag(h)}`, body: { value: true } }),
  },
  'DELETE /api/orgs/:orgId/flags/:key': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => {
      const key = await createFlag(h);
      await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: true } });
      return { path: `/api/orgs/${t.orgId}/flags/${key}` };
    },
  },
  'PUT /api/orgs/:orgId/flags/:key/platforms/:platform': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => ({ path: `/api/orgs/${t.orgId}/flags/${await createFlag(h)}/platforms/tiktok`, body: { value: true } }),
  },
  'DELETE /api/orgs/:orgId/flags/:key/platforms/:platform': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => {
      const key = await createFlag(h);
      await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}/platforms/tiktok`, { body: { value: true } });
      return { path: `/api/orgs/${t.orgId}/flags/${key}/platforms/tiktok` };
    },
  },
  'PUT /api/orgs/:orgId/flags/:key/users/:userId': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => ({ path: `/api/orgs/${t.orgId}/flags/${await createFlag(h)}/users/u-1`, body: { value: true } }),
  },
  'DELETE /api/orgs/:orgId/flags/:key/users/:userId': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => {
      const key = await createFlag(h);
      await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}/users/u-1`, { body: { value: true } });
      return { path: `/api/orgs/${t.orgId}/flags/${key}/users/u-1` };
    },
  },
  'GET /api/audit': { allowed: ALL_ADMINS, prepare: async () => ({ path: '/api/audit?limit=1' }) },
  // one flag's entries: the run's shared database holds other files' large exports-to-be
  'GET /api/audit/export': { allowed: ALL_ADMINS, prepare: async () => ({ path: `/api/audit/export?flag=${await createFlag(h)}` }) },
  'POST /api/audit/:id/revert': {
    allowed: OWN_ORG_WRITERS,
    hidden: true,
    prepare: async () => {
      const key = await createFlag(h);
      await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: true } });
      const [entry] = (await call(h, 'GET', `/api/audit?flag=${key}&orgId=${t.orgId}&limit=1`)).body.items;
      return { path: `/api/audit/${entry.id}/revert` };
    },
  },
  'POST /api/tokens': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => ({ path: '/api/tokens', body: { name: unique('m-'), role: 'viewer', orgId: t.orgId } }),
  },
  'GET /api/tokens': { allowed: WRITERS, prepare: async () => ({ path: '/api/tokens?limit=1' }) },
  'DELETE /api/tokens/:id': {
    allowed: OWN_ORG_WRITERS,
    hidden: true,
    prepare: async () => {
      const res = await call(h, 'POST', '/api/tokens', { body: { name: unique('m-'), role: 'viewer', orgId: t.orgId } });
      return { path: `/api/tokens/${res.body.id}` };
    },
  },
  'POST /api/publish': { allowed: SYSTEM, prepare: async () => ({ path: '/api/publish' }) },
  'GET /api/status': { allowed: ALL_ADMINS, prepare: async () => ({ path: '/api/status' }) },
  // issue 6: schedules, ramps, webhooks (org-scoped requests for t.orgId)
  'POST /api/flags/:key/schedules': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/schedules`, body: { at: FUTURE, orgId: t.orgId, change: { value: true } } }),
  },
  'GET /api/flags/:key/schedules': { allowed: ALL_ADMINS, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/schedules` }) },
  'DELETE /api/schedules/:id': {
    allowed: OWN_ORG_WRITERS,
    hidden: true,
    prepare: async () => {
      const key = await createFlag(h);
      const res = await call(h, 'POST', `/api/flags/${key}/schedules`, { body: { at: FUTURE, orgId: t.orgId, change: { value: true } } });
      return { path: `/api/schedules/${res.body.id}` };
    },
  },
  'POST /api/flags/:key/rollouts': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/rollouts`, body: { orgId: t.orgId, every: '1h', percentages: [10, 50] } }),
  },
  'GET /api/flags/:key/rollouts': { allowed: ALL_ADMINS, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/rollouts` }) },
  'GET /api/rollouts/:id': { allowed: OWN_ORG_READERS, hidden: true, prepare: async () => ({ path: `/api/rollouts/${await orgRamp()}` }) },
  'POST /api/rollouts/:id/pause': { allowed: OWN_ORG_WRITERS, hidden: true, prepare: async () => ({ path: `/api/rollouts/${await orgRamp()}/pause` }) },
  'POST /api/rollouts/:id/resume': {
    allowed: OWN_ORG_WRITERS,
    hidden: true,
    prepare: async () => {
      const id = await orgRamp();
      await call(h, 'POST', `/api/rollouts/${id}/pause`);
      return { path: `/api/rollouts/${id}/resume` };
    },
  },
  'POST /api/rollouts/:id/abort': { allowed: OWN_ORG_WRITERS, hidden: true, prepare: async () => ({ path: `/api/rollouts/${await orgRamp()}/abort` }) },
  'POST /api/webhooks': {
    allowed: OWN_ORG_WRITERS,
    prepare: async () => ({ path: '/api/webhooks', body: { url: 'http://127.0.0.1:9/hook', kind: 'generic', orgId: t.orgId } }),
  },
  'GET /api/webhooks': { allowed: WRITERS, prepare: async () => ({ path: '/api/webhooks?limit=1' }) },
  'DELETE /api/webhooks/:id': {
    allowed: OWN_ORG_WRITERS,
    hidden: true,
    prepare: async () => {
      const res = await call(h, 'POST', '/api/webhooks', { body: { url: 'http://127.0.0.1:9/hook', kind: 'slack', orgId: t.orgId } });
      return { path: `/api/webhooks/${res.body.id}` };
    },
  },
  // issue 9: metrics and stale marks (without orgId an org role reads its own org)
  'GET /api/flags/:key/metrics': { allowed: ALL_ADMINS, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/metrics` }) },
  'GET /api/flags/:key/metrics/summary': { allowed: ALL_ADMINS, prepare: async () => ({ path: `/api/flags/${await createFlag(h)}/metrics/summary` }) },
  'GET /api/stale': { allowed: ALL_ADMINS, prepare: async () => ({ path: '/api/stale' }) },
};

const FUTURE = '2099-01-01T00:00:00Z';

/** A running ramp of a fresh flag in t.orgId (created by the system admin). */
async function orgRamp(): Promise<string> {
  const res = await call(h, 'POST', `/api/flags/${await createFlag(h)}/rollouts`, { body: { orgId: t.orgId, every: '1h', percentages: [10, 50] } });
  if (res.status !== 201) throw new Error(`ramp: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

beforeAll(async () => {
  h = await startHarness();
  t = await mintRoleTokens(h);
});
afterAll(async () => {
  await h.close();
});

function tokenOf(caller: Caller): string | null | undefined {
  switch (caller) {
    case 'system_admin':
      return undefined; // the harness default: the bootstrap token
    case 'org_admin':
      return t.orgAdmin;
    case 'org_admin_other':
      return t.otherOrgAdmin;
    case 'viewer':
      return t.viewer;
    case 'evaluate':
      return t.evaluate;
    case 'none':
      return null;
    case 'bad':
      return `cmf_admin_${'A'.repeat(43)}`;
  }
}

function expected(allowed: Allowed, caller: Caller, hidden: boolean): string {
  if (allowed === 'public') return '2xx';
  if (caller === 'none' || caller === 'bad') return '401';
  if (allowed.includes(caller)) return '2xx';
  if (hidden && caller === 'org_admin_other') return '404';
  return '403';
}

const classOf = (status: number): string => (status >= 200 && status < 300 ? '2xx' : String(status));

describe('role matrix', () => {
  it('every mounted route has a row in the matrix, and every row a route', () => {
    const mounted = adminRoutes.map((r) => `${r.method.toUpperCase()} ${r.path}`).sort();
    expect(Object.keys(MATRIX).sort()).toEqual(mounted);
  });

  for (const route of adminRoutes) {
    const name = `${route.method.toUpperCase()} ${route.path}`;
    const row = MATRIX[name];
    if (!row) continue; // reported once, by the coverage test above
    describe(name, () => {
      for (const caller of CALLERS) {
        const want = expected(row.allowed, caller, row.hidden ?? false);
        it(`${caller} → ${want}`, async () => {
          const request = await row.prepare();
          const res = await call(h, route.method.toUpperCase(), request.path, { token: tokenOf(caller), body: request.body });
          expect(classOf(res.status), JSON.stringify(res.body)).toBe(want);
        });
      }
    });
  }
});
