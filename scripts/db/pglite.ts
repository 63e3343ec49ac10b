// Embedded PGlite served over the Postgres wire protocol on a TCP port.
//
// PGlite is ONE backend session: settings, SET ROLE and transactions of two clients would mix.
// So this server admits whole client connections one at a time: a connection that arrives while
// another is active waits (its bytes are buffered) until that one ends. When a connection ends,
// an open transaction is rolled back and the session is reset (DISCARD ALL) for the next one.
// Consequence: a caller that holds two connections at once deadlocks; use pools of size 1.
import { mkdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { PGlite } from '@electric-sql/pglite';

export interface PgliteServerOptions {
  /** Directory to persist the database in; null = in memory. */
  dataDir: string | null;
  /** TCP port (0 = any free port, the default). */
  port?: number;
  host?: string;
}

export interface PgliteServer {
  db: PGlite;
  host: string;
  port: number;
  databaseUrl: string;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const TERMINATE = 0x58; // 'X'
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]); // 'S'

export async function startPglite(options: PgliteServerOptions): Promise<PgliteServer> {
  const host = options.host ?? '127.0.0.1';
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const db = options.dataDir ? await PGlite.create({ dataDir: options.dataDir }) : await PGlite.create();

  const waiting: Connection[] = [];
  const open = new Set<Connection>();
  let active: Connection | null = null;
  let closing = false;

  const admitNext = () => {
    if (active || closing) return;
    const next = waiting.shift();
    if (!next) return;
    active = next;
    next.admit().finally(() => {
      active = null;
      admitNext();
    });
  };

  const server: Server = createServer((socket) => {
    if (closing) {
      socket.destroy();
      return;
    }
    const connection = new Connection(socket, db, () => {
      const index = waiting.indexOf(connection);
      if (index >= 0) waiting.splice(index, 1);
      open.delete(connection);
    });
    open.add(connection);
    waiting.push(connection);
    admitNext();
  });

  const port = await listen(server, options.port ?? 0, host);
  return {
    db,
    host,
    port,
    databaseUrl: `postgres://postgres@${host}:${port}/postgres`,
    async close() {
      closing = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const connection of open) connection.destroy();
      });
      if (active) await active.done;
      await db.close();
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`PGlite: port ${port} on ${host} is in use`) : error),
    );
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** One client connection: buffers until admitted, then feeds PGlite message by message. */
class Connection {
  private buffer = Buffer.alloc(0);
  private startupDone = false;
  private ended = false;
  private admitted = false;
  private wake: (() => void) | null = null;
  private finish!: () => void;
  readonly done: Promise<void> = new Promise((resolve) => (this.finish = resolve));

  constructor(
    private readonly socket: Socket,
    private readonly db: PGlite,
    private readonly onGone: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    const end = () => {
      if (this.ended) return;
      this.ended = true;
      this.wake?.();
      if (!this.admitted) {
        this.onGone();
        this.finish();
      }
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Serve this connection until it ends, then leave the session clean for the next one. */
  async admit(): Promise<void> {
    this.admitted = true;
    try {
      await this.serve();
    } catch {
      // a protocol or engine failure ends this connection only
    } finally {
      this.socket.destroy();
      await this.resetSession();
      this.onGone();
      this.finish();
    }
  }

  private async serve(): Promise<void> {
    for (;;) {
      const message = this.nextMessage();
      if (message === 'close') return;
      if (message === null) {
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
        continue;
      }
      await this.db.execProtocolRawStream(message, {
        onRawData: (data: Uint8Array) => {
          if (data.length > 0 && this.socket.writable) this.socket.write(Buffer.from(data));
        },
      });
    }
  }

  /** The next complete message, null if more bytes are needed, 'close' to end the connection. */
  private nextMessage(): Uint8Array | null | 'close' {
    const buffer = this.buffer;
    if (!this.startupDone) {
      if (buffer.length < 8) return null;
      const length = buffer.readInt32BE(0);
      const code = buffer.readInt32BE(4);
      if (buffer.length < length) return null;
      this.buffer = buffer.subarray(length);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        this.socket.write('N');
        return this.nextMessage();
      }
      if (code === CANCEL_REQUEST) return 'close';
      this.startupDone = true;
      return new Uint8Array(buffer.subarray(0, length));
    }
    if (buffer.length < 5) return null;
    if (buffer[0] === TERMINATE) return 'close';
    const length = 1 + buffer.readInt32BE(1);
    if (buffer.length < length) return null;
    this.buffer = buffer.subarray(length);
    return new Uint8Array(buffer.subarray(0, length));
  }

  private async resetSession(): Promise<void> {
    try {
      // a client that vanished mid extended-query leaves the backend waiting for Sync
      await this.db.execProtocolRaw(SYNC);
      if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
      await this.db.exec('DISCARD ALL');
    } catch {
      // the next connection still starts with a fresh startup message
    }
  }
}
