import type { Context } from 'hono';
import { PLATFORMS } from '../../../shared/config';
import { evaluateAll, type FlagType } from '../../../shared/engine';
import { OrgIdSchema } from '../../../shared/snapshot';
import { compileLayers, orgsWithData, readState } from '../../../shared/snapshot/compile';
import type { SourceState } from '../../../shared/snapshot/state';
import { liveOrgRamps } from '../../../shared/store';
import { inTransaction } from '../db';
import { callApi, problemOf, type ApiAnswer } from './dispatch';
import { FormError, formStateOf, instant, optionalNumber, readForm, reasonOf, typedValue, valueText, type Fields, type FormState } from './forms';
import { Banner, ConfirmButton, CsrfField, errorOf, Field, publishNote, renderError, renderPage, setFlash, Source, Value, ValueInput, valueOf, When } from './layout';
import { pageContext, type PageContext } from './page';
import type { DashEnv } from './session';

/**
 * The organization view (`/orgs?orgId=`): every flag's effective value for the org and where it comes
 * from, with the org's own values, its platform switches and its user overrides. Two clicks for
 * "enable Meta for this customer": pick the org, press On.
 */

const enc = encodeURIComponent;
const orgFlagPath = (orgId: string, key: string) => `/orgs/${enc(orgId)}/flags/${enc(key)}`;
const back = (orgId: string, key: string) => `/orgs?orgId=${enc(orgId)}#flag-${enc(key)}`;

interface FlagCardData {
  key: string;
  type: FlagType;
  killed: boolean;
  effective: { value: unknown; source: string; reason: string };
  org: { value: unknown; percentage: number | null } | undefined;
  platforms: { platform: string; effective: { value: unknown; source: string }; own: unknown; allOrgs: unknown }[];
  users: { userId: string; value: unknown; expiresAt: string | null }[];
  /** A live ramp of the org's value: it steers the value, so the API refuses hand edits of it (409). */
  ramp: { state: string } | undefined;
}

function cardsOf(state: SourceState, orgId: string, ramps: ReadonlyMap<string, { state: string }>): FlagCardData[] {
  const layers = compileLayers(state);
  const pair = { global: layers.global, org: layers.orgs[orgId] ?? null };
  const now = Date.now();
  const base = evaluateAll(pair, { orgId }, now);
  const perPlatform = Object.fromEntries(PLATFORMS.map((p) => [p, evaluateAll(pair, { orgId, platform: p }, now)]));
  const archived = new Set(state.archived);
  return state.flags
    .filter((f) => !archived.has(f.key))
    .sort((a, b) => a.key.localeCompare(b.key))
    .map((f) => {
      const result = base[f.key];
      const org = state.orgValues.find((o) => o.key === f.key && o.orgId === orgId);
      return {
        key: f.key,
        type: f.type,
        killed: f.killed,
        effective: { value: result?.value ?? null, source: result?.source ?? 'system', reason: result?.reason ?? 'ERROR' },
        org: org ? { value: org.value, percentage: org.percentage ?? null } : undefined,
        platforms: PLATFORMS.map((platform) => {
          const r = perPlatform[platform]?.[f.key];
          const own = state.platformOverrides.find((o) => o.key === f.key && o.platform === platform && o.orgId === orgId);
          const all = state.platformOverrides.find((o) => o.key === f.key && o.platform === platform && o.orgId === null);
          return { platform, effective: { value: r?.value ?? null, source: r?.source ?? 'system' }, own: own?.value, allOrgs: all?.value };
        }),
        users: state.userOverrides
          .filter((u) => u.key === f.key && u.orgId === orgId)
          .map((u) => ({ userId: u.userId, value: u.value, expiresAt: u.expiresAt ?? null }))
          .sort((a, b) => a.userId.localeCompare(b.userId)),
        ramp: ramps.get(f.key),
      };
    });
}

function BoolButtons(props: { action: string; csrf: string; current: unknown; onLabel?: string; offLabel?: string; clearLabel?: string; canClear: boolean; subject: string }) {
  return (
    <div class="toggle">
      {[true, false].map((value) => (
        <form method="post" action={props.action}>
          <CsrfField token={props.csrf} />
          <input type="hidden" name="value" value={String(value)} />
          <button type="submit" class={`small${props.current === value ? '' : ' secondary'}`} aria-pressed={props.current === value ? 'true' : 'false'} aria-label={`${value ? 'On' : 'Off'}: ${props.subject}`}>
            {value ? (props.onLabel ?? 'On') : (props.offLabel ?? 'Off')}
          </button>
        </form>
      ))}
      {props.canClear && (
        <form method="post" action={props.action}>
          <CsrfField token={props.csrf} />
          <input type="hidden" name="action" value="clear" />
          <button type="submit" class="small secondary" aria-label={`${props.clearLabel ?? 'Inherit'}: ${props.subject}`}>
            {props.clearLabel ?? 'Inherit'}
          </button>
        </form>
      )}
    </div>
  );
}

function FlagCard(props: { f: FlagCardData; orgId: string; page: PageContext; state?: FormState | undefined }) {
  const { f, orgId, page, state } = props;
  const editable = page.canEditOrg(orgId);
  // While a ramp steers the org value, its controls are not offered (the API would answer 409).
  const valueEditable = editable && f.ramp === undefined;
  const orgAction = orgFlagPath(orgId, f.key);
  const orgForm = `org:${f.key}`;
  const userForm = `user:${f.key}`;
  const ownPlatforms = f.platforms.filter((p) => p.own !== undefined).length;
  const open = ownPlatforms > 0 || f.users.length > 0 || (state?.form ?? '').includes(`:${f.key}`);
  return (
    <article class="card" id={`flag-${f.key}`} aria-label={f.key}>
      <div class="card-head">
        <div class="grow">
          <a class="key" href={`/flags/${enc(f.key)}`}>
            {f.key}
          </a>{' '}
          <span class="badge">{f.type}</span>
          {f.killed && <span class="badge killed">killed</span>}
        </div>
        <div>
          <Value value={f.effective.value} /> <Source source={f.effective.source} /> <span class="muted">{f.effective.reason}</span>
        </div>
        <div class="muted">
          Org value:{' '}
          {f.org ? (
            <>
              <Value value={f.org.value} />
              {f.org.percentage !== null && ` for ${f.org.percentage}% of users`}
            </>
          ) : (
            'inherits'
          )}
        </div>
        {valueEditable && f.type === 'boolean' && (
          <BoolButtons action={orgAction} csrf={page.csrf} current={f.org?.value} canClear={f.org !== undefined} subject={`${f.key} for ${orgId}`} />
        )}
      </div>
      <Banner state={state} form={orgForm} />
      {editable && f.ramp && (
        <p class="muted" id={`ramp-${f.key}`}>
          A ramp ({f.ramp.state}) steers this org value: <a href={`/flags/${enc(f.key)}#ramps`}>stop, pause or abort it</a> to change it by hand.
        </p>
      )}
      {valueEditable && f.type !== 'boolean' && (
        <form method="post" action={orgAction} class="row">
          <CsrfField token={page.csrf} />
          <Field id={`${orgForm}-value`} label="Org value" error={errorOf(state, orgForm, 'value')}>
            <ValueInput id={`${orgForm}-value`} name="value" type={f.type} value={valueOf(state, orgForm, 'value', f.org ? valueText(f.type, f.org.value) : '')} error={errorOf(state, orgForm, 'value')} />
          </Field>
          <Field id={`${orgForm}-pct`} label="% of users (optional)" error={errorOf(state, orgForm, 'percentage')}>
            <input id={`${orgForm}-pct`} name="percentage" type="number" min={0} max={100} step="0.01" value={valueOf(state, orgForm, 'percentage', f.org?.percentage?.toString() ?? '')} />
          </Field>
          <button type="submit">Set</button>
        </form>
      )}
      {valueEditable && f.type !== 'boolean' && f.org && (
        <form method="post" action={orgAction}>
          <CsrfField token={page.csrf} />
          <input type="hidden" name="action" value="clear" />
          <button type="submit" class="small secondary">
            Inherit the system value
          </button>
        </form>
      )}
      <details open={open}>
        <summary>
          Platforms ({ownPlatforms} set for this org) and user overrides ({f.users.length})
        </summary>
        <div class="platforms">
          {f.platforms.map((p) => {
            const form = `platform:${f.key}:${p.platform}`;
            const action = `${orgAction}/platforms/${p.platform}`;
            return (
              <div class="platform">
                <h3>{p.platform}</h3>
                <p>
                  <Value value={p.effective.value} /> <Source source={p.effective.source} />
                </p>
                <p class="muted">
                  This org: {p.own === undefined ? 'not set' : <Value value={p.own} />}
                  {p.allOrgs !== undefined && (
                    <>
                      {' '}
                      · all orgs: <Value value={p.allOrgs} />
                    </>
                  )}
                </p>
                <Banner state={state} form={form} />
                {editable &&
                  (f.type === 'boolean' ? (
                    <BoolButtons action={action} csrf={page.csrf} current={p.own} canClear={p.own !== undefined} clearLabel="Clear" subject={`${f.key} on ${p.platform} for ${orgId}`} />
                  ) : (
                    <form method="post" action={action} class="row">
                      <CsrfField token={page.csrf} />
                      <Field id={`${form}-value`} label="Value" error={errorOf(state, form, 'value')}>
                        <ValueInput id={`${form}-value`} name="value" type={f.type} value={valueOf(state, form, 'value', p.own === undefined ? '' : valueText(f.type, p.own))} error={errorOf(state, form, 'value')} />
                      </Field>
                      <button type="submit" class="small">
                        Set
                      </button>
                    </form>
                  ))}
                {editable && f.type !== 'boolean' && p.own !== undefined && (
                  <form method="post" action={action}>
                    <CsrfField token={page.csrf} />
                    <input type="hidden" name="action" value="clear" />
                    <button type="submit" class="small secondary">
                      Clear
                    </button>
                  </form>
                )}
              </div>
            );
          })}
        </div>
        <h3>User overrides</h3>
        {f.users.length === 0 ? (
          <p class="muted">No user overrides in this org.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Value</th>
                <th scope="col">Expires</th>
                {editable && <th scope="col">Remove</th>}
              </tr>
            </thead>
            <tbody>
              {f.users.map((u) => (
                <tr>
                  <td class="key">{u.userId}</td>
                  <td>
                    <Value value={u.value} />
                  </td>
                  <td>
                    <When at={u.expiresAt} />
                  </td>
                  {editable && (
                    <td>
                      <ConfirmButton
                        action={`${orgAction}/users/${enc(u.userId)}/delete`}
                        confirm={`Remove the override of ${u.userId}?`}
                        csrf={page.csrf}
                        label="Remove"
                        ariaLabel={`Remove override of ${u.userId}`}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Banner state={state} form={userForm} />
        {editable && (
          <form method="post" action={`${orgAction}/users`} class="row">
            <CsrfField token={page.csrf} />
            <Field id={`${userForm}-id`} label="User id" error={errorOf(state, userForm, 'userId')}>
              <input id={`${userForm}-id`} name="userId" type="text" maxlength={128} value={valueOf(state, userForm, 'userId', '')} aria-invalid={errorOf(state, userForm, 'userId') ? 'true' : undefined} />
            </Field>
            <Field id={`${userForm}-value`} label="Value" error={errorOf(state, userForm, 'value')}>
              <ValueInput id={`${userForm}-value`} name="value" type={f.type} value={valueOf(state, userForm, 'value', f.type === 'boolean' ? 'true' : '')} error={errorOf(state, userForm, 'value')} />
            </Field>
            <Field id={`${userForm}-expires`} label="Expires (UTC, optional)" error={errorOf(state, userForm, 'expiresAt')}>
              <input id={`${userForm}-expires`} name="expiresAt" type="datetime-local" value={valueOf(state, userForm, 'expiresAt', '')} />
            </Field>
            <button type="submit">Add user override</button>
          </form>
        )}
      </details>
    </article>
  );
}

/** The org a request is about: org-scoped tokens always see their own. */
function chosenOrg(c: Context<DashEnv>): { orgId: string | null; invalid: boolean } {
  const caller = c.get('caller');
  if (caller.role !== 'system_admin') return { orgId: caller.orgId, invalid: false };
  const raw = (c.req.query('orgId') ?? '').trim();
  if (!raw) return { orgId: null, invalid: false };
  return OrgIdSchema.safeParse(raw).success ? { orgId: raw, invalid: false } : { orgId: null, invalid: true };
}

export async function orgPage(c: Context<DashEnv>, state?: FormState, status = 200, forOrg?: string): Promise<Response> {
  const page = await pageContext(c);
  const chosen = forOrg ? { orgId: forOrg, invalid: false } : chosenOrg(c);
  const { orgId } = chosen;
  const { known, cards } = await inTransaction(c, async (tx) => ({
    known: page.canEditSystem ? await orgsWithData(tx) : [],
    cards: orgId ? cardsOf(await readState(tx, { orgId }), orgId, await liveOrgRamps(tx, orgId)) : [],
  }));
  return renderPage(
    c,
    status,
    page.frame(orgId ? `Organization ${orgId}` : 'Organizations', 'orgs'),
    <>
      <h1>{orgId ? `Organization ${orgId}` : 'Organizations'}</h1>
      {page.canEditSystem && (
        <section class="panel" aria-label="Pick an organization">
          <form method="get" action="/orgs" class="row">
            <Field id="orgId" label="Organization id" error={chosen.invalid ? 'letters, digits and ._:@- only (1–128)' : undefined}>
              <input id="orgId" name="orgId" type="text" list="known-orgs" required value={orgId ?? c.req.query('orgId') ?? ''} placeholder="e.g. acme" aria-invalid={chosen.invalid ? 'true' : undefined} />
            </Field>
            <datalist id="known-orgs">
              {known.map((o) => (
                <option value={o}></option>
              ))}
            </datalist>
            <button type="submit">Open</button>
          </form>
          {known.length > 0 && (
            <p class="muted">
              Orgs with values or overrides:{' '}
              {known.map((o, i) => (
                <>
                  {i > 0 && ', '}
                  <a href={`/orgs?orgId=${enc(o)}`}>{o}</a>
                </>
              ))}
            </p>
          )}
        </section>
      )}
      {!orgId ? (
        <p class="empty">Pick an organization to see and change its flags. Any id works: an org without values yet inherits everything.</p>
      ) : cards.length === 0 ? (
        <p class="empty">There are no live flags.</p>
      ) : (
        <>
          <p class="muted">
            Effective values for the org with no user and no platform; open a flag's platforms for per-platform values. Sources: user → platform → org → system; a killed flag
            serves its off value to everyone.
          </p>
          <div class="cards">
            {cards.map((f) => (
              <FlagCard f={f} orgId={orgId} page={page} state={state} />
            ))}
          </div>
        </>
      )}
    </>,
  );
}

// ---- forms ------------------------------------------------------------------------------------

async function flagType(c: Context<DashEnv>, key: string): Promise<FlagType | ApiAnswer> {
  const answer = await callApi(c, 'GET', `/api/flags/${enc(key)}`);
  return answer.ok ? (answer.body.type as FlagType) : answer;
}

/** Runs one org write and answers with a redirect, or the page again with the problem beside the form. */
async function orgWrite(
  c: Context<DashEnv>,
  form: string,
  fields: Fields,
  build: (type: FlagType) => { method: string; path: string; body: unknown; done: string },
): Promise<Response> {
  const orgId = c.req.param('orgId')!;
  const key = c.req.param('key')!;
  const type = await flagType(c, key);
  if (typeof type !== 'string') return renderError(c, type.status, problemOf(type).detail);
  let call: ReturnType<typeof build>;
  try {
    call = build(type);
  } catch (error) {
    if (!(error instanceof FormError)) throw error;
    return orgPage(c, { form, values: fields, errors: { [error.field]: error.message }, banner: { kind: 'error', text: `Check the ${error.field} field.` } }, 422, orgId);
  }
  const answer = await callApi(c, call.method, call.path, { body: call.body });
  if (!answer.ok) {
    if (answer.status === 403 || answer.status === 401) return renderError(c, 403, problemOf(answer).detail);
    return orgPage(c, formStateOf(form, fields, problemOf(answer)), answer.status, orgId);
  }
  setFlash(c, `${call.done}${publishNote(answer.body?.publish ?? answer.headers.get('X-Publish'))}`);
  return c.redirect(back(orgId, key), 303);
}

export async function setOrgValue(c: Context<DashEnv>): Promise<Response> {
  const fields = await readForm(c);
  const orgId = c.req.param('orgId')!;
  const key = c.req.param('key')!;
  const path = `/api/orgs/${enc(orgId)}/flags/${enc(key)}`;
  return orgWrite(c, `org:${key}`, fields, (type) =>
    fields.action === 'clear'
      ? { method: 'DELETE', path, body: reasonOf(fields), done: `${key} for ${orgId} inherits the system value again.` }
      : {
          method: 'PUT',
          path,
          body: { value: typedValue(type, fields.value), percentage: optionalNumber(fields.percentage, 'percentage'), ...reasonOf(fields) },
          done: `${key} for ${orgId} set to ${fields.value}.`,
        },
  );
}

export async function setOrgPlatform(c: Context<DashEnv>): Promise<Response> {
  const fields = await readForm(c);
  const orgId = c.req.param('orgId')!;
  const key = c.req.param('key')!;
  const platform = c.req.param('platform')!;
  const path = `/api/orgs/${enc(orgId)}/flags/${enc(key)}/platforms/${enc(platform)}`;
  return orgWrite(c, `platform:${key}:${platform}`, fields, (type) =>
    fields.action === 'clear'
      ? { method: 'DELETE', path, body: reasonOf(fields), done: `${key} on ${platform} for ${orgId} cleared.` }
      : { method: 'PUT', path, body: { value: typedValue(type, fields.value), ...reasonOf(fields) }, done: `${key} on ${platform} for ${orgId} set to ${fields.value}.` },
  );
}

export async function addUserOverride(c: Context<DashEnv>): Promise<Response> {
  const fields = await readForm(c);
  const orgId = c.req.param('orgId')!;
  const key = c.req.param('key')!;
  const userId = (fields.userId ?? '').trim();
  return orgWrite(c, `user:${key}`, fields, (type) => {
    if (!userId) throw new FormError('userId', 'enter a user id');
    const expiresAt = instant(fields.expiresAt, 'expiresAt');
    return {
      method: 'PUT',
      path: `/api/orgs/${enc(orgId)}/flags/${enc(key)}/users/${enc(userId)}`,
      body: { value: typedValue(type, fields.value), ...(expiresAt ? { expiresAt } : {}), ...reasonOf(fields) },
      done: `${key} for user ${userId} in ${orgId} set to ${fields.value}.`,
    };
  });
}

export async function removeUserOverride(c: Context<DashEnv>): Promise<Response> {
  const fields = await readForm(c);
  const orgId = c.req.param('orgId')!;
  const key = c.req.param('key')!;
  const userId = c.req.param('userId')!;
  return orgWrite(c, `user:${key}`, fields, () => ({
    method: 'DELETE',
    path: `/api/orgs/${enc(orgId)}/flags/${enc(key)}/users/${enc(userId)}`,
    body: reasonOf(fields),
    done: `Removed the override of ${userId} for ${key}.`,
  }));
}

