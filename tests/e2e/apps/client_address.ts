// An --app that answers with the client's address and port as its handler sees them (info.remoteAddr).
export default {
  fetch(_request: Request, info: { remoteAddr: { hostname: string; port: number } }): Response {
    return new Response(`${info.remoteAddr.hostname} ${info.remoteAddr.port}`);
  },
};
