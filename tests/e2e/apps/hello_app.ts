// The smallest --app module: a default export with fetch(request, info), as `deno serve` runs.
export default {
  fetch(request: Request, info: { remoteAddr: { hostname: string } }): Response {
    return Response.json({ url: request.url, from: info.remoteAddr.hostname, isThis: this !== undefined });
  },
};
