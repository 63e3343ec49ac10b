import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import { z } from 'zod';
import { apiTokens, featureFlagValues, type Db } from '../../../shared/db';
import { evaluateKeyEntry } from '../../../shared/snapshot/evaluate-keys';
import { assertOrgAccess, WRITER_ROLES, type Caller, type Role } from '../auth';
import { inTransaction } from '../db';
import { ApiError } from '../problem';
import { defineRoute } from '../route';
import { CursorSchema, decodeCursor, LimitSchema, listOf, OrgIdSchema, page, ReasonSchema } from '../schemas';
import { generateToken, sha256, tokenHint } from '../../../shared/tokens';

// ---- schemas --------------------------------------------------------------------------------

const RoleSchema = z.enum(['system_admin', 'org_admin', 'viewer', 'evaluate']);

const CreateBody = z
  .strictObject({
    name: z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9 ._:@-]+$/, 'letters, digits, space and ._:@- only'),
    role: RoleSchema,
    orgId: OrgIdSchema.optional(),
    reason: ReasonSchema,
  })
  .superRefine((b, ctx) => {
    if (b.role === 'system_admin' && b.orgId !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['orgId'], message: 'a system_admin token has no org' });
    }
    if ((b.role === 'org_admin' || b.role === 'viewer') && b.orgId === undefined) {
      ctx.addIssue({ code: 'custom', path: ['orgId'], message: `a ${b.role} token needs an orgId` });
    }
  });

export const TokenSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: RoleSchema,
    orgId: z.string().nullable(),
    prefix: z.string(),
    createdAt: z.string(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
    createdBy: z.string().nullable(),
  })
  .meta({ id: 'Token' });

const CreatedTokenSchema = TokenSchema.extend({ token: z.string().describe('Shown once; only its SHA-256 is stored') }).meta({
  id: 'CreatedToken',
});

const ListQuery = z.object({ includeRevoked: z.enum(['true', 'false']).default('false'), limit: LimitSchema, cursor: CursorSchema });
const IdParams = z.object({ id: z.uuid() });
const ReasonBody = z.strictObject({ reason: ReasonSchema });

// ---- helpers --------------------------------------------------------------------------------

type TokenRow = typeof apiTokens.$inferSelect;

/** Keyset position at the precision a cursor can carry (JS dates have milliseconds). */
const createdMs = sql`date_trunc('milliseconds', ${apiTokens.createdAt})`;

function tokenView(row: TokenRow) {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    orgId: row.orgId,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
    createdBy: row.createdBy,
  };
}

/** Org admins mint tokens for their own org only, and never system admins. */
function assertMayMint(caller: Caller, role: Role, orgId: string | null): void {
  if (caller.role === 'system_admin') return;
  if (role === 'system_admin') throw new ApiError(403, 'Only system admins create system_admin tokens.');
  if (orgId === null) throw new ApiError(403, 'Org admins create tokens for their own org only.');
  assertOrgAccess(caller, orgId);
}

/** Token changes are not flag rows, so no trigger audits them: the route writes the entry itself. */
async function auditToken(tx: Db, caller: Caller, row: TokenRow, oldValue: unknown, newValue: unknown): Promise<void> {
  await tx.insert(featureFlagValues).values({
    featureKey: null,
    orgId: row.orgId,
    level: 'token',
    target: row.id,
    oldValue,
    newValue,
    actor: caller.actor,
    // The same context the triggers read for flag rows.
    reason: sql`nullif(current_setting('app.reason', true), '')`,
    requestId: sql`nullif(current_setting('app.request_id', true), '')`,
  });
}

// ---- routes ---------------------------------------------------------------------------------

const createToken = defineRoute({
  method: 'post',
  path: '/api/tokens',
  summary: 'Create an admin token or evaluate key (the secret is shown once)',
  tag: 'tokens',
  access: WRITER_ROLES,
  body: CreateBody,
  headers: ['X-Change-Reason'],
  responses: { 201: { description: 'Created', schema: CreatedTokenSchema } },
  handler: async (c, { body }) => {
    const caller = c.get('caller');
    const orgId = body.orgId ?? null;
    assertMayMint(caller, body.role, orgId);
    const token = generateToken(body.role);
    const hash = await sha256(token);
    const row = await inTransaction(
      c,
      async (tx) => {
        const [created] = await tx
          .insert(apiTokens)
          .values({ name: body.name, tokenHash: hash, prefix: tokenHint(token), role: body.role, orgId, createdBy: caller.actor })
          .returning();
        await auditToken(tx, caller, created!, null, { name: body.name, role: body.role, orgId, prefix: created!.prefix });
        if (body.role === 'evaluate') {
          // Inside the transaction: a key the evaluate Worker cannot find must not be handed out.
          const { kvKey, text } = evaluateKeyEntry(created!);
          await c.env.FLAGS_KV.put(kvKey, text).catch((error: unknown) => {
            throw new ApiError(503, { detail: `KV is unavailable (${String(error)}); no key was created.`, slug: 'kv-unavailable' });
          });
        }
        return created!;
      },
      { reason: body.reason },
    );
    return c.json({ ...tokenView(row), token }, 201);
  },
});

const listTokens = defineRoute({
  method: 'get',
  path: '/api/tokens',
  summary: "List tokens (an org admin sees its org's)",
  tag: 'tokens',
  access: WRITER_ROLES,
  query: ListQuery,
  responses: { 200: { description: 'A page of tokens', schema: listOf(TokenSchema) } },
  handler: async (c, { query }) => {
    const before = decodeCursor(query.cursor, z.object({ createdAt: z.iso.datetime(), id: z.uuid() }));
    const rows = await inTransaction(c, (tx) =>
      tx
        .select()
        .from(apiTokens)
        .where(
          and(
            query.includeRevoked === 'true' ? undefined : isNull(apiTokens.revokedAt),
            before ? sql`(${createdMs}, ${apiTokens.id}) < (${before.createdAt}::timestamptz, ${before.id}::uuid)` : undefined,
          ),
        )
        .orderBy(desc(createdMs), desc(apiTokens.id))
        .limit(query.limit + 1),
    );
    return c.json(page(rows.map(tokenView), query.limit, (last) => ({ createdAt: last.createdAt, id: last.id })));
  },
});

const revokeToken = defineRoute({
  method: 'delete',
  path: '/api/tokens/:id',
  summary: 'Revoke a token (evaluate keys also leave KV)',
  tag: 'tokens',
  access: WRITER_ROLES,
  params: IdParams,
  body: ReasonBody,
  headers: ['X-Change-Reason'],
  responses: { 204: { description: 'Revoked' }, 404: { description: 'Unknown or already revoked' } },
  handler: async (c, { params, body }) => {
    const caller = c.get('caller');
    await inTransaction(
      c,
      async (tx) => {
        // Locked: a second revocation of the same token waits for this one, then finds it revoked (404).
        const [row] = await tx.select().from(apiTokens).where(and(eq(apiTokens.id, params.id), isNull(apiTokens.revokedAt))).for('update');
        if (!row) throw new ApiError(404, `No live token ${params.id}.`);
        if (row.role === 'system_admin' && caller.role !== 'system_admin') throw new ApiError(403, 'Only system admins revoke system_admin tokens.');
        assertOrgAccess(caller, row.orgId);
        const [revoked] = await tx.update(apiTokens).set({ revokedAt: new Date() }).where(eq(apiTokens.id, row.id)).returning();
        await auditToken(tx, caller, row, { name: row.name, role: row.role, orgId: row.orgId }, { revokedAt: revoked!.revokedAt?.toISOString() });
        if (row.role === 'evaluate') {
          // Inside the transaction: the token stays live until KV forgets it too.
          await c.env.FLAGS_KV.delete(evaluateKeyEntry(row).kvKey).catch((error: unknown) => {
            throw new ApiError(503, { detail: `KV is unavailable (${String(error)}); the key was not revoked.`, slug: 'kv-unavailable' });
          });
        }
      },
      { reason: body.reason },
    );
    return c.body(null, 204);
  },
});

export const tokenRoutes = [createToken, listTokens, revokeToken];
