// Bench app: a JSON route that reads the URL and a header, as an application would; the same
// module for rawserve (--app) and Deno.serve.
export default {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    return Response.json({
      path: url.pathname,
      q: url.searchParams.get("q"),
      accept: request.headers.get("accept"),
    });
  },
};
