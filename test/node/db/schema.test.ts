// shared/db/schema.ts must describe the migrated database exactly (names, types, nullability,
// defaults, primary keys), so that drizzle queries and the SQL never drift apart.
import { eq } from 'drizzle-orm';
import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '@neondatabase/serverless';
import { apiTokens, schema, withRls } from '../../../shared/db';
import { testPool } from './helpers';

let pool: Pool;
beforeAll(() => {
  pool = testPool();
});
afterAll(async () => {
  await pool.end();
});

interface ColumnFacts {
  type: string;
  notNull: boolean;
  hasDefault: boolean;
  primaryKey: boolean;
}

const normalizeType = (type: string) => type.replace(/\s+/g, '').toLowerCase();

function drizzleColumns(table: PgTable): Record<string, ColumnFacts> {
  const config = getTableConfig(table);
  const primary = new Set(config.primaryKeys.flatMap((pk) => pk.columns.map((c) => c.name)));
  return Object.fromEntries(
    config.columns.map((column) => [
      column.name,
      {
        type: normalizeType(column.getSQLType()),
        notNull: column.notNull,
        hasDefault: column.hasDefault || column.generated !== undefined || column.generatedIdentity !== undefined,
        primaryKey: column.primary || primary.has(column.name),
      },
    ]),
  );
}

async function databaseColumns(): Promise<Record<string, Record<string, ColumnFacts>>> {
  const { rows } = await pool.query(`
    SELECT c.table_name, c.column_name, c.is_nullable, c.column_default, c.is_identity, c.is_generated,
           format_type(a.atttypid, a.atttypmod) AS type,
           EXISTS (
             SELECT 1 FROM information_schema.table_constraints tc
             JOIN information_schema.key_column_usage k
               ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
            WHERE tc.table_schema = c.table_schema AND tc.table_name = c.table_name
              AND tc.constraint_type = 'PRIMARY KEY' AND k.column_name = c.column_name
           ) AS primary_key
      FROM information_schema.columns c
      JOIN pg_attribute a
        ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name
     WHERE c.table_schema = 'cmis'
     ORDER BY c.table_name, c.ordinal_position`);
  const tables: Record<string, Record<string, ColumnFacts>> = {};
  for (const row of rows) {
    (tables[row.table_name] ??= {})[row.column_name] = {
      type: normalizeType(row.type),
      notNull: row.is_nullable === 'NO',
      hasDefault: row.column_default !== null || row.is_identity === 'YES' || row.is_generated === 'ALWAYS',
      primaryKey: row.primary_key,
    };
  }
  return tables;
}

describe('drizzle schema vs information_schema', () => {
  it('has the same tables', async () => {
    const inDatabase = Object.keys(await databaseColumns()).sort();
    const inDrizzle = Object.values(schema).map((table) => {
      const config = getTableConfig(table);
      expect(config.schema).toBe('cmis');
      return config.name;
    });
    expect(inDrizzle.sort()).toEqual(inDatabase);
  });

  it('has the same columns, types, nullability, defaults and primary keys', async () => {
    const inDatabase = await databaseColumns();
    for (const table of Object.values(schema)) {
      const name = getTableConfig(table).name;
      expect({ table: name, columns: drizzleColumns(table) }).toEqual({ table: name, columns: inDatabase[name] });
    }
  });
});

describe('column mappings', () => {
  it('round-trips a token hash (bytea ↔ Uint8Array) and authenticate_token finds it', async () => {
    const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`tok-${Math.random()}`)));
    const found = await withRls(pool, { orgId: null, role: 'system', actor: 'test' }, async (tx, client) => {
      const [row] = await tx.insert(apiTokens).values({ name: 'ci', tokenHash: hash, prefix: 'cmis_x', role: 'evaluate' }).returning();
      const [again] = await tx.select().from(apiTokens).where(eq(apiTokens.tokenHash, hash));
      const viaFunction = await client.query(`SELECT id FROM cmis.authenticate_token($1::bytea)`, [
        `\\x${Buffer.from(hash).toString('hex')}`,
      ]);
      return { row, again, viaFunction: viaFunction.rows };
    });
    expect(found.row!.tokenHash).toEqual(hash);
    expect(found.again!.tokenHash).toEqual(hash);
    expect(found.viaFunction).toEqual([{ id: found.row!.id }]);
  });
});
