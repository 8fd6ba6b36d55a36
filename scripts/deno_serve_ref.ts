// The Deno.serve reference for scripts/bench/, in its fastest form: every request gets the same
// body, built once (a string when the bytes are UTF-8 text, which Deno.serve sends fastest), from
// a handler that never touches the request. --routing is the labelled variant that reads the URL
// (`new URL(request.url).pathname`) and answers 404 off "/", as an application would.
// Prints one line, "listening on http://HOST:PORT/", once it listens.
//
// --app MODULE serves a module's default export's fetch(request, info), as `deno serve` does:
// the same application module rawserve runs with --app.
//
// Usage: deno run --allow-net --allow-read scripts/deno_serve_ref.ts --body FILE --type TYPE
//          [--port 0] [--host 127.0.0.1] [--routing] | --app MODULE [--port 0] [--host ADDR]

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

function printUrl({ hostname, port }: Deno.NetAddr): void {
  console.log(`listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/`);
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
    },
  });
  const port = Number(values.port);
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
  const options = { port, hostname: values.host, onListen: printUrl };
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
