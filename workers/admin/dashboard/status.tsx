import { and, desc, gt, isNotNull, isNull, lt, sql } from 'drizzle-orm';
import type { Context } from 'hono';
import { featureFlags, flagMetricsHourly } from '../../../shared/db';
import { inTransaction } from '../db';
import { callApi, problemOf } from './dispatch';
import { Panel, renderError, renderPage, When } from './layout';
import { pageContext } from './page';
import type { DashEnv } from './session';

/**
 * The status page (`/status`): `GET /api/status` (DB vs KV version per layer, pending layers, last cron
 * run, webhooks) plus evaluation volume and expired flags — each shown only when there is real data.
 */

interface Status {
  layers: { layer: string; dbVersion: number; kvVersion: number; publishedAt: string | null; lastError: string | null }[];
  pending: number;
  lastCronRun: { startedAt: string; finishedAt: string | null; durationMs: number | null; counts: Record<string, number>; error: string | null } | null;
  webhooks?: { total: number; failing: number; lastFailure: { url: string; lastError?: string | null } | null; waiting?: { count: number; oldestAt: string | null } };
  alerts?: { name: string; since: string; firing: boolean }[];
  flags: number;
  orgs: number;
}

/** Evaluations of the last 24 h per flag, from the metrics rollup; null when there is none (or no table). */
async function evaluationVolume(c: Context<DashEnv>) {
  try {
    const rows = await inTransaction(c, (tx) =>
      tx
        .select({ key: flagMetricsHourly.featureKey, total: sql<number>`sum(${flagMetricsHourly.count})::bigint` })
        .from(flagMetricsHourly)
        .where(gt(flagMetricsHourly.hour, new Date(Date.now() - 24 * 3_600_000)))
        .groupBy(flagMetricsHourly.featureKey)
        .orderBy(desc(sql`sum(${flagMetricsHourly.count})`))
        .limit(10),
    );
    return rows.length ? rows.map((r) => ({ key: r.key, total: Number(r.total) })) : null;
  } catch {
    return null;
  }
}

export async function statusPage(c: Context<DashEnv>): Promise<Response> {
  const page = await pageContext(c);
  const answer = await callApi<Status>(c, 'GET', '/api/status');
  if (!answer.ok) return renderError(c, answer.status, problemOf(answer).detail);
  const status = answer.body;
  const volume = await evaluationVolume(c);
  const expired = await inTransaction(c, (tx) =>
    tx
      .select({ key: featureFlags.featureKey, expiresAt: featureFlags.expiresAt })
      .from(featureFlags)
      .where(and(isNull(featureFlags.orgId), isNull(featureFlags.archivedAt), isNotNull(featureFlags.expiresAt), lt(featureFlags.expiresAt, new Date())))
      .orderBy(featureFlags.expiresAt),
  );
  const run = status.lastCronRun;
  return renderPage(
    c,
    200,
    page.frame('Status', 'status'),
    <>
      <h1>Status</h1>
      {status.alerts && status.alerts.some((a) => a.firing) && (
        <section class="panel" id="alerts" aria-label="Alerts">
          <h2>Alerts</h2>
          <ul>
            {status.alerts
              .filter((a) => a.firing)
              .map((a) => (
                <li class="pending">
                  <span class="key">{a.name}</span> since <When at={a.since} /> (announced as <code>system.alert</code> to global webhooks and in the cron's log)
                </li>
              ))}
          </ul>
        </section>
      )}
      <div class="grid2">
        <Panel titleId="pub-title" title="Publishing">
          <p>
            Database <span class="ok">up</span> · {status.flags} live flags · {status.orgs} orgs with data ·{' '}
            {status.pending === 0 ? <span class="ok">KV is up to date</span> : <span class="pending">{status.pending} layer(s) pending</span>}
          </p>
          {status.layers.length === 0 ? (
            <p class="empty">No layer has been published yet.</p>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Layer</th>
                    <th scope="col">DB version</th>
                    <th scope="col">KV version</th>
                    <th scope="col" class="opt">
                      Published
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {status.layers.map((l) => (
                    <tr>
                      <td class="key">{l.layer}</td>
                      <td>{l.dbVersion}</td>
                      <td>
                        {l.kvVersion < l.dbVersion ? <span class="pending">{l.kvVersion} (pending)</span> : <span class="ok">{l.kvVersion}</span>}
                        {l.lastError && <span class="desc error-text">{l.lastError}</span>}
                      </td>
                      <td class="opt">
                        <When at={l.publishedAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </Panel>
        <Panel titleId="cron-title" title="Last cron run">
          {run ? (
            <>
              <dl class="facts">
                <dt>Started</dt>
                <dd>
                  <When at={run.startedAt} />
                </dd>
                <dt>Duration</dt>
                <dd>{run.durationMs === null ? (run.finishedAt ? '—' : 'still running') : `${run.durationMs} ms`}</dd>
                {Object.entries(run.counts).map(([name, n]) => (
                  <>
                    <dt>{name}</dt>
                    <dd>{n}</dd>
                  </>
                ))}
              </dl>
              {run.error && <p class="error-text">{run.error}</p>}
            </>
          ) : (
            <p class="empty">The cron Worker has not run yet.</p>
          )}
          {status.webhooks && (
            <>
              <h3>Webhooks</h3>
              <p>
                {status.webhooks.total} configured ·{' '}
                {status.webhooks.failing === 0 ? <span class="ok">no failing deliveries</span> : <span class="pending">{status.webhooks.failing} failing in 24 h</span>}
              </p>
              {status.webhooks.waiting && status.webhooks.waiting.count > 0 && (
                <p class="pending" id="notifications-waiting">
                  {status.webhooks.waiting.count} notification{status.webhooks.waiting.count === 1 ? '' : 's'} not yet taken from the outbox (oldest <When at={status.webhooks.waiting.oldestAt} />); the cron sends them
                  again.
                </p>
              )}
            </>
          )}
        </Panel>
      </div>
      {volume && (
        <Panel titleId="volume-title" title="Evaluations, last 24 h (from the metrics rollup)">
          <table>
            <tbody>
              {volume.map((v) => (
                <tr>
                  <td>
                    <a class="key" href={`/flags/${encodeURIComponent(v.key)}`}>
                      {v.key}
                    </a>
                  </td>
                  <td>{v.total.toLocaleString('en')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Panel>
      )}
      {expired.length > 0 && (
        <Panel titleId="expired-title" title="Flags past their expiry date">
          <ul>
            {expired.map((f) => (
              <li>
                <a class="key" href={`/flags/${encodeURIComponent(f.key)}`}>
                  {f.key}
                </a>{' '}
                expired <When at={f.expiresAt?.toISOString()} />
              </li>
            ))}
          </ul>
        </Panel>
      )}
    </>,
  );
}
