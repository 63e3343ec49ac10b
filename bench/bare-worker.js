// The HTTP baseline: a Worker that answers a constant JSON body, run in the same workerd as the evaluate
// Worker under test (bench/http-rig.ts) with its compatibility settings, so (c) measures what evaluation adds.
const BODY = JSON.stringify({ key: 'campaign.creation.enabled', value: true, reason: 'STATIC', source: 'system', version: '1' });

export default {
  async fetch() {
    return new Response(BODY, { headers: { 'content-type': 'application/json' } });
  },
};
