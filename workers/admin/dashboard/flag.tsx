import { and, asc, eq, isNotNull, isNull } from 'drizzle-orm';
import type { Context } from 'hono';
import { PLATFORMS } from '../../../shared/config';
import { featureFlagOverrides, featureFlags } from '../../../shared/db';
import type { FlagType } from '../../../shared/engine';
import type { Flag } from '../../../shared/store';
import { inTransaction } from '../db';
import { callApi, problemOf } from './dispatch';
import { FormError, formStateOf, instant, localInput, optionalNumber, readForm, reasonOf, tagsOf, typedValue, valueText, type Fields, type FormState } from './forms';
import { AuditList, type AuditEntry } from './audit';
import { Banner, ConfirmButton, CsrfField, errorOf, Field, Panel, publishNote, ReasonField, renderError, renderPage, setFlash, Source, Value, ValueInput, valueOf, When } from './layout';
import { pageContext } from './page';
import { loadPlans, RampsSection, SchedulesSection } from './plans';
import type { DashEnv } from './session';

/** The flag editor (`/flags/:key`): definition, kill switch, rollout, all-orgs platform overrides, org values. */

const enc = encodeURIComponent;

async function loadFlag(c: Context<DashEnv>, key: string) {
  const answer = await callApi<Flag>(c, 'GET', `/api/flags/${enc(key)}`);
  if (!answer.ok) return { problem: problemOf(answer) };
  const flag = answer.body;
  const rows = await inTransaction(c, async (tx) => ({
      orgs: await tx
        .select({ orgId: featureFlags.orgId, value: featureFlags.value, percentage: featureFlags.percentage, updatedAt: featureFlags.updatedAt })
        .from(featureFlags)
        .where(and(eq(featureFlags.featureKey, key), isNotNull(featureFlags.orgId)))
        .orderBy(asc(featureFlags.orgId)),
      platforms: await tx
        .select({ platform: featureFlagOverrides.platform, value: featureFlagOverrides.value })
        .from(featureFlagOverrides)
        .where(and(eq(featureFlagOverrides.featureKey, key), eq(featureFlagOverrides.overrideType, 'platform'), isNull(featureFlagOverrides.orgId))),
    }));
  const recent = await callApi<{ items: AuditEntry[] }>(c, 'GET', '/api/audit', { query: { flag: key, limit: '5' } });
  return { problem: undefined, flag, ...rows, recent: recent.ok ? recent.body.items : [] };
}

export async function flagPage(c: Context<DashEnv>, state?: FormState, status = 200): Promise<Response> {
  const key = c.req.param('key')!;
  const page = await pageContext(c);
  const loaded = await loadFlag(c, key);
  if (loaded.problem) return renderError(c, loaded.problem.status, loaded.problem.detail);
  const { flag, orgs, platforms, recent } = loaded;
  const plans = await loadPlans(c, key);
  // A live system ramp steers the rollout: the API refuses hand edits (409), so the form is not offered.
  const steering = plans.ramps.find((r) => r.orgId === null && (r.state === 'running' || r.state === 'paused'));
  const type = flag.type as FlagType;
  const system = page.canEditSystem;
  const action = `/flags/${enc(key)}`;
  const d = (field: string, fallback: string) => valueOf(state, 'definition', field, fallback);
  const de = (field: string) => errorOf(state, 'definition', field);
  const platformValue = new Map(platforms.map((p) => [p.platform, p.value]));
  const orgsForm = 'orgs';

  return renderPage(
    c,
    status,
    page.frame(key, 'flags'),
    <>
      <p>
        <a href="/">← All flags</a>
      </p>
      <h1>
        <span class="key">{key}</span> <span class="badge">{type}</span> {flag.killed && <span class="badge killed">killed</span>}
        {flag.archivedAt && <span class="badge archived">archived</span>}
      </h1>
      <dl class="facts panel">
        <dt>System value</dt>
        <dd>
          <Value value={flag.defaultValue} />
        </dd>
        <dt>Off value</dt>
        <dd>
          <Value value={flag.offValue} />
        </dd>
        <dt>Version</dt>
        <dd>{flag.version}</dd>
        <dt>Updated</dt>
        <dd>
          <When at={flag.updatedAt} />
        </dd>
        <dt>History</dt>
        <dd>
          <a href={`/audit?flag=${enc(key)}`}>Audit log of this flag</a>
        </dd>
        <dt>Usage</dt>
        <dd>
          <a href={`/flags/${enc(key)}/metrics`}>Metrics</a>
        </dd>
      </dl>

      <div class="grid2">
        <Panel titleId="kill-title" title="Kill switch">
          <Banner state={state} form="kill" />
          {flag.killed ? (
            <p>
              <strong>Killed:</strong> everyone gets the off value <Value value={flag.offValue} />, overrides included.
            </p>
          ) : (
            <p class="muted">Killing serves the off value to everyone at once, overrides included.</p>
          )}
          {system && (
            <form method="post" action={`${action}/kill`}>
              <CsrfField token={page.csrf} />
              <input type="hidden" name="version" value={String(flag.version)} />
              <input type="hidden" name="action" value={flag.killed ? 'revive' : 'kill'} />
              {!flag.killed && (
                <div class={`field${errorOf(state, 'kill', 'confirm') ? ' invalid' : ''}`}>
                  <label class="check">
                    <input type="checkbox" name="confirm" value="yes" required aria-describedby={errorOf(state, 'kill', 'confirm') ? 'kill-confirm-error' : undefined} /> Yes, serve the off value to everyone
                  </label>
                  {errorOf(state, 'kill', 'confirm') && (
                    <small id="kill-confirm-error" class="error-text">
                      {errorOf(state, 'kill', 'confirm')}
                    </small>
                  )}
                </div>
              )}
              <ReasonField form="kill" state={state} />
              <button type="submit" class={flag.killed ? '' : 'danger'}>
                {flag.killed ? 'Revive flag' : 'Kill flag'}
              </button>
            </form>
          )}
        </Panel>

        <Panel titleId="rollout-title" title="Percentage rollout">
          <Banner state={state} form="rollout" />
          {flag.rollout ? (
            <p>
              <progress max={100} value={flag.rollout.percentage} aria-label="rollout percentage"></progress> {flag.rollout.percentage}% of{' '}
              {flag.rollout.stickiness === 'orgId' ? 'organizations' : 'users'} get <Value value={flag.rollout.value} />
            </p>
          ) : (
            <p class="muted">No rollout: everyone not targeted otherwise gets the system value.</p>
          )}
          {system && steering && (
            <p class="muted" id="rollout-steered">
              A ramp ({steering.state}) steers this rollout: <a href="#ramps">stop, pause or abort it</a> to change it by hand.
            </p>
          )}
          {system && !steering && (
            <form method="post" action={`${action}/rollout`}>
              <CsrfField token={page.csrf} />
              <input type="hidden" name="version" value={String(flag.version)} />
              <div class="row">
                <Field id="rollout-pct" label="Percentage" error={errorOf(state, 'rollout', 'percentage')}>
                  <input id="rollout-pct" name="percentage" type="number" min={0} max={100} step="0.01" required value={valueOf(state, 'rollout', 'percentage', flag.rollout?.percentage.toString() ?? '')} />
                </Field>
                <Field id="rollout-value" label="Value inside" error={errorOf(state, 'rollout', 'value')}>
                  <ValueInput id="rollout-value" name="value" type={type} value={valueOf(state, 'rollout', 'value', flag.rollout ? valueText(type, flag.rollout.value) : type === 'boolean' ? 'true' : '')} error={errorOf(state, 'rollout', 'value')} />
                </Field>
                <Field id="rollout-stick" label="Bucket by">
                  <select id="rollout-stick" name="stickiness">
                    <option value="userId" selected={flag.rollout?.stickiness !== 'orgId'}>
                      user
                    </option>
                    <option value="orgId" selected={flag.rollout?.stickiness === 'orgId'}>
                      organization
                    </option>
                  </select>
                </Field>
              </div>
              <ReasonField form="rollout" state={state} />
              <div class="row">
                <button type="submit" name="action" value="set">
                  Save rollout
                </button>
                {flag.rollout && (
                  <button type="submit" name="action" value="clear" class="secondary" formnovalidate>
                    End rollout
                  </button>
                )}
              </div>
            </form>
          )}
        </Panel>
      </div>

      <Panel titleId="def-title" title="Definition">
        <Banner state={state} form="definition" />
        <form method="post" action={action}>
          <CsrfField token={page.csrf} />
          <input type="hidden" name="version" value={d('version', String(flag.version))} />
          <fieldset disabled={!system} class="plain">
            <legend class="muted">{system ? 'Saved with If-Match on the version you loaded.' : 'Read only for your role.'}</legend>
            <Field id="def-description" label="Description" error={de('description')}>
              <textarea id="def-description" name="description" rows={2}>
                {d('description', flag.description)}
              </textarea>
            </Field>
            <div class="row">
              <Field id="def-default" label="Default (system) value" error={de('defaultValue')}>
                <ValueInput id="def-default" name="defaultValue" type={type} value={d('defaultValue', valueText(type, flag.defaultValue))} error={de('defaultValue')} />
              </Field>
              <Field id="def-tags" label="Tags" hint="comma-separated" error={de('tags')}>
                <input id="def-tags" name="tags" type="text" value={d('tags', flag.tags.join(', '))} />
              </Field>
              <Field id="def-owner" label="Owner" error={de('owner')}>
                <input id="def-owner" name="owner" type="text" maxlength={200} value={d('owner', flag.owner ?? '')} />
              </Field>
              <Field id="def-expires" label="Expires (UTC)" error={de('expiresAt')}>
                <input id="def-expires" name="expiresAt" type="datetime-local" value={d('expiresAt', localInput(flag.expiresAt))} />
              </Field>
            </div>
            {system && <ReasonField form="definition" state={state} />}
            {system && <button type="submit">Save definition</button>}
          </fieldset>
        </form>
      </Panel>

      <Panel titleId="platforms-title" title="Platform overrides for all organizations">
        <p class="muted">An org's own platform override wins over these; set those in the organization view.</p>
        <div class="platforms">
          {PLATFORMS.map((p) => {
            const form = `platform:${p}`;
            const current = platformValue.get(p);
            const path = `${action}/platforms/${p}`;
            return (
              <div class="platform">
                <h3>{p}</h3>
                <p>{current === undefined ? <span class="muted">not set</span> : <Value value={current} />}</p>
                <Banner state={state} form={form} />
                {system && (
                  <form method="post" action={path} class="row">
                    <CsrfField token={page.csrf} />
                    <Field id={`${form}-value`} label={`Value on ${p}`} error={errorOf(state, form, 'value')}>
                      <ValueInput id={`${form}-value`} name="value" type={type} value={valueOf(state, form, 'value', current === undefined ? (type === 'boolean' ? 'true' : '') : valueText(type, current))} error={errorOf(state, form, 'value')} />
                    </Field>
                    <button type="submit" class="small">
                      Set
                    </button>
                  </form>
                )}
                {system && current !== undefined && (
                  <ConfirmButton action={path} confirm={`Remove the all-orgs ${p} override of ${key}?`} csrf={page.csrf} fields={[['action', 'clear']]} label="Remove" />
                )}
              </div>
            );
          })}
        </div>
      </Panel>

      <Panel titleId="orgs-title" id="orgs" title="Organization values">
        {orgs.length === 0 ? (
          <p class="muted">No organization has its own value; all inherit the system value.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Organization</th>
                <th scope="col">Value</th>
                <th scope="col">Users</th>
                <th scope="col" class="opt">
                  Updated
                </th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {orgs.map((o) => (
                <tr>
                  <td>
                    <a href={`/orgs?orgId=${enc(o.orgId!)}#flag-${enc(key)}`}>{o.orgId}</a>
                  </td>
                  <td>
                    <Value value={o.value} /> <Source source="org" />
                  </td>
                  <td>{o.percentage === null ? 'all' : `${o.percentage}%`}</td>
                  <td class="opt">
                    <When at={o.updatedAt.toISOString()} />
                  </td>
                  <td>
                    {page.canEditOrg(o.orgId) && (
                      <ConfirmButton
                        action={`${action}/orgs`}
                        confirm={`Let ${o.orgId} inherit the system value again?`}
                        csrf={page.csrf}
                        fields={[
                          ['orgId', o.orgId!],
                          ['action', 'clear'],
                        ]}
                        label="Inherit"
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <Banner state={state} form={orgsForm} />
        {(system || page.caller.role === 'org_admin') && (
          <form method="post" action={`${action}/orgs`} class="row">
            <CsrfField token={page.csrf} />
            <Field id="orgs-org" label="Organization id" error={errorOf(state, orgsForm, 'orgId')}>
              <input id="orgs-org" name="orgId" type="text" required maxlength={128} value={valueOf(state, orgsForm, 'orgId', system ? '' : (page.caller.orgId ?? ''))} aria-invalid={errorOf(state, orgsForm, 'orgId') ? 'true' : undefined} />
            </Field>
            <Field id="orgs-value" label="Value" error={errorOf(state, orgsForm, 'value')}>
              <ValueInput id="orgs-value" name="value" type={type} value={valueOf(state, orgsForm, 'value', type === 'boolean' ? 'true' : '')} error={errorOf(state, orgsForm, 'value')} />
            </Field>
            <Field id="orgs-pct" label="% of its users (optional)" error={errorOf(state, orgsForm, 'percentage')}>
              <input id="orgs-pct" name="percentage" type="number" min={0} max={100} step="0.01" value={valueOf(state, orgsForm, 'percentage', '')} />
            </Field>
            <button type="submit" name="action" value="set">
              Set org value
            </button>
          </form>
        )}
      </Panel>

      <SchedulesSection flagKey={key} type={type} defaultValue={flag.defaultValue} archived={flag.archivedAt !== null} page={page} plans={plans} state={state} />
      <RampsSection flagKey={key} type={type} defaultValue={flag.defaultValue} archived={flag.archivedAt !== null} page={page} plans={plans} state={state} />

      {system && (
        <Panel titleId="archive-title" id="archive" title={flag.archivedAt ? 'Restore' : 'Archive'}>
          <Banner state={state} form="archive" />
          {flag.archivedAt ? (
            <p>
              Archived <When at={flag.archivedAt} />: evaluation answers FLAG_NOT_FOUND. Restoring brings back its definition and overrides.
            </p>
          ) : (
            <p class="muted">Archiving hides the flag: evaluation answers FLAG_NOT_FOUND for every organization until it is restored.</p>
          )}
          <form method="post" action={`${action}/${flag.archivedAt ? 'restore' : 'archive'}`}>
            <CsrfField token={page.csrf} />
            <input type="hidden" name="version" value={String(flag.version)} />
            {!flag.archivedAt && (
              <div class={`field${errorOf(state, 'archive', 'confirm') ? ' invalid' : ''}`}>
                <label class="check">
                  <input type="checkbox" name="confirm" value="yes" required aria-describedby={errorOf(state, 'archive', 'confirm') ? 'archive-confirm-error' : undefined} /> Yes, archive {key}
                </label>
                {errorOf(state, 'archive', 'confirm') && (
                  <small id="archive-confirm-error" class="error-text">
                    {errorOf(state, 'archive', 'confirm')}
                  </small>
                )}
              </div>
            )}
            <ReasonField form="archive" state={state} />
            <button type="submit" class={flag.archivedAt ? '' : 'danger'}>
              {flag.archivedAt ? 'Restore flag' : 'Archive flag'}
            </button>
          </form>
        </Panel>
      )}

      <Panel titleId="recent-title" title="Recent changes">
        <AuditList entries={recent} page={page} compact />
        <p>
          <a href={`/audit?flag=${enc(key)}`}>Full history</a>
        </p>
      </Panel>
    </>,
  );
}

// ---- forms ------------------------------------------------------------------------------------

type Build = (type: FlagType, f: Fields) => { method: string; path: string; body: unknown; ifMatch?: boolean; done: string; anchor?: string };

async function flagWrite(c: Context<DashEnv>, form: string, build: Build): Promise<Response> {
  const key = c.req.param('key')!;
  const fields: Fields = await readForm(c);
  const current = await callApi<Flag>(c, 'GET', `/api/flags/${enc(key)}`);
  if (!current.ok) return renderError(c, current.status, problemOf(current).detail);
  const version = (fields.version ?? '').trim();
  let call: ReturnType<Build>;
  try {
    call = build(current.body.type as FlagType, fields);
  } catch (error) {
    if (!(error instanceof FormError)) throw error;
    return flagPage(c, { form, values: fields, errors: { [error.field]: error.message } }, 422);
  }
  const headers: Record<string, string> = call.ifMatch && /^\d+$/.test(version) ? { 'If-Match': `"${version}"` } : {};
  const answer = await callApi(c, call.method, call.path, { body: call.body, headers });
  if (!answer.ok) {
    if (answer.status === 403 || answer.status === 401) return renderError(c, 403, problemOf(answer).detail);
    const problem = problemOf(answer);
    const state = formStateOf(form, fields, problem, { 'rollout.percentage': 'percentage', 'rollout.value': 'value' });
    if (answer.status === 412) {
      state.banner = {
        kind: 'conflict',
        text: `Someone changed this flag after you opened it (you edited version ${version}; it is now at version ${current.body.version}). Nothing was saved.`,
        reloadHref: `/flags/${enc(key)}`,
      };
    }
    return flagPage(c, state, answer.status);
  }
  setFlash(c, `${call.done}${publishNote(answer.body?.publish ?? answer.headers.get('X-Publish'))}`);
  return c.redirect(`/flags/${enc(key)}${call.anchor ?? ''}`, 303);
}

export function updateFlag(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  return flagWrite(c, 'definition', (type, f) => {
    return {
      method: 'PATCH',
      path: `/api/flags/${enc(key)}`,
      ifMatch: true,
      body: {
        description: f.description ?? '',
        defaultValue: typedValue(type, f.defaultValue, 'defaultValue'),
        tags: tagsOf(f.tags),
        owner: f.owner?.trim() ? f.owner.trim() : null,
        expiresAt: instant(f.expiresAt, 'expiresAt'),
        ...reasonOf(f),
      },
      done: `Saved ${key}.`,
    };
  });
}

export function killFlag(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  return flagWrite(c, 'kill', (_type, f) => {
    const kill = f.action !== 'revive';
    if (kill && f.confirm !== 'yes') throw new FormError('confirm', 'tick the box to confirm the kill');
    return { method: 'PATCH', path: `/api/flags/${enc(key)}`, ifMatch: true, body: { killed: kill, ...reasonOf(f) }, done: kill ? `Killed ${key}.` : `Revived ${key}.` };
  });
}

export function setRollout(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  return flagWrite(c, 'rollout', (type, f) => {
    if (f.action === 'clear') return { method: 'PATCH', path: `/api/flags/${enc(key)}`, ifMatch: true, body: { rollout: null, ...reasonOf(f) }, done: `Ended the rollout of ${key}.` };
    const percentage = optionalNumber(f.percentage, 'percentage');
    if (percentage === null) throw new FormError('percentage', 'enter a percentage from 0 to 100');
    return {
      method: 'PATCH',
      path: `/api/flags/${enc(key)}`,
      ifMatch: true,
      body: { rollout: { percentage, value: typedValue(type, f.value), stickiness: f.stickiness === 'orgId' ? 'orgId' : 'userId' }, ...reasonOf(f) },
      done: `Rollout of ${key} set to ${percentage}%.`,
    };
  });
}

export function setPlatformOverride(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  const platform = c.req.param('platform')!;
  return flagWrite(c, `platform:${platform}`, (type, f) => {
    const path = `/api/flags/${enc(key)}/platforms/${enc(platform)}`;
    return f.action === 'clear'
      ? { method: 'DELETE', path, body: reasonOf(f), done: `Removed the all-orgs ${platform} override of ${key}.` }
      : { method: 'PUT', path, body: { value: typedValue(type, f.value), ...reasonOf(f) }, done: `${key} on ${platform} (all orgs) set to ${f.value}.` };
  });
}

export function setFlagOrgValue(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  return flagWrite(c, 'orgs', (type, f) => {
    const orgId = (f.orgId ?? '').trim();
    if (!orgId) throw new FormError('orgId', 'enter an organization id');
    const path = `/api/orgs/${enc(orgId)}/flags/${enc(key)}`;
    return f.action === 'clear'
      ? { method: 'DELETE', path, body: reasonOf(f), done: `${orgId} inherits ${key} again.`, anchor: '#orgs' }
      : {
          method: 'PUT',
          path,
          body: { value: typedValue(type, f.value), percentage: optionalNumber(f.percentage, 'percentage'), ...reasonOf(f) },
          done: `${key} for ${orgId} set to ${f.value}.`,
          anchor: '#orgs',
        };
  });
}


export function archiveFlag(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  return flagWrite(c, 'archive', (_type, f) => {
    if (f.confirm !== 'yes') throw new FormError('confirm', 'tick the box to confirm the archive');
    return { method: 'DELETE', path: `/api/flags/${enc(key)}`, ifMatch: true, body: reasonOf(f), done: `Archived ${key}.`, anchor: '#archive' };
  });
}

export function restoreFlag(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  return flagWrite(c, 'archive', (_type, f) => ({ method: 'POST', path: `/api/flags/${enc(key)}/restore`, body: reasonOf(f), done: `Restored ${key}.`, anchor: '#archive' }));
}
