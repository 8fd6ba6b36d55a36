// The Deno.serve reference server for scripts/bench.ts: GET / answers rawserve's embedded page
// byte for byte, and with --root DIR other paths are files streamed from Deno.open.
// Prints one line, "listening on http://HOST:PORT/", once it listens.
//
// Usage: deno run -A scripts/deno_serve_ref.ts [--port 0] [--host 127.0.0.1] [--root DIR]

import { parseArgs } from "node:util";

/** The page and media type served at "/". */
export interface EmbeddedPage {
  body: Uint8Array<ArrayBuffer>;
  type: string;
}

// Used only when app/embedded_page.ts is missing or broken, so the harness still runs.
const FALLBACK_PAGE = "<!doctype html>\n<title>rawserve</title>\n<h1>rawserve is running</h1>\n";

// Enough types for the bench fixtures; anything else is application/octet-stream.
const MEDIA_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
};

/**
 * Loads rawserve's embedded page from app/embedded_page.ts, imported at run time so that this
 * script (and bench.ts, which imports this function) still works while that module is absent.
 *
 * @returns the page bytes and media type, and whether they came from the fallback
 * @example
 * const { body, type } = await loadEmbeddedPage();
 */
export async function loadEmbeddedPage(): Promise<EmbeddedPage & { fallback: boolean }> {
  try {
    const module = await import("../app/embedded_page.ts");
    const body: unknown = module.EMBEDDED_PAGE;
    const type: unknown = module.EMBEDDED_TYPE;
    if (body instanceof Uint8Array && typeof type === "string") {
      return { body: new Uint8Array(body), type, fallback: false }; // a copy on its own ArrayBuffer
    }
  } catch {
    // Fall through: the server module is not written yet or does not load.
  }
  return {
    body: new TextEncoder().encode(FALLBACK_PAGE),
    type: "text/html; charset=utf-8",
    fallback: true,
  };
}

function mediaTypeOf(path: string): string {
  const dot = path.lastIndexOf(".");
  return (dot < 0 ? undefined : MEDIA_TYPES[path.slice(dot + 1).toLowerCase()]) ??
    "application/octet-stream";
}

function notFound(): Response {
  return new Response("404 Not Found\n", { status: 404, headers: { "content-type": "text/plain" } });
}

/** Streams ROOT + PATH; no directory listing, no ranges, ".." segments refused. */
async function serveFile(root: string, pathname: string): Promise<Response> {
  let path: string;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    return new Response("400 Bad Request\n", { status: 400 });
  }
  if (path.split("/").some((segment) => segment === ".." || segment.includes("\0"))) return notFound();
  let file: Deno.FsFile | undefined;
  try {
    file = await Deno.open(`${root}${path}`);
    const info = await file.stat();
    if (!info.isFile) {
      file.close();
      return notFound();
    }
    return new Response(file.readable, {
      headers: { "content-type": mediaTypeOf(path), "content-length": String(info.size) },
    });
  } catch {
    file?.close();
    return notFound();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      root: { type: "string" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`deno_serve_ref: --port must be 0..65535, got ${values.port}`);
    Deno.exit(2);
  }
  const root = values.root?.replace(/\/+$/, "");
  const page = await loadEmbeddedPage();
  if (page.fallback) console.error("deno_serve_ref: app/embedded_page.ts not loaded; serving a stand-in");
  const pageHeaders = { "content-type": page.type };
  Deno.serve({
    port,
    hostname: values.host,
    onListen: ({ hostname, port }) => {
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      console.log(`listening on http://${host}:${port}/`);
    },
  }, (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/") return new Response(page.body, { headers: pageHeaders });
    return root === undefined ? notFound() : serveFile(root, pathname);
  });
}

if (import.meta.main) await main();
