/**
 * Token material, shared by the admin Worker (issuing, sign-in), the evaluate Worker (key lookup) and
 * the local stack (bootstrap tokens): generation, hashing and the constant-time comparison. Web Crypto
 * only, so it runs in workerd and in Node alike.
 */

export type TokenRole = 'system_admin' | 'org_admin' | 'viewer' | 'evaluate';

const PREFIX: Record<TokenRole, string> = {
  system_admin: 'cmf_admin_',
  org_admin: 'cmf_admin_',
  viewer: 'cmf_admin_',
  evaluate: 'cmf_eval_',
};

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/** Lower-case hex SHA-256: the form tokens are stored under (`api_tokens`, KV `key:v1:<hex>`). */
export async function sha256Hex(text: string): Promise<string> {
  return toHex(await sha256(text));
}

/** A new secret: recognisable prefix + 32 random bytes, base64url. Shown once, never stored. */
export function generateToken(role: TokenRole): string {
  const bytes = new Uint8Array(32);
  crypto.getRandomValues(bytes);
  return PREFIX[role] + base64url(bytes);
}

/** The part of a token safe to show in lists: its prefix and first characters. */
export function tokenHint(token: string): string {
  const cut = token.indexOf('_', 4) + 1;
  return token.slice(0, cut + 4);
}

/** Compares SHA-256 digests in constant time, so neither length nor content leaks through timing. */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)]);
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
