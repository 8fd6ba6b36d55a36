// Helpers for HTTP/2 tests: one request over a node:http2 client session, its answer collected.

import type http2 from "node:http2";

/** One request over a node:http2 session: status, headers and body. */
export function request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Uint8Array,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers);
    const chunks: Uint8Array[] = [];
    let head: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => head = h);
    req.on("data", (d: Uint8Array) => chunks.push(d));
    req.on("end", () => {
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const all = new Uint8Array(total);
      let o = 0;
      for (const c of chunks) (all.set(c, o), o += c.length);
      resolve({ status: Number(head[":status"]), headers: head, body: all });
    });
    req.on("error", reject);
    req.end(body);
  });
}
