// Node-only setup for the Neon driver (Workers have a global WebSocket the driver finds by itself).
import { neonConfig } from '@neondatabase/serverless';
import WebSocket from 'ws';

/** Point the Neon driver at the `ws` package. Idempotent; call before creating pools in Node. */
export function useNodeWebSocket(): void {
  neonConfig.webSocketConstructor = WebSocket;
}
