// Nanoseconds per call of the system calls rawserve's hot path is made of, through the same
// FFI symbols the server uses: the raw-socket design's measurements, kept as a tool.
// Usage: deno run --allow-ffi scripts/syscall_bench.ts [--iterations N]

import { parseArgs } from "node:util";
import {
  AF_INET,
  EPOLL_CLOEXEC,
  EPOLL_EVENT_SIZE,
  libc,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
} from "../ffi/libc.ts";
import { makeSocketPair } from "../ffi/unix_socket.ts";
import { nsPerCall } from "./measure.ts";

const { socket, close, read, write, epoll_create1, epoll_wait } = libc.symbols;
const ABS = Deno.dlopen("libc.so.6", { abs: { parameters: ["i32"], result: "i32" } });
const { abs } = ABS.symbols;

const { values } = parseArgs({ args: Deno.args, options: { iterations: { type: "string" } } });
const N = Number(values.iterations ?? 200_000);
const ROUNDS = 5;

/** Runs `fn` N times per round; returns the median ns per call over ROUNDS rounds. */
function measure(fn: () => void): number {
  return nsPerCall(fn, { calls: N, rounds: ROUNDS, warmUp: 10_000 });
}

const [a, b] = makeSocketPair();
const one = new Uint8Array(1);
const buf = new Uint8Array(64);
const ep = epoll_create1(EPOLL_CLOEXEC);
const events = new Uint8Array(64 * EPOLL_EVENT_SIZE);

const rows: [string, number][] = [
  ["bare FFI call (abs)", measure(() => abs(-1))],
  [
    "socket() + close()",
    measure(() => close(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0))),
  ],
  ["read() on an empty non-blocking socket (EAGAIN)", measure(() => read(a.fd, buf, 64))],
  [
    "write() 1 byte + read() it back (socketpair)",
    measure(() => {
      write(a.fd, one, 1);
      read(b.fd, buf, 64);
    }),
  ],
  ["epoll_wait(0) with nothing ready", measure(() => epoll_wait(ep, events, 64, 0))],
];

close(ep);
a[Symbol.dispose]();
b[Symbol.dispose]();
ABS.close();

const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
console.log(`| call | ns per call (median of ${ROUNDS} × ${fmt.format(N)}) |`);
console.log("| --- | ---: |");
for (const [name, ns] of rows) console.log(`| ${name} | ${fmt.format(ns)} |`);
