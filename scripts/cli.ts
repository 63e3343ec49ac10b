// `npm run flags -- <command>` / `npx cmis-flags <command>`: the admin API from a terminal.
// The CMIS plan's artisan commands (BootstrapFeatures, EnableFeature, RolloutFeature) and a few more.
// Exit codes: 0 ok, 1 the API refused or could not be reached, 2 usage.
import { parseArgs } from 'node:util';
import { DEFAULT_FLAGS, PLATFORMS } from '../shared/config';

const USAGE = `cmis-flags — the CMIS Flags admin API from a terminal

Usage: cmis-flags <command> [options]   (FLAGS_API_URL, default http://127.0.0.1:8787; FLAGS_TOKEN)

  bootstrap                                   create the missing default flags (idempotent)
  list [--org X]                              flags (with --org: effective values for that org)
  enable|disable <key> [--org X] [--platform P] [--user U]
                                              system value, all-orgs platform, org value,
                                              org platform or user override
  rollout <key> --percentage N [--org X] [--value V]
  rollout <key> --ramp 5,25,50,100 --every 1h [--start ISO] [--org X] [--value V]
  ramp list <key> | ramp pause|resume|abort <id> [--keep]
                                              (--keep: abort where it is, the rollout stays)
  schedule <key> --at ISO [--value V] [--killed true|false] [--percentage N] [--org X]
  status                                      DB vs KV versions, last cron run, webhooks, alerts
  token create --name N --role R [--org X] | token list | token revoke <id>
  audit [--flag K] [--org X] [--limit N]

Options: --json (machine-readable output), --reason TEXT (kept in the audit trail), --help
Values are JSON when they parse as JSON (true, 12, "x", {"a":1}), else strings.`;

// ---- errors and output ------------------------------------------------------------------------

class UsageError extends Error {}

class ApiFailure extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problem: unknown,
  ) {
    super(message);
  }
}

type Row = Record<string, unknown>;

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A plain aligned table (no colours, so it pipes cleanly). */
export function table(rows: readonly Row[], columns: readonly string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: readonly string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n');
}

// ---- the API ----------------------------------------------------------------------------------

interface Api {
  request<T = any>(method: string, path: string, body?: unknown): Promise<T>;
}

/** Why FLAGS_API_URL cannot be used, without repeating it (it may hold a password); undefined when it can. */
function apiUrlProblem(raw: string): string | undefined {
  if (!URL.canParse(raw)) return 'is not a URL.';
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http(s) URL.';
  if (url.username !== '' || url.password !== '') return 'must not contain credentials (user:password@); the token goes in FLAGS_TOKEN.';
  return undefined;
}

function api(baseUrl: string, token: string | undefined, reason: string | undefined): Api {
  return {
    async request(method, path, body) {
      const headers: Record<string, string> = { Accept: 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      if (reason) headers['X-Change-Reason'] = reason;
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      let res: Response;
      try {
        res = await fetch(new URL(path, baseUrl), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (error) {
        const inner = (error as { cause?: { code?: string; message?: string } }).cause;
        const cause = inner?.code ?? inner?.message ?? String(error);
        throw new ApiFailure(`Cannot reach the admin API at ${baseUrl} (${cause}). Is it running? Set FLAGS_API_URL.`, 0, null);
      }
      const text = await res.text();
      let parsed: any = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = text;
      }
      if (!res.ok) {
        const detail = parsed && typeof parsed === 'object' ? (parsed.detail ?? parsed.title) : text || res.statusText;
        const errors = Array.isArray(parsed?.errors) ? parsed.errors.map((e: { path: string; message: string }) => `\n  ${e.path}: ${e.message}`).join('') : '';
        const hint = res.status === 401 ? ' (set FLAGS_TOKEN to an admin token)' : '';
        throw new ApiFailure(`${res.status} ${parsed?.title ?? res.statusText}: ${detail}${hint}${errors}`, res.status, parsed);
      }
      return parsed;
    },
  };
}

async function listAll<T>(client: Api, path: string): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: { items: T[]; nextCursor: string | null } = await client.request('GET', `${path}${sep}limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

// ---- arguments --------------------------------------------------------------------------------

const OPTIONS = {
  json: { type: 'boolean' },
  keep: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  org: { type: 'string' },
  platform: { type: 'string' },
  user: { type: 'string' },
  percentage: { type: 'string' },
  ramp: { type: 'string' },
  every: { type: 'string' },
  start: { type: 'string' },
  at: { type: 'string' },
  value: { type: 'string' },
  killed: { type: 'string' },
  flag: { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string' },
  limit: { type: 'string' },
  reason: { type: 'string' },
} as const;

type Options = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

function parseValue(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function percentageOf(text: string, what = '--percentage'): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) throw new UsageError(`${what} must be a number from 0 to 100 (got ${text}).`);
  return n;
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`Missing ${what}.`);
  return value;
}

const enc = encodeURIComponent;

// ---- commands ---------------------------------------------------------------------------------

interface Output {
  data: unknown;
  text: string;
}

type Command = (client: Api, args: string[], o: Options) => Promise<Output>;

const flagColumns = ['key', 'type', 'defaultValue', 'killed', 'rollout', 'archivedAt'];

const commands: Record<string, Command> = {
  async bootstrap(client) {
    const existing = new Set((await listAll<{ key: string }>(client, '/api/flags?archived=all')).map((f) => f.key));
    const rows: Row[] = [];
    for (const flag of DEFAULT_FLAGS) {
      if (existing.has(flag.key)) {
        rows.push({ key: flag.key, status: 'exists' });
        continue;
      }
      try {
        await client.request('POST', '/api/flags', {
          key: flag.key,
          type: flag.type,
          defaultValue: flag.defaultValue,
          description: flag.description,
          tags: flag.tags,
          owner: flag.owner,
        });
        rows.push({ key: flag.key, status: 'created' });
      } catch (error) {
        if (error instanceof ApiFailure && error.status === 409) rows.push({ key: flag.key, status: 'exists' });
        else throw error;
      }
    }
    const created = rows.filter((r) => r.status === 'created').map((r) => r.key);
    return {
      data: { created, existing: rows.filter((r) => r.status === 'exists').map((r) => r.key) },
      text: `${table(rows, ['key', 'status'])}\n${created.length} created, ${rows.length - created.length} already there.`,
    };
  },

  async list(client, _args, o) {
    if (o.org) {
      const res = await client.request<{ items: Row[] }>('GET', `/api/orgs/${enc(o.org)}/flags`);
      return { data: res, text: table(res.items, ['key', 'value', 'source', 'reason', 'org']) };
    }
    const items = await listAll<Row>(client, '/api/flags');
    return { data: { items }, text: table(items, flagColumns) };
  },

  enable: (client, args, o) => setBoolean(client, args, o, true),
  disable: (client, args, o) => setBoolean(client, args, o, false),

  async rollout(client, args, o) {
    const key = need(args[0], '<key>');
    const value = o.value === undefined ? undefined : parseValue(o.value);
    if (o.ramp !== undefined) {
      if (o.percentage !== undefined) throw new UsageError('Give --percentage or --ramp, not both.');
      const percentages = o.ramp.split(',').map((p) => percentageOf(p, '--ramp'));
      const ramp = await client.request('POST', `/api/flags/${enc(key)}/rollouts`, {
        every: need(o.every, '--every (e.g. 1h, 30m, PT1H)'),
        percentages,
        ...(o.start ? { start: o.start } : {}),
        ...(o.org ? { orgId: o.org } : {}),
        ...(value !== undefined ? { value } : {}),
      });
      return { data: ramp, text: `Ramp ${ramp.id} (${ramp.state}) for ${key}${ramp.orgId ? ` in ${ramp.orgId}` : ''}:\n${table(ramp.steps, ['percentage', 'at', 'state'])}` };
    }
    const percentage = percentageOf(need(o.percentage, '--percentage N or --ramp LIST'));
    if (o.org) {
      const res = await client.request('PUT', `/api/orgs/${enc(o.org)}/flags/${enc(key)}`, { value: value ?? true, percentage });
      return { data: res, text: `${key} in ${o.org}: ${cell(res.value)} for ${percentage}% of its users (publish ${res.publish}).` };
    }
    const flag = await client.request('PATCH', `/api/flags/${enc(key)}`, { rollout: { percentage, value: value ?? true } });
    return { data: flag, text: `${key}: ${cell(flag.rollout.value)} for ${percentage}% (publish ${flag.publish}).` };
  },

  async ramp(client, args, o) {
    const [action, target] = args;
    if (o.keep && action !== 'abort') throw new UsageError('--keep goes with ramp abort.');
    if (action === 'list') {
      const items = await listAll<Row & { steps: Row[] }>(client, `/api/flags/${enc(need(target, '<key>'))}/rollouts`);
      const rows = items.map((r) => ({ ...r, steps: r.steps.map((s) => `${s.percentage}%:${s.state}`).join(' ') }));
      return { data: { items }, text: table(rows, ['id', 'orgId', 'state', 'steps']) };
    }
    if (action !== 'pause' && action !== 'resume' && action !== 'abort') throw new UsageError('ramp list <key> | ramp pause|resume|abort <id> [--keep]');
    const ramp = await client.request('POST', `/api/rollouts/${enc(need(target, '<id>'))}/${action}`, o.keep ? { restore: false } : {});
    return { data: ramp, text: `Ramp ${ramp.id}: ${ramp.state}.` };
  },

  async schedule(client, args, o) {
    const key = need(args[0], '<key>');
    const change: Row = {};
    if (o.value !== undefined) change.value = parseValue(o.value);
    if (o.percentage !== undefined) change.percentage = percentageOf(o.percentage);
    if (o.killed !== undefined) {
      if (o.killed !== 'true' && o.killed !== 'false') throw new UsageError('--killed must be true or false.');
      change.killed = o.killed === 'true';
    }
    if (Object.keys(change).length === 0) throw new UsageError('Give at least one of --value, --percentage, --killed.');
    const s = await client.request('POST', `/api/flags/${enc(key)}/schedules`, { at: need(o.at, '--at ISO-instant'), change, ...(o.org ? { orgId: o.org } : {}) });
    return { data: s, text: `Scheduled ${s.id}: ${key}${s.orgId ? ` in ${s.orgId}` : ''} ${JSON.stringify(s.change)} at ${s.at}.` };
  },

  async status(client) {
    const s = await client.request('GET', '/api/status');
    const run = s.lastCronRun;
    const lines = [
      `database ${s.db}; ${s.flags} flags, ${s.orgs} orgs; ${s.pending} layer(s) waiting for KV`,
      table(s.layers, ['layer', 'dbVersion', 'kvVersion', 'publishedAt', 'lastError']),
      run ? `last cron run ${run.startedAt} (${run.durationMs ?? '?'} ms): ${JSON.stringify(run.counts)}${run.error ? ` error: ${run.error}` : ''}` : 'no cron run yet',
    ];
    if (s.webhooks) {
      lines.push(
        `webhooks: ${s.webhooks.total}, failing deliveries (24 h): ${s.webhooks.failing}` +
          (s.webhooks.lastFailure ? `; last: ${s.webhooks.lastFailure.url} ${s.webhooks.lastFailure.lastError}` : '') +
          (s.webhooks.waiting?.count ? `; ${s.webhooks.waiting.count} notification(s) waiting since ${s.webhooks.waiting.oldestAt}` : ''),
      );
    }
    for (const alert of s.alerts ?? []) lines.push(`alert ${alert.name} ${alert.firing ? 'FIRING' : 'holding, not yet firing'} since ${alert.since}`);
    return { data: s, text: lines.join('\n') };
  },

  async token(client, args, o) {
    const [action, id] = args;
    if (action === 'create') {
      const body = { name: need(o.name, '--name'), role: need(o.role, '--role (system_admin, org_admin, viewer, evaluate)'), ...(o.org ? { orgId: o.org } : {}) };
      const created = await client.request('POST', '/api/tokens', body);
      return { data: created, text: `${created.role} token ${created.name} (${created.id}):\n${created.token}\nShown once; store it now.` };
    }
    if (action === 'revoke') {
      await client.request('DELETE', `/api/tokens/${enc(need(id, '<id>'))}`);
      return { data: { revoked: id }, text: `Revoked ${id}.` };
    }
    if (action === 'list') {
      const items = await listAll<Row>(client, '/api/tokens');
      return { data: { items }, text: table(items, ['id', 'name', 'role', 'orgId', 'prefix', 'lastUsedAt']) };
    }
    throw new UsageError('token create --name N --role R [--org X] | token list | token revoke <id>');
  },

  async audit(client, _args, o) {
    const query = new URLSearchParams({ limit: o.limit ?? '20' });
    if (o.flag) query.set('flag', o.flag);
    if (o.org) query.set('orgId', o.org);
    const res = await client.request<{ items: Row[] }>('GET', `/api/audit?${query}`);
    return { data: res, text: table(res.items, ['at', 'flag', 'orgId', 'level', 'target', 'oldValue', 'newValue', 'actor', 'reason']) };
  },
};

async function setBoolean(client: Api, args: string[], o: Options, value: boolean): Promise<Output> {
  const key = need(args[0], '<key>');
  if (o.platform && !(PLATFORMS as readonly string[]).includes(o.platform)) throw new UsageError(`--platform must be one of ${PLATFORMS.join(', ')}.`);
  if (o.user && !o.org) throw new UsageError('--user needs --org (user overrides live inside an org).');
  if (o.user && o.platform) throw new UsageError('Give --platform or --user, not both.');
  const word = value ? 'enabled' : 'disabled';
  let res: any;
  let scope: string;
  if (!o.org && !o.platform) {
    res = await client.request('POST', `/api/flags/${enc(key)}/${value ? 'enable' : 'disable'}`, {});
    scope = 'system-wide';
  } else if (!o.org) {
    res = await client.request('PUT', `/api/flags/${enc(key)}/platforms/${enc(o.platform!)}`, { value });
    scope = `on ${o.platform} for all orgs`;
  } else if (o.platform) {
    res = await client.request('PUT', `/api/orgs/${enc(o.org)}/flags/${enc(key)}/platforms/${enc(o.platform)}`, { value });
    scope = `on ${o.platform} for org ${o.org}`;
  } else if (o.user) {
    res = await client.request('PUT', `/api/orgs/${enc(o.org)}/flags/${enc(key)}/users/${enc(o.user)}`, { value });
    scope = `for user ${o.user} in org ${o.org}`;
  } else {
    res = await client.request('PUT', `/api/orgs/${enc(o.org)}/flags/${enc(key)}`, { value });
    scope = `for org ${o.org}`;
  }
  return { data: res, text: `${key} ${word} ${scope} (publish ${res.publish}).` };
}

// ---- main -------------------------------------------------------------------------------------

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed: { values: Options; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }) as typeof parsed;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values: o, positionals } = parsed;
  const [name, ...args] = positionals;
  if (o.help || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = name ? commands[name] : undefined;
  if (!command) {
    process.stderr.write(`${name ? `Unknown command: ${name}\n\n` : ''}${USAGE}\n`);
    return 2;
  }
  const baseUrl = env.FLAGS_API_URL?.trim() || 'http://127.0.0.1:8787';
  const problem = apiUrlProblem(baseUrl);
  if (problem) {
    process.stderr.write(`FLAGS_API_URL ${problem}\n\nRun cmis-flags --help for usage.\n`);
    return 2;
  }
  const client = api(baseUrl, env.FLAGS_TOKEN?.trim() || undefined, o.reason);
  try {
    const out = await command(client, args, o);
    process.stdout.write(`${o.json ? JSON.stringify(out.data, null, 2) : out.text}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n\nRun cmis-flags --help for usage.\n`);
      return 2;
    }
    if (error instanceof ApiFailure) {
      process.stderr.write(o.json ? `${JSON.stringify(error.problem ?? { detail: error.message })}\n` : `error: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/scripts/cli.ts')) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
