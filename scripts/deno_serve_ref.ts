// The Deno.serve reference for benchmarks: the same embedded page at "/", and files from --root
// (streamed from Deno.open). Prints "listening on http://HOST:PORT/" once ready.
// Usage: deno run -A scripts/deno_serve_ref.ts [--port 0] [--host 127.0.0.1] [--root DIR]

import { parseArgs } from "node:util";
import { EMBEDDED_PAGE, EMBEDDED_TYPE } from "../http/embedded_page.ts";
import { mediaTypeFor } from "../http/media_types.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string" }, host: { type: "string" }, root: { type: "string" } },
});
const root = values.root;

async function serveFile(path: string): Promise<Response> {
  try {
    const file = await Deno.open(`${root}${decodeURIComponent(path)}`);
    const { size } = await file.stat();
    return new Response(file.readable, {
      headers: { "content-type": mediaTypeFor(path), "content-length": String(size) },
    });
  } catch {
    return new Response("404 Not Found\n", { status: 404 });
  }
}

Deno.serve({
  port: Number(values.port ?? 0),
  hostname: values.host ?? "127.0.0.1",
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/`),
}, (request) => {
  const path = new URL(request.url).pathname;
  if (path === "/" && !root) {
    return new Response(EMBEDDED_PAGE, { headers: { "content-type": EMBEDDED_TYPE } });
  }
  if (root && !path.includes("..")) return serveFile(path);
  return new Response("404 Not Found\n", { status: 404 });
});
