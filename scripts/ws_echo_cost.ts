// WebSocket echo cost, rawserve's serve() against Deno.serve running the same echo: server CPU per
// 64-byte message echoed on 50 connections, and RSS per idle WebSocket with 1,000 open.
// Run: deno run -A scripts/ws_echo_cost.ts   (a few seconds; servers are child processes)

// A test-only dependency, pinned here: rawserve's deno.json maps nothing an app would inherit.
// deno-lint-ignore no-import-prefix
import WebSocket from "npm:ws@8.23.1";

const ROOT = new URL("../", import.meta.url).pathname;
const SERVER = (kind: string) => `
const echo = (request) => {
  const { socket, response } = ${kind === "rawserve" ? "upgradeWebSocket" : "Deno.upgradeWebSocket"}(request);
  socket.onmessage = (e) => socket.send(e.data);
  return response;
};
${
  kind === "rawserve"
    ? `import { serve, upgradeWebSocket } from "${ROOT}mod.ts"; serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => console.log(a.port) }, echo);`
    : `Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => console.log(a.port) }, echo);`
}`;

function stat(pid: number): { cpuMs: number; rssKiB: number } {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]!.split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const rss = Number(/VmRSS:\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]);
  return { cpuMs: ticks * 10, rssKiB: rss };
}

async function measure(kind: string) {
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(file, SERVER(kind));
  const child = new Deno.Command(Deno.execPath(), { args: ["run", "-A", file], stdout: "piped" }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await reader.read()).value!.trim());
  const open = (n: number) =>
    Promise.all(Array.from({ length: n }, () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
        ws.once("open", () => resolve(ws));
        ws.once("error", reject);
      })));
  // Echo: 50 connections, each keeps 10 messages in flight, 2,000 round trips each.
  const sockets = await open(50);
  const payload = new Uint8Array(64);
  const perSocket = 2000;
  const before = stat(child.pid);
  await Promise.all(sockets.map((ws: WebSocket) =>
    new Promise<void>((resolve) => {
      let received = 0;
      ws.on("message", () => {
        if (++received === perSocket) resolve();
        else if (received <= perSocket - 10) ws.send(payload);
      });
      for (let i = 0; i < 10; i++) ws.send(payload);
    })
  ));
  const after = stat(child.pid);
  const usPerMessage = (after.cpuMs - before.cpuMs) * 1000 / (50 * perSocket);
  // Idle: 1,000 more open connections.
  const rss0 = stat(child.pid).rssKiB;
  const idle = await open(1000);
  await new Promise((r) => setTimeout(r, 300));
  const rss1 = stat(child.pid).rssKiB;
  for (const ws of [...sockets, ...idle]) ws.terminate();
  child.kill();
  await child.status;
  await Deno.remove(file);
  console.log(
    `${kind}: ${usPerMessage.toFixed(1)} µs server CPU per 64-byte message echoed; ` +
      `+${((rss1 - rss0) / 1000).toFixed(1)} KiB RSS per idle WebSocket (1,000 open)`,
  );
}

for (const kind of ["rawserve", "Deno.serve", "rawserve", "Deno.serve"]) await measure(kind);
