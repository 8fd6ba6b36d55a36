// One rawserve process serving: its resources (the served root, the access log, the server),
// the start-up line, the counters, and the signals that stop it. Everything opened is disposed
// in reverse order on every path out, by one AsyncDisposableStack.

import { styleText } from "node:util";
import { exitWithParent, raiseFileLimit } from "../../ffi/libc.ts";
import { socketBufferSizes } from "../../ffi/socket.ts";
import { formatAuthority } from "../../ffi/sockaddr.ts";
import { SYNC_WAIT_MS } from "../../loop/reactor.ts";
import { createStaticHandler } from "../../http/static/static_handler.ts";
import { OpenFiles } from "../../http/static/open_files.ts";
import type { Handler } from "../../http/types.ts";
import type { RequestHead } from "../../http/request_head.ts";
import type { CliConfig } from "./flags.ts";
import { StartupError } from "../../ffi/errno.ts";
import { descriptorBudget } from "../defaults.ts";
import { Server, type ServerOptions } from "../server.ts";
import { createStaticFs } from "../site/static_fs.ts";
import { WorkerCompressor } from "../site/compressor.ts";
import { withCors } from "../../http/cors.ts";
import { embeddedHandler } from "../site/embedded_page.ts";
import { AccessLog, type LogSink, openLogSink, webSocketLogger } from "./access_log.ts";
import { formatStats } from "./stats_report.ts";
import { formatBytes } from "../../http/format.ts";
import type { FetchHandler } from "../web/handler.ts";
import type { Origin } from "../web/request.ts";
import type { WebSocketContext } from "../web/websocket.ts";
import { WORKER_ENV } from "./supervisor.ts";
import { type OperatorPages, withOperatorPages } from "./operator_pages.ts";
import { isIntrospectionPath } from "../operator/introspection.ts";
import { WorkerGroupView } from "../operator/worker_group.ts";
import { isWildcard, lanAddresses } from "./lan_addresses.ts";
import { authWrapper, plainHttpWarning } from "./auth.ts";
import type { LogEntry, LogFormat } from "./access_log.ts";
import { chosenListener, logAddress, withForwardedClient } from "./production.ts";
import { TrustedProxies } from "../transport/trusted_proxies.ts";

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

/** What the start-up line says is served: the root as an absolute path, so there is no doubt which. */
export function describeSite(config: CliConfig): string {
  if (config.app !== null) return `app ${config.app}`;
  return config.root === null ? "embedded page" : `serving ${absolutePath(config.root)}`;
}

/** `path` from the working directory, as an absolute path without `.` and `..` (node:path costs ~1.5 ms to load). */
export function absolutePath(path: string): string {
  const parts: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${Deno.cwd()}/${path}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

/**
 * The start-up banner: the URL line (which tools and a --workers supervisor read first), then
 * where else the server can be reached, its operator pages, and how to stop it.
 * @param config the command line
 * @param bound the address listened on
 * @param extra words after the site in the URL line (e.g. `4 workers`)
 */
export function bannerLines(config: CliConfig, bound: { host: string; port: number }, extra = ""): string[] {
  const tls = config.tls !== null;
  const site = describeSite(config) + (extra ? `, ${extra}` : "");
  const lines = [`rawserve listening on ${paint("bold", formatUrl(bound.host, bound.port, tls))} (${site})`];
  const addresses = lanAddresses(bound.host);
  if (isWildcard(bound.host)) {
    lines.push(
      addresses.length > 0
        ? `  on your network: ${addresses.map((a) => formatUrl(a, bound.port, tls)).join("  ")}`
        : `  on your network: no address other than loopback found`,
    );
  }
  // The operator pages from this machine (the status page answers loopback clients only).
  const local = isWildcard(bound.host) ? (bound.host.includes(":") ? "::1" : "127.0.0.1") : bound.host;
  const base = formatUrl(local, bound.port, tls).slice(0, -1);
  for (
    const [name, path] of [["status", config.statusPath], ["metrics", config.metricsPath], [
      "health",
      config.healthPath,
    ]] as const
  ) {
    if (path !== null) lines.push(`  ${name.padEnd(8)}${base}${path}`);
  }
  lines.push(paint("dim", "Ctrl-C to stop"));
  return lines;
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
    // The whole message: for a syntax error Deno gives the location and a code frame after it.
    const why = (e instanceof Error ? e.message : String(e)).trimEnd();
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
  let openFiles: OpenFiles | null = null;
  // The CLI's own handlers await nothing but their compressions, whose answers the server counts,
  // so the reactor may wait for I/O on this thread (SYNC_WAIT_MS); an app's code may wait on
  // timers or I/O outside any answer, which a synchronous wait would hold up.
  const syncWait = config.app === null;
  const origin: Origin = { scheme: config.tls ? "https" : "http", fallbackHost: "" };
  // An --app's WebSockets get the server's reactor once it exists, and --write-timeout.
  const websocket: WebSocketContext = { deadline: null, writeTimeoutMs: config.writeTimeoutMs };
  // A worker leaves the warning to its supervisor, which printed it once for all.
  const warning = worker ? null : plainHttpWarning(config);
  if (warning) console.error(`rawserve: ${warning}`);
  // Who --auth-file let in, by request, for the access log's user field.
  const users = new WeakMap<RequestHead, string>();
  const protect = config.auth
    ? await authWrapper(config.auth, (request, user) => users.set(request.head, user))
    : null;
  if (config.app !== null) {
    const app = await loadApp(config.app);
    // Imported only here: the web bridge's self-tests cost ~10 ms of start-up that a file server needs not pay.
    const { fetchHandler } = await import("../web/handler.ts");
    handler = fetchHandler(app, { origin, websocket });
    // Frameworks written for Deno call Deno.upgradeWebSocket: it upgrades this server's requests.
    const { takeDenoUpgrade } = await import("../web/deno_upgrade.ts");
    stack.use(takeDenoUpgrade());
  } else if (config.root !== null) {
    ({ handler, openFiles } = siteHandler(config, config.root, stack, protect));
  }
  if (protect && config.root === null) handler = protect(handler);
  const reloads: Reload[] = [];
  const log = config.quiet ? null : openAccessLog(config.accessLog, config.logFormat, stack, reloads);
  if (log && config.app !== null) websocket.ended = webSocketLogger(log);
  const tls = config.tls ? stack.use(await startTls({ ...config.tls, http2: config.http2 }, worker)) : null;
  const index = Number(Deno.env.get(WORKER_ENV));
  const pages = withOperatorPages(handler, {
    statusPath: config.statusPath,
    statusPublic: config.statusPublic,
    metricsPath: config.metricsPath,
    healthPath: config.healthPath,
    // With --workers the worker says which it is, and answers for its group through the files
    // the workers share (app/operator/worker_group.ts).
    worker: worker ? { index } : null,
    group: worker ? WorkerGroupView.fromEnv(index) : null,
  });
  const options = serverOptions(
    config,
    withForwardedClient(pages?.handler ?? handler, config),
    fileLimit,
    worker,
  );
  const listener = chosenListener(config, config.backlog);
  if (listener) options.listener = stack.use(listener);
  const onComplete = completionHook(config, log, pages, users);
  if (onComplete) options.onComplete = onComplete;
  if (syncWait) options.reactor = { ...options.reactor, syncWaitMs: SYNC_WAIT_MS };
  if (tls) options.tls = tls;
  if (openFiles) options.heldFiles = openFiles;
  const server = stack.use(new Server(options));
  websocket.deadline = (callback) => server.reactor.timer(callback);
  websocket.totals = server.webSocketTotals;
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
  const who = worker ? `rawserve worker ${Deno.env.get(WORKER_ENV)}` : "rawserve";
  const signals = stack.use(stopOnSignals(server, config, who));
  if (tls) reloads.unshift(() => tls.reload());
  stack.use(reloadOnHangup(reloads));
  // A worker prints the URL line only: its supervisor reads it as "listening", does not pass it
  // on, and prints the banner once for all.
  const banner = bound.path !== null
    ? [
      `rawserve listening on ${paint("bold", `unix:${bound.path}`)} (${describeSite(config)})`,
      paint("dim", "Ctrl-C to stop"),
    ]
    : bannerLines(config, bound);
  console.log(worker ? banner[0] : banner.join("\n"));
  if (config.statsIntervalMs !== null) stack.use(reportStats(server, config.statsIntervalMs, who));
  await server.run();
  log?.flush();
  if (!config.quiet || config.statsIntervalMs !== null) {
    console.error(worker ? `${who}: ${formatStats(server.stats)}` : formatStats(server.stats));
  }
  return signals.exitCode;
}

/**
 * The static handler for --root, with its compressor, --auth-file's check (`protect`), CORS
 * around both (a preflight carries no credentials), and the large files it keeps open (which the
 * server counts); what they hold is closed by `stack`.
 */
function siteHandler(
  config: CliConfig,
  root: string,
  stack: AsyncDisposableStack,
  protect: ((handler: Handler) => Handler) | null,
): { handler: Handler; openFiles: OpenFiles } {
  const fs = stack.use(createStaticFs(root, config.followSymlinks, config.listing));
  // Disposed before the root (a stack unwinds in reverse): kept files close while fs can close them.
  const openFiles = stack.use(new OpenFiles(fs.close));
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
    openFiles,
    logError: (message) => console.error(`rawserve: ${message}`),
  });
  const site = protect ? protect(handler) : handler;
  return { handler: config.cors.length > 0 ? withCors(site, config.cors) : site, openFiles };
}

/**
 * Loads app/transport/tls.ts (and with it OpenSSL) and the certificate. A worker uses its supervisor's
 * ticket keys and leaves the warnings to it (it printed them once for all workers).
 * @throws {StartupError} when libssl is missing or the files cannot be used
 */
async function startTls(config: NonNullable<CliConfig["tls"]> & { http2: boolean }, worker: boolean) {
  const { TlsServer, inheritedTicketKeys } = await import("../transport/tls.ts");
  const tls = new TlsServer(config, inheritedTicketKeys() ?? undefined);
  if (!worker) printTlsWarnings(tls.contexts.flatMap((c) => c.warnings()));
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
 * What the server calls as each response ends: the operator's metrics hear the complete ones;
 * the access log every one, the operator's own paths only with --log-operator-paths (a
 * monitor polling /health each second would drown the site's lines).
 * @param users who --auth-file let in, by request (the log's user field)
 * @returns the hook, or null when nobody listens (then nothing is timed)
 */
function completionHook(
  config: CliConfig,
  log: AccessLog | null,
  pages: OperatorPages | null,
  users: WeakMap<RequestHead, string>,
): ServerOptions["onComplete"] | null {
  if (!log && !pages) return null;
  const operator = config.logOperatorPaths ? null : {
    statusPath: config.statusPath,
    metricsPath: config.metricsPath,
    healthPath: config.healthPath,
  };
  const unlogged = operator !== null && (operator.statusPath || operator.metricsPath || operator.healthPath)
    ? operator
    : null;
  const entry: LogEntry = { remote: "", head: null, status: 0, bytes: 0, ms: 0, complete: false, user: null };
  const address = logAddress(config);
  return (conn, done) => {
    if (pages && done.complete) pages.onComplete(done.status, done.ms, conn.protocol);
    if (!log) return;
    if (unlogged && done.head && isIntrospectionPath(done.head.path, unlogged)) return;
    entry.remote = address(conn.remoteAddress, done.head?.headers ?? null);
    entry.head = done.head;
    entry.status = done.status;
    entry.bytes = done.bytes;
    entry.ms = done.ms;
    entry.complete = done.complete;
    entry.user = done.head ? users.get(done.head) ?? null : null;
    log.record(entry);
    entry.head = null;
  };
}

/**
 * Opens the access log; its sink is closed (after its last writes) when `stack` is disposed. A
 * log file is reopened at SIGHUP (log rotation renames it, then asks for a new one).
 */
function openAccessLog(
  path: string | null,
  format: LogFormat,
  stack: AsyncDisposableStack,
  reloads: Reload[],
): AccessLog {
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
  return new AccessLog(sink.write, undefined, format);
}

function serverOptions(
  config: CliConfig,
  handler: Handler,
  fileLimit: number,
  worker: boolean,
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
    ...(config.proxyProtocol ? { proxyProtocol: new TrustedProxies(config.trustedProxies) } : {}),
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
  };
}

/**
 * Prints the counters and their rates every `intervalMs` to stderr, until disposed.
 * @param who names a worker (`rawserve worker 2`); `rawserve` alone is left out
 */
function reportStats(server: Server, intervalMs: number, who: string): Disposable {
  const snapshot = () => ({
    ...server.stats,
    errors: { ...server.stats.errors },
    clientsLeft: { ...server.stats.clientsLeft },
  });
  let previous = snapshot();
  const prefix = who === "rawserve" ? "" : `${who}: `;
  const timer = setInterval(() => {
    console.error(paint("dim", prefix + formatStats(server.stats, previous, intervalMs / 1000)));
    previous = snapshot();
  }, intervalMs);
  return { [Symbol.dispose]: () => clearInterval(timer) };
}

/**
 * SIGINT or SIGTERM: graceful shutdown within `timeoutMs`, said at once when responses are in
 * flight (a download may hold it up to the end); a second one cuts every connection.
 * @param who the name its lines begin with (`rawserve`, `rawserve worker 2`)
 * @returns the exit code to use once the server has stopped, and the listeners' removal
 */
function stopOnSignals(
  server: Server,
  config: CliConfig,
  who: string,
): Disposable & { readonly exitCode: number } {
  const timeoutMs = config.shutdownTimeoutMs;
  let signals = 0;
  let exitCode = 0;
  let delay: ReturnType<typeof setTimeout> | undefined;
  const onSignal = (signal: Deno.Signal) => {
    if (++signals === 1 && signal === "SIGTERM" && config.drainDelayMs > 0) {
      // Health says 503 at once; the balancer stops sending, then the listener closes.
      server.announceShutdown();
      console.error(
        `${who}: stopping in ${config.drainDelayMs / 1000} s (--drain-delay); health answers 503`,
      );
      delay = setTimeout(() => stop(), config.drainDelayMs);
      return;
    }
    if (signals === 1 || delay !== undefined) stop();
    else force();
  };
  // A second signal during the delay starts the graceful shutdown at once; one after that cuts.
  const stop = () => {
    clearTimeout(delay);
    delay = undefined;
    signals = 1;
    const finished = server.shutdown(timeoutMs);
    // shutdown() closed the idle connections before its first await: the rest owe responses.
    const busy = server.connectionCount;
    if (busy > 0) {
      console.error(
        `${who}: stopping: waiting up to ${timeoutMs / 1000} s for ${busy} ${
          busy === 1 ? "response" : "responses"
        } (Ctrl-C again to stop now)`,
      );
    }
    finished.then((cut) => {
      if (cut > 0) {
        console.error(`${who}: shutdown timeout reached; cut ${cut} connection(s) with responses in flight`);
      }
    });
  };
  const force = () => {
    const open = server.connectionCount;
    if (open > 0) console.error(`${who}: forced exit; cut ${open} open connection(s)`);
    server[Symbol.dispose]();
    exitCode = 130;
  };
  const onInt = () => onSignal("SIGINT"), onTerm = () => onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  return {
    get exitCode() {
      return exitCode;
    },
    [Symbol.dispose]() {
      clearTimeout(delay);
      Deno.removeSignalListener("SIGINT", onInt);
      Deno.removeSignalListener("SIGTERM", onTerm);
    },
  };
}
