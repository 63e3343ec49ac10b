import type { Context } from 'hono';
import { callerForToken } from '../auth';
import type { AppEnv } from '../env';
import { ApiError } from '../problem';
import { signInCsrfToken } from './csrf';
import { readForm } from './forms';
import { Field, renderPage, setFlash, takeFlash } from './layout';
import { readSession, safeNext, sessionOf, signOutSession, startSession } from './session';

/** Sign-in with an admin token (checked by the API's own auth code) and sign-out. */

async function signInPage(c: Context<AppEnv>, status: number, next: string, error?: string): Promise<Response> {
  const csrf = await signInCsrfToken(c);
  return renderPage(
    c,
    status,
    { title: 'Sign in', nav: 'none', flash: takeFlash(c) },
    <section class="panel narrow">
      <h1>Sign in</h1>
      <p class="muted">Use an admin token (system admin, org admin or viewer). It is checked once and never stored in the browser; the session lasts 8 hours.</p>
      <form method="post" action="/signin">
        <input type="hidden" name="_csrf" value={csrf} />
        <input type="hidden" name="next" value={next} />
        <Field id="token" label="Admin token" error={error}>
          <input
            id="token"
            name="token"
            type="password"
            autocomplete="off"
            required
            autofocus
            aria-invalid={error ? 'true' : undefined}
            aria-describedby={error ? 'token-error' : undefined}
          />
        </Field>
        <button type="submit">Sign in</button>
      </form>
    </section>,
  );
}

export async function showSignIn(c: Context<AppEnv>): Promise<Response> {
  const next = safeNext(c.req.query('next'));
  if (await readSession(c)) return c.redirect(next, 303);
  return signInPage(c, 200, next);
}

export async function signIn(c: Context<AppEnv>): Promise<Response> {
  const form = await readForm(c);
  const next = safeNext(form.next);
  const token = (form.token ?? '').trim();
  if (!token) return signInPage(c, 422, next, 'Enter a token.');
  try {
    await callerForToken(c, token);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      return signInPage(c, error.status, next, error.status === 401 ? 'This token is invalid or revoked.' : error.message);
    }
    throw error;
  }
  await startSession(c, token);
  return c.redirect(next, 303);
}

export async function signOut(c: Context<AppEnv>): Promise<Response> {
  await signOutSession(c, sessionOf(c));
  setFlash(c, 'Signed out.');
  return c.redirect('/signin', 303);
}
