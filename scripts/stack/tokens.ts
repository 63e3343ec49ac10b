import { createHash, randomBytes } from 'node:crypto';

/** A new random token with a recognisable prefix (`cmf_admin_…`, `cmf_eval_…`). */
export function newToken(prefix: 'cmf_admin' | 'cmf_eval'): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
