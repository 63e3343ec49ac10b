// The HTTP baseline: a Worker that answers a constant JSON body, run in its own workerd with the
// evaluate Worker's compatibility settings, so (c) measures what evaluation adds on top of workerd.
const BODY = JSON.stringify({ key: 'campaign.creation.enabled', value: true, reason: 'STATIC', source: 'system', version: '1' });

export default {
  async fetch() {
    return new Response(BODY, { headers: { 'content-type': 'application/json' } });
  },
};
