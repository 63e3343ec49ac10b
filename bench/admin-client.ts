// The few admin API calls the propagation and zero-downtime benchmarks make.
import type { Stack } from '../scripts/stack';

export class AdminApiMissing extends Error {}

export function adminClient(stack: Stack) {
  const headers = { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' };
  const call = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const res = await fetch(`${stack.urls.admin}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (res.status === 404 && (await res.clone().text()).includes('No route')) throw new AdminApiMissing(`${method} ${path}: no such route yet`);
    return res;
  };
  return {
    /** A number flag whose default the benchmarks move; answers its current default. */
    async ensureCounterFlag(key: string): Promise<void> {
      const res = await call('POST', '/api/flags', { key, type: 'number', defaultValue: 0, offValue: 0, description: 'benchmark counter' });
      if (res.status !== 201 && res.status !== 409) throw new Error(`POST /api/flags: ${res.status} ${await res.text()}`);
    },
    async setDefault(key: string, value: number): Promise<void> {
      const res = await call('PATCH', `/api/flags/${key}`, { defaultValue: value });
      if (!res.ok) throw new Error(`PATCH /api/flags/${key}: ${res.status} ${await res.text()}`);
      const body = (await res.json()) as { publish?: string };
      if (body.publish !== 'done') throw new Error(`PATCH /api/flags/${key}: publish ${body.publish}`);
    },
  };
}

/** One evaluation of a number flag through the evaluate Worker. */
export async function evaluateNumber(stack: Stack, key: string): Promise<{ status: number; value: unknown; reason: string | undefined }> {
  const res = await fetch(`${stack.urls.evaluate}/v1/flags/${key}?orgId=org-1&userId=u-1`, { headers: { authorization: `Bearer ${stack.evalKey}` } });
  const body = (await res.json().catch(() => ({}))) as { value?: unknown; reason?: string };
  return { status: res.status, value: body.value, reason: body.reason };
}
