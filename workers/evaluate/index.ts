// Placeholder entry until the evaluate app lands (issue 4): only the health route.
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/health') return Response.json({ ok: true });
    return new Response(null, { status: 404 });
  },
} satisfies ExportedHandler;
