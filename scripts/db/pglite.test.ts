// PGlite behind the bridge: whole connections one at a time, nothing leaking from one to the next.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../shared/db/client';
import { useNodeWebSocket } from '../../shared/db/node';
import { startLocalDatabase, type LocalDatabase } from './local';

useNodeWebSocket();

let local: LocalDatabase;
beforeAll(async () => {
  local = await startLocalDatabase({ dataDir: null });
});
afterAll(async () => {
  await local?.close();
});

const poolOn = (db: LocalDatabase) => createPool({ databaseUrl: db.databaseUrl, wsProxy: db.wsProxy, max: 1, idleTimeoutMillis: 20 });

describe('PGlite server', () => {
  it('queues a second connection until the first ends, which never sees the first one’s transaction', async () => {
    const first = poolOn(local);
    const second = poolOn(local);
    const holder = await first.connect();
    await holder.query('BEGIN');
    await holder.query('CREATE TABLE uncommitted (x int)');

    let settled = false;
    const waiting = second.query('SELECT count(*) FROM uncommitted').finally(() => {
      settled = true;
    });
    waiting.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(settled).toBe(false);

    await holder.query('ROLLBACK');
    holder.release();
    await first.end();
    await expect(waiting).rejects.toThrow(/relation "uncommitted" does not exist/);
    await second.end();
  });

  it('resets the session between connections', async () => {
    const first = poolOn(local);
    await first.query(`SET application_name = 'leaky'`);
    await first.query(`SELECT set_config('app.role', 'system', false)`);
    await first.end();
    const second = poolOn(local);
    const { rows } = await second.query(
      `SELECT current_setting('application_name') AS app, coalesce(current_setting('app.role', true), '') AS role`,
    );
    expect(rows[0].app).not.toBe('leaky');
    expect(rows[0].role).toBe('');
    await second.end();
  });

  it('rolls back the open transaction of a connection that vanishes', async () => {
    const first = poolOn(local);
    const client = await first.connect();
    await client.query('BEGIN');
    await client.query('CREATE TABLE vanished (x int)');
    client.release(true); // destroys the connection mid-transaction
    await first.end();
    const second = poolOn(local);
    const { rows } = await second.query(`SELECT to_regclass('vanished') IS NULL AS gone`);
    expect(rows[0].gone).toBe(true);
    await second.end();
  });

  it('persists in a data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'cmis-pglite-'));
    try {
      const firstRun = await startLocalDatabase({ dataDir });
      const pool = poolOn(firstRun);
      await pool.query('CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)');
      await pool.end();
      await firstRun.close();

      const secondRun = await startLocalDatabase({ dataDir });
      const again = poolOn(secondRun);
      const { rows } = await again.query('SELECT x FROM kept');
      expect(rows).toEqual([{ x: 42 }]);
      await again.end();
      await secondRun.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
