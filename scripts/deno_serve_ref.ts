// The Deno.serve reference for scripts/bench/, in its fastest form: every request gets the same
// body, built once (a string when the bytes are UTF-8 text, which Deno.serve sends fastest), from
// a handler that never touches the request. --routing is the labelled variant that reads the URL
// (`new URL(request.url).pathname`) and answers 404 off "/", as an application would.
// Prints one line, "listening on http://HOST:PORT/", once it listens.
//
// --cert FILE --key FILE: HTTPS, where Deno.serve offers h2 and http/1.1 by ALPN (the h2 rows).
// --dir DIR answers every file beneath DIR by its path, all read into memory at start (Deno.serve's
// fastest form for a page of assets; the URL is read, as it must be), 404 for anything else.
//
// --app MODULE serves a module's default export's fetch(request, info), as `deno serve` does:
// the same application module rawserve runs with --app.
//
// Usage: deno run --allow-net --allow-read scripts/deno_serve_ref.ts --body FILE --type TYPE
//          [--port 0] [--host 127.0.0.1] [--routing] [--cert FILE --key FILE]
//        | --dir DIR [--cert FILE --key FILE] | --app MODULE [--port 0] [--host ADDR]

import { parseArgs } from "node:util";

/**
 * The body as Deno.serve sends it fastest: a string when `bytes` are valid UTF-8 (they then
 * encode back to the same bytes), else the bytes.
 */
export function fastestBody(bytes: Uint8Array): string | Uint8Array<ArrayBuffer> {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return new Uint8Array(bytes);
  }
}

let scheme = "http";

function printUrl({ hostname, port }: Deno.NetAddr): void {
  console.log(`listening on ${scheme}://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/`);
}

/** Content types of the page's assets, by extension (as rawserve and nginx answer them). */
const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
  svg: "image/svg+xml",
  jpg: "image/jpeg",
  webp: "image/webp",
  woff2: "font/woff2",
  ico: "image/x-icon",
  txt: "text/plain; charset=utf-8",
};

/** Every file beneath `dir` by its URL path, with its body built once and its type. */
async function readTree(
  dir: string,
  prefix = "",
  files = new Map<string, { body: string | Uint8Array<ArrayBuffer>; init: ResponseInit }>(),
) {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${prefix}/${entry.name}`;
    if (entry.isDirectory) await readTree(`${dir}/${entry.name}`, path, files);
    if (!entry.isFile) continue;
    const type = TYPES[entry.name.split(".").at(-1)!] ?? "application/octet-stream";
    files.set(path, {
      body: fastestBody(await Deno.readFile(`${dir}/${entry.name}`)),
      init: { headers: { "content-type": type } },
    });
  }
  return files;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      body: { type: "string" },
      type: { type: "string", default: "application/octet-stream" },
      routing: { type: "boolean", default: false },
      app: { type: "string" },
      cert: { type: "string" },
      key: { type: "string" },
      dir: { type: "string" },
    },
  });
  const port = Number(values.port);
  const tls = values.cert !== undefined && values.key !== undefined
    ? { cert: await Deno.readTextFile(values.cert), key: await Deno.readTextFile(values.key) }
    : {};
  if (values.cert !== undefined) scheme = "https";
  if (values.dir !== undefined) {
    const files = await readTree(values.dir);
    const missing = new Response("404 Not Found\n", { status: 404 });
    Deno.serve({ port, hostname: values.host, onListen: printUrl, ...tls }, (request) => {
      const file = files.get(new URL(request.url).pathname);
      return file ? new Response(file.body, file.init) : missing.clone();
    });
    return;
  }
  if (values.app !== undefined) {
    const app = (await import(new URL(values.app, `file://${Deno.cwd()}/`).href)).default;
    Deno.serve({ port, hostname: values.host, onListen: printUrl }, app.fetch);
    return;
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535 || values.body === undefined) {
    console.error("Usage: deno_serve_ref.ts --body FILE --type TYPE [--port N] [--host ADDR] [--routing]");
    Deno.exit(2);
  }
  const body = fastestBody(await Deno.readFile(values.body));
  const init = { headers: { "content-type": values.type } };
  const options = { port, hostname: values.host, onListen: printUrl, ...tls };
  if (!values.routing) {
    Deno.serve(options, () => new Response(body, init));
    return;
  }
  Deno.serve(options, (request) => {
    if (new URL(request.url).pathname === "/") return new Response(body, init);
    return new Response("404 Not Found\n", { status: 404 });
  });
}

if (import.meta.main) await main();
