import { and, asc, count, desc, ilike, inArray, isNotNull, isNull, or, arrayContains, type SQL } from 'drizzle-orm';
import type { Context } from 'hono';
import { featureFlagOverrides, featureFlags, featureFlagValues } from '../../../shared/db';
import { FLAG_TYPES, type FlagType } from '../../../shared/engine';
import { inTransaction } from '../db';
import { StaleBadges } from './charts';
import { callApi, problemOf } from './dispatch';
import { FormError, formStateOf, readForm, reasonOf, tagsOf, typedValue, instant, type FormState } from './forms';
import { Banner, CsrfField, errorOf, Field, Panel, publishNote, ReasonField, renderPage, setFlash, Value, valueOf, When } from './layout';
import { pageContext } from './page';
import type { DashEnv } from './session';

/** The flag list (`/`): search, filters, per-flag state and override counts; and "create flag". */

const STATES = {
  all: 'Any state',
  on: 'On (boolean true)',
  off: 'Off (boolean false)',
  killed: 'Killed',
  rollout: 'In a rollout',
  expired: 'Past expiry',
  archived: 'Archived',
} as const;
type StateFilter = keyof typeof STATES;
const LIST_CAP = 500;

interface ListRow {
  key: string;
  type: FlagType;
  description: string;
  value: unknown;
  killed: boolean;
  rollout: { percentage: number; value: unknown } | null;
  tags: string[];
  expiresAt: Date | null;
  archivedAt: Date | null;
  orgs: number;
  platforms: number;
  users: number;
  lastAt: string | null;
  lastActor: string | null;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (ch) => `\\${ch}`);
}

async function loadFlags(c: Context<DashEnv>, q: string, tag: string, state: StateFilter) {
  return inTransaction(c, async (tx) => {
    const f = featureFlags;
    const filters: (SQL | undefined)[] = [isNull(f.orgId), state === 'archived' ? isNotNull(f.archivedAt) : isNull(f.archivedAt)];
    if (q) filters.push(or(ilike(f.featureKey, `%${escapeLike(q)}%`), ilike(f.description, `%${escapeLike(q)}%`)));
    if (tag) filters.push(arrayContains(f.tags, [tag]));
    const [flags, allTags] = await Promise.all([
      tx.select().from(f).where(and(...filters)).orderBy(asc(f.featureKey)).limit(LIST_CAP + 1),
      tx.select({ tags: f.tags }).from(f).where(isNull(f.orgId)),
    ]);
    const keys = flags.map((row) => row.featureKey);
    const [orgCounts, overrideCounts, last] = keys.length
      ? await Promise.all([
          tx.select({ key: f.featureKey, n: count() }).from(f).where(and(isNotNull(f.orgId), inArray(f.featureKey, keys))).groupBy(f.featureKey),
          tx
            .select({ key: featureFlagOverrides.featureKey, kind: featureFlagOverrides.overrideType, n: count() })
            .from(featureFlagOverrides)
            .where(inArray(featureFlagOverrides.featureKey, keys))
            .groupBy(featureFlagOverrides.featureKey, featureFlagOverrides.overrideType),
          tx
            .selectDistinctOn([featureFlagValues.featureKey], { key: featureFlagValues.featureKey, at: featureFlagValues.at, actor: featureFlagValues.actor })
            .from(featureFlagValues)
            .where(inArray(featureFlagValues.featureKey, keys))
            .orderBy(featureFlagValues.featureKey, desc(featureFlagValues.id)),
        ])
      : [[], [], []];
    const orgsOf = new Map(orgCounts.map((r) => [r.key, r.n]));
    const overridesOf = new Map(overrideCounts.map((r) => [`${r.key}\u0000${r.kind}`, r.n]));
    const lastOf = new Map(last.map((r) => [r.key, r]));
    const now = Date.now();
    const rows: ListRow[] = flags.slice(0, LIST_CAP).map((row) => ({
      key: row.featureKey,
      type: row.type ?? 'json',
      description: row.description,
      value: row.value,
      killed: row.killed,
      rollout: row.rollout ? { percentage: row.rollout.percentage, value: row.rollout.value } : null,
      tags: row.tags,
      expiresAt: row.expiresAt,
      archivedAt: row.archivedAt,
      orgs: orgsOf.get(row.featureKey) ?? 0,
      platforms: overridesOf.get(`${row.featureKey}\u0000platform`) ?? 0,
      users: overridesOf.get(`${row.featureKey}\u0000user`) ?? 0,
      lastAt: lastOf.get(row.featureKey)?.at.toISOString() ?? null,
      lastActor: lastOf.get(row.featureKey)?.actor ?? null,
    }));
    const matching = rows.filter((r) => {
      switch (state) {
        case 'on':
          return r.type === 'boolean' && r.value === true && !r.killed;
        case 'off':
          return r.type === 'boolean' && r.value === false && !r.killed;
        case 'killed':
          return r.killed;
        case 'rollout':
          return r.rollout !== null;
        case 'expired':
          return r.expiresAt !== null && r.expiresAt.getTime() < now;
        default:
          return true;
      }
    });
    const tags = [...new Set(allTags.flatMap((r) => r.tags))].sort();
    return { rows: matching, tags, capped: flags.length > LIST_CAP };
  });
}

/** The kinds of the last stale scan's marks, per flag: one API call for the whole list. */
async function staleKindsByFlag(c: Context<DashEnv>): Promise<Map<string, string[]>> {
  const answer = await callApi<{ items: { flag: string; kind: string }[] }>(c, 'GET', '/api/stale');
  const kinds = new Map<string, string[]>();
  if (!answer.ok) return kinds; // the badges are a hint; the list renders without them
  for (const mark of answer.body.items) kinds.set(mark.flag, [...(kinds.get(mark.flag) ?? []), mark.kind]);
  return kinds;
}

export async function flagListPage(c: Context<DashEnv>, state?: FormState, status = 200): Promise<Response> {
  const page = await pageContext(c);
  const q = (c.req.query('q') ?? '').trim().slice(0, 200);
  const tag = (c.req.query('tag') ?? '').trim().slice(0, 64);
  const stateParam = c.req.query('state') ?? 'all';
  const filter: StateFilter = stateParam in STATES ? (stateParam as StateFilter) : 'all';
  const { rows, tags, capped } = await loadFlags(c, q, tag, filter);
  const stale = await staleKindsByFlag(c);
  const filtered = q !== '' || tag !== '' || filter !== 'all';
  const v = (field: string, fallback = '') => valueOf(state, 'create', field, fallback);
  const e = (field: string) => errorOf(state, 'create', field);

  return renderPage(
    c,
    status,
    page.frame('Flags', 'flags'),
    <>
      <h1>Flags</h1>
      <section class="panel" aria-label="Filter flags">
        <form method="get" action="/" class="row" role="search">
          <div class="field">
            <label for="q">Search</label>
            <input id="q" name="q" type="search" value={q} placeholder="key or description" />
          </div>
          <div class="field">
            <label for="tag">Tag</label>
            <select id="tag" name="tag" data-autosubmit>
              <option value="">Any tag</option>
              {tags.map((t) => (
                <option value={t} selected={t === tag}>
                  {t}
                </option>
              ))}
            </select>
          </div>
          <div class="field">
            <label for="state">State</label>
            <select id="state" name="state" data-autosubmit>
              {Object.entries(STATES).map(([id, label]) => (
                <option value={id} selected={id === filter}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <button type="submit">Filter</button>
          {filtered && (
            <a class="button secondary" href="/">
              Clear
            </a>
          )}
        </form>
      </section>

      <section class="panel" aria-label="Flag list">
        {rows.length === 0 ? (
          <p class="empty">
            {filtered ? (
              <>
                No flag matches these filters. <a href="/">Show all flags</a>
              </>
            ) : (
              'No flags yet.' + (page.canEditSystem ? ' Create the first one below.' : '')
            )}
          </p>
        ) : (
          <div class="table-wrap">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Flag</th>
                  <th scope="col">System value</th>
                  <th scope="col">State</th>
                  <th scope="col">Rollout</th>
                  <th scope="col">Overrides</th>
                  <th scope="col" class="opt">
                    Last change
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr>
                    <td>
                      <a class="key" href={`/flags/${encodeURIComponent(r.key)}`}>
                        {r.key}
                      </a>{' '}
                      <span class="badge">{r.type}</span> <StaleBadges kinds={stale.get(r.key) ?? []} />
                      {r.description && <span class="desc">{r.description}</span>}
                      {r.tags.map((t) => (
                        <a class="tag" href={`/?tag=${encodeURIComponent(t)}`}>
                          {t}
                        </a>
                      ))}
                    </td>
                    <td>
                      <Value value={r.value} />
                    </td>
                    <td>
                      {r.killed ? <span class="badge killed">killed</span> : r.archivedAt ? <span class="badge archived">archived</span> : <span class="muted">live</span>}
                      {r.expiresAt && r.expiresAt.getTime() < Date.now() && <span class="badge">past expiry</span>}
                    </td>
                    <td>
                      {r.rollout ? (
                        <>
                          <progress max={100} value={r.rollout.percentage} aria-label={`${r.rollout.percentage}% rollout`}></progress> {r.rollout.percentage}% → <Value value={r.rollout.value} />
                        </>
                      ) : (
                        <span class="muted">—</span>
                      )}
                    </td>
                    <td class="counts">
                      <b>{r.orgs}</b> org · <b>{r.platforms}</b> platform · <b>{r.users}</b> user
                    </td>
                    <td class="opt">
                      <When at={r.lastAt} />
                      {r.lastActor && <span class="desc">{r.lastActor}</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            {capped && <p class="muted">Showing the first {LIST_CAP} flags; narrow the search to see others.</p>}
          </div>
        )}
      </section>

      {page.canEditSystem && (
        <Panel titleId="create-title" title="Create a flag">
          <Banner state={state} form="create" />
          <form method="post" action="/flags">
            <CsrfField token={page.csrf} />
            <div class="row">
              <Field id="create-key" label="Key" error={e('key')} hint="a-z, 0-9, . _ -; e.g. reporting.pdf.enabled">
                <input id="create-key" name="key" type="text" required maxlength={128} value={v('key')} aria-invalid={e('key') ? 'true' : undefined} aria-describedby={e('key') ? 'create-key-error' : 'create-key-hint'} />
              </Field>
              <Field id="create-type" label="Type" error={e('type')}>
                <select id="create-type" name="type">
                  {FLAG_TYPES.map((t) => (
                    <option value={t} selected={t === v('type', 'boolean')}>
                      {t}
                    </option>
                  ))}
                </select>
              </Field>
              <Field id="create-default" label="Default value" error={e('defaultValue')} hint="empty: false / '' / 0 / {}; JSON for json flags">
                <input id="create-default" name="defaultValue" type="text" value={v('defaultValue')} aria-invalid={e('defaultValue') ? 'true' : undefined} aria-describedby={e('defaultValue') ? 'create-default-error' : 'create-default-hint'} />
              </Field>
            </div>
            <Field id="create-description" label="Description" error={e('description')}>
              <input id="create-description" name="description" type="text" maxlength={2000} value={v('description')} />
            </Field>
            <div class="row">
              <Field id="create-tags" label="Tags" hint="comma-separated" error={e('tags')}>
                <input id="create-tags" name="tags" type="text" value={v('tags')} />
              </Field>
              <Field id="create-owner" label="Owner" error={e('owner')}>
                <input id="create-owner" name="owner" type="text" maxlength={200} value={v('owner')} />
              </Field>
              <Field id="create-expires" label="Expires (UTC)" error={e('expiresAt')}>
                <input id="create-expires" name="expiresAt" type="datetime-local" value={v('expiresAt')} />
              </Field>
            </div>
            <ReasonField form="create" state={state} />
            <button type="submit">Create flag</button>
          </form>
        </Panel>
      )}
    </>,
  );
}

export async function createFlag(c: Context<DashEnv>): Promise<Response> {
  const fields = await readForm(c);
  const type = (FLAG_TYPES as readonly string[]).includes(fields.type ?? '') ? (fields.type as FlagType) : 'boolean';
  let body: Record<string, unknown>;
  try {
    const raw = fields.defaultValue ?? '';
    const expiresAt = instant(fields.expiresAt, 'expiresAt');
    body = {
      key: (fields.key ?? '').trim(),
      type,
      ...(fields.description?.trim() ? { description: fields.description.trim() } : {}),
      ...(raw.trim() === '' ? {} : { defaultValue: typedValue(type, raw, 'defaultValue') }),
      ...(tagsOf(fields.tags).length ? { tags: tagsOf(fields.tags) } : {}),
      ...(fields.owner?.trim() ? { owner: fields.owner.trim() } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      ...reasonOf(fields),
    };
  } catch (error) {
    if (!(error instanceof FormError)) throw error;
    return flagListPage(c, { form: 'create', values: fields, errors: { [error.field]: error.message } }, 422);
  }
  const answer = await callApi(c, 'POST', '/api/flags', { body });
  if (!answer.ok) return flagListPage(c, formStateOf('create', fields, problemOf(answer)), answer.status);
  setFlash(c, `Created ${answer.body.key}.${publishNote(answer.body.publish)}`);
  return c.redirect(`/flags/${encodeURIComponent(answer.body.key)}`, 303);
}
