import { describe, expect, it } from 'vitest';
import { adminTestFile, BOOTSTRAP_TOKEN, call, createFlag, sql, unique } from './helpers';

const { h, t } = await adminTestFile();

interface AuditRow {
  feature_key: string | null;
  org_id: string | null;
  level: string;
  actor: string;
  reason: string | null;
  request_id: string | null;
}

const auditOf = (requestId: string) =>
  sql<AuditRow>('select feature_key, org_id, level, actor, reason, request_id from cmis.feature_flag_values where request_id = $1', [requestId]);

describe('audit: every write path leaves an audit row with actor, reason and request id', () => {
  // [name, token, method, path(key), body?, expected level]
  type WritePath = [string, 'system' | 'org', string, (key: string) => string, unknown, string];
  const writes: WritePath[] = [
    ['create flag', 'system', 'POST', () => '/api/flags', undefined, 'system'],
    ['patch flag', 'system', 'PATCH', (k) => `/api/flags/${k}`, { description: 'changed' }, 'system'],
    ['archive flag', 'system', 'DELETE', (k) => `/api/flags/${k}`, undefined, 'system'],
    ['enable flag', 'system', 'POST', (k) => `/api/flags/${k}/enable`, undefined, 'system'],
    ['put all-orgs platform', 'system', 'PUT', (k) => `/api/flags/${k}/platforms/google`, { value: true }, 'platform'],
    ['put org value', 'org', 'PUT', (k) => `/api/orgs/${t.orgId}/flags/${k}`, { value: true }, 'org'],
    ['put org platform', 'org', 'PUT', (k) => `/api/orgs/${t.orgId}/flags/${k}/platforms/meta`, { value: true }, 'platform'],
    ['put user override', 'org', 'PUT', (k) => `/api/orgs/${t.orgId}/flags/${k}/users/u-7`, { value: true }, 'user'],
  ];

  for (const [name, who, method, path, body, level] of writes) {
    for (const via of ['header', 'body'] as const) {
      it(`${name} (reason in ${via})`, async () => {
        const key = unique('audit.path-');
        if (name !== 'create flag') await createFlag(h, { key });
        const requestId = unique('req-');
        const reason = `because ${name} ${via}`;
        const payload = method === 'POST' && name === 'create flag' ? { key } : (body ?? {});
        const res = await call(h, method, path(key), {
          token: who === 'system' ? undefined : t.orgAdmin,
          body: via === 'body' ? { ...(payload as object), reason } : payload,
          headers: { 'X-Request-Id': requestId, ...(via === 'header' ? { 'X-Change-Reason': reason } : {}) },
        });
        expect(res.status).toBeLessThan(300);
        const rows = await auditOf(requestId);
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ feature_key: key, level, reason, request_id: requestId });
        expect(rows[0]!.actor).toMatch(who === 'system' ? /^token:bootstrap$/ : /^token:org_admin-/);
      });
    }
  }

  it('delete paths are audited too (org value, overrides, all-orgs platform)', async () => {
    const key = await createFlag(h);
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { body: { value: true } });
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}/users/u-1`, { body: { value: true } });
    await call(h, 'PUT', `/api/flags/${key}/platforms/meta`, { body: { value: true } });
    for (const path of [`/api/orgs/${t.orgId}/flags/${key}`, `/api/orgs/${t.orgId}/flags/${key}/users/u-1`, `/api/flags/${key}/platforms/meta`]) {
      const requestId = unique('req-');
      const res = await call(h, 'DELETE', path, { headers: { 'X-Request-Id': requestId, 'X-Change-Reason': 'cleanup' } });
      expect(res.status).toBe(204);
      const rows = await auditOf(requestId);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ reason: 'cleanup', actor: 'token:bootstrap' });
    }
  });

  it('token creation and revocation are audited at level token', async () => {
    const create = unique('req-');
    const res = await call(h, 'POST', '/api/tokens', {
      body: { name: unique('audited-'), role: 'viewer', orgId: t.orgId, reason: 'new teammate' },
      headers: { 'X-Request-Id': create },
    });
    expect(res.status).toBe(201);
    expect(await auditOf(create)).toEqual([
      { feature_key: null, org_id: t.orgId, level: 'token', actor: 'token:bootstrap', reason: 'new teammate', request_id: create },
    ]);
    const revoke = unique('req-');
    expect((await call(h, 'DELETE', `/api/tokens/${res.body.id}`, { headers: { 'X-Request-Id': revoke, 'X-Change-Reason': 'left' } })).status).toBe(204);
    expect(await auditOf(revoke)).toMatchObject([{ level: 'token', reason: 'left', request_id: revoke }]);
  });
});

describe('audit: listing and revert', () => {
  it('lists newest first with filters and a cursor', async () => {
    const key = await createFlag(h);
    for (const description of ['one', 'two', 'three']) await call(h, 'PATCH', `/api/flags/${key}`, { body: { description } });
    const first = await call(h, 'GET', `/api/audit?flag=${key}&limit=2`);
    expect(first.status).toBe(200);
    expect(first.body.items.map((e: { newValue: { description?: string } }) => e.newValue.description)).toEqual(['three', 'two']);
    const second = await call(h, 'GET', `/api/audit?flag=${key}&limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.items.map((e: { newValue: { description?: string } }) => e.newValue.description)).toEqual(['one', '']);
    expect(second.body.nextCursor).toBeNull();
    const entry = second.body.items[1];
    expect(entry).toMatchObject({ flag: key, orgId: null, level: 'system', target: null, oldValue: null, actor: 'token:bootstrap' });
    const none = await call(h, 'GET', `/api/audit?flag=${key}&actor=token:nobody`);
    expect(none.body.items).toEqual([]);
    const future = await call(h, 'GET', `/api/audit?flag=${key}&since=2999-01-01T00:00:00Z`);
    expect(future.body.items).toEqual([]);
  });

  it('exports the filtered trail oldest first as CSV (quoted, formula-safe) or NDJSON, as an attachment', async () => {
    const key = await createFlag(h, { type: 'string', defaultValue: '' });
    await call(h, 'PATCH', `/api/flags/${key}`, { body: { description: 'a "quoted", multi\nline one' }, headers: { 'X-Change-Reason': '=HYPERLINK("http://evil")' } });
    const csv = await call(h, 'GET', `/api/audit/export?flag=${key}`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('Content-Type')).toBe('text/csv; charset=utf-8');
    expect(csv.headers.get('Content-Disposition')).toMatch(/^attachment; filename="cmis-audit-[0-9T-]+Z\.csv"$/);
    expect(csv.headers.get('X-Audit-Entries')).toBe('2');
    const text = csv.body as string;
    const [header, created, patched, end] = text.split('\r\n');
    expect(header).toBe('id,at,actor,level,flag,orgId,target,oldValue,newValue,reason,requestId');
    // the file starts with a UTF-8 byte-order mark (Excel reads UTF-8 then; text() drops it, so read the bytes)
    const bytes = new Uint8Array(await (await h.app.request(`/api/audit/export?flag=${key}`, { headers: { Authorization: `Bearer ${BOOTSTRAP_TOKEN}` } }, h.env)).arrayBuffer());
    expect([...bytes.slice(0, 4)]).toEqual([0xef, 0xbb, 0xbf, 'i'.charCodeAt(0)]);
    expect(created).toMatch(new RegExp(`^\\d+,[^,]+,token:bootstrap,system,${key.replace(/\./g, '\\.')},,,,"\\{`));
    // the reason would run as a formula in a spreadsheet: kept as text; quotes doubled inside a quoted cell
    expect(patched).toContain(`,"'=HYPERLINK(""http://evil"")",`);
    expect(patched).toContain('multi\\nline'); // JSON values stay JSON: the newline is escaped there
    expect(end).toBe('');
    const [firstId, secondId] = [created, patched].map((line) => Number(line!.split(',')[0]));
    expect(firstId).toBeLessThan(secondId!); // oldest first

    const ndjson = await call(h, 'GET', `/api/audit/export?flag=${key}&format=ndjson`);
    expect(ndjson.headers.get('Content-Type')).toBe('application/x-ndjson; charset=utf-8');
    const entries = String(ndjson.body).trim().split('\n').map((line) => JSON.parse(line));
    const listed = (await call(h, 'GET', `/api/audit?flag=${key}`)).body.items;
    expect(entries).toEqual([...listed].reverse()); // the same entries the list shows

    const bad = await call(h, 'GET', `/api/audit/export?format=xlsx&since=yesterday`);
    expect(bad.status).toBe(422);
    expect(bad.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['query.format', 'query.since']); // one error per field
  });

  it('reverts a system change as a new audited change', async () => {
    const key = await createFlag(h);
    await call(h, 'PATCH', `/api/flags/${key}`, { body: { defaultValue: true, description: 'on' } });
    const [latest] = (await call(h, 'GET', `/api/audit?flag=${key}&limit=1`)).body.items;
    const res = await call(h, 'POST', `/api/audit/${latest.id}/revert`, { headers: { 'X-Request-Id': unique('req-') } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ reverted: latest.id, publish: 'done' });
    expect(res.body.entries).toHaveLength(1);
    expect(res.body.entries[0]).toMatchObject({ level: 'system', newValue: { defaultValue: false, description: '' }, reason: `revert of audit entry ${latest.id}` });
    expect((await call(h, 'GET', `/api/flags/${key}`)).body).toMatchObject({ defaultValue: false, description: '' });
  });

  it('reverts an org value creation by removing it, and an override change by restoring it', async () => {
    const key = await createFlag(h);
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin, body: { value: true } });
    const [created] = (await call(h, 'GET', `/api/audit?flag=${key}&orgId=${t.orgId}`, { token: t.orgAdmin })).body.items;
    expect(created).toMatchObject({ level: 'org', target: t.orgId, oldValue: null, newValue: { value: true, percentage: null } });
    expect((await call(h, 'POST', `/api/audit/${created.id}/revert`, { token: t.orgAdmin })).status).toBe(200);
    expect((await call(h, 'DELETE', `/api/orgs/${t.orgId}/flags/${key}`, { token: t.orgAdmin })).status).toBe(404);

    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}/users/u-2`, { token: t.orgAdmin, body: { value: true } });
    await call(h, 'PUT', `/api/orgs/${t.orgId}/flags/${key}/users/u-2`, { token: t.orgAdmin, body: { value: false } });
    const [changed] = (await call(h, 'GET', `/api/audit?flag=${key}&level=user`, { token: t.orgAdmin })).body.items;
    expect(changed).toMatchObject({ oldValue: { value: true }, newValue: { value: false } });
    await call(h, 'POST', `/api/audit/${changed.id}/revert`, { token: t.orgAdmin });
    const layer = JSON.parse((await h.kv.get(`snap:v1:org:${t.orgId}`))!);
    expect(layer.flags[key].users['u-2']).toEqual({ value: true });
  });
});
