// One rawserve process serving: its resources (the served root, the access log, the server),
// the start-up line, the counters, and the signals that stop it. Everything opened is disposed
// in reverse order on every path out, by one AsyncDisposableStack.

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
import { Server } from "../server.ts";
import type { ServerOptions } from "../server_options.ts";
import { createStaticFs } from "../site/static_fs.ts";
import { WorkerCompressor } from "../site/compressor.ts";
import { withCors } from "../../http/cors.ts";
import { embeddedHandler } from "../site/embedded_page.ts";
import { AccessLog, type LogSink, openLogSink, webSocketLogger } from "./access_log.ts";
import { formatStats, reportStats } from "./stats_report.ts";
import { formatBytes } from "../../http/format.ts";
import type { FetchHandler } from "../web/handler.ts";
import type { Origin } from "../web/request.ts";
import type { WebSocketContext } from "../web/websocket.ts";
import { WORKER_ENV } from "./supervisor.ts";
import { type OperatorPages, withOperatorPages } from "./operator_pages.ts";
import { isIntrospectionPath } from "../operator/introspection.ts";
import { WorkerGroupView } from "../operator/worker_group.ts";
import { listeningLines } from "./banner.ts";
import { type Reload, reloadOnHangup, stopOnSignals } from "./signals.ts";
import { authWrapper, plainHttpWarning } from "./auth.ts";
import type { LogEntry, LogFormat } from "./access_log.ts";
import { chosenListener, logAddress, withForwardedClient } from "./production.ts";
import { TrustedProxies } from "../transport/trusted_proxies.ts";

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
  const origin: Origin = { scheme: config.tls ? "https" : "http", fallbackHost: "" };
  // An --app's WebSockets get the server's reactor once it exists, and --write-timeout.
  const websocket: WebSocketContext = {
    deadline: null,
    writeTimeoutMs: config.writeTimeoutMs,
    messageBudget: { used: 0, limit: config.maxWebSocketMemoryBytes },
  };
  // A worker leaves the warning to its supervisor, which printed it once for all.
  const warning = worker ? null : plainHttpWarning(config);
  if (warning) console.error(`rawserve: ${warning}`);
  // Who --auth-file let in, by request, for the access log's user field.
  const users = new WeakMap<RequestHead, string>();
  const protect = config.auth
    ? await authWrapper(config.auth, (request, user) => users.set(request.head, user))
    : null;
  const { handler, openFiles } = await contentHandler(config, stack, protect, { origin, websocket });
  const reloads: Reload[] = [];
  const log = config.quiet ? null : openAccessLog(config.accessLog, config.logFormat, stack, reloads);
  if (log && config.app !== null) websocket.ended = webSocketLogger(log);
  const tls = config.tls ? stack.use(await startTls({ ...config.tls, http2: config.http2 }, worker)) : null;
  const pages = operatorPages(handler, config, worker);
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
  if (tls) options.tls = tls;
  if (openFiles) options.heldFiles = openFiles;
  const server = stack.use(new Server(options));
  websocket.deadline = (callback) => server.reactor.timer(callback);
  websocket.totals = server.webSocketTotals;
  pages?.attach(server);
  const bound = server.listen();
  origin.fallbackHost = formatAuthority(bound.host, bound.port);
  if ((config.sndbuf || config.rcvbuf) && !worker) printSocketBuffers(bound.fd);
  // Listeners first: whoever reads the URL line may signal at once (a signal without a listener
  // would kill the process with the default action, exit code 143).
  const who = worker ? `rawserve worker ${Deno.env.get(WORKER_ENV)}` : "rawserve";
  const signals = stack.use(stopOnSignals(server, config, who));
  if (tls) reloads.unshift(() => tls.reload());
  stack.use(reloadOnHangup(reloads));
  // A worker prints the URL line only: its supervisor reads it as "listening", does not pass it
  // on, and prints the banner once for all.
  const banner = listeningLines(config, bound);
  console.log(worker ? banner[0] : banner.join("\n"));
  if (config.statsIntervalMs !== null) stack.use(reportStats(server, config.statsIntervalMs, who));
  await server.run();
  log?.flush();
  if (!config.quiet || config.statsIntervalMs !== null) {
    console.error(worker ? `${who}: ${formatStats(server.stats)}` : formatStats(server.stats));
  }
  return signals.exitCode;
}

/** The operator pages (--status, --metrics, --health) around `handler`, or null with none of them. */
function operatorPages(handler: Handler, config: CliConfig, worker: boolean): OperatorPages | null {
  const index = Number(Deno.env.get(WORKER_ENV));
  return withOperatorPages(handler, {
    statusPath: config.statusPath,
    statusPublic: config.statusPublic,
    metricsPath: config.metricsPath,
    healthPath: config.healthPath,
    // With --workers the worker says which it is, and answers for its group through the files
    // the workers share (app/operator/worker_group.ts).
    worker: worker ? { index } : null,
    group: worker ? WorkerGroupView.fromEnv(index) : null,
  });
}

/**
 * What the server answers before the operator pages: --app's fetch handler, --root's site, or the
 * embedded page; --auth-file's check (`protect`) around the site or the app. What they hold is
 * closed by `stack`.
 */
async function contentHandler(
  config: CliConfig,
  stack: AsyncDisposableStack,
  protect: ((handler: Handler) => Handler) | null,
  web: { origin: Origin; websocket: WebSocketContext },
): Promise<{ handler: Handler; openFiles: OpenFiles | null }> {
  let handler: Handler = embeddedHandler;
  let openFiles: OpenFiles | null = null;
  if (config.app !== null) {
    const app = await loadApp(config.app);
    // Imported only here: the web bridge's self-tests cost ~10 ms of start-up that a file server needs not pay.
    const { fetchHandler } = await import("../web/handler.ts");
    handler = fetchHandler(app, web);
    // Frameworks written for Deno call Deno.upgradeWebSocket: it upgrades this server's requests.
    const { takeDenoUpgrade } = await import("../web/deno_upgrade.ts");
    stack.use(takeDenoUpgrade());
  } else if (config.root !== null) {
    ({ handler, openFiles } = siteHandler(config, config.root, stack, protect));
  }
  if (protect && config.root === null) handler = protect(handler);
  return { handler, openFiles };
}

/** With --sndbuf or --rcvbuf: the sizes the kernel chose (it doubles, and clamps to its limits). */
function printSocketBuffers(fd: number): void {
  const sizes = socketBufferSizes(fd);
  console.log(
    `socket buffers (effective, inherited by connections): SO_SNDBUF ${formatBytes(sizes.sndbuf)}, ` +
      `SO_RCVBUF ${formatBytes(sizes.rcvbuf)}`,
  );
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
    reactor: {
      yieldIntervalMs: config.yieldIntervalMs,
      idleSpins: config.idleSpins,
      // The CLI's own handlers await nothing but their compressions, whose answers the server
      // counts, so the reactor may wait for I/O on this thread (SYNC_WAIT_MS); an app's code may
      // wait on timers or I/O outside any answer, which a synchronous wait would hold up. Nor
      // do they do I/O through Deno, so Deno's runtime need not park under load (PARK_INTERVAL_MS).
      ...(config.app === null ? { syncWaitMs: SYNC_WAIT_MS, parkIntervalMs: 0 } : {}),
    },
  };
}
