import type { FlagEvent } from '../../shared/events';

/**
 * What a webhook receives. Generic: the event as JSON, signed with the webhook's secret
 * (`X-CMIS-Signature: sha256=<hex HMAC-SHA256 of the exact body>`). Slack: an incoming-webhook
 * message `{text, blocks}`.
 */

export interface WebhookTarget {
  id: string;
  url: string;
  kind: 'slack' | 'generic';
  secret: string | null;
}

export const SIGNATURE_HEADER = 'X-CMIS-Signature';
const TIMEOUT_MS = 10_000;

export async function signBody(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(body)));
  return `sha256=${Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Slack mrkdwn needs &, < and > escaped. */
const slackEscape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Failures and alerts stand out in a channel of routine changes. */
function slackPrefix(event: FlagEvent): string {
  if (event.event === 'system.alert') return event.details?.state === 'resolved' ? ':white_check_mark: ' : ':rotating_light: ';
  return event.event.endsWith('.failed') ? ':warning: ' : '';
}

export function slackMessage(event: FlagEvent): { text: string; blocks: unknown[] } {
  const text = `${slackPrefix(event)}${event.summary}`;
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: slackEscape(text) } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: slackEscape(
              [`event \`${event.event}\``, event.flag ? `flag \`${event.flag}\`` : null, event.orgId ? `org \`${event.orgId}\`` : null, `by ${event.actor}`, event.at]
                .filter(Boolean)
                .join(' · '),
            ),
          },
        ],
      },
    ],
  };
}

export interface DeliveryAttempt {
  ok: boolean;
  status: number | null;
  error: string | null;
}

/** One POST to the webhook; never throws (a network error is a failed attempt). */
export async function deliverWebhook(
  target: WebhookTarget,
  event: FlagEvent,
  deliveryId: string,
  fetcher: typeof fetch = fetch,
): Promise<DeliveryAttempt> {
  const body = JSON.stringify(target.kind === 'slack' ? slackMessage(event) : { id: deliveryId, ...event });
  const headers: Record<string, string> = { 'Content-Type': 'application/json', 'User-Agent': 'cmis-flags-webhooks/1' };
  if (target.kind === 'generic') {
    headers['X-CMIS-Event'] = event.event;
    headers['X-CMIS-Delivery'] = deliveryId;
    if (target.secret) headers[SIGNATURE_HEADER] = await signBody(target.secret, body);
  }
  try {
    const res = await fetcher(target.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) });
    const text = res.ok ? '' : (await res.text().catch(() => '')).slice(0, 200);
    return res.ok ? { ok: true, status: res.status, error: null } : { ok: false, status: res.status, error: `HTTP ${res.status}${text ? `: ${text}` : ''}` };
  } catch (error) {
    return { ok: false, status: null, error: (error instanceof Error ? error.message : String(error)).slice(0, 300) };
  }
}

/** Backoff between attempts: 10 s, 20 s, 40 s, … at most 15 minutes. */
export function retryDelaySeconds(attempt: number): number {
  return Math.min(10 * 2 ** Math.max(0, attempt - 1), 900);
}
