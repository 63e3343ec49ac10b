import type { Context } from 'hono';
import type { FlagType } from '../../../shared/engine';
import { callApi, problemOf, type ApiProblem } from './dispatch';
import { FormError, instant, optionalNumber, readForm, reasonOf, typedValue, type Fields, type FormState } from './forms';
import { flagPage } from './flag';
import { Banner, ConfirmButton, CsrfField, errorOf, Field, Panel, ReasonField, renderError, setFlash, Value, ValueInput, valueOf, When } from './layout';
import type { PageContext } from './page';
import type { DashEnv } from './session';

/**
 * The flag editor's planned changes: one-off schedules (`/api/flags/:key/schedules`) and rollout
 * ramps (`/api/flags/:key/rollouts`). Sections render inside `flagPage`; the forms post here and go
 * through `callApi` like every other dashboard write. Shapes are the API's answers, not store rows.
 */

const enc = encodeURIComponent;

export interface ScheduleAnswer {
  id: string;
  orgId: string | null;
  at: string;
  change: { value?: unknown; killed?: boolean; percentage?: number };
  state: 'pending' | 'applied' | 'cancelled' | 'failed';
  error: string | null;
  appliedAt: string | null;
}

export interface RampAnswer {
  id: string;
  orgId: string | null;
  value: unknown;
  stickiness: 'userId' | 'orgId';
  steps: { id: string; percentage: number; at: string; state: string; error: string | null }[];
  state: 'running' | 'paused' | 'done' | 'aborted';
}

export interface Plans {
  schedules: ScheduleAnswer[];
  ramps: RampAnswer[];
}

/** Both lists through the API (RLS and roles as the API applies them); a refusal is an empty list. */
export async function loadPlans(c: Context<DashEnv>, key: string): Promise<Plans> {
  const [schedules, ramps] = await Promise.all([
    callApi<{ items: ScheduleAnswer[] }>(c, 'GET', `/api/flags/${enc(key)}/schedules`, { query: { limit: '100' } }),
    callApi<{ items: RampAnswer[] }>(c, 'GET', `/api/flags/${enc(key)}/rollouts`, { query: { limit: '20' } }),
  ]);
  return { schedules: schedules.ok ? schedules.body.items : [], ramps: ramps.ok ? ramps.body.items : [] };
}

// ---- sections ---------------------------------------------------------------------------------

interface SectionProps {
  flagKey: string;
  type: FlagType;
  /** The flag's default value: a boolean ramp's form offers the other one (a ramp to the default is refused). */
  defaultValue: unknown;
  archived: boolean;
  page: PageContext;
  plans: Plans;
  state?: FormState | undefined;
}

const mayPlan = (page: PageContext) => page.caller.role === 'system_admin' || page.caller.role === 'org_admin';

function changeText(change: ScheduleAnswer['change']): string {
  const parts: string[] = [];
  if (change.killed !== undefined) parts.push(change.killed ? 'kill' : 'revive');
  if (change.percentage !== undefined) parts.push(`${change.percentage}%`);
  if (change.value !== undefined) parts.push(`value ${JSON.stringify(change.value)}`);
  return parts.join(', ');
}

export function SchedulesSection(props: SectionProps) {
  const { flagKey, type, page, state } = props;
  const form = 'schedule';
  const e = (field: string) => errorOf(state, form, field);
  const v = (field: string, fallback = '') => valueOf(state, form, field, fallback);
  const what = v('what', 'value');
  return (
    <Panel titleId="schedules-title" id="schedules" title="Schedules">
      <Banner state={state} form="schedule-cancel" />
      {props.plans.schedules.length === 0 ? (
        <p class="muted">No scheduled changes for this flag.</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">At (UTC)</th>
                <th scope="col">Scope</th>
                <th scope="col">Change</th>
                <th scope="col">State</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {props.plans.schedules.map((s) => (
                <tr>
                  <td>
                    <When at={s.at} />
                  </td>
                  <td>{s.orgId ?? 'all organizations'}</td>
                  <td>
                    <code class="val">{changeText(s.change)}</code>
                  </td>
                  <td>
                    <span class={`state state-${s.state}`}>{s.state}</span>
                    {s.appliedAt && (
                      <span class="desc">
                        applied <When at={s.appliedAt} />
                      </span>
                    )}
                    {s.error && <span class="error-text">{s.error}</span>}
                  </td>
                  <td>
                    {s.state === 'pending' && page.canEditOrg(s.orgId) && (
                      <ConfirmButton
                        action={`/flags/${enc(flagKey)}/schedules/${enc(s.id)}/cancel`}
                        confirm={`Cancel the change planned for ${s.at.replace('T', ' ').slice(0, 16)} UTC?`}
                        csrf={page.csrf}
                        label="Cancel schedule"
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {mayPlan(page) && !props.archived && (
        <>
          <h3>Schedule a change</h3>
          <Banner state={state} form={form} />
          <form method="post" action={`/flags/${enc(flagKey)}/schedules`}>
            <CsrfField token={page.csrf} />
            <div class="row">
              <Field id="schedule-at" label="At (UTC)" error={e('at')}>
                <input id="schedule-at" name="at" type="datetime-local" required value={v('at')} aria-invalid={e('at') ? 'true' : undefined} aria-describedby={e('at') ? 'schedule-at-error' : undefined} />
              </Field>
              <Field id="schedule-org" label="Organization (optional)" hint="empty: all organizations" error={e('orgId')}>
                <input id="schedule-org" name="orgId" type="text" maxlength={128} value={v('orgId', page.canEditSystem ? '' : (page.caller.orgId ?? ''))} aria-invalid={e('orgId') ? 'true' : undefined} />
              </Field>
              <Field id="schedule-what" label="Change" error={e('what')}>
                <select id="schedule-what" name="what">
                  <option value="value" selected={what === 'value'}>
                    Set the value
                  </option>
                  <option value="percentage" selected={what === 'percentage'}>
                    Set the percentage
                  </option>
                  <option value="kill" selected={what === 'kill'}>
                    Kill the flag
                  </option>
                  <option value="revive" selected={what === 'revive'}>
                    Revive the flag
                  </option>
                </select>
              </Field>
              <Field id="schedule-value" label="Value" hint="for a value, or inside the percentage" error={e('value')}>
                <ValueInput id="schedule-value" name="value" type={type} value={v('value', type === 'boolean' ? 'true' : '')} error={e('value')} />
              </Field>
              <Field id="schedule-pct" label="Percentage" hint="for a percentage change" error={e('percentage')}>
                <input id="schedule-pct" name="percentage" type="number" min={0} max={100} step="0.01" value={v('percentage')} aria-invalid={e('percentage') ? 'true' : undefined} />
              </Field>
            </div>
            <ReasonField form={form} state={state} />
            <button type="submit">Schedule change</button>
          </form>
        </>
      )}
    </Panel>
  );
}

export function RampsSection(props: SectionProps) {
  const { flagKey, type, page, state } = props;
  const form = 'ramp';
  const e = (field: string) => errorOf(state, form, field);
  const v = (field: string, fallback = '') => valueOf(state, form, field, fallback);
  return (
    <Panel titleId="ramps-title" id="ramps" title="Rollout ramps">
      <Banner state={state} form="ramp-action" />
      {props.plans.ramps.length === 0 ? (
        <p class="muted">No ramps for this flag yet. A ramp raises the rollout percentage step by step.</p>
      ) : (
        <div class="cards">
          {props.plans.ramps.map((r) => (
            <article class="card" aria-label={`Ramp ${r.id}`}>
              <div class="card-head">
                <div class="grow">
                  <strong>{r.orgId ?? 'All organizations'}</strong> → <Value value={r.value} /> <span class={`state state-${r.state}`}>{r.state}</span>
                </div>
                {page.canEditOrg(r.orgId) && (r.state === 'running' || r.state === 'paused') && (
                  <div class="toggle">
                    {(r.state === 'running' ? (['pause', 'abort'] as const) : (['resume', 'abort'] as const)).map((action) => (
                      <ConfirmButton
                        action={`/flags/${enc(flagKey)}/rollouts/${enc(r.id)}/${action}`}
                        confirm={action === 'abort' ? 'Abort this ramp? Pending steps are cancelled and the pre-ramp rollout comes back.' : `${action === 'pause' ? 'Pause' : 'Resume'} this ramp?`}
                        csrf={page.csrf}
                        danger={action === 'abort'}
                        label={action === 'pause' ? 'Pause ramp' : action === 'resume' ? 'Resume ramp' : 'Abort ramp'}
                      />
                    ))}
                    {r.steps.some((s) => s.state === 'applied') && (
                      <ConfirmButton
                        action={`/flags/${enc(flagKey)}/rollouts/${enc(r.id)}/abort`}
                        confirm="Stop this ramp where it is? Pending steps are cancelled and the current rollout stays."
                        csrf={page.csrf}
                        fields={[['restore', 'false']]}
                        label="Stop here"
                      />
                    )}
                  </div>
                )}
              </div>
              <ol class="steps">
                {r.steps.map((s) => (
                  <li>
                    {s.percentage}% at <When at={s.at} /> — <span class={`state state-${s.state}`}>{s.state}</span>
                    {s.error && <span class="error-text">{s.error}</span>}
                  </li>
                ))}
              </ol>
            </article>
          ))}
        </div>
      )}
      {mayPlan(page) && !props.archived && (
        <>
          <h3>Start a ramp</h3>
          <p class="muted">Either list steps, one per line as “percentage at UTC time” (e.g. “10 2030-01-01T09:00”), or give percentages, an interval and an optional start.</p>
          <Banner state={state} form={form} />
          <form method="post" action={`/flags/${enc(flagKey)}/rollouts`}>
            <CsrfField token={page.csrf} />
            <div class="row">
              <Field id="ramp-org" label="Organization (optional)" hint="empty: all organizations" error={e('orgId')}>
                <input id="ramp-org" name="orgId" type="text" maxlength={128} value={v('orgId', page.canEditSystem ? '' : (page.caller.orgId ?? ''))} aria-invalid={e('orgId') ? 'true' : undefined} />
              </Field>
              <Field id="ramp-value" label="Value to roll out" error={e('value')}>
                <ValueInput id="ramp-value" name="value" type={type} value={v('value', type === 'boolean' ? String(props.defaultValue !== true) : '')} error={e('value')} />
              </Field>
              <Field id="ramp-stick" label="Bucket by" error={e('stickiness')}>
                <select id="ramp-stick" name="stickiness">
                  <option value="userId" selected={v('stickiness') !== 'orgId'}>
                    user
                  </option>
                  <option value="orgId" selected={v('stickiness') === 'orgId'}>
                    organization
                  </option>
                </select>
              </Field>
            </div>
            <Field id="ramp-steps" label="Steps (optional)" hint="one per line: percentage, then the UTC time" error={e('steps')}>
              <textarea id="ramp-steps" name="steps" rows={3} spellcheck={false} aria-invalid={e('steps') ? 'true' : undefined}>
                {v('steps')}
              </textarea>
            </Field>
            <div class="row">
              <Field id="ramp-pcts" label="Percentages" hint="comma-separated, e.g. 10, 25, 50, 100" error={e('percentages')}>
                <input id="ramp-pcts" name="percentages" type="text" value={v('percentages')} aria-invalid={e('percentages') ? 'true' : undefined} />
              </Field>
              <Field id="ramp-every" label="Every" hint="e.g. 1h, 30m, 1d" error={e('every')}>
                <input id="ramp-every" name="every" type="text" maxlength={40} value={v('every')} aria-invalid={e('every') ? 'true' : undefined} />
              </Field>
              <Field id="ramp-start" label="Start (UTC, optional)" hint="empty: now" error={e('start')}>
                <input id="ramp-start" name="start" type="datetime-local" value={v('start')} aria-invalid={e('start') ? 'true' : undefined} />
              </Field>
            </div>
            <ReasonField form={form} state={state} />
            <button type="submit">Start ramp</button>
          </form>
        </>
      )}
    </Panel>
  );
}

// ---- forms ------------------------------------------------------------------------------------

/** `body.change.value` → `value`, `body.steps.2.at` → `steps`: the form field that carried it. */
function planFormState(form: string, values: Fields, problem: ApiProblem): FormState {
  const errors: Record<string, string> = {};
  for (const e of problem.errors) {
    const parts = e.path.replace(/^body\./, '').split('.');
    // `change.killed` and a change with nothing in it belong to the "Change" select.
    const field = parts[0] === 'change' ? (parts[1] === undefined || parts[1] === 'killed' ? 'what' : parts[1]) : parts[0]!;
    errors[field] ??= e.message;
  }
  return { form, values, errors, banner: { kind: 'error', text: problem.detail } };
}

type Build = (type: FlagType, f: Fields) => { method: string; path: string; body: unknown; done: string; anchor: string };

/** Shared by the plan forms: decode, call the API, show errors beside fields or redirect with a flash. */
async function planWrite(c: Context<DashEnv>, form: string, build: Build): Promise<Response> {
  const key = c.req.param('key')!;
  const fields = await readForm(c);
  const flag = await callApi<{ type: FlagType }>(c, 'GET', `/api/flags/${enc(key)}`);
  if (!flag.ok) return renderError(c, flag.status, problemOf(flag).detail);
  let call: ReturnType<Build>;
  try {
    call = build(flag.body.type, fields);
  } catch (error) {
    if (!(error instanceof FormError)) throw error;
    return flagPage(c, { form, values: fields, errors: { [error.field]: error.message }, banner: { kind: 'error', text: 'Check the highlighted field.' } }, 422);
  }
  const answer = await callApi(c, call.method, call.path, { body: call.body });
  if (!answer.ok) {
    const problem = problemOf(answer);
    if (answer.status === 401 || answer.status === 403) return renderError(c, 403, problem.detail);
    return flagPage(c, planFormState(form, fields, problem), answer.status);
  }
  setFlash(c, call.done);
  return c.redirect(`/flags/${enc(key)}${call.anchor}`, 303);
}

const orgOf = (f: Fields) => (f.orgId?.trim() ? { orgId: f.orgId.trim() } : {});

export function createSchedule(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  return planWrite(c, 'schedule', (type, f) => {
    const at = instant(f.at, 'at');
    if (at === null) throw new FormError('at', 'enter when the change applies (UTC)');
    let change: Record<string, unknown>;
    switch (f.what) {
      case 'kill':
      case 'revive':
        change = { killed: f.what === 'kill' };
        break;
      case 'percentage': {
        const percentage = optionalNumber(f.percentage, 'percentage');
        if (percentage === null) throw new FormError('percentage', 'enter a percentage from 0 to 100');
        change = { percentage, value: typedValue(type, f.value) };
        break;
      }
      default:
        change = { value: typedValue(type, f.value) };
    }
    return { method: 'POST', path: `/api/flags/${enc(key)}/schedules`, body: { at, ...orgOf(f), change, ...reasonOf(f) }, done: `Scheduled a change of ${key} for ${at.slice(0, 16).replace('T', ' ')} UTC.`, anchor: '#schedules' };
  });
}

export function cancelSchedule(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  const id = c.req.param('id')!;
  return planWrite(c, 'schedule-cancel', () => ({ method: 'DELETE', path: `/api/schedules/${enc(id)}`, body: {}, done: `Cancelled the scheduled change of ${key}.`, anchor: '#schedules' }));
}

function rampSteps(raw: string): { percentage: number; at: string }[] {
  return raw
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line, i) => {
      const match = /^(\S+?)%?\s*(?:@|at)?\s+(\S+)$/.exec(line);
      const percentage = match ? Number(match[1]) : NaN;
      if (!match || !Number.isFinite(percentage)) throw new FormError('steps', `line ${i + 1}: write “percentage UTC-time”, e.g. “10 2030-01-01T09:00”`);
      return { percentage, at: instant(match[2], 'steps')! };
    });
}

export function createRamp(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  return planWrite(c, 'ramp', (type, f) => {
    const steps = rampSteps(f.steps ?? '');
    const body: Record<string, unknown> = { ...orgOf(f), ...reasonOf(f) };
    // A blank value of a non-boolean flag lets the API use the current rollout's value.
    if (type === 'boolean' || (f.value ?? '').trim() !== '') body.value = typedValue(type, f.value);
    if (!f.orgId?.trim()) body.stickiness = f.stickiness === 'orgId' ? 'orgId' : 'userId';
    if (steps.length > 0) {
      body.steps = steps;
    } else {
      const percentages = (f.percentages ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      if (percentages.length === 0) throw new FormError('percentages', 'give percentages (or steps above)');
      body.percentages = percentages.map((p) => {
        const n = Number(p.replace(/%$/, ''));
        if (!Number.isFinite(n)) throw new FormError('percentages', `“${p}” is not a number`);
        return n;
      });
      if (!(f.every ?? '').trim()) throw new FormError('every', 'give the interval between steps, e.g. 1h');
      body.every = f.every!.trim();
      const start = instant(f.start, 'start');
      if (start) body.start = start;
    }
    return { method: 'POST', path: `/api/flags/${enc(key)}/rollouts`, body, done: `Started a ramp of ${key}.`, anchor: '#ramps' };
  });
}

const RAMP_DONE = { pause: 'Paused', resume: 'Resumed', abort: 'Aborted' } as const;

export function rampAction(action: keyof typeof RAMP_DONE) {
  return (c: Context<DashEnv>): Promise<Response> => {
    const key = c.req.param('key')!;
    const id = c.req.param('id')!;
    return planWrite(c, 'ramp-action', (_type, f) => {
      // "Stop here": an abort that keeps the rollout the ramp has reached.
      const keep = action === 'abort' && f.restore === 'false';
      return {
        method: 'POST',
        path: `/api/rollouts/${enc(id)}/${action}`,
        body: keep ? { restore: false } : {},
        done: keep ? `Stopped the ramp of ${key} where it is.` : `${RAMP_DONE[action]} the ramp of ${key}.`,
        anchor: '#ramps',
      };
    });
  };
}

