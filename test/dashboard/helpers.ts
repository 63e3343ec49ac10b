// A tiny browser for the dashboard tests: a cookie jar, form posts with the page's CSRF token,
// all through `app.request()` on the real admin app (test/admin/helpers.ts).
import type { Harness } from '../admin/helpers';

export interface Page {
  status: number;
  headers: Headers;
  html: string;
  location: string | null;
}

export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly h: Harness,
    readonly origin = 'http://admin.test',
  ) {}

  private remember(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/max-age=0/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(method: string, path: string, init: { form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Page> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('Cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers.set('Content-Type', 'application/x-www-form-urlencoded');
    }
    const res = await this.h.app.request(new URL(path, this.origin).toString(), { method, headers, body, redirect: 'manual' }, this.h.env);
    this.remember(res);
    return { status: res.status, headers: res.headers, html: await res.text(), location: res.headers.get('Location') };
  }

  get(path: string): Promise<Page> {
    return this.request('GET', path);
  }

  /** Posts a form with the CSRF token of `from` (a page's HTML), as a browser would. */
  post(path: string, form: Record<string, string>, from?: Page): Promise<Page> {
    const csrf = from ? csrfOf(from.html) : undefined;
    return this.request('POST', path, { form: { ...(csrf ? { _csrf: csrf } : {}), ...form } });
  }

  async signIn(token: string): Promise<Page> {
    const page = await this.get('/signin');
    return this.post('/signin', { token, next: '/' }, page);
  }
}

export function csrfOf(html: string): string | undefined {
  return /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
}

/** The text of the element with this id (for errors next to fields). */
export function textOfId(html: string, id: string): string | undefined {
  const match = new RegExp(`id="${id}"[^>]*>([^<]*)<`).exec(html);
  return match?.[1];
}
