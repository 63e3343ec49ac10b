// A minimal Chrome DevTools Protocol client for workerd's inspector (Miniflare `inspectorPort`): the
// HTTP benchmark samples the evaluate isolate's JS heap with it, so "memory flat over the run" is
// judged on the isolate itself rather than on the whole workerd process. (workerd does not answer
// HeapProfiler.collectGarbage, so the live heap is estimated as the minimum of frequent samples.)
import WebSocket from 'ws';

export interface HeapSampler {
  /** The isolate's used JS heap now, in bytes. */
  usedBytes(): Promise<number>;
  close(): void;
}

/** Connects to the inspector of Worker `workerName` (its Miniflare name). */
export async function isolateHeapSampler(inspectorPort: number, workerName: string): Promise<HeapSampler> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json()) as { title: string; webSocketDebuggerUrl: string }[];
  const target = targets.find((t) => t.title === `workerd: worker core:user:${workerName}`);
  if (!target) throw new Error(`no inspector target for worker "${workerName}" (have: ${targets.map((t) => t.title).join(', ')})`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', (err) => reject(err));
  });
  let nextId = 0;
  const pending = new Map<number, (result: Record<string, unknown>) => void>();
  ws.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: Record<string, unknown> };
    if (message.id === undefined) return;
    pending.get(message.id)?.(message.result ?? {});
    pending.delete(message.id);
  });
  return {
    usedBytes: () =>
      new Promise((resolve) => {
        const id = ++nextId;
        pending.set(id, (result) => resolve(Number(result.usedSize)));
        ws.send(JSON.stringify({ id, method: 'Runtime.getHeapUsage', params: {} }));
      }),
    close: () => ws.close(),
  };
}
