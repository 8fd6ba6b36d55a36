// One rawserve process serving: its resources (the served root, the access log, the server),
// the start-up line, the counters, and the signals that stop it. Everything opened is disposed
// in reverse order on every path out, by one AsyncDisposableStack.

import { styleText } from "node:util";
import { exitWithParent, raiseFileLimit } from "../../ffi/libc.ts";
import { socketBufferSizes } from "../../ffi/socket.ts";
import { formatAuthority } from "../../ffi/sockaddr.ts";
import { SYNC_WAIT_MS } from "../../loop/reactor.ts";
import { createStaticHandler } from "../../http/static/static_handler.ts";
import type { Handler } from "../../http/types.ts";
import type { CliConfig } from "./flags.ts";
import { StartupError } from "../../ffi/errno.ts";
import { descriptorBudget } from "../defaults.ts";
import { Server, type ServerOptions } from "../server.ts";
import { createStaticFs } from "../site/static_fs.ts";
import { WorkerCompressor } from "../site/compressor.ts";
import { withCors } from "../../http/cors.ts";
import { embeddedHandler } from "../site/embedded_page.ts";
import { AccessLog, type LogSink, openLogSink } from "./access_log.ts";
import { formatStats } from "./stats_report.ts";
import { formatBytes } from "../../http/format.ts";
import type { FetchHandler } from "../web/handler.ts";
import type { Origin } from "../web/request.ts";
import type { WebSocketContext } from "../web/websocket.ts";
import { WORKER_ENV } from "./supervisor.ts";
import { withOperatorPages } from "./operator_pages.ts";

/** Colours for a terminal, unless NO_COLOR is set (https://no-color.org). */
export function paint(format: Parameters<typeof styleText>[0], text: string): string {
  const color = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
  return color ? styleText(format, text) : text;
}

/** `http://127.0.0.1:8080/` (or `https://`), with brackets around an IPv6 address. */
export function formatUrl(host: string, port: number, tls = false): string {
  const scheme = tls ? "https" : "http";
  return `${scheme}://${formatAuthority(host, port)}/`;
}

/** What the start-up line says is served. */
export function describeSite(config: CliConfig): string {
  if (config.app !== null) return `app ${config.app}`;
  return config.root === null ? "embedded page" : `serving ${config.root}`;
}

/**
 * Loads `--app MODULE`: its default export must have fetch(request, info) (the `deno serve`
 * convention).
 * @throws {StartupError} one line: the module does not load, or has no such export
 */
export async function loadApp(path: string): Promise<FetchHandler> {
  let module;
  try {
    module = await import(new URL(path, `file://${Deno.cwd()}/`).href);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new StartupError(`Cannot load --app ${path}: ${why}`);
  }
  const target = module.default;
  if (typeof target?.fetch !== "function") {
    throw new StartupError(
      `--app ${path} has no default export with a fetch(request, info) method; ` +
        'write: export default { fetch(request) { return new Response("..."); } }',
    );
  }
  return (request, info) => target.fetch(request, info);
}

/**
 * Serves until SIGINT or SIGTERM: opens what the flags name (the root or the app, the access
 * log, the certificate), composes the handler (site, operator pages), listens, prints the URL,
 * and runs the reactor; SIGHUP reloads what can be reloaded.
 * @param config the command line
 * @param worker whether this process is one of a supervisor's workers
 * @returns the exit code (0, or 130 after a forced stop)
 * @throws {SyscallError} when the root or the port cannot be opened
 * @throws {StartupError} when the access log cannot be opened
 */
export async function runServer(config: CliConfig, worker: boolean): Promise<number> {
  if (worker) exitWithParent(); // a worker never outlives its supervisor
  const fileLimit = raiseFileLimit();
  await using stack = new AsyncDisposableStack();
  let handler: Handler = embeddedHandler;
  // The CLI's own handlers await nothing but their compressions, whose answers the server counts,
  // so the reactor may wait for I/O on this thread (SYNC_WAIT_MS); an app's code may wait on
  // timers or I/O outside any answer, which a synchronous wait would hold up.
  const syncWait = config.app === null;
  const origin: Origin = { scheme: config.tls ? "https" : "http", fallbackHost: "" };
  // An --app's WebSockets get the server's reactor once it exists, and --write-timeout.
  const websocket: WebSocketContext = { deadline: null, writeTimeoutMs: config.writeTimeoutMs };
  if (config.app !== null) {
    const app = await loadApp(config.app);
    // Imported only here: the web bridge's self-tests cost ~10 ms of start-up that a file server needs not pay.
    const { fetchHandler } = await import("../web/handler.ts");
    handler = fetchHandler(app, { origin, websocket });
  } else if (config.root !== null) {
    handler = siteHandler(config, config.root, stack);
  }
  const reloads: Reload[] = [];
  const log = config.quiet ? null : openAccessLog(config.accessLog, stack, reloads);
  const tls = config.tls ? stack.use(await startTls(config.tls, worker)) : null;
  const pages = withOperatorPages(handler, {
    statusPath: config.statusPath,
    statusPublic: config.statusPublic,
    metricsPath: config.metricsPath,
    healthPath: config.healthPath,
    // With --workers each worker answers for itself, and says which it is.
    worker: worker ? { index: Number(Deno.env.get(WORKER_ENV)) } : null,
  });
  const options = serverOptions(config, pages?.handler ?? handler, fileLimit, worker, log);
  if (pages) options.onComplete = pages.onComplete;
  if (syncWait) options.reactor = { ...options.reactor, syncWaitMs: SYNC_WAIT_MS };
  if (tls) options.tls = tls;
  const server = stack.use(new Server(options));
  websocket.deadline = (callback) => server.reactor.timer(callback);
  pages?.attach(server);
  const bound = server.listen();
  origin.fallbackHost = formatAuthority(bound.host, bound.port);
  if ((config.sndbuf || config.rcvbuf) && !worker) {
    const sizes = socketBufferSizes(bound.fd);
    console.log(
      `socket buffers (effective, inherited by connections): SO_SNDBUF ${formatBytes(sizes.sndbuf)}, ` +
        `SO_RCVBUF ${formatBytes(sizes.rcvbuf)}`,
    );
  }
  // Listeners first: whoever reads the URL line may signal at once (a signal without a listener
  // would kill the process with the default action, exit code 143).
  const signals = stack.use(stopOnSignals(server, config.shutdownTimeoutMs));
  if (tls) reloads.unshift(() => tls.reload());
  stack.use(reloadOnHangup(reloads));
  // A worker prints it too: its supervisor reads it as "listening" and does not pass it on.
  console.log(
    `rawserve listening on ${paint("bold", formatUrl(bound.host, bound.port, tls !== null))} (${
      describeSite(config)
    })`,
  );
  if (config.statsIntervalMs !== null) stack.use(reportStats(server, config.statsIntervalMs));
  await server.run();
  log?.flush();
  if (!config.quiet || config.statsIntervalMs !== null) console.error(formatStats(server.stats));
  return signals.exitCode;
}

/** The static handler for --root, with its compressor and CORS; what they hold is closed by `stack`. */
function siteHandler(config: CliConfig, root: string, stack: AsyncDisposableStack): Handler {
  const fs = stack.use(createStaticFs(root, config.followSymlinks, config.listing));
  const compressor = config.compress ? stack.use(new WorkerCompressor()) : null;
  const handler = createStaticHandler({
    fs,
    listing: config.listing,
    dotfiles: config.dotfiles,
    cacheControl: config.cacheControl,
    immutable: config.immutable,
    compress: config.compress,
    compressor,
    spa: config.spa,
    logError: (message) => console.error(`rawserve: ${message}`),
  });
  return config.cors.length > 0 ? withCors(handler, config.cors) : handler;
}

/**
 * Loads app/transport/tls.ts (and with it OpenSSL) and the certificate. A worker uses its supervisor's
 * ticket keys and leaves the warnings to it (it printed them once for all workers).
 * @throws {StartupError} when libssl is missing or the files cannot be used
 */
async function startTls(config: NonNullable<CliConfig["tls"]>, worker: boolean) {
  const { TlsServer, inheritedTicketKeys } = await import("../transport/tls.ts");
  const tls = new TlsServer(config, inheritedTicketKeys() ?? undefined);
  if (!worker) printTlsWarnings(tls.context.warnings());
  return tls;
}

/** The certificate's warnings (expiry, a weak key), one line each, printed once per group. */
export function printTlsWarnings(warnings: readonly string[]): void {
  for (const warning of warnings) console.error(`rawserve: warning: ${warning}`);
}

/** Something SIGHUP reloads; returns the line that says how it went. */
type Reload = () => string;

/**
 * SIGHUP: reload what can be reloaded (the certificate and key for new connections, the
 * access-log file), one line each; with nothing to reload, one line that says so. SIGHUP never
 * stops the server: its default action would end the process without draining, and a process
 * manager or a terminal may send it at any time.
 */
function reloadOnHangup(reloads: Reload[]): Disposable {
  const onHangup = () => {
    if (reloads.length === 0) console.error("rawserve: SIGHUP: nothing to reload");
    for (const reload of reloads) console.error(`rawserve: ${reload()}`);
  };
  Deno.addSignalListener("SIGHUP", onHangup);
  return { [Symbol.dispose]: () => Deno.removeSignalListener("SIGHUP", onHangup) };
}

/**
 * Opens the access log; its sink is closed (after its last writes) when `stack` is disposed. A
 * log file is reopened at SIGHUP (log rotation renames it, then asks for a new one).
 */
function openAccessLog(path: string | null, stack: AsyncDisposableStack, reloads: Reload[]): AccessLog {
  let sink: LogSink;
  try {
    sink = openLogSink(path);
  } catch (e) {
    throw new StartupError(`Cannot open --access-log ${path}: ${e instanceof Error ? e.message : e}`);
  }
  stack.defer(() => sink.close());
  if (path !== null && path !== "-") {
    reloads.push(() => {
      try {
        sink.reopen();
        return `SIGHUP: reopened --access-log ${path}`;
      } catch (e) {
        return `SIGHUP: kept the previous --access-log: Cannot open ${path}: ${
          e instanceof Error ? e.message : e
        }`;
      }
    });
  }
  return new AccessLog(sink.write);
}

function serverOptions(
  config: CliConfig,
  handler: Handler,
  fileLimit: number,
  worker: boolean,
  log: AccessLog | null,
): ServerOptions {
  const descriptors = descriptorBudget(fileLimit);
  return {
    host: config.host,
    port: config.port,
    backlog: config.backlog,
    maxConnections: config.maxConnections ?? descriptors,
    maxDescriptors: descriptors,
    reusePort: worker,
    noDelay: config.noDelay,
    http2: config.http2,
    ...(config.sndbuf ? { sndbuf: config.sndbuf } : {}),
    ...(config.rcvbuf ? { rcvbuf: config.rcvbuf } : {}),
    handler,
    headers: config.headers,
    headerTimeoutMs: config.headerTimeoutMs,
    idleTimeoutMs: config.idleTimeoutMs,
    bodyTimeoutMs: config.bodyTimeoutMs,
    writeTimeoutMs: config.writeTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
    maxBodyMemoryBytes: config.maxBodyMemoryBytes,
    reactor: { yieldIntervalMs: config.yieldIntervalMs, idleSpins: config.idleSpins },
    ...(log
      ? {
        onResponse: (conn, head, status, bytes) => log.record(conn.remoteAddress, head, status, bytes),
      }
      : {}),
  };
}

/** Prints the counters and their rates every `intervalMs` to stderr, until disposed. */
function reportStats(server: Server, intervalMs: number): Disposable {
  const snapshot = () => ({ ...server.stats, errors: { ...server.stats.errors } });
  let previous = snapshot();
  const timer = setInterval(() => {
    console.error(paint("dim", formatStats(server.stats, previous, intervalMs / 1000)));
    previous = snapshot();
  }, intervalMs);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}

/**
 * SIGINT or SIGTERM: graceful shutdown within `timeoutMs`; a second one cuts every connection.
 * @returns the exit code to use once the server has stopped, and the listeners' removal
 */
function stopOnSignals(server: Server, timeoutMs: number): Disposable & { readonly exitCode: number } {
  let signals = 0;
  let exitCode = 0;
  const onSignal = () => {
    if (++signals === 1) {
      server.shutdown(timeoutMs).then((cut) => {
        if (cut > 0) {
          console.error(
            `rawserve: shutdown timeout reached; cut ${cut} connection(s) with responses in flight`,
          );
        }
      });
      return;
    }
    const open = server.connectionCount;
    if (open > 0) console.error(`rawserve: forced exit; cut ${open} open connection(s)`);
    server[Symbol.dispose]();
    exitCode = 130;
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  return {
    get exitCode() {
      return exitCode;
    },
    [Symbol.dispose]() {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    },
  };
}
