import type { Context } from 'hono';
import { callApi, problemOf } from './dispatch';
import { EvaluationsChart, formatCount, RolloutComparison, StaleBadges, TopOrgsChart, valueLabel, type HourBucket, type ValueCount } from './charts';
import { Panel, renderError, renderPage, When } from './layout';
import { pageContext } from './page';
import type { DashEnv } from './session';
import type { StaleMarkView } from '../metrics-store';

/**
 * Metrics pages of the dashboard: `/flags/:key/metrics` (evaluations over time by value, top orgs,
 * observed vs configured rollout, stale marks) and `/cleanup` (every stale mark, grouped by flag).
 * Both read the API (`/api/flags/:key/metrics*`, `/api/stale`) as the signed-in caller, so the
 * same role and org rules apply.
 */

interface FlagMetrics {
  from: string;
  to: string;
  total: number;
  byValue: ValueCount[];
  hours: HourBucket[];
}


interface Summary {
  last24h: number;
  last7d: number;
  values: (ValueCount & { share: number })[];
  lastEvaluatedAt: string | null;
  orgs: number;
  topOrgs: { orgId: string; count: number }[];
  rollout: { configured: number | null; observed: number | null; evaluations: number };
  stale: StaleMarkView[];
}

const RANGES = { '24h': 24, '7d': 7 * 24, '30d': 30 * 24 } as const;
type Range = keyof typeof RANGES;

const percent = (share: number) => `${(share * 100).toFixed(share > 0 && share < 0.01 ? 2 : 1)}%`;

export async function flagMetricsPage(c: Context<DashEnv>): Promise<Response> {
  const key = c.req.param('key')!;
  const page = await pageContext(c);
  const range: Range = (Object.hasOwn(RANGES, c.req.query('range') ?? '') ? c.req.query('range') : '24h') as Range;
  const orgId = c.req.query('orgId') || undefined;
  const to = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 + 3_600_000);
  const from = new Date(to.getTime() - RANGES[range] * 3_600_000);
  const [metrics, summary] = await Promise.all([
    callApi<FlagMetrics>(c, 'GET', `/api/flags/${encodeURIComponent(key)}/metrics`, { query: { orgId, from: from.toISOString(), to: to.toISOString() } }),
    callApi<Summary>(c, 'GET', `/api/flags/${encodeURIComponent(key)}/metrics/summary`, { query: { orgId } }),
  ]);
  if (!metrics.ok) return renderError(c, metrics.status, problemOf(metrics).detail);
  if (!summary.ok) return renderError(c, summary.status, problemOf(summary).detail);
  const m = metrics.body;
  const s = summary.body;
  const scope = orgId ?? (page.caller.role === 'system_admin' ? null : page.caller.orgId);
  const link = (r: Range) => `/flags/${encodeURIComponent(key)}/metrics?range=${r}${orgId ? `&orgId=${encodeURIComponent(orgId)}` : ''}`;
  return renderPage(
    c,
    200,
    page.frame(`Metrics · ${key}`, 'flags'),
    <>
      <p>
        <a href={`/flags/${encodeURIComponent(key)}`}>← {key}</a>
      </p>
      <h1>
        Evaluations of {key} <StaleBadges kinds={s.stale.map((mark) => mark.kind)} />
      </h1>
      <p class="muted">
        {scope ? `Organization ${scope}` : 'All organizations'} · last 24 h: <strong>{formatCount(s.last24h)}</strong> · last 7 days:{' '}
        <strong>{formatCount(s.last7d)}</strong> · last evaluated: {s.lastEvaluatedAt ? <When at={s.lastEvaluatedAt} /> : 'never'}
        {!scope && ` · ${s.orgs} org(s) in 7 days`}
      </p>
      <nav aria-label="Range">
        {(Object.keys(RANGES) as Range[]).map((r) => (
          <a href={link(r)} class={r === range ? 'badge current' : 'badge'} aria-current={r === range ? 'page' : undefined}>
            {r}
          </a>
        ))}
      </nav>
      <Panel titleId="over-time" title="Over time, by value">
        {m.total === 0 ? <p class="empty">No evaluations in this range.</p> : <EvaluationsChart hours={m.hours} byValue={m.byValue} from={m.from} to={m.to} />}
        {m.total > 0 && (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Value</th>
                  <th scope="col">Evaluations ({range})</th>
                  <th scope="col">Share</th>
                </tr>
              </thead>
              <tbody>
                {m.byValue.map((v) => (
                  <tr>
                    <td>
                      <code>{valueLabel(v.value)}</code>
                    </td>
                    <td>{v.count}</td>
                    <td>{percent(v.count / m.total)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Panel>
      <div class="grid2">
        {!scope && (
          <Panel titleId="top-orgs" title="Top organizations (7 days)">
            {s.topOrgs.length === 0 ? <p class="empty">No organization evaluated this flag.</p> : <TopOrgsChart orgs={s.topOrgs} />}
          </Panel>
        )}
        {s.rollout.configured !== null && (
          <Panel titleId="rollout" title="Rollout: configured vs observed (7 days)">
            <RolloutComparison configured={s.rollout.configured} observed={s.rollout.observed} evaluations={s.rollout.evaluations} />
            <p class="hint">Observed: answers inside the percentage (SPLIT) among all answers decided by it; per evaluation, not per user.</p>
          </Panel>
        )}
      </div>
      {s.stale.length > 0 && (
        <Panel titleId="stale" title="Cleanup">
          <StaleList marks={s.stale} showFlag={false} />
        </Panel>
      )}
    </>,
  );
}

function describeMark(mark: StaleMarkView): string {
  const d = mark.detail;
  switch (mark.kind) {
    case 'unused':
      return d.lastEvaluatedAt ? `not evaluated since ${String(d.lastEvaluatedAt).slice(0, 10)} (${d.days} days)` : `never evaluated in ${d.days} days`;
    case 'constant':
      return `answered ${valueLabel(d.value)} everywhere for ${d.days} days (${d.evaluations} evaluations): a removal candidate`;
    case 'expired':
      return `past its expiry date ${String(d.expiresAt).slice(0, 10)}`;
    case 'override':
      return d.why === 'expired' ? `user override ${mark.target} expired ${String(d.expiresAt).slice(0, 10)}` : `user override ${mark.target} unchanged since ${String(d.updatedAt).slice(0, 10)}`;
    default:
      return mark.kind;
  }
}

function StaleList(props: { marks: readonly StaleMarkView[]; showFlag: boolean }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            {props.showFlag && <th scope="col">Flag</th>}
            <th scope="col">Finding</th>
            <th scope="col">What</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {props.marks.map((mark) => (
            <tr>
              {props.showFlag && (
                <td>
                  <a href={`/flags/${encodeURIComponent(mark.flag)}`}>{mark.flag}</a> ·{' '}
                  <a href={`/flags/${encodeURIComponent(mark.flag)}/metrics`} class="muted">
                    metrics
                  </a>
                </td>
              )}
              <td>
                <StaleBadges kinds={[mark.kind]} />
              </td>
              <td>{describeMark(mark)}</td>
              <td>
                <When at={mark.markedAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** `/cleanup`: every finding of the last stale scan the caller may see. */
export async function cleanupPage(c: Context<DashEnv>): Promise<Response> {
  const page = await pageContext(c);
  const answer = await callApi<{ items: StaleMarkView[] }>(c, 'GET', '/api/stale');
  if (!answer.ok) return renderError(c, answer.status, problemOf(answer).detail);
  const marks = answer.body.items;
  const flags = new Set(marks.map((m) => m.flag));
  return renderPage(
    c,
    200,
    page.frame('Cleanup', 'cleanup'),
    <>
      <h1>Cleanup</h1>
      <p class="muted">
        What the cron pass found stale: flags not evaluated for 30 days, flags answering one value everywhere for 30 days, flags past their
        expiry date, and user overrides that expired or are older than 90 days. {marks.length} finding(s) on {flags.size} flag(s).
      </p>
      <Panel titleId="cleanup-list" title="Findings">
        {marks.length === 0 ? <p class="empty">Nothing to clean up.</p> : <StaleList marks={marks} showFlag={true} />}
      </Panel>
    </>,
  );
}
