// An --app that answers with the client's address as its handler sees it (info.remoteAddr).
export default {
  fetch(_request: Request, info: { remoteAddr: { hostname: string } }): Response {
    return new Response(info.remoteAddr.hostname);
  },
};
