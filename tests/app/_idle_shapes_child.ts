// Run by idle_shapes_test.ts with V8's natives syntax and gc() exposed: optimizes code that reads
// a request head, an HTTP/1.1 connection and an object nothing keeps, closes every connection,
// runs a memory-reducing GC (what V8's memory reducer runs after an idle spell), and prints which
// of the three is still optimized.

import { Connection } from "../../http/h1/connection.ts";
import { RequestHead } from "../../http/request_head.ts";
import { serveInProcess } from "../e2e/_server.ts";

// Natives syntax is V8's, not TypeScript's: compiled at run time.
const status = new Function("f", "return %GetOptimizationStatus(f)") as (f: unknown) => number;
const prepare = new Function("f", "%PrepareFunctionForOptimization(f)") as (f: unknown) => void;
const optimizeNext = new Function("f", "%OptimizeFunctionOnNextCall(f)") as (f: unknown) => void;
const { gc } = globalThis as unknown as { gc(options: object): void };
const OPTIMIZED = 16 | 32; // V8's OptimizationStatus in Deno 2.9 (V8 14): kMaglevved, kTurboFanned

/** Shaped like a per-request class, kept by nothing: the control. */
class Unkept {
  method = "";
  contentLength = -1;
  headers: string[] = [];
}

function readHead(head: RequestHead): number {
  return head.method.length + head.contentLength + head.headers.length;
}

function readUnkept(unkept: Unkept): number {
  return unkept.method.length + unkept.contentLength + unkept.headers.length;
}

/** Optimizes `fn` on objects from `make`, none of which outlives this call. */
function optimize<T>(fn: (value: T) => number, make: () => T): void {
  prepare(fn);
  fn(make());
  fn(make());
  optimizeNext(fn);
  fn(make());
}

async function request(conn: Deno.Conn): Promise<void> {
  await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.endsWith("ok")) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`connection closed after ${JSON.stringify(text)}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

/** Opens a connection, sends `requests` requests on it and closes it; waits until the server has. */
async function visit(port: number, requests: number, beforeLast = () => {}): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  for (let i = 0; i < requests; i++) {
    if (i === requests - 1) beforeLast();
    await request(conn);
  }
  conn.close();
  for (let i = 0; server.server.connectionCount > 0 && i < 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const server = serveInProcess({ handler: () => ({ status: 200, body: "ok" }) });
const onReadable = Connection.prototype.onReadable;
prepare(onReadable);
// Every path a connection takes (its requests, its close) has run before the code is optimized.
await visit(server.port, 3);
await visit(server.port, 3);
await visit(server.port, 3, () => optimizeNext(onReadable));
optimize(readHead, () => new RequestHead());
optimize(readUnkept, () => new Unkept());
const functions = [readHead, onReadable, readUnkept];
const before = functions.map((fn) => (status(fn) & OPTIMIZED) !== 0);
gc({ type: "major", execution: "sync", flavor: "last-resort" });
const after = functions.map((fn) => (status(fn) & OPTIMIZED) !== 0);
await server.stop();
console.log(JSON.stringify({
  open: server.server.connectionCount,
  before: { head: before[0], connection: before[1], unkept: before[2] },
  after: { head: after[0], connection: after[1], unkept: after[2] },
}));
