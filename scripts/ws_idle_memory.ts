// Memory per idle WebSocket, rawserve's serve() against Deno.serve running the same echo module:
// 1,000 connections opened by npm's ws (permessage-deflate offered or not), then the server's
// RSS and V8 heap after a full GC, less the same before them, per connection. RSS moves with
// the heap V8 reserves (about twice what it uses, grown in steps), so the heap used is the
// figure that says what a connection holds; RSS is printed as the operator sees it. The server is a
// child process started with --expose-gc; it reports its memory at GET /memory.
// Run: deno run -A scripts/ws_idle_memory.ts [N]   (about ten seconds; bounded by timeouts)

// A test-only dependency, pinned here: rawserve's deno.json maps nothing an app would inherit.
// deno-lint-ignore no-import-prefix
import WebSocket from "npm:ws@8.23.1";

const ROOT = new URL("../", import.meta.url).pathname;
/** Connections opened: the first argument, 1,000 by default (the issue's figure). */
const CONNECTIONS = Number(Deno.args[0] ?? 1000);

/** The echo module, with a /memory path that collects garbage and reports RSS and heap. */
const SERVER = (kind: string) => `
const handler = (request) => {
  if (new URL(request.url).pathname === "/memory") {
    for (let i = 0; i < 3; i++) globalThis.gc();
    const { rss, heapUsed, heapTotal } = Deno.memoryUsage();
    return Response.json({ rss, heapUsed, heapTotal });
  }
  const { socket, response } = ${kind === "rawserve" ? "upgradeWebSocket" : "Deno.upgradeWebSocket"}(request);
  socket.onmessage = (e) => socket.send(e.data);
  return response;
};
const options = { hostname: "127.0.0.1", port: 0, onListen: (a) => console.log(a.port) };
${
  kind === "rawserve"
    ? `import { serve, upgradeWebSocket } from "${ROOT}mod.ts"; serve(options, handler);`
    : `Deno.serve(options, handler);`
}`;

async function measure(kind: string, deflate: boolean): Promise<void> {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, SERVER(kind));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", file],
    stdout: "piped",
  }).spawn();
  const sockets: WebSocket[] = [];
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const port = Number((await reader.read()).value!.trim());
    const memory = async () =>
      (await (await fetch(`http://127.0.0.1:${port}/memory`)).json()) as {
        rss: number;
        heapUsed: number;
        heapTotal: number;
      };
    const open = (n: number) =>
      Promise.all(Array.from({ length: n }, () =>
        new Promise<WebSocket>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate });
          ws.once("open", () => {
            // One message each way, so what a used connection keeps is counted.
            ws.once("message", () => resolve(ws));
            ws.send("hello");
          });
          ws.once("error", reject);
        })));
    // Warm up: code, pools and buffers made at the first connections are not per connection.
    for (const ws of await open(50)) ws.close();
    await new Promise((r) => setTimeout(r, 300));
    const before = await memory();
    sockets.push(...await open(CONNECTIONS));
    await new Promise((r) => setTimeout(r, 300));
    const after = await memory();
    const per = (a: number, b: number) => ((b - a) / CONNECTIONS / 1024).toFixed(2);
    console.log(
      `${kind.padEnd(10)} deflate ${deflate ? "on " : "off"}: per idle WebSocket (${
        CONNECTIONS.toLocaleString("en")
      } open) ` +
        `${per(before.rss, after.rss)} KiB RSS, of which V8 heap reserved ${
          per(before.heapTotal, after.heapTotal)
        } ` +
        `and used ${per(before.heapUsed, after.heapUsed)}`,
    );
  } finally {
    for (const ws of sockets) ws.terminate();
    child.kill();
    await child.status;
    await Deno.remove(file);
  }
}

const timer = setTimeout(() => {
  console.error("ws_idle_memory: gave up after 120 s");
  Deno.exit(1);
}, 120_000);
for (const deflate of [false, true]) {
  for (const kind of ["rawserve", "Deno.serve"]) await measure(kind, deflate);
}
clearTimeout(timer);
