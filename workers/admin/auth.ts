import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from './env';
import { ApiError } from './problem';
import { sameSecret, sha256Hex, type TokenRole } from '../../shared/tokens';

export type Role = TokenRole;

/** Who is calling, resolved once per request by `authenticate`. */
export interface Caller {
  /** null for the bootstrap token, which has no row. */
  tokenId: string | null;
  role: Role;
  /** The token's org; null for system admins and global evaluate keys. */
  orgId: string | null;
  /** What audit rows record: `token:<name>#<first 8 of its id>`, `token:bootstrap` for the bootstrap token. */
  actor: string;
}

const TOKEN_SHAPE = /^cmf_(?:admin|eval)_[A-Za-z0-9_-]{43}$/;

function unauthorized(detail: string): ApiError {
  return new ApiError(401, { detail, slug: 'unauthorized' });
}

function bearerToken(header: string | undefined): string {
  if (!header) throw unauthorized('Missing Authorization: Bearer <token>.');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw unauthorized('The Authorization header must be Bearer <token>.');
  return match[1];
}

interface TokenRow {
  id: string;
  name: string;
  role: Role;
  org_id: string | null;
}

const bootstrapCaller = (): Caller => ({ tokenId: null, role: 'system_admin', orgId: null, actor: 'token:bootstrap' });

/** A stored token by its SHA-256 (hex), through `cmis.authenticate_token` (which records its use). */
async function storedTokenCaller(c: Context<AppEnv>, hashHex: string): Promise<Caller> {
  const [row] = await c
    .get('db')
    .query<TokenRow>(`SELECT id::text AS id, name, role, org_id FROM cmis.authenticate_token(decode($1, 'hex'))`, [hashHex], 'token lookup');
  if (!row) throw unauthorized('Invalid or revoked token.');
  if (row.role === 'evaluate') {
    throw new ApiError(403, { detail: 'Evaluate keys have no access to the admin API.' });
  }
  // Names are chosen freely and need not be unique: the id's start makes the actor one token's.
  return { tokenId: row.id, role: row.role, orgId: row.org_id, actor: `token:${row.name}#${row.id.slice(0, 8)}` };
}

/**
 * A presented token → its caller. The bootstrap `FLAGS_ADMIN_TOKEN` is a system admin (compared in
 * constant time); any other token is found by its SHA-256 in `cmis.api_tokens`.
 * Evaluate keys are refused here: they only open the evaluate API.
 */
export async function callerForToken(c: Context<AppEnv>, token: string): Promise<Caller> {
  const bootstrap = c.get('config').FLAGS_ADMIN_TOKEN;
  if (bootstrap && (await sameSecret(token, bootstrap))) return bootstrapCaller();
  // Malformed tokens never cost a database round trip.
  if (!TOKEN_SHAPE.test(token)) throw unauthorized('Invalid or revoked token.');
  return storedTokenCaller(c, await sha256Hex(token));
}

/**
 * The same resolution from a token's SHA-256 (hex): dashboard sessions keep only this hash, so a
 * revoked token ends its sessions on their next request.
 */
export async function callerForTokenHash(c: Context<AppEnv>, hashHex: string): Promise<Caller> {
  const bootstrap = c.get('config').FLAGS_ADMIN_TOKEN;
  if (bootstrap && (await sameSecret(hashHex, await sha256Hex(bootstrap)))) return bootstrapCaller();
  if (!/^[0-9a-f]{64}$/.test(hashHex)) throw unauthorized('Invalid or revoked token.');
  return storedTokenCaller(c, hashHex);
}

/** The one token-auth middleware: `Authorization: Bearer <token>` → `caller`. */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  c.header('WWW-Authenticate', 'Bearer realm="cmis-flags"');
  c.set('caller', await callerForToken(c, bearerToken(c.req.header('Authorization'))));
  c.header('WWW-Authenticate', undefined);
  return next();
};

/** Lets through only the listed roles (after `authenticate`). */
export function requireRole(...roles: readonly Role[]): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const caller = c.get('caller');
    if (!roles.includes(caller.role)) {
      throw new ApiError(403, { detail: `This route needs one of the roles: ${roles.join(', ')}.` });
    }
    return next();
  };
}

/** System admins reach every org; everybody else only their own. */
export function assertOrgAccess(caller: Caller, orgId: string | null): void {
  if (caller.role === 'system_admin') return;
  if (orgId === null || caller.orgId !== orgId) {
    throw new ApiError(403, { detail: 'This token has no access to that organization.' });
  }
}

export const ADMIN_ROLES = ['system_admin', 'org_admin', 'viewer'] as const satisfies readonly Role[];
export const WRITER_ROLES = ['system_admin', 'org_admin'] as const satisfies readonly Role[];
export const SYSTEM_ROLES = ['system_admin'] as const satisfies readonly Role[];
