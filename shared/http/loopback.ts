/**
 * Whether a URL's hostname is this machine: `localhost`, 127.0.0.0/8 or `[::1]` (as the URL parser
 * spells them). Webhooks may point there only where WEBHOOKS_ALLOW_LOOPBACK=1 (the local stack and
 * the tests): the admin Worker refuses such targets otherwise, and the cron Worker does not deliver
 * to them, so a webhook made where they were allowed cannot reach its host's own endpoints.
 */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
