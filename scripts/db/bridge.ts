// WebSocket→TCP bridge for the Neon serverless driver against a local Postgres (or PGlite).
// The driver opens `ws://<wsProxy>?address=host:port` (see shared/db/client.ts); this bridge
// always connects to its fixed target (it is not an open proxy) and ignores `address`.
// Either side closing closes the other.
import { connect } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export interface BridgeOptions {
  /** Port to listen on (0 = any free port, the default). */
  port?: number;
  host?: string;
  target: { host: string; port: number };
}

export interface Bridge {
  port: number;
  /** ws://host:port/v1 */
  url: string;
  /** The value for `wsProxy` in createPool: host:port/v1, no protocol. */
  wsProxy: string;
  close(): Promise<void>;
}

export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const host = options.host ?? '127.0.0.1';
  const server = new WebSocketServer({ host, port: options.port ?? 0, path: '/v1' });
  const sockets = new Set<WebSocket>();

  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new Error(`database bridge: port ${options.port} on ${host} is in use`)
          : error,
      ),
    );
  });

  server.on('connection', (ws) => {
    sockets.add(ws);
    const tcp = connect(options.target.port, options.target.host);
    tcp.setNoDelay(true);
    tcp.on('data', (chunk) => {
      if (ws.readyState === ws.OPEN) ws.send(chunk);
    });
    const closeBoth = () => {
      tcp.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
      sockets.delete(ws);
    };
    tcp.on('close', closeBoth);
    tcp.on('error', closeBoth);
    ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (!tcp.destroyed) tcp.write(bytes);
    });
    ws.on('close', closeBoth);
    ws.on('error', closeBoth);
  });

  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
  return {
    port,
    url: `ws://${host}:${port}/v1`,
    wsProxy: `${host}:${port}/v1`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate();
        server.close(() => resolve());
      }),
  };
}
