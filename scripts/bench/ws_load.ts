// The load generator of the ws-* scenarios (ws.ts runs it pinned to CPU 1): npm's ws opens the
// connections, each keeps IN_FLIGHT messages in flight until the time is up, checks every echo
// against what it sent, then closes. An echo's next message leaves in the next event-loop turn (see
// sendNextTurn), so that no connection starves the others. Prints one JSON line: messages echoed,
// seconds, latency percentiles, errors, the extensions the server agreed to and the fewest and most
// echoes one connection had.
// Usage: deno run --allow-net=127.0.0.1 --allow-env scripts/bench/ws_load.ts --port P --seconds S
//          [--connections 50] [--bytes 64] [--deflate]

// deno-lint-ignore no-import-prefix
import WebSocket from "npm:ws@8.23.1";
import { parseArgs } from "node:util";
import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";

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

/** Sends waiting for the next event-loop turn, and whether that turn is scheduled. */
const nextTurn: (() => void)[] = [];
let turnScheduled = false;

/**
 * Runs `send` in the next event-loop turn, with every other connection's. Sent from the message
 * handler, an echo's next message would be answered by a fast server (~20 µs) before npm's ws,
 * over Deno's node:net, reads that socket again; that read then completes in the same microtask
 * chain, so one event-loop turn served a few connections for up to ~90 ms (7,061 messages from 9
 * connections in one turn, measured against rawserve on 2026-12-06) while the others' reads waited:
 * p99 80 ms, and 2.7× more echoes on one connection than on another. A server that answers slower
 * (Deno.serve, ~3.5 ms) never had that: the client's own scheduling, not the server's, chose whom to
 * serve. Sent from the next turn, the socket is read again before its next message leaves, and every
 * turn serves every connection whose echoes arrived (as 50 separate clients would be served).
 */
function sendNextTurn(send: () => void): void {
  nextTurn.push(send);
  if (turnScheduled) return;
  turnScheduled = true;
  setImmediate(() => {
    turnScheduled = false;
    for (const run of nextTurn.splice(0)) run();
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
  const perConnection = new Array<number>(connections).fill(0);
  await Promise.race([
    Promise.all(sockets.map((ws: WebSocket, index: number) =>
      new Promise<void>((resolve) => {
        const sent: number[] = [];
        const send = () => (sent.push(performance.now()), ws.send(message));
        let queued = 0; // sends waiting for the next turn: their echoes are still to come
        const sendQueued = () => (queued--, send());
        ws.on("message", (data: Uint8Array) => {
          const at = performance.now();
          const t0 = sent.shift()!;
          if (samples < LATENCY_SAMPLES) latencies[samples++] = at - t0;
          // One memcmp: a callback per byte cost ~35 µs per 4 KiB echo, which made this client the
          // bottleneck of ws-echo4k (~20k messages/s) and left the servers idling between bursts.
          const same = Buffer.compare(data, message) === 0;
          if (same) echoed++, perConnection[index]!++;
          else errors++;
          if (at < deadline) queued++, sendNextTurn(sendQueued);
          else if (sent.length === 0 && queued === 0) resolve();
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
    minPerConnection: Math.min(...perConnection),
    maxPerConnection: Math.max(...perConnection),
  }));
}

await main();
