// Nanoseconds per call of the OpenSSL symbols the TLS transport calls per request, through the
// same FFI table (ffi/libssl.ts), beside a bare i32 call: do pointer arguments keep V8's fast
// path? A client and a server SSL talk over a socketpair in this process; certificates are
// made with the openssl CLI in a temp dir.
// Usage: deno run -A scripts/tls_ffi_bench.ts [--iterations N]

import { parseArgs } from "node:util";
import { libssl } from "../ffi/libssl.ts";
import { makeSocketPair } from "../ffi/unix_socket.ts";
import { TlsContext } from "../app/transport/tls_context.ts";
import { TicketKeyRing } from "../app/transport/ticket_keys.ts";
import { nsPerCall } from "./measure.ts";

const { SSL_new, SSL_free, SSL_set_fd, SSL_set_accept_state, SSL_do_handshake, SSL_read, SSL_write } =
  libssl.symbols;
const { SSL_get_error, SSL_has_pending, SSL_CTX_new, SSL_CTX_free } = libssl.symbols;
const CLIENT = Deno.dlopen("libssl.so.3", {
  TLS_client_method: { parameters: [], result: "pointer" },
  SSL_set_connect_state: { parameters: ["pointer"], result: "void" },
});
const ABS = Deno.dlopen("libc.so.6", { abs: { parameters: ["i32"], result: "i32" } });
const { abs } = ABS.symbols;

const { values } = parseArgs({ args: Deno.args, options: { iterations: { type: "string" } } });
const N = Number(values.iterations ?? 1_000_000);
const ROUNDS = 5;

function measure(fn: () => void, n = N): number {
  return nsPerCall(fn, { calls: n, rounds: ROUNDS, warmUp: 20_000 });
}

const dir = Deno.makeTempDirSync({ prefix: "rawserve-tlsbench-" });
new Deno.Command("openssl", {
  args: [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    `${dir}/key.pem`,
    "-out",
    `${dir}/cert.pem`,
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
  ],
  stderr: "null",
}).outputSync();
using server = TlsContext.load({ cert: `${dir}/cert.pem`, key: `${dir}/key.pem` }, {
  ticketKeys: TicketKeyRing.fresh(),
  ktls: false,
});
Deno.removeSync(dir, { recursive: true });
const clientCtx = SSL_CTX_new(CLIENT.symbols.TLS_client_method())!;
const [a, b] = makeSocketPair();
const s = SSL_new(server.pointer)!, c = SSL_new(clientCtx)!;
SSL_set_fd(s, a.fd);
SSL_set_fd(c, b.fd);
SSL_set_accept_state(s);
CLIENT.symbols.SSL_set_connect_state(c);
for (let i = 0; i < 20 && (SSL_do_handshake(s) !== 1 || SSL_do_handshake(c) !== 1); i++);
const msg = new TextEncoder().encode("Hello, world!"); // 13 bytes, the benchmark's file
const buf = new Uint8Array(65536);
// The client's NewSessionTicket records arrive first: read them away.
for (let i = 0; i < 4; i++) SSL_read(c, buf, buf.length);

const rows: [string, number][] = [
  ["bare FFI call (abs, i32)", measure(() => abs(-1))],
  ["SSL_has_pending(ssl) (pointer)", measure(() => SSL_has_pending(s))],
  ["SSL_get_error(ssl, -1)", measure(() => SSL_get_error(s, -1))],
  [
    "SSL_read with nothing to read (read(2) EAGAIN, WANT_READ)",
    measure(() => SSL_read(s, buf, buf.length), N / 10),
  ],
  [
    "SSL_write 13 B + SSL_read them on the other side (two records' crypto, two syscalls)",
    measure(() => {
      SSL_write(s, msg, 13);
      SSL_read(c, buf, buf.length);
    }, N / 10),
  ],
];

SSL_free(s);
SSL_free(c);
SSL_CTX_free(clientCtx);
a[Symbol.dispose]();
b[Symbol.dispose]();
ABS.close();
CLIENT.close();

const fmt = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
console.log(`| call | ns per call (median of ${ROUNDS} rounds) |`);
console.log("| --- | ---: |");
for (const [name, ns] of rows) console.log(`| ${name} | ${fmt.format(ns)} |`);
