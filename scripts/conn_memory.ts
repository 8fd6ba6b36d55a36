// Retained JavaScript heap per idle keep-alive connection: N Connections over in-memory
// transports, each having served one request, measured after a full GC. The kernel's share
// (socket buffers) and the process's RSS are the idle10k scenario of scripts/bench/; this is ours.
// Usage: deno run -A --v8-flags=--expose-gc scripts/conn_memory.ts [N]

import { Connection } from "../http/h1/connection.ts";
import { MemoryTransport } from "./_memory_transport.ts";
import { Timer, TimerHeap } from "../loop/timers.ts";
import { embeddedHandler } from "../app/site/embedded_page.ts";

const N = Number(Deno.args[0] ?? 10_000);
const REQUEST = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");

const heap = new TimerHeap();
const scheduler = { timers: heap, arm: (t: Timer, ms: number) => heap.arm(t, performance.now() + ms) };
const stats = {
  requests: 0,
  bytesIn: 0,
  bytesOut: 0,
  filesOpen: 0,
  answersAwaited: 0,
  errors: {} as Record<string, number>,
  clientsLeft: {} as Record<string, number>,
};
const options = {
  handler: embeddedHandler,
  deadline: (callback: ConstructorParameters<typeof Timer>[0]) => new Timer(callback, scheduler),
  bodyBudget: { used: 0, limit: 1 << 26 },
  maxBodyBytes: 1 << 20,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 600_000,
  bodyTimeoutMs: 30_000,
  writeTimeoutMs: 30_000,
  maxPipelined: 64,
  stats,
  draining: () => false,
};

function measure(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

const keep: Connection[] = [];
const before = measure();
for (let i = 0; i < N; i++) {
  const transport = new MemoryTransport(REQUEST);
  transport.pending = true;
  const conn = new Connection(transport, options);
  conn.onReadable();
  conn.onReadable(); // EAGAIN: idle now
  keep.push(conn);
}
const after = measure();
console.log(
  `${N} idle connections: ${
    ((after - before) / N).toFixed(0)
  } bytes of JS heap each (${stats.requests} requests)`,
);
