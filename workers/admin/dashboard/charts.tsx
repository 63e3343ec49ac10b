import type { Child } from 'hono/jsx';

/**
 * Server-rendered SVG charts for the metrics pages. No script, no chart library, no `style`
 * attributes (the CSP is `style-src 'self'`): geometry and colours are SVG presentation
 * attributes. Every chart has a <title> and an aria-label, and a table of the same numbers.
 */

const PALETTE = ['#2f5fd0', '#e07b24', '#16794c', '#b42318', '#7b4fc9', '#0f8a9d', '#a0740b', '#5d6b7c'];
const OTHER_COLOUR = '#c3cad3';
const INK = '#1c2430';
const MUTED = '#5d6b7c';
const GRID = '#dde2e8';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface ValueCount {
  value: unknown;
  count: number;
}

export interface HourBucket {
  hour: string;
  values: ValueCount[];
}

export const valueLabel = (value: unknown): string => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
};

export function formatCount(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(n >= 10_000_000 ? 0 : 1)}M`;
  if (n >= 10_000) return `${Math.round(n / 1000)}k`;
  if (n >= 1_000) return `${(n / 1000).toFixed(1)}k`;
  return String(n);
}

/** A round axis maximum ≥ max (1, 2, 5 × 10^k). */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

/** Colours by value, most frequent first; values beyond the palette share one "other" colour. */
export function valueColours(totals: readonly ValueCount[]): Map<string, string> {
  const sorted = [...totals].sort((a, b) => b.count - a.count);
  return new Map(sorted.map((v, i) => [JSON.stringify(v.value), PALETTE[i] ?? OTHER_COLOUR]));
}

interface Bucket {
  start: number;
  counts: Map<string, number>;
  total: number;
}

/** Every hour (or day, for ranges over a week) from `from` to `to`, empty ones included. */
export function bucketsOf(hours: readonly HourBucket[], fromMs: number, toMs: number): { size: number; buckets: Bucket[] } {
  const size = toMs - fromMs > 7 * DAY_MS ? DAY_MS : HOUR_MS;
  const first = Math.floor(fromMs / size) * size;
  const buckets: Bucket[] = [];
  for (let start = first; start < toMs && buckets.length < 400; start += size) buckets.push({ start, counts: new Map(), total: 0 });
  for (const h of hours) {
    const index = Math.floor((Date.parse(h.hour) - first) / size);
    const bucket = buckets[index];
    if (!bucket) continue;
    for (const v of h.values) {
      const key = JSON.stringify(v.value);
      bucket.counts.set(key, (bucket.counts.get(key) ?? 0) + v.count);
      bucket.total += v.count;
    }
  }
  return { size, buckets };
}

function Legend(props: { items: { label: string; colour: string; count?: number }[]; x: number; y: number }) {
  let x = props.x;
  return (
    <g>
      {props.items.map((item) => {
        const text = item.count === undefined ? item.label : `${item.label} (${formatCount(item.count)})`;
        const at = x;
        x += 22 + text.length * 7;
        return (
          <g>
            <rect x={at} y={props.y - 10} width="12" height="12" rx="2" fill={item.colour} />
            <text x={at + 16} y={props.y} font-size="12" fill={INK}>
              {text}
            </text>
          </g>
        );
      })}
    </g>
  );
}

/** Evaluations over time, one stacked bar per hour (or day), one colour per value. */
export function EvaluationsChart(props: { hours: readonly HourBucket[]; byValue: readonly ValueCount[]; from: string; to: string; width?: number; height?: number }) {
  const width = props.width ?? 760;
  const height = props.height ?? 240;
  const pad = { left: 48, right: 12, top: 28, bottom: 30 };
  const fromMs = Date.parse(props.from);
  const toMs = Date.parse(props.to);
  const { size, buckets } = bucketsOf(props.hours, fromMs, toMs);
  const colours = valueColours(props.byValue);
  const max = niceMax(Math.max(0, ...buckets.map((b) => b.total)));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const slot = plotW / Math.max(1, buckets.length);
  const barW = Math.max(1, slot * 0.8);
  const y = (n: number) => pad.top + plotH - (n / max) * plotH;
  const order = [...props.byValue].sort((a, b) => b.count - a.count).map((v) => JSON.stringify(v.value));
  const label = (ms: number) => (size === DAY_MS ? new Date(ms).toISOString().slice(5, 10) : `${new Date(ms).toISOString().slice(11, 13)}h`);
  const tickEvery = Math.max(1, Math.ceil(buckets.length / 8));
  const total = props.byValue.reduce((n, v) => n + v.count, 0);
  const title = `Evaluations per ${size === DAY_MS ? 'day' : 'hour'} by value, ${props.from} to ${props.to}: ${total} in total`;
  return (
    <svg class="chart" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={title} xmlns="http://www.w3.org/2000/svg">
      <title>{title}</title>
      {[0, 0.5, 1].map((f) => (
        <g>
          <line x1={pad.left} x2={width - pad.right} y1={y(max * f)} y2={y(max * f)} stroke={GRID} stroke-width="1" />
          <text x={pad.left - 6} y={y(max * f) + 4} font-size="11" fill={MUTED} text-anchor="end">
            {formatCount(max * f)}
          </text>
        </g>
      ))}
      {buckets.map((b, i) => {
        let base = 0;
        const x = pad.left + i * slot + (slot - barW) / 2;
        return (
          <g>
            {order.map((key) => {
              const n = b.counts.get(key) ?? 0;
              if (n === 0) return null;
              const top = y(base + n);
              const bottom = y(base);
              base += n;
              return (
                <rect x={x.toFixed(1)} y={top.toFixed(1)} width={barW.toFixed(1)} height={Math.max(0.5, bottom - top).toFixed(1)} fill={colours.get(key) ?? OTHER_COLOUR}>
                  <title>{`${new Date(b.start).toISOString()} · ${valueLabel(JSON.parse(key))}: ${n}`}</title>
                </rect>
              );
            })}
            {i % tickEvery === 0 && (
              <text x={(x + barW / 2).toFixed(1)} y={height - pad.bottom + 16} font-size="11" fill={MUTED} text-anchor="middle">
                {label(b.start)}
              </text>
            )}
          </g>
        );
      })}
      <line x1={pad.left} x2={width - pad.right} y1={y(0)} y2={y(0)} stroke={MUTED} stroke-width="1" />
      <Legend x={pad.left} y={16} items={[...props.byValue].sort((a, b) => b.count - a.count).slice(0, 8).map((v) => ({ label: valueLabel(v.value), colour: colours.get(JSON.stringify(v.value))!, count: v.count }))} />
    </svg>
  );
}

/** Horizontal bars: the organizations with the most evaluations. */
export function TopOrgsChart(props: { orgs: readonly { orgId: string; count: number }[]; width?: number }) {
  const width = props.width ?? 520;
  const rowH = 22;
  const labelW = 160;
  const orgs = props.orgs.slice(0, 10);
  const height = 12 + orgs.length * rowH;
  const max = Math.max(1, ...orgs.map((o) => o.count));
  const barMax = width - labelW - 70;
  const title = `Top ${orgs.length} organizations by evaluations`;
  return (
    <svg class="chart" viewBox={`0 0 ${width} ${height}`} width={width} height={height} role="img" aria-label={title} xmlns="http://www.w3.org/2000/svg">
      <title>{title}</title>
      {orgs.map((o, i) => {
        const y = 6 + i * rowH;
        const w = Math.max(1, (o.count / max) * barMax);
        return (
          <g>
            <text x={labelW - 8} y={y + 14} font-size="12" fill={INK} text-anchor="end">
              {o.orgId.length > 22 ? `${o.orgId.slice(0, 21)}…` : o.orgId}
            </text>
            <rect x={labelW} y={y + 3} width={w.toFixed(1)} height={rowH - 8} rx="2" fill={PALETTE[0]} />
            <text x={labelW + w + 6} y={y + 14} font-size="12" fill={MUTED}>
              {formatCount(o.count)}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

/** The rollout percentage as configured beside the share of SPLIT answers actually observed. */
export function RolloutComparison(props: { configured: number; observed: number | null; evaluations: number; width?: number }) {
  const width = props.width ?? 520;
  const labelW = 110;
  const barMax = width - labelW - 70;
  const rows: { label: string; value: number | null; colour: string }[] = [
    { label: 'configured', value: props.configured, colour: MUTED },
    { label: 'observed', value: props.observed, colour: PALETTE[0]! },
  ];
  const title =
    props.observed === null
      ? `Rollout configured at ${props.configured}%; nothing observed yet`
      : `Rollout configured at ${props.configured}%, observed ${props.observed}% over ${props.evaluations} evaluations`;
  return (
    <svg class="chart" viewBox={`0 0 ${width} 64`} width={width} height="64" role="img" aria-label={title} xmlns="http://www.w3.org/2000/svg">
      <title>{title}</title>
      {rows.map((r, i) => {
        const y = 6 + i * 26;
        const w = r.value === null ? 0 : (Math.min(100, r.value) / 100) * barMax;
        return (
          <g>
            <text x={labelW - 8} y={y + 15} font-size="12" fill={INK} text-anchor="end">
              {r.label}
            </text>
            <rect x={labelW} y={y + 3} width={barMax} height="16" rx="2" fill="#eef1f5" />
            {w > 0 && <rect x={labelW} y={y + 3} width={w.toFixed(1)} height="16" rx="2" fill={r.colour} />}
            <text x={labelW + barMax + 6} y={y + 15} font-size="12" fill={MUTED}>
              {r.value === null ? '—' : `${r.value}%`}
            </text>
          </g>
        );
      })}
      <line x1={labelW + (Math.min(100, props.configured) / 100) * barMax} x2={labelW + (Math.min(100, props.configured) / 100) * barMax} y1="4" y2="60" stroke={INK} stroke-width="1" stroke-dasharray="3 2" />
    </svg>
  );
}

const STALE_LABEL: Record<string, string> = {
  unused: 'unused',
  constant: 'one value',
  expired: 'expired',
  override: 'stale override',
};

/** Badges for a flag's stale marks (one per kind). */
export function StaleBadges(props: { kinds: readonly string[] }): Child {
  const kinds = [...new Set(props.kinds)];
  if (kinds.length === 0) return null;
  return (
    <>
      {kinds.map((kind) => (
        <span class={`badge stale stale-${kind}`} title={`Stale: ${STALE_LABEL[kind] ?? kind}`}>
          {STALE_LABEL[kind] ?? kind}
        </span>
      ))}
    </>
  );
}
