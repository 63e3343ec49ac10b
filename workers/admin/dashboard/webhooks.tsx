import type { Context } from 'hono';
import { GLOBAL_ONLY_EVENTS, NOTIFICATION_EVENTS } from '../../../shared/events';
import { callApi, problemOf } from './dispatch';
import { formStateOf, readForm, reasonOf, type Fields, type FormState } from './forms';
import { Banner, ConfirmButton, CsrfField, errorOf, Field, Panel, ReasonField, renderError, renderPage, setFlash, valueOf, When } from './layout';
import { pageContext } from './page';
import type { DashEnv } from './session';

/**
 * Webhooks (`/webhooks`, system and org admins): list with the last delivery, add, remove. A generic
 * webhook's signing secret is shown once, in the body of the POST's answer.
 */

const enc = encodeURIComponent;

interface WebhookAnswer {
  id: string;
  url: string;
  kind: 'slack' | 'generic';
  orgId: string | null;
  events: string[];
  createdAt: string;
  lastDelivery: { state: string; event: string; attempts: number; lastStatus: number | null; lastError: string | null; at: string } | null;
}

export async function webhooksPage(c: Context<DashEnv>, state?: FormState, status = 200): Promise<Response> {
  const page = await pageContext(c);
  const list = await callApi<{ items: WebhookAnswer[] }>(c, 'GET', '/api/webhooks', { query: { limit: '100' } });
  if (!list.ok) return renderError(c, list.status, problemOf(list).detail);
  const hooks = list.body.items;
  const form = 'webhook';
  const e = (field: string) => errorOf(state, form, field);
  const v = (field: string, fallback = '') => valueOf(state, form, field, fallback);
  const kind = v('kind', 'slack');
  const chosen = new Set(state?.form === form ? (state.values?.events ?? '').split(',').filter(Boolean) : []);

  return renderPage(
    c,
    status,
    page.frame('Webhooks', 'webhooks'),
    <>
      <h1>Webhooks</h1>
      <Panel titleId="hooks-title" title="Notifications sent">
        <Banner state={state} form="delete" />
        {hooks.length === 0 ? (
          <p class="empty">No webhooks yet. Add one below to hear about flag changes, schedules and ramps.</p>
        ) : (
          <div class="table-wrap">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">URL</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Organization</th>
                  <th scope="col">Events</th>
                  <th scope="col">Last delivery</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {hooks.map((w) => (
                  <tr>
                    <td class="key">{w.url}</td>
                    <td>{w.kind}</td>
                    <td>{w.orgId ?? <span class="muted">all</span>}</td>
                    <td>{w.events.length === 0 ? <span class="muted">every event</span> : w.events.map((ev) => <span class="tag">{ev}</span>)}</td>
                    <td>
                      {w.lastDelivery ? (
                        <>
                          <span class={`state state-${w.lastDelivery.state}`}>{w.lastDelivery.state}</span> {w.lastDelivery.event}
                          {w.lastDelivery.lastStatus !== null && ` · HTTP ${w.lastDelivery.lastStatus}`}
                          <span class="desc">
                            <When at={w.lastDelivery.at} /> · {w.lastDelivery.attempts} attempt{w.lastDelivery.attempts === 1 ? '' : 's'}
                          </span>
                          {w.lastDelivery.lastError && <span class="error-text">{w.lastDelivery.lastError}</span>}
                        </>
                      ) : (
                        <span class="muted">nothing sent yet</span>
                      )}
                    </td>
                    <td>
                      {page.canEditOrg(w.orgId) && (
                        <ConfirmButton action={`/webhooks/${enc(w.id)}/delete`} confirm={`Remove the webhook to ${w.url}?`} csrf={page.csrf} danger label="Remove" />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>

      <Panel titleId="new-hook-title" title="Add a webhook">
        <Banner state={state} form={form} />
        <form method="post" action="/webhooks">
          <CsrfField token={page.csrf} />
          <div class="row">
            <Field id="hook-url" label="URL" error={e('url')}>
              <input id="hook-url" name="url" type="url" required maxlength={2000} value={v('url')} placeholder="https://hooks.slack.com/services/…" aria-invalid={e('url') ? 'true' : undefined} />
            </Field>
            <Field id="hook-kind" label="Kind" hint="generic: signed JSON (X-CMIS-Signature)" error={e('kind')}>
              <select id="hook-kind" name="kind">
                <option value="slack" selected={kind === 'slack'}>
                  Slack
                </option>
                <option value="generic" selected={kind === 'generic'}>
                  generic
                </option>
              </select>
            </Field>
            <Field id="hook-org" label="Organization (optional)" hint={page.canEditSystem ? 'empty: every organization' : 'your organization'} error={e('orgId')}>
              <input id="hook-org" name="orgId" type="text" maxlength={128} value={v('orgId', page.canEditSystem ? '' : (page.caller.orgId ?? ''))} aria-invalid={e('orgId') ? 'true' : undefined} />
            </Field>
          </div>
          <fieldset class={`plain field${e('events') ? ' invalid' : ''}`}>
            <legend>Events (none ticked: every event)</legend>
            <div class="row">
              {NOTIFICATION_EVENTS.filter((ev) => page.canEditSystem || !GLOBAL_ONLY_EVENTS.includes(ev)).map((ev) => (
                <label class="check">
                  <input type="checkbox" name="events" value={ev} checked={chosen.has(ev)} /> {ev}
                </label>
              ))}
            </div>
            {e('events') && <small class="error-text">{e('events')}</small>}
          </fieldset>
          <ReasonField form={form} state={state} />
          <button type="submit">Add webhook</button>
        </form>
      </Panel>
    </>,
  );
}

/** Checkbox groups arrive as repeated fields, which `readForm` folds to one string. */
async function readEvents(c: Context<DashEnv>): Promise<string[]> {
  const parsed = await c.req.parseBody({ all: true });
  const raw = parsed.events;
  const list = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  return list.filter((x): x is string => typeof x === 'string');
}

export async function createWebhook(c: Context<DashEnv>): Promise<Response> {
  const events = await readEvents(c);
  const fields: Fields = { ...(await readForm(c)), events: events.join(',') };
  const orgId = fields.orgId?.trim();
  const answer = await callApi<WebhookAnswer & { secret: string | null }>(c, 'POST', '/api/webhooks', {
    body: { url: (fields.url ?? '').trim(), kind: fields.kind ?? '', ...(orgId ? { orgId } : {}), ...(events.length ? { events } : {}), ...reasonOf(fields) },
  });
  if (!answer.ok) {
    if (answer.status === 401 || answer.status === 403) return renderError(c, 403, problemOf(answer).detail);
    return webhooksPage(c, formStateOf('webhook', fields, problemOf(answer)), answer.status);
  }
  const hook = answer.body;
  if (!hook.secret) {
    setFlash(c, `Added the ${hook.kind} webhook to ${hook.url}.`);
    return c.redirect('/webhooks', 303);
  }
  const page = await pageContext(c);
  return renderPage(
    c,
    201,
    page.frame('Webhook added', 'webhooks'),
    <section class="panel narrow" aria-labelledby="created-title">
      <h1 id="created-title">Webhook added</h1>
      <p>
        Deliveries to <span class="key">{hook.url}</span> are signed with HMAC-SHA256 in <code>X-CMIS-Signature</code>.
      </p>
      <p class="banner conflict" role="alert">
        <strong>Copy the secret now.</strong> It is shown only this once; to change it, remove the webhook and add it again.
      </p>
      <Field id="new-secret" label="Signing secret">
        <input id="new-secret" type="text" readonly value={hook.secret} autocomplete="off" spellcheck={false} />
      </Field>
      <p>
        <a href="/webhooks">Back to the webhooks</a>
      </p>
    </section>,
  );
}

export async function deleteWebhook(c: Context<DashEnv>): Promise<Response> {
  const fields = await readForm(c);
  const answer = await callApi(c, 'DELETE', `/api/webhooks/${enc(c.req.param('id')!)}`, { body: reasonOf(fields) });
  if (!answer.ok) {
    if (answer.status === 401 || answer.status === 403) return renderError(c, 403, problemOf(answer).detail);
    return webhooksPage(c, formStateOf('delete', fields, problemOf(answer)), answer.status);
  }
  setFlash(c, 'Webhook removed.');
  return c.redirect('/webhooks', 303);
}
