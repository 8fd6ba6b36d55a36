// Helpers for end-to-end tests: start the real CLI on an ephemeral port, talk raw bytes to it,
// split the byte stream into responses, and watch the server's descriptor count.

import { CACHE_FILE_MAX_BYTES } from "../../http/static/file_cache.ts";
import assert from "node:assert/strict";
import { RUN_PERMISSIONS } from "../../app/cli/supervisor.ts";
import { Server } from "../../app/server.ts";
import type { ServerOptions } from "../../app/server_options.ts";
import { fdCount } from "../../scripts/measure.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("latin1");

/** A running rawserve process. */
export interface RunningServer {
  port: number;
  pid: number;
  /** Lines the server printed on stdout after the URL line, so far. */
  stdoutLines: string[];
  /** Entries in /proc/PID/fd now. */
  fdCount(): number;
  /** Its descriptors as a leak check counts them (heldFdCount: a kept file is not a leak). */
  heldFdCount(): number;
  /** Sends `signal` (default SIGTERM) and waits for the exit (SIGKILL after 10 s). */
  stop(signal?: Deno.Signal): Promise<{ code: number; stderr: string }>;
  /** Resolves when the process exits. */
  exited: Promise<Deno.CommandStatus>;
}

/** The command that runs the CLI from source with the permissions `deno task start` grants. */
export function cliCommand(args: string[], permissions: string[] = RUN_PERMISSIONS): string[] {
  return ["run", ...permissions, `${ROOT}main.ts`, ...args];
}

/** Runs the CLI to its exit (at most 20 s), with `--port 0` unless `args` name a port. */
export async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: cliCommand(args.some((a) => a.startsWith("--port")) ? args : ["--port", "0", ...args]),
    stdin: "null",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(20_000),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/**
 * The environment for a server whose RSS growth a test bounds. V8 grows its young generation by
 * up to ~32 MiB, once, as objects survive its scavenges, and whether a burst grows it depends on
 * when the scavenges fall: twenty slow uploads grew RSS by 3.1-3.8 MiB in most runs and by 14-43
 * in the others (2026-12-06, 16 runs), and by 3.0-3.3 in all 8 with the young generation held at
 * 1 MiB. Held there, the bound measures what the server keeps.
 */
export const STEADY_HEAP_ENV = { DENO_V8_FLAGS: "--max-semi-space-size=1" };

/**
 * Starts `main.ts` with `args` (plus `--port 0` unless given) and waits for its URL line.
 * @throws {Error} with the server's stderr when it does not come up within 10 s
 */
export async function startServer(
  args: string[] = [],
  env: Record<string, string> = {},
  options: { fileLimit?: number; permissions?: string[] } = {},
): Promise<RunningServer> {
  const full = args.includes("--port") ? args : ["--port", "0", ...args];
  // With a file limit, bash lowers RLIMIT_NOFILE and execs Deno, so the PID stays the server's.
  const [program, programArgs] = options.fileLimit
    ? ["bash", [
      "-c",
      `ulimit -n ${options.fileLimit} && exec "$0" "$@"`,
      Deno.execPath(),
      ...cliCommand(full),
    ]]
    : [Deno.execPath(), cliCommand(full, options.permissions)];
  const child = new Deno.Command(program, {
    args: programArgs,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).spawn();
  const stderrChunks: Uint8Array[] = [];
  const stderrDone = (async () => {
    for await (const chunk of child.stderr) stderrChunks.push(chunk);
  })();
  const stderr = () => new TextDecoder().decode(concat(stderrChunks));
  const lines: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  let port = 0;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 10_000);
  while (!port) {
    const { value, done } = await reader.read();
    if (done) {
      clearTimeout(deadline);
      await stderrDone;
      await child.status;
      throw new Error(`rawserve did not start: ${stderr()}`);
    }
    pending += value;
    const m = /https?:\/\/\S+:(\d+)\//.exec(pending);
    if (m) port = Number(m[1]);
  }
  clearTimeout(deadline);
  const stdoutDone = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      pending += value;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
    }
  })();
  const exited = child.status;
  return {
    port,
    pid: child.pid,
    stdoutLines: lines,
    exited,
    fdCount: () => fdCount(child.pid),
    heldFdCount: () => heldFdCount(child.pid),
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // gone
        }
      }, 10_000);
      const status = await exited;
      clearTimeout(killer);
      await stdoutDone;
      await stderrDone;
      return { code: status.code, stderr: stderr() };
    },
  };
}

/** Concatenates byte chunks. */
export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Bytes of a Latin-1 string (raw requests). */
export function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** A parsed response. */
export interface ParsedResponse {
  status: number;
  headers: Map<string, string>;
  body: Uint8Array;
  /** The head as text, for assertions on exact fields. */
  headText: string;
}

/**
 * Splits a byte stream into complete responses (Content-Length, chunked, or no body for HEAD,
 * 1xx, 204 and 304).
 * @param methods the request method of each response in order, so HEAD answers have no body
 * @returns the responses and how many bytes they used
 */
export function parseResponses(
  data: Uint8Array,
  methods: string[] = [],
): { responses: ParsedResponse[]; used: number } {
  const responses: ParsedResponse[] = [];
  let p = 0;
  for (;;) {
    const text = DECODER.decode(data.subarray(p, Math.min(data.length, p + 65536)));
    const headEnd = text.indexOf("\r\n\r\n");
    if (headEnd < 0) break;
    const headText = text.slice(0, headEnd);
    const [statusLine, ...fieldLines] = headText.split("\r\n");
    const status = Number(statusLine!.split(" ")[1]);
    const headers = new Map<string, string>();
    for (const line of fieldLines) {
      const c = line.indexOf(":");
      headers.set(line.slice(0, c).toLowerCase(), line.slice(c + 1).trim());
    }
    let q = p + headEnd + 4;
    let body: Uint8Array = new Uint8Array(0);
    const method = status >= 200 ? methods[responses.filter((r) => r.status >= 200).length] : undefined;
    if (method === "HEAD" || status < 200 || status === 204 || status === 304) {
      // no body
    } else if (headers.get("transfer-encoding") === "chunked") {
      const chunks: Uint8Array[] = [];
      for (;;) {
        const lineEnd = data.indexOf(10, q);
        if (lineEnd < 0) return { responses, used: p };
        const size = parseInt(DECODER.decode(data.subarray(q, lineEnd)), 16);
        if (lineEnd + 1 + size + 2 > data.length) return { responses, used: p };
        chunks.push(data.subarray(lineEnd + 1, lineEnd + 1 + size));
        q = lineEnd + 1 + size + 2;
        if (size === 0) break;
      }
      body = concat(chunks);
    } else {
      const length = Number(headers.get("content-length") ?? 0);
      if (q + length > data.length) break;
      body = data.subarray(q, q + length);
      q += length;
    }
    responses.push({ status, headers, body, headText });
    p = q;
  }
  return { responses, used: p };
}

/** Options for {@linkcode exchange}. */
export interface ExchangeOptions {
  /** Stop once this many final responses have arrived (default: read until the server closes). */
  responses?: number;
  /** Request methods in order, for HEAD framing. */
  methods?: string[];
  timeoutMs?: number;
  /** Bytes of this connection already read by the caller; they count towards `responses`. */
  prefix?: Uint8Array;
}

/**
 * Sends raw bytes on a new connection and collects what comes back.
 * @returns the responses, whether the server closed the connection, and the raw bytes
 */
export async function exchange(
  port: number,
  request: string | Uint8Array,
  options: ExchangeOptions = {},
): Promise<{ responses: ParsedResponse[]; closed: boolean; raw: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await writeAll(conn, typeof request === "string" ? bytes(request) : request);
    return await readResponses(conn, options);
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the reader already
    }
  }
}

/** Writes every byte. */
export async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/**
 * Reads responses from an open connection until `options.responses` arrived or it closes.
 * @throws {Error} on timeout
 */
export async function readResponses(
  conn: Deno.Conn,
  options: ExchangeOptions = {},
): Promise<{ responses: ParsedResponse[]; closed: boolean; raw: Uint8Array }> {
  const chunks: Uint8Array[] = options.prefix ? [options.prefix] : [];
  const buf = new Uint8Array(65536);
  const timeout = options.timeoutMs ?? 5000;
  const timer = setTimeout(() => conn.close(), timeout);
  let closed = false;
  // Count complete responses incrementally: only the unparsed tail is parsed again.
  let tail: Uint8Array = options.prefix ?? new Uint8Array(0);
  let finals = 0;
  try {
    for (;;) {
      let n: number | null;
      try {
        n = await conn.read(buf);
      } catch (e) {
        if (e instanceof Deno.errors.BadResource) throw new Error(`No complete answer within ${timeout} ms`);
        if (e instanceof Deno.errors.ConnectionReset) n = null;
        else throw e;
      }
      if (n === null) {
        closed = true;
        break;
      }
      const chunk = buf.slice(0, n);
      chunks.push(chunk);
      if (options.responses !== undefined) {
        tail = concat([tail, chunk]);
        const methods = options.methods?.slice(finals);
        const { responses, used } = parseResponses(tail, methods);
        finals += responses.filter((r) => r.status >= 200).length;
        tail = tail.slice(used);
        if (finals >= options.responses) break;
      }
    }
  } finally {
    clearTimeout(timer);
  }
  const raw = concat(chunks);
  return { ...parseResponses(raw, options.methods), closed, raw };
}

/**
 * The server's descriptor count (heldFdCount) once it has settled: Deno opens and closes some caches of its
 * own during start-up, so the count is read after a warm-up request and once it stops moving.
 * @param warmUp the warm-up request (one that starts what a server starts lazily, such as the
 *   compression worker, whose thread keeps descriptors of its own)
 */
export async function settledFdCount(
  server: RunningServer,
  warmUp = "GET / HTTP/1.1\r\nHost: warm-up\r\nConnection: close\r\n\r\n",
): Promise<number> {
  await exchange(server.port, warmUp);
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const now = server.heldFdCount();
    if (now === last) return now;
    last = now;
    await new Promise((r) => setTimeout(r, 40));
  }
  return last;
}

/**
 * Descriptors a process holds, less one for each large file they open: the static handler keeps
 * one descriptor per file it sends with sendfile (larger than CACHE_FILE_MAX_BYTES) open between
 * responses (http/static/open_files.ts). Everything else counts: sockets, pipes, small files,
 * sidecars' and directories' descriptors, and any second descriptor of a large file (one a
 * response leaked beside the kept one). A response that never releases a kept file leaks a
 * reference, not a descriptor: the server's filesOpen counter shows that one.
 */
function isLargeFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && info.size > CACHE_FILE_MAX_BYTES;
  } catch {
    return false; // removed since: not one the cache keeps by that name
  }
}

export function heldFdCount(pid: number): number {
  const paths = new Set<string>();
  let count = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
    } catch {
      continue; // closed meanwhile
    }
    count++;
    if (target.startsWith("/") && isLargeFile(target)) paths.add(target);
  }
  return count - paths.size;
}

/**
 * Waits until the server holds no more descriptors than `baseline` (connections close
 * asynchronously), then asserts it: a larger count is a leak.
 */
export async function assertFdsReturn(
  server: RunningServer,
  baseline: number,
  timeoutMs = 3000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (server.heldFdCount() > baseline && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const now = server.heldFdCount();
  assert.ok(now <= baseline, `server descriptors back to baseline: ${now} now, ${baseline} before`);
}

/** `GET path` with a Host field. */
export function get(path = "/", extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: test\r\n${extra}\r\n`;
}

export { ENCODER };

/** A Server running in this process, for handlers the CLI does not offer. */
export interface InProcessServer {
  port: number;
  server: Server;
  /** Graceful shutdown, then everything closed. */
  stop(): Promise<void>;
}

/**
 * Starts a Server on an ephemeral loopback port in this process. Its reactor yields to Deno's
 * event loop, so clients in the same process (fetch, Deno.connect) make progress beside it.
 */
export function serveInProcess(
  options: Partial<ServerOptions> & Pick<ServerOptions, "handler">,
): InProcessServer {
  const server = new Server({ host: "127.0.0.1", port: 0, maxConnections: 1000, ...options });
  const { port } = server.listen();
  const running = server.run();
  return {
    port,
    server,
    async stop() {
      await server.shutdown(2000);
      await running;
      server[Symbol.dispose]();
    },
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Stops the server and asserts it exited 0. @returns its stderr */
export async function stopOk(server: RunningServer): Promise<string> {
  const { code, stderr } = await server.stop();
  assert.equal(code, 0, `server exit code (stderr: ${stderr})`);
  return stderr;
}

/**
 * Runs `fn` against a fresh `--quiet` server started with `args`, then checks that the server's
 * descriptors are back to their count before `fn` and that it exits 0.
 * @param warmUp the request sent before the count is taken (see settledFdCount)
 */
export async function withServer(
  args: string[],
  fn: (server: RunningServer) => Promise<void>,
  warmUp?: string,
): Promise<void> {
  const server = await startServer(["--quiet", ...args]);
  try {
    const baseline = await settledFdCount(server, warmUp);
    await fn(server);
    await assertFdsReturn(server, baseline);
  } finally {
    await stopOk(server);
  }
}

/** A fresh temporary directory, removed by the returned function. */
export function tempRoot(): { root: string; remove: () => void } {
  const root = Deno.makeTempDirSync({ prefix: "rawserve-e2e-" });
  return { root, remove: () => Deno.removeSync(root, { recursive: true }) };
}

/** A directory with one file, big.bin, of `size` bytes, removed by the returned function. */
export function bigFileRoot(size: number): { root: string; remove: () => void } {
  const { root, remove } = tempRoot();
  Deno.writeFileSync(`${root}/big.bin`, new Uint8Array(size).fill(97));
  return { root, remove };
}
