// rawserve's command line: flags -> server options -> listen -> run, and signal handling.
// A user's mistake (bad flag, port in use, missing directory) gets one line and an exit code:
// 2 for usage errors, 1 for everything that fails at start-up.

import { parseArgs, styleText } from "node:util";
import { exitWithParent, raiseFileLimit } from "./ffi/libc.ts";
import { SyscallError } from "./ffi/errno.ts";
import { DEFAULTS, Server } from "./server.ts";
import { IDLE_SPINS, YIELD_INTERVAL_MS } from "./loop/reactor.ts";
import { EMBEDDED_PAGE, EMBEDDED_TYPE } from "./http/embedded_page.ts";
import type { Handler, HttpResponse } from "./http/types.ts";
import { createStaticFs } from "./ffi/files.ts";
import { createStaticHandler } from "./http/static_files.ts";
import { encodeFields } from "./http/writer.ts";
import { AccessLog, formatClf } from "./http/access_log.ts";
import { formatBytes, formatStats } from "./http/stats_report.ts";
import { socketBufferSizes } from "./ffi/socket.ts";
import { superviseWorkers, WORKER_ENV } from "./supervisor.ts";

/** rawserve's version, printed by --version and in the Server field's documentation. */
export const VERSION = "0.1.0";

/** Descriptors kept free for files, logs and Deno itself when deriving --max-connections. */
const FD_RESERVE = 256;

const USAGE = `rawserve ${VERSION}: an HTTP/1.1 server on raw Linux syscalls

Usage: deno task start [options] [DIR]

Serves DIR (or --root DIR) as static files; without one, an embedded page.

Options:
  --root DIR                directory to serve (also accepted as the last argument)
  --no-listing              answer 404 for directories without index.html
  --dotfiles                serve files and directories whose names start with a dot
  --follow-symlinks         follow symbolic links that lead outside DIR
  --cache-control VALUE     Cache-Control for files (default "no-cache"; "" for none)
  --access-log FILE         append Common Log Format lines to FILE (default: stdout; - for stdout)
  --stats-interval SECONDS  print counters every SECONDS (they always print at shutdown)
  --host ADDR               IPv4/IPv6 literal or localhost (default 127.0.0.1)
  --port N                  TCP port, 0 for an ephemeral one (default 8080)
  --backlog N               listen(2) backlog (default 4096)
  --max-connections N       stop accepting beyond N open connections
                            (default: open-file limit minus ${FD_RESERVE})
  --header-timeout SECONDS  time to send a request head, 408 after (default ${
  DEFAULTS.headerTimeoutMs / 1000
})
  --idle-timeout SECONDS    keep-alive idle time (default ${DEFAULTS.idleTimeoutMs / 1000})
  --body-timeout SECONDS    request body stall limit (default ${DEFAULTS.bodyTimeoutMs / 1000})
  --write-timeout SECONDS   response stall limit for clients that stop reading (default ${
  DEFAULTS.writeTimeoutMs / 1000
})
  --shutdown-timeout SECONDS  graceful shutdown bound (default ${DEFAULTS.shutdownTimeoutMs / 1000})
  --max-body BYTES          largest request body, 413 beyond (default ${DEFAULTS.maxBodyBytes})
  --workers N|auto          N processes with SO_REUSEPORT sockets (default 1; auto = CPUs)
  --sndbuf BYTES            SO_SNDBUF for connections (the kernel doubles it); prints the result
  --rcvbuf BYTES            SO_RCVBUF for connections (the kernel doubles it); prints the result
  --no-delay on|off         TCP_NODELAY on accepted sockets (default on)
  --yield-interval MS       longest run of I/O before Deno's event loop gets a turn
                            (default ${YIELD_INTERVAL_MS}: after every batch of events)
  --idle-spins N            empty polls before blocking in epoll_wait (default ${IDLE_SPINS})
  --quiet                   no access log and no counters at shutdown (the start-up line
                            with the URL is always printed)
  -h, --help                show this help
  -v, --version             print the version

Ctrl-C (SIGINT) or SIGTERM stops gracefully; a second Ctrl-C stops at once.`;

/** Parsed command line. */
export interface CliConfig {
  host: string;
  port: number;
  backlog: number;
  maxConnections: number | null;
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  bodyTimeoutMs: number;
  writeTimeoutMs: number;
  shutdownTimeoutMs: number;
  maxBodyBytes: number;
  quiet: boolean;
  root: string | null;
  listing: boolean;
  dotfiles: boolean;
  followSymlinks: boolean;
  cacheControl: string | null;
  accessLog: string | null;
  statsIntervalMs: number | null;
  yieldIntervalMs: number;
  idleSpins: number;
  workers: number;
  sndbuf: number | null;
  rcvbuf: number | null;
  noDelay: boolean;
}

/** A usage error: printed as one line, exit code 2. */
export class UsageError extends Error {}

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, not "${text}"`);
  }
  return Number(text);
}

function onOff(name: string, text: string | undefined, fallback: boolean): boolean {
  if (text === undefined) return fallback;
  if (text === "on") return true;
  if (text === "off") return false;
  throw new UsageError(`--${name} takes on or off, not "${text}"`);
}

function seconds(name: string, text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  const n = Number(text);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(text) || !(n > 0) || n > 86_400) {
    throw new UsageError(`--${name} takes a number of seconds above 0 (e.g. 2.5), not "${text}"`);
  }
  return Math.round(n * 1000);
}

/**
 * Parses rawserve's flags.
 * @param args the arguments after the program name
 * @returns the configuration, or "help" / "version"
 * @throws {UsageError} for unknown flags and bad values
 */
export function parseCli(args: string[]): CliConfig | "help" | "version" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        host: { type: "string" },
        port: { type: "string" },
        backlog: { type: "string" },
        "max-connections": { type: "string" },
        "header-timeout": { type: "string" },
        "idle-timeout": { type: "string" },
        "body-timeout": { type: "string" },
        "write-timeout": { type: "string" },
        "shutdown-timeout": { type: "string" },
        "max-body": { type: "string" },
        quiet: { type: "boolean" },
        "yield-interval": { type: "string" },
        "idle-spins": { type: "string" },
        workers: { type: "string" },
        sndbuf: { type: "string" },
        rcvbuf: { type: "string" },
        "no-delay": { type: "string" },
        root: { type: "string" },
        "no-listing": { type: "boolean" },
        dotfiles: { type: "boolean" },
        "follow-symlinks": { type: "boolean" },
        "cache-control": { type: "string" },
        "access-log": { type: "string" },
        "stats-interval": { type: "string" },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    });
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const flag = /'(-[^']*)'/.exec(message)?.[1];
    if (/Unknown option/i.test(message)) throw new UsageError(`Unknown flag ${flag ?? ""}; see --help`);
    if (/argument missing/i.test(message)) {
      throw new UsageError(`${flag ?? "A flag"} needs a value; see --help`);
    }
    if (/positional/i.test(message)) throw new UsageError(`Unexpected argument; see --help`);
    throw new UsageError(`${message.split("\n")[0]}; see --help`);
  }
  const v = parsed.values;
  if (v.help) return "help";
  if (v.version) return "version";
  if (parsed.positionals.length > 1 || (parsed.positionals.length === 1 && v.root !== undefined)) {
    throw new UsageError(
      `Give one directory to serve, not ${[v.root, ...parsed.positionals].filter(Boolean).join(" and ")}`,
    );
  }
  const root = v.root ?? parsed.positionals[0] ?? null;
  if (root === "") throw new UsageError(`--root needs a directory`);
  const cacheControl = v["cache-control"] ?? "no-cache";
  if (/[\r\n\0]/.test(cacheControl)) throw new UsageError(`--cache-control cannot contain line breaks`);
  const host = v.host ?? "127.0.0.1";
  if (host === "") throw new UsageError(`--host needs an address, e.g. 127.0.0.1 or ::1`);
  return {
    host,
    port: integer("port", v.port, 0, 65535) ?? 8080,
    backlog: integer("backlog", v.backlog, 1, 65535) ?? 4096,
    maxConnections: integer("max-connections", v["max-connections"], 1, 10_000_000) ?? null,
    headerTimeoutMs: seconds("header-timeout", v["header-timeout"], DEFAULTS.headerTimeoutMs),
    idleTimeoutMs: seconds("idle-timeout", v["idle-timeout"], DEFAULTS.idleTimeoutMs),
    bodyTimeoutMs: seconds("body-timeout", v["body-timeout"], DEFAULTS.bodyTimeoutMs),
    writeTimeoutMs: seconds("write-timeout", v["write-timeout"], DEFAULTS.writeTimeoutMs),
    shutdownTimeoutMs: seconds("shutdown-timeout", v["shutdown-timeout"], DEFAULTS.shutdownTimeoutMs),
    maxBodyBytes: integer("max-body", v["max-body"], 0, 2 ** 31 - 1) ?? DEFAULTS.maxBodyBytes,
    quiet: v.quiet ?? false,
    workers: v.workers === "auto"
      ? navigator.hardwareConcurrency
      : integer("workers", v.workers, 1, 256) ?? 1,
    sndbuf: integer("sndbuf", v.sndbuf, 1024, 2 ** 30) ?? null,
    rcvbuf: integer("rcvbuf", v.rcvbuf, 1024, 2 ** 30) ?? null,
    noDelay: onOff("no-delay", v["no-delay"], true),
    idleSpins: integer("idle-spins", v["idle-spins"], 0, 1_000_000) ?? IDLE_SPINS,
    yieldIntervalMs: integer("yield-interval", v["yield-interval"], 0, 1000) ?? YIELD_INTERVAL_MS,
    root,
    listing: !v["no-listing"],
    dotfiles: v.dotfiles ?? false,
    followSymlinks: v["follow-symlinks"] ?? false,
    cacheControl: cacheControl === "" ? null : cacheControl,
    accessLog: v["access-log"] ?? null,
    statsIntervalMs: v["stats-interval"] === undefined
      ? null
      : seconds("stats-interval", v["stats-interval"], 0),
  };
}

const PAGE_HEADERS = encodeFields(["Content-Type", EMBEDDED_TYPE]);
const PAGE: HttpResponse = { status: 200, headers: PAGE_HEADERS, body: EMBEDDED_PAGE };
const NOT_FOUND: HttpResponse = {
  status: 404,
  headers: ["Content-Type", "text/plain; charset=utf-8"],
  body: "404 Not Found\n",
};

/** Serves the embedded page at `/` (and `/index.html`); GET and HEAD only. */
export const embeddedHandler: Handler = (request) => {
  const { method, path } = request.head;
  if (method !== "GET" && method !== "HEAD") {
    return {
      status: method === "OPTIONS" ? 204 : 405,
      headers: ["Allow", "GET, HEAD", "Content-Type", "text/plain; charset=utf-8"],
      body: method === "OPTIONS" ? null : "405 Method Not Allowed\n",
    };
  }
  const q = path.indexOf("?");
  const p = q < 0 ? path : path.slice(0, q);
  return p === "/" || p === "/index.html" ? PAGE : NOT_FOUND;
};

function formatUrl(host: string, port: number): string {
  return host.includes(":") ? `http://[${host}]:${port}/` : `http://${host}:${port}/`;
}

/** Access-log bytes kept while the sink is slower than the traffic; beyond this, batches are dropped. */
const LOG_BACKLOG_BYTES = 4 * 1024 * 1024;
/** How long shutdown waits for the access log's last writes. */
const LOG_CLOSE_WAIT_MS = 1000;

/** Where access-log batches go. */
interface LogSink {
  write(bytes: Uint8Array): void;
  /** Waits (at most LOG_CLOSE_WAIT_MS) for queued writes, then closes a log file. */
  close(): Promise<void>;
}

/**
 * Opens the access-log sink: stdout, or a file opened for appending. Writes are asynchronous
 * (Deno performs them off the main thread) and one at a time, because a synchronous write to a
 * stdout pipe nobody reads, or to a stalled disk, would stop the reactor and every client with
 * it. Batches that arrive meanwhile wait, up to LOG_BACKLOG_BYTES; beyond that they are dropped,
 * and the drop is reported once.
 */
function openLogSink(path: string | null): LogSink {
  const file = path === null || path === "-" ? null : Deno.openSync(path, { append: true, create: true });
  const target = file ?? Deno.stdout;
  const queue: Uint8Array[] = [];
  let queued = 0, dropped = 0, failed = false;
  let writing: Promise<void> | null = null;
  async function drain(): Promise<void> {
    while (queue.length > 0 && !failed) {
      const chunk = queue.shift()!;
      try {
        for (let off = 0; off < chunk.length;) off += await target.write(chunk.subarray(off));
      } catch (e) {
        // A full disk or a closed stdout must not take the server down with it.
        failed = true;
        console.error(
          `rawserve: Cannot write the access log (${e instanceof Error ? e.message : e}); logging stops`,
        );
      }
      queued -= chunk.length;
    }
    writing = null;
  }
  return {
    write(bytes) {
      if (failed) return;
      if (queued + bytes.length > LOG_BACKLOG_BYTES) {
        if (dropped++ === 0) {
          console.error("rawserve: The access log cannot keep up; dropping lines until it does");
        }
        return;
      }
      queue.push(bytes);
      queued += bytes.length;
      writing ??= drain();
    },
    async close() {
      if (writing) await Promise.race([writing, new Promise((r) => setTimeout(r, LOG_CLOSE_WAIT_MS))]);
      if (dropped > 0) console.error(`rawserve: ${dropped} access-log batch(es) were dropped`);
      file?.close();
    },
  };
}

/** Colours for a terminal, unless NO_COLOR is set (https://no-color.org). */
function paint(format: Parameters<typeof styleText>[0], text: string): string {
  const color = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  return color ? styleText(format, text) : text;
}

/** Starts the server from the command line; resolves with the process exit code. */
async function main(args: string[]): Promise<number> {
  let config;
  try {
    config = parseCli(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`rawserve: ${e.message}`);
    return 2;
  }
  if (config === "help") {
    console.log(USAGE);
    return 0;
  }
  if (config === "version") {
    console.log(`rawserve ${VERSION}`);
    return 0;
  }
  const workerIndex = Deno.env.get(WORKER_ENV);
  if (config.workers > 1 && workerIndex === undefined) {
    try {
      if (config.root !== null) {
        createStaticFs(config.root, config.followSymlinks, config.listing)[Symbol.dispose](); // fail early, once
      }
      return await superviseWorkers({
        workers: config.workers,
        host: config.host,
        port: config.port,
        args,
        quiet: config.quiet,
        announce: (host, port) => {
          const what = config.root === null ? "embedded page" : `serving ${config.root}`;
          console.log(
            `rawserve listening on ${
              paint("bold", formatUrl(host, port))
            } (${what}, ${config.workers} workers)`,
          );
        },
      });
    } catch (e) {
      if (!(e instanceof SyscallError)) throw e;
      console.error(`rawserve: ${e.message}`);
      return 1;
    }
  }
  if (workerIndex !== undefined) exitWithParent(); // a worker never outlives its supervisor
  const fileLimit = raiseFileLimit();
  let files: ReturnType<typeof createStaticFs> | null = null;
  let log: AccessLog | null = null;
  let sink: LogSink | null = null;
  try {
    if (config.root !== null) files = createStaticFs(config.root, config.followSymlinks, config.listing);
    if (!config.quiet) {
      sink = openLogSink(config.accessLog);
      log = new AccessLog(sink.write);
    }
  } catch (e) {
    files?.[Symbol.dispose]();
    if (e instanceof SyscallError) console.error(`rawserve: ${e.message}`);
    else if (e instanceof Error) {
      console.error(`rawserve: Cannot open --access-log ${config.accessLog}: ${e.message}`);
    } else throw e;
    return 1;
  }
  const handler = files
    ? createStaticHandler({
      fs: files,
      listing: config.listing,
      dotfiles: config.dotfiles,
      cacheControl: config.cacheControl,
      logError: (message) => console.error(`rawserve: ${message}`),
    })
    : embeddedHandler;
  const server = new Server({
    host: config.host,
    port: config.port,
    backlog: config.backlog,
    maxConnections: config.maxConnections ?? Math.max(16, fileLimit - FD_RESERVE),
    maxDescriptors: Math.max(16, fileLimit - FD_RESERVE),
    reusePort: workerIndex !== undefined,
    noDelay: config.noDelay,
    ...(config.sndbuf ? { sndbuf: config.sndbuf } : {}),
    ...(config.rcvbuf ? { rcvbuf: config.rcvbuf } : {}),
    handler,
    readBodies: false, // the static handler and the embedded page answer from the head alone
    headerTimeoutMs: config.headerTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    bodyTimeoutMs: config.bodyTimeoutMs,
    writeTimeoutMs: config.writeTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
    reactor: { yieldIntervalMs: config.yieldIntervalMs, idleSpins: config.idleSpins },
    ...(log
      ? {
        onResponse: (conn, head, status, bytes) =>
          log.push(formatClf(conn.remoteAddress, head, status, bytes)),
      }
      : {}),
  });
  let bound;
  try {
    bound = server.listen();
  } catch (e) {
    if (!(e instanceof SyscallError)) throw e;
    console.error(`rawserve: ${e.message}`);
    server[Symbol.dispose]();
    files?.[Symbol.dispose]();
    await sink?.close();
    return 1;
  }
  if ((config.sndbuf || config.rcvbuf) && workerIndex === undefined) {
    const sizes = socketBufferSizes(bound.fd);
    console.log(
      `socket buffers (effective, inherited by connections): SO_SNDBUF ${formatBytes(sizes.sndbuf)}, ` +
        `SO_RCVBUF ${formatBytes(sizes.rcvbuf)}`,
    );
  }
  {
    // A worker prints it too: its supervisor reads it as "listening" and does not pass it on.
    const what = config.root === null ? "embedded page" : `serving ${config.root}`;
    console.log(`rawserve listening on ${paint("bold", formatUrl(bound.host, bound.port))} (${what})`);
  }

  let previous = { ...server.stats, errors: { ...server.stats.errors } };
  let statsTimer: ReturnType<typeof setInterval> | undefined;
  if (config.statsIntervalMs !== null) {
    const interval = config.statsIntervalMs;
    statsTimer = setInterval(() => {
      console.error(paint("dim", formatStats(server.stats, previous, interval / 1000)));
      previous = { ...server.stats, errors: { ...server.stats.errors } };
    }, interval);
  }

  let signals = 0;
  let exitCode = 0;
  const onSignal = () => {
    signals++;
    if (signals === 1) {
      server.shutdown(config.shutdownTimeoutMs).then((cut) => {
        if (cut > 0) {
          console.error(
            `rawserve: shutdown timeout reached; cut ${cut} connection(s) with responses in flight`,
          );
        }
      });
    } else {
      const open = server.connectionCount;
      if (open > 0) console.error(`rawserve: forced exit; cut ${open} open connection(s)`);
      server[Symbol.dispose]();
      exitCode = 130;
    }
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  await server.run();
  Deno.removeSignalListener("SIGINT", onSignal);
  Deno.removeSignalListener("SIGTERM", onSignal);
  clearInterval(statsTimer);
  log?.flush();
  await sink?.close();
  if (!config.quiet || config.statsIntervalMs !== null) console.error(formatStats(server.stats));
  server[Symbol.dispose]();
  files?.[Symbol.dispose]();
  return exitCode;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
