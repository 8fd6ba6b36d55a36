// A request head as every handler sees it, whatever protocol carried it: HTTP/1.1's parser
// fills one in (http/h1/parser.ts), and so does any other protocol's session.

import { keepShape } from "./shapes.ts";

/** Methods rawserve recognises (RFC 9110 §9 plus PATCH, RFC 5789); others get 501. */
export const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);

/** A parsed request head. Reused objects are fine: parseRequestHead() resets every field. */
export class RequestHead {
  /** Request method, e.g. `GET`. */
  method = "";
  /** The request-target exactly as sent. */
  target = "";
  /** Path and query of the target (absolute-form has its scheme and authority removed). */
  path = "";
  /** HTTP major version: 1, or 2 for a request that arrived over HTTP/2. */
  major = 1;
  /** Minor version: 0 or 1 for HTTP/1.x (1.2 and later are answered as 1.1), 0 for HTTP/2. */
  minor = 1;
  /** Field names (lower-case) and values, alternating. */
  headers: string[] = [];
  /** Host field value, or the authority of an absolute-form target. */
  host = "";
  /** Content-Length, or -1 when absent. */
  contentLength = -1;
  /** Transfer-Encoding: chunked. */
  chunked = false;
  /** Whether the connection may stay open after the response (RFC 9112 §9.3). */
  keepAlive = true;
  /** Expect: 100-continue (RFC 9110 §10.1.1). */
  expectContinue = false;
  /**
   * The protocols the client asks to switch to (RFC 9110 §7.8), lower-case, e.g. `websocket`;
   * "" when it asks for none (or the protocol carrying it has no upgrade).
   */
  upgrade = "";

  /**
   * The first value of a header field.
   * @param name lower-case field name
   * @returns the value, or undefined
   */
  get(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }
}

// Every request's head is gone between busy spells; this one keeps the class's map (shapes.ts).
keepShape(new RequestHead());
