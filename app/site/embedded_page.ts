// The page rawserve serves when no directory is given, kept in memory as pre-encoded bytes,
// and the handler that serves it.

import type { HttpRequest, HttpResponse } from "../../http/types.ts";
import { STATUS, statusResponse } from "../../http/status.ts";
import { encodeFields } from "../../http/fields.ts";

/** Media type of the embedded page. */
export const EMBEDDED_TYPE = "text/html; charset=utf-8";

/** The embedded page, UTF-8. */
export const EMBEDDED_PAGE: Uint8Array = new TextEncoder().encode(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rawserve</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; padding: 0 1rem; color: #222; }
code { background: #f3f3f3; padding: 0 .25em; border-radius: 3px; }
</style>
</head>
<body>
<h1>rawserve is running</h1>
<p>This page is served from memory by an HTTP/1.1 server written in TypeScript whose whole
network path is Linux system calls made through Deno's FFI, on a single-threaded epoll reactor.</p>
<p>Serve a directory instead with <code>deno task start --root ./site</code>.</p>
</body>
</html>
`);

const PAGE: HttpResponse = {
  status: STATUS.OK,
  headers: encodeFields(["Content-Type", EMBEDDED_TYPE]),
  body: EMBEDDED_PAGE,
};
const NOT_FOUND = statusResponse(STATUS.NOT_FOUND);
const ALLOW = ["Allow", "GET, HEAD"];

/** Serves the embedded page at `/` (and `/index.html`); GET and HEAD only. */
export function embeddedHandler(request: HttpRequest): HttpResponse {
  const { method, path } = request.head;
  if (method !== "GET" && method !== "HEAD") {
    if (method === "OPTIONS") return { status: STATUS.NO_CONTENT, headers: ALLOW };
    return statusResponse(STATUS.METHOD_NOT_ALLOWED, { headers: ALLOW });
  }
  const q = path.indexOf("?");
  const p = q < 0 ? path : path.slice(0, q);
  return p === "/" || p === "/index.html" ? PAGE : NOT_FOUND;
}
