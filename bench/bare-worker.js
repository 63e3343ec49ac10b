// The HTTP baseline: a Worker that answers a constant JSON body, run in the same workerd as the evaluate
// Worker under test (bench/http-rig.ts) with its compatibility settings, so bench (c) measures what
// evaluation adds. It receives the same requests as the evaluate Worker (same path, headers, body). A
// POST's body is read before answering, as any handler of a POST must; with IGNORE_BODY=1 it is not,
// which shows what receiving the body costs on its own.
const BODY = JSON.stringify({ key: 'campaign.creation.enabled', value: true, reason: 'STATIC', source: 'system', version: '1' });

export default {
  async fetch(request, env) {
    if (request.method === 'POST' && env.IGNORE_BODY !== '1') await request.text();
    return new Response(BODY, { headers: { 'content-type': 'application/json' } });
  },
};
