// The load generator of the ws-* scenarios (ws.ts runs it pinned to CPU 1): npm's ws opens the
// connections, each keeps IN_FLIGHT messages in flight until the time is up, checks every echo
// against what it sent, then closes. Prints one JSON line: messages echoed, seconds, latency
// percentiles, errors and the extensions the server agreed to.
// Usage: deno run --allow-net=127.0.0.1 --allow-env scripts/bench/ws_load.ts --port P --seconds S
//          [--connections 50] [--bytes 64] [--deflate]

// deno-lint-ignore no-import-prefix
import WebSocket from "npm:ws@8.23.1";
import { parseArgs } from "node:util";
import { Buffer } from "node:buffer";

const IN_FLIGHT = 10; // messages outstanding per connection, as scripts/ws_echo_cost.ts keeps
const DRAIN_MS = 2_000; // after the time is up, how long the last echoes may take
const OPEN_TIMEOUT_MS = 10_000;
const LATENCY_SAMPLES = 1 << 20; // kept for the percentiles; later messages are counted only

const { values } = parseArgs({
  args: Deno.args,
  options: {
    port: { type: "string" },
    seconds: { type: "string" },
    connections: { type: "string", default: "50" },
    bytes: { type: "string", default: "64" },
    deflate: { type: "boolean", default: false },
  },
});
const port = Number(values.port);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const bytes = Number(values.bytes);

/** The message: JSON-like text (compressible, as chat or dashboard messages are), as binary. */
function payload(length: number): Uint8Array {
  let text = "";
  for (let i = 0; text.length < length; i++) text += `{"id":${i},"user":"ada","text":"hello, room"},`;
  return new TextEncoder().encode(text.slice(0, length));
}

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // threshold 0: the client compresses every message, as the server may (deflate's own default is 1 KiB).
    const deflate = values.deflate ? { threshold: 0 } : false;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate });
    const timer = setTimeout(() => reject(new Error("WebSocket did not open in time")), OPEN_TIMEOUT_MS);
    ws.once("open", () => (clearTimeout(timer), resolve(ws)));
    ws.once("error", (e: Error) => (clearTimeout(timer), reject(e)));
  });
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : NaN;
}

async function main(): Promise<void> {
  const message = payload(bytes);
  const sockets = await Promise.all(Array.from({ length: connections }, open));
  const latencies = new Float64Array(LATENCY_SAMPLES);
  let samples = 0, echoed = 0, errors = 0;
  const started = performance.now();
  const deadline = started + seconds * 1_000;
  let finished = 0;
  await Promise.race([
    Promise.all(sockets.map((ws: WebSocket) =>
      new Promise<void>((resolve) => {
        const sent: number[] = [];
        const send = () => (sent.push(performance.now()), ws.send(message));
        ws.on("message", (data: Uint8Array) => {
          const at = performance.now();
          const t0 = sent.shift()!;
          if (samples < LATENCY_SAMPLES) latencies[samples++] = at - t0;
          // One memcmp: a callback per byte cost ~35 µs per 4 KiB echo, which made this client the
          // bottleneck of ws-echo4k (~20k messages/s) and left the servers idling between bursts.
          const same = Buffer.compare(data, message) === 0;
          if (same) echoed++;
          else errors++;
          if (at < deadline) send();
          else if (sent.length === 0) resolve();
        });
        ws.on("close", () => resolve());
        for (let i = 0; i < IN_FLIGHT; i++) send();
      }).then(() => finished = performance.now())
    )),
    new Promise((r) => setTimeout(r, seconds * 1_000 + DRAIN_MS)),
  ]);
  const elapsed = (Math.max(finished, deadline) - started) / 1_000;
  const extensions = sockets[0]!.extensions;
  for (const ws of sockets) ws.terminate();
  const sorted = latencies.subarray(0, samples).sort();
  console.log(JSON.stringify({
    messages: echoed,
    seconds: elapsed,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    errors,
    extensions,
  }));
}

await main();
