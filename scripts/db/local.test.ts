import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { checkReachable, parseDatabaseUrl } from './local';

describe('parseDatabaseUrl', () => {
  it('reads host, port and database', () => {
    expect(parseDatabaseUrl('postgres://postgres@127.0.0.1:5432/cmis')).toEqual({ host: '127.0.0.1', port: 5432, database: 'cmis' });
    expect(parseDatabaseUrl('postgresql://u:p@db.example.test/app')).toEqual({ host: 'db.example.test', port: 5432, database: 'app' });
  });

  it('says in one line what is wrong', () => {
    expect(() => parseDatabaseUrl('nonsense')).toThrow('DATABASE_URL: not a URL (expected postgres://user@host:port/database)');
    expect(() => parseDatabaseUrl('mysql://x@h/d')).toThrow('DATABASE_URL: unsupported scheme mysql: (expected postgres://)');
  });
});

describe('checkReachable', () => {
  it('names host, port and cause when nothing listens', async () => {
    const server = createServer();
    const port = await new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    await new Promise((resolve) => server.close(resolve));
    await expect(checkReachable(`postgres://postgres@127.0.0.1:${port}/x`)).rejects.toThrow(
      `DATABASE_URL: cannot connect to 127.0.0.1:${port} (connection refused)`,
    );
  });
});
