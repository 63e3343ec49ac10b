import { describe, expect, it } from 'vitest';
import { adminTestFile, call, createFlag, sql, unique } from './helpers';

const { h, t } = await adminTestFile();

describe('orgs: errors', () => {
  it('a value of the wrong type → 422, nothing written', async () => {
    const key = await createFlag(h);
    const requestId = unique('req-');
    const res = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, {
      token: t.orgAdmin,
      body: { value: 'yes' },
      headers: { 'X-Request-Id': requestId },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([{ path: 'body.value', message: 'must be a boolean value' }]);
    expect(await sql('select 1 from cmis.feature_flag_values where request_id = $1', [requestId])).toEqual([]);
  });

  it('unknown flag → 404; deleting what is not there → 404', async () => {
    expect((await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${unique('nope-')}`, { token: t.orgAdmin, body: { value: true } })).status).toBe(404);
    const key = await createFlag(h);
    expect((await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin })).status).toBe(404);
    expect((await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${key}/users/u-9`, { token: t.orgAdmin })).status).toBe(404);
    expect((await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${key}/platforms/google`, { token: t.orgAdmin })).status).toBe(404);
  });

  it('invalid ids and percentages → 422 with one entry each', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'PUT', `/api/orgs/bad%20org/flags/${key}/users/${'u'.repeat(129)}`, { body: { value: true } });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['params.orgId', 'params.userId']);
    const pct = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: true, percentage: 101 } });
    expect(pct.status).toBe(422);
    expect(pct.body.errors[0].path).toBe('body.percentage');
  });

  it('missing value → 422', async () => {
    const key = await createFlag(h);
    const res = await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin, body: {} });
    expect(res.status).toBe(422);
  });
});
