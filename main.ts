// rawserve's command line: flags -> server options -> listen -> run, and signal handling.
// A user's mistake (bad flag, port in use, missing directory) gets one line and an exit code:
// 2 for usage errors, 1 for everything that fails at start-up.

import { parseArgs } from "node:util";
import { raiseFileLimit } from "./ffi/libc.ts";
import { SyscallError } from "./ffi/errno.ts";
import { DEFAULTS, Server } from "./server.ts";
import { EMBEDDED_PAGE, EMBEDDED_TYPE } from "./http/embedded_page.ts";
import type { Handler, HttpResponse } from "./http/types.ts";

/** rawserve's version, printed by --version and in the Server field's documentation. */
export const VERSION = "0.1.0";

/** Descriptors kept free for files, logs and Deno itself when deriving --max-connections. */
const FD_RESERVE = 256;

const USAGE = `rawserve ${VERSION}: an HTTP/1.1 server on raw Linux syscalls

Usage: deno task start [options]

Options:
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
  --quiet                   print nothing but errors
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
      allowPositionals: false,
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
  };
}

const PAGE_HEADERS = ["Content-Type", EMBEDDED_TYPE];
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
  const fileLimit = raiseFileLimit();
  const server = new Server({
    host: config.host,
    port: config.port,
    backlog: config.backlog,
    maxConnections: config.maxConnections ?? Math.max(16, fileLimit - FD_RESERVE),
    handler: embeddedHandler,
    headerTimeoutMs: config.headerTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    bodyTimeoutMs: config.bodyTimeoutMs,
    writeTimeoutMs: config.writeTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
  });
  let bound;
  try {
    bound = server.listen();
  } catch (e) {
    if (!(e instanceof SyscallError)) throw e;
    console.error(`rawserve: ${e.message}`);
    server[Symbol.dispose]();
    return 1;
  }
  if (!config.quiet) {
    console.log(`rawserve listening on ${formatUrl(bound.host, bound.port)} (embedded page)`);
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
  server[Symbol.dispose]();
  return exitCode;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
