// The JavaScript a request costs, without the kernel: a real Connection (parser, handler,
// framing, encoding, phases) over a transport that hands out the same request on every read and
// swallows the response. Deterministic enough to compare code changes by a few percent, which
// wrk runs on a shared VM cannot. Usage:
//   deno run -A scripts/path_bench.ts [--requests 2000000] [--rounds 7]
//     [--handler embedded|static|static-js|static-br|app-hello|app-json] [--access-log]
// static: a 13-byte file (never compressed); static-js: a 4 KiB script asked for without
// Accept-Encoding (identity, negotiated); static-br: the same script asked for with a browser's
// Accept-Encoding, answered with its cached br copy; app-*: scripts/apps/*.ts through serve()'s
// bridge. --access-log: each response ends in an access-log line, as the CLI's default (the
// batches are dropped, not written).

import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";
import { Connection } from "../http/h1/connection.ts";
import type { Handler, HttpSession, ResponseDone } from "../http/types.ts";
import { MemoryTransport } from "./_memory_transport.ts";
import { median } from "./measure.ts";
import { Timer, TimerHeap } from "../loop/timers.ts";
import { batchEnd, batchStart, monoClock } from "../http/clock.ts";
import { embeddedHandler } from "../app/site/embedded_page.ts";
import { createStaticHandler } from "../http/static/static_handler.ts";
import type { FileInfo, StaticFs } from "../http/static/types.ts";
import { fetchHandler } from "../app/web/handler.ts";
import { WorkerCompressor } from "../app/site/compressor.ts";
import { parseRequestHead } from "../http/h1/parser.ts";
import { RequestHead } from "../http/request_head.ts";
import { AccessLog, type LogEntry } from "../app/cli/access_log.ts";
import hello from "./apps/hello.ts";
import json from "./apps/json.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    requests: { type: "string", default: "2000000" },
    rounds: { type: "string", default: "7" },
    handler: { type: "string", default: "embedded" },
    "access-log": { type: "boolean", default: false },
  },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);
const PATHS: Record<string, string> = {
  static: "/small.txt",
  "static-js": "/app.js",
  "static-br": "/app.js",
  "app-json": "/items?q=1",
};
const PATH = PATHS[values.handler] ?? "/";
const ACCEPT = values.handler === "app-json"
  ? "Accept: application/json\r\n"
  : values.handler === "static-br"
  ? "Accept-Encoding: gzip, deflate, br, zstd\r\n"
  : "";
const REQUEST = new TextEncoder().encode(`GET ${PATH} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n${ACCEPT}\r\n`);

/** A script's worth of text: 4 KiB that compress to ~1 KiB. */
const SCRIPT = new TextEncoder().encode(
  Array.from({ length: 200 }, (_, i) => `export const v${i} = f(${i}, "k${i % 17}");\n`).join("").slice(
    0,
    4096,
  ),
);

/** A two-file root in memory for the static handler (answered from its cache after the first). */
function memoryFs(): StaticFs {
  const files: Record<string, Uint8Array> = {
    "small.txt": new TextEncoder().encode("Hello, world\n"),
    "app.js": SCRIPT,
  };
  const names = Object.keys(files);
  const file = (fd: number) => files[names[fd - 3]!]!;
  return {
    open: (rel) => rel in files ? 3 + names.indexOf(rel) : -2,
    stat(fd: number, out: FileInfo) {
      Object.assign(out, { size: file(fd).length, mtimeMs: 1, ino: fd, isFile: true, isDirectory: false });
      return 0;
    },
    readWhole: (fd) => file(fd).slice(),
    close() {},
    readDir: () => Promise.resolve({ entries: [], truncated: false }),
  };
}

const origin = { scheme: "http" as const, fallbackHost: "127.0.0.1:8080" };
const compressor = new WorkerCompressor();
const staticHandler = () =>
  createStaticHandler({ fs: memoryFs(), listing: false, dotfiles: false, compressor });
const HANDLERS: Record<string, () => Handler> = {
  embedded: () => embeddedHandler,
  static: staticHandler,
  "static-js": staticHandler,
  "static-br": staticHandler,
  "app-hello": () => fetchHandler(hello.fetch, { origin }),
  "app-json": () => fetchHandler(json.fetch, { origin }),
};
const handler = HANDLERS[values.handler]!();
// The first answer of a coding waits for its copy, made on the compressor's thread: make it
// before the synchronous rounds, which give that thread's reply no turn to arrive.
if (values.handler === "static-br") {
  const head = new RequestHead();
  parseRequestHead(REQUEST, 0, REQUEST.length, head);
  await handler({ head, body: null, peer: { remoteAddress: () => "", remotePort: () => 0 }, observer: null });
}
const heap = new TimerHeap();
// The reactor arms timers from the clock it reads once per batch; so does this bench (one read).
const NOW = performance.now();
const scheduler = { timers: heap, arm: (timer: Timer, ms: number) => heap.arm(timer, NOW + ms) };
const transport = new MemoryTransport(REQUEST);
const log = new AccessLog(() => {});
const entry: LogEntry = { remote: "", head: null, status: 0, bytes: 0, ms: 0, complete: false };
const conn = new Connection(transport, {
  ...(values["access-log"]
    ? {
      now: monoClock, // the batch clock, as the server's reactor.now()
      onComplete: (c: HttpSession, done: ResponseDone) => {
        entry.remote = c.remoteAddress;
        entry.head = done.head;
        entry.status = done.status;
        entry.bytes = done.bytes;
        entry.ms = done.ms;
        log.record(entry);
      },
    }
    : {}),
  handler,
  deadline: (callback) => new Timer(callback, scheduler),
  maxBodyBytes: 1 << 20,
  bodyBudget: { used: 0, limit: 1 << 26 },
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 5_000,
  bodyTimeoutMs: 30_000,
  writeTimeoutMs: 30_000,
  maxPipelined: 64,
  stats: {
    requests: 0,
    bytesIn: 0,
    bytesOut: 0,
    filesOpen: 0,
    answersAwaited: 0,
    errors: {},
    clientsLeft: {},
  },
  draining: () => false,
});

/** Requests per reactor batch: about what 50 busy keep-alive connections give per epoll_wait. */
const BATCH = 32;

/** The process's CPU time (user + system) in µs: unlike the clock, it leaves out time spent waiting for a CPU. */
function cpuMicros(): number {
  const { user, system } = cpuUsage();
  return user + system;
}

/** Runs `n` requests. @returns [wall-clock ns, CPU ns] per request */
function round(n: number): [number, number] {
  const cpu = cpuMicros();
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    if (i % BATCH === 0) batchStart(performance.now(), Date.now()); // as the reactor does
    transport.pending = true;
    conn.onReadable();
    if (i % BATCH === BATCH - 1) batchEnd();
  }
  batchEnd();
  const wall = (performance.now() - started) * 1e6 / n;
  return [wall, (cpuMicros() - cpu) * 1e3 / n];
}

round(200_000); // warm up the JIT
const results: number[] = [];
const cpus: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const [wall, cpu] = round(REQUESTS);
  results.push(wall);
  cpus.push(cpu);
}
console.log(
  `${values.handler}: ${median(results).toFixed(1)} ns per request (median of ${ROUNDS} x ${REQUESTS}; ` +
    `min ${Math.min(...results).toFixed(1)}, max ${Math.max(...results).toFixed(1)}; CPU median ${
      median(cpus).toFixed(1)
    }, min ${Math.min(...cpus).toFixed(1)}), ${
      transport.written / (REQUESTS * ROUNDS + 200_000)
    } bytes out each`,
);
compressor[Symbol.dispose]();
