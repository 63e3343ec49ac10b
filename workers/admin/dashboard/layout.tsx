import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { Child } from 'hono/jsx';
import type { FlagType } from '../../../shared/engine';
import { ellipsize } from '../../../shared/text';
import type { Caller } from '../auth';
import type { AppEnv } from '../env';
import { ASSET_VERSION } from './assets';
import type { FormState } from './forms';
import { valueText } from './forms';
import { cookieOptions } from './session';

/** The page shell, security headers, flash messages and the small components every page uses. */

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/** On every dashboard response, pages, redirects, errors and assets alike. */
export const securityHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  const headers = c.res.headers;
  headers.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  headers.set('X-Content-Type-Options', 'nosniff');
  headers.set('Referrer-Policy', 'same-origin');
  headers.set('X-Frame-Options', 'DENY');
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  if (!headers.has('Cache-Control')) headers.set('Cache-Control', 'no-store');
};

// ---- flash ----------------------------------------------------------------------------------

export function setFlash(c: Context, text: string): void {
  setCookie(c, 'cmf_flash', encodeURIComponent(text.slice(0, 300)), cookieOptions(c, 60));
}

export function takeFlash(c: Context): string | null {
  const value = getCookie(c, 'cmf_flash');
  if (!value) return null;
  deleteCookie(c, 'cmf_flash', { path: '/' });
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}

export const publishNote = (publish: unknown): string =>
  publish === 'pending' ? ' Publishing to KV is pending; the cron reconciler will retry.' : ' Published.';

// ---- shell ----------------------------------------------------------------------------------

export interface PageFrame {
  title: string;
  nav: 'flags' | 'orgs' | 'audit' | 'status' | 'cleanup' | 'tokens' | 'webhooks' | 'none';
  caller?: Caller;
  csrf?: string;
  flash?: string | null;
}

const NAV = [
  ['flags', '/', 'Flags'],
  ['orgs', '/orgs', 'Organizations'],
  ['audit', '/audit', 'Audit log'],
  ['status', '/status', 'Status'],
  ['cleanup', '/cleanup', 'Cleanup'],
  ['tokens', '/tokens', 'Tokens'],
  ['webhooks', '/webhooks', 'Webhooks'],
] as const;

/** Tokens and webhooks are for admins only; a viewer is not shown links it would be refused. */
const ADMIN_ONLY_NAV: ReadonlySet<string> = new Set(['tokens', 'webhooks']);

function Shell(props: PageFrame & { children?: Child }) {
  const { caller } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · CMIS Flags`}</title>
        <link rel="stylesheet" href={`/assets/app.css?v=${ASSET_VERSION}`} />
        <script src={`/assets/app.js?v=${ASSET_VERSION}`} defer></script>
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/">
            CMIS Flags
          </a>
          {caller && (
            <nav aria-label="Main">
              {NAV.filter(([id]) => caller.role !== 'viewer' || !ADMIN_ONLY_NAV.has(id)).map(([id, href, label]) => (
                <a href={href} aria-current={props.nav === id ? 'page' : undefined}>
                  {label}
                </a>
              ))}
            </nav>
          )}
          {caller && (
            <div class="who">
              <span title="Signed in as">
                {caller.actor} · <span class="role">{caller.role.replace('_', ' ')}</span>
                {caller.orgId ? ` · ${caller.orgId}` : ''}
              </span>
              <form method="post" action="/signout">
                <CsrfField token={props.csrf} />
                <button type="submit" class="link">
                  Sign out
                </button>
              </form>
            </div>
          )}
        </header>
        <main id="main">
          {props.flash && (
            <p class="flash" role="status">
              {props.flash}
            </p>
          )}
          {props.children}
        </main>
      </body>
    </html>
  );
}

export async function renderPage(c: Context, status: number, frame: PageFrame, body: Child): Promise<Response> {
  const html = await (<Shell {...frame}>{body}</Shell>).toString();
  return c.html(`<!doctype html>${html}`, status as 200);
}

/** A whole page for a refusal or failure (403 CSRF, 404, 503...). */
export function renderError(c: Context<AppEnv>, status: number, detail: string): Promise<Response> {
  const title = status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : status === 503 ? 'Unavailable' : 'Something went wrong';
  return renderPage(
    c,
    status,
    { title, nav: 'none' },
    <section class="panel narrow">
      <h1>{title}</h1>
      <p class="error-text">{detail}</p>
      <p>
        <a href="/">Back to the flags</a>
      </p>
    </section>,
  );
}

// ---- components -----------------------------------------------------------------------------

export function CsrfField(props: { token?: string | undefined }) {
  return props.token ? <input type="hidden" name="_csrf" value={props.token} /> : null;
}

/** A titled panel of a page: a section labelled by its own h2. */
export function Panel(props: { titleId: string; id?: string; title: Child; children?: Child }) {
  return (
    <section class="panel" aria-labelledby={props.titleId} id={props.id}>
      <h2 id={props.titleId}>{props.title}</h2>
      {props.children}
    </section>
  );
}

/**
 * One button that posts `action` (with the CSRF token and any hidden fields, in order) after the
 * browser confirms `confirm` (assets/app.js reads data-confirm).
 */
export function ConfirmButton(props: {
  action: string;
  confirm: string;
  csrf?: string | undefined;
  label: string;
  danger?: boolean;
  fields?: [name: string, value: string][];
  ariaLabel?: string;
}) {
  return (
    <form method="post" action={props.action} data-confirm={props.confirm}>
      <CsrfField token={props.csrf} />
      {(props.fields ?? []).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class={`small ${props.danger ? 'danger' : 'secondary'}`} aria-label={props.ariaLabel}>
        {props.label}
      </button>
    </form>
  );
}

export function Banner(props: { state?: FormState | undefined; form: string }) {
  const banner = props.state?.form === props.form ? props.state.banner : undefined;
  if (!banner) return null;
  return (
    <div class={`banner ${banner.kind}`} role="alert">
      <p>{banner.text}</p>
      {banner.reloadHref && (
        <p>
          <a href={banner.reloadHref}>Reload the current version</a> and apply your change again.
        </p>
      )}
    </div>
  );
}

/** Label + control + the error that belongs to it, wired with aria-describedby. */
export function Field(props: { id: string; label: string; error?: string | undefined; hint?: string; children: Child }) {
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <small id={`${props.id}-hint`} class="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small id={`${props.id}-error`} class="error-text">
          {props.error}
        </small>
      )}
    </div>
  );
}

export function errorOf(state: FormState | undefined, form: string, field: string): string | undefined {
  return state?.form === form ? state.errors?.[field] : undefined;
}

export function valueOf(state: FormState | undefined, form: string, field: string, fallback: string): string {
  return state?.form === form && state.values?.[field] !== undefined ? state.values[field]! : fallback;
}

/** The input that fits a flag's type: a select for booleans, number, text, or a JSON textarea. */
export function ValueInput(props: { id: string; name: string; type: FlagType; value: string; error?: string | undefined; required?: boolean }) {
  const invalid = props.error ? 'true' : undefined;
  const describedBy = props.error ? `${props.id}-error` : undefined;
  switch (props.type) {
    case 'boolean':
      return (
        <select id={props.id} name={props.name} aria-invalid={invalid} aria-describedby={describedBy}>
          <option value="true" selected={props.value === 'true'}>
            true
          </option>
          <option value="false" selected={props.value !== 'true'}>
            false
          </option>
        </select>
      );
    case 'number':
      return <input id={props.id} name={props.name} type="number" step="any" value={props.value} required={props.required} aria-invalid={invalid} aria-describedby={describedBy} />;
    case 'string':
      return <input id={props.id} name={props.name} type="text" value={props.value} aria-invalid={invalid} aria-describedby={describedBy} />;
    case 'json':
      return (
        <textarea id={props.id} name={props.name} rows={3} spellcheck={false} aria-invalid={invalid} aria-describedby={describedBy}>
          {props.value}
        </textarea>
      );
  }
}

/** Longest tooltip of a value. */
const VALUE_TITLE_MAX = 1_000;

export function Value(props: { value: unknown; type?: FlagType }) {
  const { value } = props;
  if (value === true) return <span class="val on">true</span>;
  if (value === false) return <span class="val off">false</span>;
  if (value === null || value === undefined) return <span class="val none">—</span>;
  const text = JSON.stringify(value);
  // The tooltip shows more, within reason: a value can be a megabyte, on every audit row that names it.
  return (
    <code class="val" title={ellipsize(text, VALUE_TITLE_MAX)}>
      {text.length > 60 ? ellipsize(text, 57) : text}
    </code>
  );
}

export function Source(props: { source: string }) {
  return <span class={`src src-${props.source}`}>{props.source}</span>;
}

export function When(props: { at: string | null | undefined }) {
  if (!props.at) return <span class="muted">—</span>;
  return (
    <time datetime={props.at} title={props.at}>
      {props.at.replace('T', ' ').slice(0, 16)} UTC
    </time>
  );
}

export function ReasonField(props: { form: string; state?: FormState | undefined }) {
  const id = `${props.form}-reason`;
  return (
    <Field id={id} label="Reason (optional)" error={errorOf(props.state, props.form, 'reason')}>
      <input id={id} name="reason" type="text" maxlength={500} value={valueOf(props.state, props.form, 'reason', '')} />
    </Field>
  );
}

export { valueText };
