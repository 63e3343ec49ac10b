import type { Context } from 'hono';
import { callApi, problemOf } from './dispatch';
import { formStateOf, readForm, reasonOf, type FormState } from './forms';
import { Banner, ConfirmButton, CsrfField, errorOf, Field, Panel, ReasonField, renderError, renderPage, setFlash, valueOf, When } from './layout';
import { pageContext, type PageContext } from './page';
import type { DashEnv } from './session';

/**
 * API tokens (`/tokens`, system and org admins): list, create, revoke. A new token is shown once, in
 * the body of the POST's answer, never in a URL, a redirect or the flash cookie; only its hash is kept.
 */

const enc = encodeURIComponent;

interface TokenAnswer {
  id: string;
  name: string;
  role: string;
  orgId: string | null;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const ROLE_LABELS = { system_admin: 'system admin', org_admin: 'org admin', viewer: 'viewer', evaluate: 'evaluate key' } as const;

function mayRevoke(page: PageContext, t: TokenAnswer): boolean {
  if (t.revokedAt) return false;
  if (page.caller.role === 'system_admin') return true;
  return t.role !== 'system_admin' && page.canEditOrg(t.orgId);
}

export async function tokensPage(c: Context<DashEnv>, state?: FormState, status = 200): Promise<Response> {
  const page = await pageContext(c);
  const list = await callApi<{ items: TokenAnswer[] }>(c, 'GET', '/api/tokens', { query: { includeRevoked: 'true', limit: '100' } });
  if (!list.ok) return renderError(c, list.status, problemOf(list).detail);
  const tokens = list.body.items;
  const form = 'token';
  const e = (field: string) => errorOf(state, form, field);
  const v = (field: string, fallback = '') => valueOf(state, form, field, fallback);
  const system = page.canEditSystem;
  const roles = (system ? ['system_admin', 'org_admin', 'viewer', 'evaluate'] : ['org_admin', 'viewer', 'evaluate']) as (keyof typeof ROLE_LABELS)[];
  const role = v('role', 'viewer');

  return renderPage(
    c,
    status,
    page.frame('Tokens', 'tokens'),
    <>
      <h1>Tokens</h1>
      <Panel titleId="tokens-title" title="Admin tokens and evaluate keys">
        <Banner state={state} form="revoke" />
        {tokens.length === 0 ? (
          <p class="empty">No tokens yet{system ? '' : ' for your organization'}.</p>
        ) : (
          <div class="table-wrap">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Organization</th>
                  <th scope="col" class="opt">
                    Created
                  </th>
                  <th scope="col">Last used</th>
                  <th scope="col">Revoked</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {tokens.map((t) => (
                  <tr>
                    <td>
                      {t.name} <code class="val" title="first characters of the token">{t.prefix}…</code>
                    </td>
                    <td>{ROLE_LABELS[t.role as keyof typeof ROLE_LABELS] ?? t.role}</td>
                    <td>{t.orgId ?? <span class="muted">all</span>}</td>
                    <td class="opt">
                      <When at={t.createdAt} />
                    </td>
                    <td>{t.lastUsedAt ? <When at={t.lastUsedAt} /> : <span class="muted">never</span>}</td>
                    <td>{t.revokedAt ? <When at={t.revokedAt} /> : <span class="muted">live</span>}</td>
                    <td>
                      {mayRevoke(page, t) && (
                        <ConfirmButton
                          action={`/tokens/${enc(t.id)}/revoke`}
                          confirm={`Revoke the token “${t.name}”? Anything using it stops working at once.`}
                          csrf={page.csrf}
                          danger
                          label="Revoke"
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>

      <Panel titleId="new-token-title" title="Create a token">
        <Banner state={state} form={form} />
        <form method="post" action="/tokens">
          <CsrfField token={page.csrf} />
          <div class="row">
            <Field id="token-name" label="Name" error={e('name')}>
              <input id="token-name" name="name" type="text" required maxlength={100} value={v('name')} aria-invalid={e('name') ? 'true' : undefined} />
            </Field>
            <Field id="token-role" label="Role" error={e('role')}>
              <select id="token-role" name="role">
                {roles.map((r) => (
                  <option value={r} selected={role === r}>
                    {ROLE_LABELS[r]}
                  </option>
                ))}
              </select>
            </Field>
            <Field id="token-org" label="Organization" hint={system ? 'empty: all organizations (system admin, evaluate)' : 'your organization'} error={e('orgId')}>
              <input id="token-org" name="orgId" type="text" maxlength={128} value={v('orgId', system ? '' : (page.caller.orgId ?? ''))} aria-invalid={e('orgId') ? 'true' : undefined} />
            </Field>
          </div>
          <ReasonField form={form} state={state} />
          <button type="submit">Create token</button>
        </form>
      </Panel>
    </>,
  );
}

export async function createToken(c: Context<DashEnv>): Promise<Response> {
  const fields = await readForm(c);
  const orgId = fields.orgId?.trim();
  const answer = await callApi<TokenAnswer & { token: string }>(c, 'POST', '/api/tokens', {
    body: { name: fields.name ?? '', role: fields.role ?? '', ...(orgId ? { orgId } : {}), ...reasonOf(fields) },
  });
  if (!answer.ok) {
    if (answer.status === 401 || answer.status === 403) return renderError(c, 403, problemOf(answer).detail);
    return tokensPage(c, formStateOf('token', fields, problemOf(answer)), answer.status);
  }
  const page = await pageContext(c);
  const t = answer.body;
  // The one and only time the secret leaves the server; no-store keeps it out of caches.
  return renderPage(
    c,
    201,
    page.frame('Token created', 'tokens'),
    <section class="panel narrow" aria-labelledby="created-title">
      <h1 id="created-title">Token “{t.name}” created</h1>
      <p class="banner conflict" role="alert">
        <strong>Copy it now.</strong> This is the only time the token is shown; only its hash is stored. If you lose it, revoke it and create another.
      </p>
      <Field id="new-token" label={`${ROLE_LABELS[t.role as keyof typeof ROLE_LABELS] ?? t.role} token${t.orgId ? ` for ${t.orgId}` : ''}`}>
        <input id="new-token" type="text" readonly value={t.token} class="secret" autocomplete="off" spellcheck={false} />
      </Field>
      <p>
        <a href="/tokens">Back to the tokens</a>
      </p>
    </section>,
  );
}

export async function revokeToken(c: Context<DashEnv>): Promise<Response> {
  const fields = await readForm(c);
  const id = c.req.param('id')!;
  const answer = await callApi(c, 'DELETE', `/api/tokens/${enc(id)}`, { body: reasonOf(fields) });
  if (!answer.ok) {
    if (answer.status === 401 || answer.status === 403) return renderError(c, 403, problemOf(answer).detail);
    return tokensPage(c, formStateOf('revoke', fields, problemOf(answer)), answer.status);
  }
  setFlash(c, 'Token revoked.');
  return c.redirect('/tokens', 303);
}
