// The HTTP baseline: a Worker that answers a constant JSON body, run in the same workerd as the evaluate
// Worker under test (bench/http-rig.ts) with its compatibility settings, so bench (c) measures what
// evaluation adds. It receives the same requests as the evaluate Worker (same path, headers, body) and
// answers, as its constant body, the body the evaluate Worker answers that request (binding BODY; the
// rig starts one bare Worker per route), so both send the same body bytes (the evaluate Worker's answer
// also carries the headers of the contract; the contract-floor Worker sends those); without BODY it
// answers the small single-flag body below. A POST's body is read before answering, as any handler of
// a POST must; with IGNORE_BODY=1 it is not, which shows what receiving the body costs on its own.
const SMALL_BODY = JSON.stringify({ key: 'campaign.creation.enabled', value: true, reason: 'STATIC', source: 'system', version: '1' });

export default {
  async fetch(request, env) {
    if (request.method === 'POST' && env.IGNORE_BODY !== '1') await request.text();
    return new Response(env.BODY ?? SMALL_BODY, { headers: { 'content-type': 'application/json' } });
  },
};
