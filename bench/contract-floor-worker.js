// The contract floor of bench (c): what the HTTP contract makes any evaluate answer cost before a single
// flag is evaluated, run in the same workerd as the evaluate Worker and the bare Workers. It reads the
// key from Authorization and checks it, reads and parses a POST body as JSON, and answers constant JSON
// with the headers every evaluate answer carries (docs/api.md): X-Request-Id (the caller's or a new
// UUID), Cache-Control and Vary, and CORS when the request has Origin. It does not route, validate or
// evaluate. Reported beside the bare Worker so the gap to the bare Worker can be split into "what the
// contract costs" and "what evaluation costs"; it is not the baseline the target is judged against. Its
// body, like the bare Worker's, is the evaluate Worker's answer to the route's request (binding BODY).
const COMMON = {
  'Content-Type': 'application/json',
  'Cache-Control': 'private, max-age=0, must-revalidate',
  Vary: 'Authorization, X-API-Key, Origin',
};
const ANSWER_HEADERS = new Headers(COMMON);
const CORS_ANSWER_HEADERS = new Headers({ ...COMMON, 'Access-Control-Allow-Origin': '*', 'Access-Control-Expose-Headers': 'ETag,X-Request-Id,Retry-After' });

export default {
  async fetch(request, env) {
    const headers = request.headers;
    if (headers.get('Authorization') !== env.EXPECTED_AUTHORIZATION) return new Response(null, { status: 401 });
    if (request.method === 'POST') JSON.parse(await request.text());
    const res = new Response(env.BODY, { headers: headers.has('Origin') ? CORS_ANSWER_HEADERS : ANSWER_HEADERS });
    res.headers.set('X-Request-Id', headers.get('X-Request-Id') || crypto.randomUUID());
    return res;
  },
};
