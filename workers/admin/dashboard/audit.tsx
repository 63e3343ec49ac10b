import { eq } from 'drizzle-orm';
import type { Context } from 'hono';
import { featureFlagValues } from '../../../shared/db';
import { ellipsize } from '../../../shared/text';
import { inTransaction } from '../db';
import { auditView } from '../routes/audit';
import { callApi, problemOf, type ApiProblem } from './dispatch';
import { FormError, formStateOf, instant, localInput, readForm, reasonOf, type Fields, type FormState } from './forms';
import { Banner, CsrfField, errorOf, Field, publishNote, ReasonField, renderError, renderPage, setFlash, Value, When } from './layout';
import { pageContext, type PageContext } from './page';
import type { DashEnv } from './session';

/** The audit log (`/audit`): filters, readable old → new diffs, and revert with a confirmation step. */

export type AuditEntry = ReturnType<typeof auditView>;

const enc = encodeURIComponent;
const REVERTIBLE = new Set(['system', 'org', 'platform', 'user']);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Longest value text in a diff: a value can be a megabyte; the whole of it is in the export and the API. */
const DIFF_VALUE_MAX = 2_000;

function shown(value: unknown): string {
  const text = JSON.stringify(value ?? null);
  return ellipsize(text, DIFF_VALUE_MAX, `… (${text.length} characters; all of it in the CSV download)`);
}

/** Old → new: for objects only the fields that changed; creations and removals list what was there. */
export function Diff(props: { old: unknown; new: unknown }) {
  const { old, new: next } = props;
  if (isRecord(old) && isRecord(next)) {
    const changed = [...new Set([...Object.keys(old), ...Object.keys(next)])].filter((k) => !same(old[k], next[k]));
    if (changed.length === 0) return <span class="muted">no visible change</span>;
    return (
      <ul class="diff">
        {changed.map((k) => (
          <li>
            {k}: <del>{shown(old[k])}</del> → <ins>{shown(next[k])}</ins>
          </li>
        ))}
      </ul>
    );
  }
  if ((old === null || old === undefined) && isRecord(next)) {
    return (
      <ul class="diff">
        <li class="muted">created</li>
        {Object.entries(next).map(([k, v]) => (
          <li>
            {k}: <ins>{shown(v)}</ins>
          </li>
        ))}
      </ul>
    );
  }
  if (isRecord(old) && (next === null || next === undefined)) {
    return (
      <ul class="diff">
        <li class="muted">removed</li>
        {Object.entries(old).map(([k, v]) => (
          <li>
            {k}: <del>{shown(v)}</del>
          </li>
        ))}
      </ul>
    );
  }
  return (
    <span class="diff">
      <del>{shown(old)}</del> → <ins>{shown(next)}</ins>
    </span>
  );
}

function mayRevert(page: PageContext, entry: AuditEntry): boolean {
  if (!entry.flag || !REVERTIBLE.has(entry.level)) return false;
  return entry.orgId === null ? page.canEditSystem : page.canEditOrg(entry.orgId);
}

function Target(props: { entry: AuditEntry }) {
  const e = props.entry;
  return (
    <>
      <span class="badge">{e.level}</span>
      {e.flag && (
        <a class="key" href={`/flags/${enc(e.flag)}`}>
          {e.flag}
        </a>
      )}
      {e.orgId && <span class="desc">org {e.orgId}</span>}
      {e.target && e.level !== 'system' && e.level !== 'org' && <span class="desc">{e.level === 'user' ? `user ${e.target}` : e.target}</span>}
    </>
  );
}

export function AuditList(props: { entries: AuditEntry[]; page: PageContext; compact?: boolean }) {
  if (props.entries.length === 0) return <p class="empty">No changes recorded{props.compact ? ' yet' : ' for these filters'}.</p>;
  return (
    <div class="table-wrap">
      <table class="stack">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">What</th>
            <th scope="col">Change</th>
            <th scope="col">Who / why</th>
            {!props.compact && <th scope="col">Revert</th>}
          </tr>
        </thead>
        <tbody>
          {props.entries.map((e) => (
            <tr id={`entry-${e.id}`}>
              <td>
                <When at={e.at} />
                <span class="desc">#{e.id}</span>
              </td>
              <td>
                <Target entry={e} />
              </td>
              <td>
                <Diff old={e.oldValue} new={e.newValue} />
              </td>
              <td>
                {e.actor}
                {e.reason && <span class="desc">“{e.reason}”</span>}
              </td>
              {!props.compact && (
                <td>
                  {mayRevert(props.page, e) && (
                    <a class="button secondary small" href={`/audit/${e.id}/revert`} aria-label={`Revert entry ${e.id}`}>
                      Revert…
                    </a>
                  )}
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const FILTERS = ['flag', 'orgId', 'actor', 'since', 'until'] as const;

/** The filters of the page's query string: as typed (`raw`), as the API takes them, or the error of one. */
function readFilters(c: Context<DashEnv>): { raw: Fields; query: Record<string, string | undefined>; state?: FormState } {
  const raw: Fields = {};
  for (const name of FILTERS) raw[name] = (c.req.query(name) ?? '').trim();
  const query: Record<string, string | undefined> = { flag: raw.flag, orgId: raw.orgId, actor: raw.actor };
  try {
    query.since = instant(raw.since, 'since') ?? undefined;
    query.until = instant(raw.until, 'until') ?? undefined;
  } catch (error) {
    if (!(error instanceof FormError)) throw error;
    return { raw, query, state: { form: 'filter', values: raw, errors: { [error.field]: error.message } } };
  }
  return { raw, query };
}

/** `GET /audit/export`: the filtered trail as a CSV download (`GET /api/audit/export`); a refusal shows on the audit page. */
export async function auditExport(c: Context<DashEnv>): Promise<Response> {
  const { query, state } = readFilters(c);
  if (state) return auditPage(c);
  const answer = await callApi<ReadableStream | null>(c, 'GET', '/api/audit/export', { query: { ...query, format: 'csv' }, raw: true });
  if (!answer.ok) return auditPage(c, problemOf(answer));
  const headers = new Headers({ 'Content-Type': answer.headers.get('Content-Type') ?? 'text/csv; charset=utf-8', 'Cache-Control': 'no-store' });
  const disposition = answer.headers.get('Content-Disposition');
  if (disposition) headers.set('Content-Disposition', disposition);
  return new Response(answer.body, { status: 200, headers });
}

export async function auditPage(c: Context<DashEnv>, refused?: ApiProblem): Promise<Response> {
  const page = await pageContext(c);
  const filters = readFilters(c);
  const { raw } = filters;
  let state = filters.state;
  const query: Record<string, string | undefined> = { ...filters.query, cursor: c.req.query('cursor'), limit: '50' };
  let entries: AuditEntry[] = [];
  let nextCursor: string | null = null;
  let status = 200;
  if (!state) {
    const answer = await callApi<{ items: AuditEntry[]; nextCursor: string | null }>(c, 'GET', '/api/audit', { query });
    if (answer.ok) ({ items: entries, nextCursor } = answer.body);
    else {
      status = answer.status;
      state = formStateOf('filter', raw, problemOf(answer));
    }
  } else status = 422;
  // An export the API refused (too many entries): said above the entries it would have held.
  if (refused && !state) {
    status = refused.status;
    state = formStateOf('filter', raw, refused);
  }
  const chosen = new URLSearchParams(Object.entries(raw).filter(([, v]) => v !== ''));
  const older = new URLSearchParams(chosen);
  if (nextCursor) older.set('cursor', nextCursor);
  const e = (field: string) => errorOf(state, 'filter', field);
  const input = (name: (typeof FILTERS)[number], label: string, type = 'text') => (
    <Field id={`filter-${name}`} label={label} error={e(name)}>
      <input id={`filter-${name}`} name={name} type={type} value={type === 'datetime-local' ? localInput(raw[name] ? (instantOrNull(raw[name]) ?? raw[name]) : '') : raw[name]} aria-invalid={e(name) ? 'true' : undefined} />
    </Field>
  );
  return renderPage(
    c,
    status,
    page.frame('Audit log', 'audit'),
    <>
      <h1>Audit log</h1>
      <section class="panel" aria-label="Filter the audit log">
        <Banner state={state} form="filter" />
        <form method="get" action="/audit" class="row" role="search">
          {input('flag', 'Flag key')}
          {input('orgId', 'Organization')}
          {input('actor', 'Actor', 'text')}
          {input('since', 'Since (UTC)', 'datetime-local')}
          {input('until', 'Until (UTC)', 'datetime-local')}
          <button type="submit">Filter</button>
          <a class="button secondary" href="/audit">
            Clear
          </a>
          <a class="button secondary" href={`/audit/export${chosen.size ? `?${chosen.toString()}` : ''}`} download>
            Download CSV
          </a>
        </form>
        <p class="muted">Actors look like token:&lt;name&gt;#&lt;start of the token id&gt;, token:bootstrap or cron.</p>
      </section>
      <section class="panel" aria-label="Entries">
        <AuditList entries={entries} page={page} />
        {nextCursor && (
          <p>
            <a href={`/audit?${older.toString()}`}>Older entries →</a>
          </p>
        )}
      </section>
    </>,
  );
}

function instantOrNull(raw: string): string | null {
  try {
    return instant(raw, 'x');
  } catch {
    return null;
  }
}

async function findEntry(c: Context<DashEnv>, id: string): Promise<AuditEntry | undefined> {
  if (!/^[1-9][0-9]{0,17}$/.test(id)) return undefined;
  const [row] = await inTransaction(c, (tx) => tx.select().from(featureFlagValues).where(eq(featureFlagValues.id, Number(id))));
  return row ? auditView(row) : undefined;
}

export async function revertConfirmPage(c: Context<DashEnv>, state?: FormState, status = 200): Promise<Response> {
  const page = await pageContext(c);
  const entry = await findEntry(c, c.req.param('id')!);
  if (!entry) return renderError(c, 404, `No audit entry ${c.req.param('id')}.`);
  if (!mayRevert(page, entry)) return renderError(c, 403, `Entry ${entry.id} cannot be reverted with your role (or it is not a flag change).`);
  return renderPage(
    c,
    status,
    page.frame(`Revert entry ${entry.id}`, 'audit'),
    <section class="panel narrow">
      <h1>Revert entry #{entry.id}?</h1>
      <Banner state={state} form="revert" />
      <dl class="facts">
        <dt>What</dt>
        <dd>
          <Target entry={entry} />
        </dd>
        <dt>When</dt>
        <dd>
          <When at={entry.at} /> by {entry.actor}
        </dd>
        <dt>Change</dt>
        <dd>
          <Diff old={entry.oldValue} new={entry.newValue} />
        </dd>
        <dt>Revert sets</dt>
        <dd>{entry.oldValue === null ? (entry.level === 'system' ? 'the flag archived' : 'the override removed') : <Value value={entry.oldValue} />}</dd>
      </dl>
      <p class="muted">The revert is a new change, audited like any other; later changes to the same thing are overwritten.</p>
      <form method="post" action={`/audit/${entry.id}/revert`}>
        <CsrfField token={page.csrf} />
        <ReasonField form="revert" state={state} />
        <div class="row">
          <button type="submit" class="danger">
            Confirm revert
          </button>
          <a class="button secondary" href={`/audit${entry.flag ? `?flag=${enc(entry.flag)}` : ''}`}>
            Cancel
          </a>
        </div>
      </form>
    </section>,
  );
}

export async function revertEntry(c: Context<DashEnv>): Promise<Response> {
  const id = c.req.param('id')!;
  const fields = await readForm(c);
  const answer = await callApi(c, 'POST', `/api/audit/${enc(id)}/revert`, { body: reasonOf(fields) });
  if (!answer.ok) {
    if (answer.status === 403 || answer.status === 401 || answer.status === 404) return renderError(c, answer.status === 401 ? 403 : answer.status, problemOf(answer).detail);
    return revertConfirmPage(c, formStateOf('revert', fields, problemOf(answer)), answer.status);
  }
  setFlash(c, `Reverted entry #${id}.${publishNote(answer.body.publish)}`);
  const entry = (answer.body.entries as AuditEntry[])[0];
  return c.redirect(`/audit${entry?.flag ? `?flag=${enc(entry.flag)}` : ''}`, 303);
}
