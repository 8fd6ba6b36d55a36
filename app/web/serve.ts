// serve(): a fetch handler on rawserve's engine, shaped like Deno.serve so that code moves by
// changing an import. Options, defaults and the returned server follow Deno.serve's; the limits
// are the CLI's, under the names app/server.ts gives them.

import { raiseFileLimit } from "../../ffi/libc.ts";
import { SyscallError } from "../../ffi/errno.ts";
import { EACCES, EADDRINUSE, EADDRNOTAVAIL, EINVAL } from "../../ffi/errno_numbers.ts";
import { formatAuthority } from "../../ffi/sockaddr.ts";
import { unsupportedPlatform } from "../../ffi/platform.ts";
import { Server, type ServerOptions, type TlsAcceptor } from "../server.ts";
import { DEFAULTS, descriptorBudget } from "../defaults.ts";
import type { TlsConfig } from "../transport/tls.ts";
import { type ErrorHandler, type FetchHandler, fetchHandler } from "./handler.ts";
import type { NetAddr, UnixAddr } from "./info.ts";
import { listenUnix } from "../../ffi/socket.ts";
import type { Origin } from "./request.ts";
import type { WebSocketContext } from "./websocket.ts";
import { takeDenoUpgrade } from "./deno_upgrade.ts";

/**
 * Options for {@linkcode serve}: where to listen, hooks, and the engine's limits.
 * @example
 * ```ts
 * import { serve, type ServeOptions } from "@rawserve/rawserve";
 * const options: ServeOptions = { hostname: "127.0.0.1", port: 8080, maxBodyBytes: 8 << 20 };
 * serve(options, async (request) => new Response(`${(await request.bytes()).length} bytes`));
 * ```
 */
export interface ServeOptions {
  /** The port to listen on (default 8000, as Deno.serve; 0 picks a free one). */
  port?: number;
  /** The address to listen on (default "0.0.0.0", as Deno.serve): an IPv4 or IPv6 literal or localhost. */
  hostname?: string;
  /** Aborting it shuts the server down gracefully. */
  signal?: AbortSignal;
  /** Called once the server listens; by default prints `Listening on http://HOST:PORT/`. */
  onListen?: (localAddr: NetAddr) => void;
  /** The answer for a handler that throws; by default the error is logged and 500 answered. */
  onError?: ErrorHandler;
  /** The handler, when it is not given as the second argument. */
  handler?: FetchHandler;
  /**
   * HTTPS, as Deno.serve takes it: the certificate (then its chain) and its private key, as PEM
   * text. OpenSSL 3 (libssl.so.3) is loaded only when they are given; TLS 1.2 and 1.3, ALPN
   * http/1.1, session tickets. A pair that cannot be used rejects `finished` with one line.
   */
  cert?: string;
  /** The private key for `cert`, PEM, unencrypted. */
  key?: string;
  /** HTTPS: a TLS handshake must complete within this (default 10 s). */
  handshakeTimeoutMs?: number;
  /** SO_REUSEPORT, so several processes can listen on the port (as Deno.serve's reusePort). */
  reusePort?: boolean;
  /** Stop accepting beyond this many open connections (default: the open-file limit - 256). */
  maxConnections?: number;
  /** Largest request body a handler may read (413 beyond; default 1 MiB). */
  maxBodyBytes?: number;
  /** Request-body bytes all connections may hold unread (503 beyond; default 64 MiB). */
  maxBodyMemoryBytes?: number;
  /** Received WebSocket message bytes all sockets may hold at once (1013 beyond; default 128 MiB). */
  maxWebSocketMemoryBytes?: number;
  /** A request head must arrive within this (408 after; default 10 s). */
  headerTimeoutMs?: number;
  /** Idle keep-alive connections close after this (default 5 s). */
  idleTimeoutMs?: number;
  /** A request body may stall this long between reads (default 30 s). */
  bodyTimeoutMs?: number;
  /** A response may make no progress this long (default 30 s). */
  writeTimeoutMs?: number;
  /** shutdown() waits this long for responses in flight, then cuts them (default 10 s). */
  shutdownTimeoutMs?: number;
}

/**
 * Options for {@linkcode serve} on a Unix socket (as Deno.serve's `path`): the TCP options but
 * the address, and an `onListen` that receives `{ transport: "unix", path }`.
 * @example
 * ```ts
 * import { serve, type ServeUnixOptions } from "@rawserve/rawserve";
 * const options: ServeUnixOptions = { path: "/tmp/app.sock", mode: 0o660 };
 * serve(options, () => new Response("over a Unix socket"));
 * ```
 */
export interface ServeUnixOptions extends Omit<ServeOptions, "port" | "hostname" | "reusePort" | "onListen"> {
  /**
   * The socket file to listen on: a stale one (nothing listens there) is replaced, a live one is
   * an error, and the file is removed at shutdown.
   */
  path: string;
  /** The socket file's permissions (e.g. 0o660); by default what the umask leaves. */
  mode?: number;
  /** Called once the server listens; by default prints `Listening on http+unix://PATH`. */
  onListen?: (localAddr: UnixAddr) => void;
}

/**
 * A running server, as Deno.serve returns one.
 * @example
 * ```ts
 * import { serve } from "@rawserve/rawserve";
 * const server = serve({ port: 0, onListen: () => {} }, () => new Response("hi"));
 * console.log(`port ${server.addr.port}`);
 * await server.shutdown(); // finishes responses in flight, then resolves
 * ```
 */
export interface HttpServer<A extends NetAddr | UnixAddr = NetAddr> extends AsyncDisposable {
  /** Resolves once the server has stopped and released its socket. */
  readonly finished: Promise<void>;
  /** The address it listens on (the real port when 0 was asked), or its Unix socket. */
  readonly addr: A;
  /**
   * Stops gracefully: new connections are refused, idle ones closed, responses in flight
   * finished (each with `Connection: close`) within shutdownTimeoutMs.
   * @returns when the server has stopped
   */
  shutdown(): Promise<void>;
  /** The server keeps the process alive (the default). */
  ref(): void;
  /** The server no longer keeps the process alive; it serves while something else does. */
  unref(): void;
}

function defaultOnListen(addr: NetAddr | UnixAddr, scheme: string): void {
  if (addr.transport === "unix") console.log(`Listening on ${scheme}+unix://${addr.path}`);
  else console.log(`Listening on ${scheme}://${formatAuthority(addr.hostname, addr.port)}/`);
}

/**
 * Serves HTTP/1.1 with `handler` on rawserve's engine: Deno.serve's shape, rawserve's syscalls.
 * @param handler `(request: Request, info) => Response | Promise<Response>`
 * @returns the running server
 * @throws {SyscallError} when the address cannot be listened on (in use, not local, ...)
 * @throws {Error} on any platform but Linux x86-64 (nothing is loaded there)
 * @example
 * ```ts
 * import { serve } from "@rawserve/rawserve";
 * serve((request) => new Response(`Hello from ${new URL(request.url).pathname}`));
 * ```
 */
export function serve(handler: FetchHandler): HttpServer;
/**
 * Serves HTTP/1.1 with `handler` and `options` (port, hostname, signal, onListen, onError, limits).
 * @param options where to listen, hooks and limits
 * @param handler `(request: Request, info) => Response | Promise<Response>`
 * @returns the running server
 * @throws {SyscallError} when the address cannot be listened on
 * @throws {Error} on any platform but Linux x86-64
 * @example
 * ```ts
 * import { serve } from "@rawserve/rawserve";
 * const controller = new AbortController();
 * serve({ port: 8080, signal: controller.signal }, () => Response.json({ ok: true }));
 * ```
 */
export function serve(options: ServeOptions, handler: FetchHandler): HttpServer;
/**
 * Serves HTTP/1.1 with the handler given in `options.handler`.
 * @param options where to listen, the handler, hooks and limits
 * @returns the running server
 * @throws {SyscallError} when the address cannot be listened on
 * @throws {Error} on any platform but Linux x86-64
 * @example
 * ```ts
 * import { serve } from "@rawserve/rawserve";
 * serve({ port: 0, handler: () => new Response("Hello, World!") });
 * ```
 */
export function serve(options: ServeOptions & { handler: FetchHandler }): HttpServer;
/**
 * Serves on a Unix socket at `options.path`, as Deno.serve({ path }) does.
 * @param options the path (and its mode), hooks and limits
 * @param handler `(request: Request, info) => Response | Promise<Response>`
 * @returns the running server, whose `addr` is `{ transport: "unix", path }`
 * @throws {SyscallError} when the path cannot be listened on (in use, too long, no permission)
 * @example
 * ```ts
 * import { serve } from "@rawserve/rawserve";
 * serve({ path: "/tmp/app.sock" }, () => new Response("over a Unix socket"));
 * ```
 */
export function serve(options: ServeUnixOptions, handler: FetchHandler): HttpServer<UnixAddr>;
export function serve(
  first: ServeOptions | ServeUnixOptions | FetchHandler,
  second?: FetchHandler,
): HttpServer<NetAddr> | HttpServer<UnixAddr> {
  const unsupported = unsupportedPlatform();
  if (unsupported !== null) throw new Error(`serve(): ${unsupported}`);
  // One of the two shapes; which one is told by `path`, and onListen is called with its address.
  const options = (typeof first === "function" ? {} : first) as ServeOptions & {
    path?: string;
    mode?: number;
  };
  const handler = typeof first === "function" ? first : second ?? options.handler;
  if (typeof handler !== "function") throw new TypeError("serve() needs a handler function");
  const tls = tlsOptions(options);
  const descriptors = descriptorBudget(raiseFileLimit());
  const origin: Origin = { scheme: tls ? "https" : "http", fallbackHost: "" };
  const websocket: WebSocketContext = {
    deadline: null, // the server's reactor, once it exists
    writeTimeoutMs: options.writeTimeoutMs ?? DEFAULTS.writeTimeoutMs,
    messageBudget: { used: 0, limit: options.maxWebSocketMemoryBytes ?? DEFAULTS.maxWebSocketMemoryBytes },
  };
  const serverOptions: ServerOptions = {
    host: options.hostname ?? "0.0.0.0",
    port: options.port ?? 8000,
    reusePort: options.reusePort ?? false,
    maxConnections: options.maxConnections ?? descriptors,
    maxDescriptors: descriptors,
    handler: fetchHandler(handler, {
      origin,
      websocket,
      ...(options.onError ? { onError: options.onError } : {}),
    }),
    ...limits(options),
  };
  if (options.path !== undefined) {
    serverOptions.listener = listenUnix(options.path, options.mode ?? null, DEFAULTS.backlog);
  }
  const server = new Server(serverOptions);
  websocket.deadline = (callback) => server.reactor.timer(callback);
  websocket.totals = server.webSocketTotals;
  let bound;
  try {
    bound = server.listen();
  } catch (e) {
    server[Symbol.dispose]();
    throw e instanceof SyscallError ? withOptionHint(e) : e;
  }
  // A request over a Unix socket without Host gets `localhost` in its URL.
  origin.fallbackHost = bound.path !== null ? "localhost" : formatAuthority(bound.host, bound.port);
  const addr: NetAddr | UnixAddr = bound.path !== null
    ? { transport: "unix", path: bound.path }
    : { transport: "tcp", hostname: bound.host, port: bound.port };
  const disposables = new DisposableStack();
  disposables.use(server);
  // While it serves, frameworks' Deno.upgradeWebSocket upgrades its requests (deno_upgrade.ts).
  disposables.use(takeDenoUpgrade());
  let stopping: Promise<void> | null = null;
  const finished = (async () => {
    // OpenSSL is loaded only for HTTPS: the import is dynamic, so it happens here, before the
    // first connection is accepted (the listener is already bound, so addr is known now).
    if (tls) serverOptions.tls = disposables.use(await startTls(tls));
    if (stopping) return; // shut down while OpenSSL loaded
    const onListen = options.onListen as ((addr: NetAddr | UnixAddr) => void) | undefined;
    if (onListen) onListen(addr);
    else defaultOnListen(addr, origin.scheme);
    await server.run();
  })().finally(() => disposables.dispose());
  const shutdown = () =>
    stopping ??= server.shutdown(options.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs).then(() =>
      finished
    );
  if (options.signal?.aborted) shutdown();
  else options.signal?.addEventListener("abort", () => shutdown(), { once: true });
  return {
    finished,
    addr: addr as NetAddr,
    shutdown,
    ref: () => server.reactor.ref(),
    unref: () => server.reactor.unref(),
    [Symbol.asyncDispose]: shutdown,
  };
}

/** A listening failure in the words of serve()'s options. */
function withOptionHint(e: SyscallError): SyscallError {
  const { port } = e.facts;
  if (port === undefined) return e;
  if (e.errno === EADDRINUSE) {
    return e.withHint(`is another server on port ${port}? Pass another port (0 picks a free one)`);
  }
  if (e.errno === EACCES) return e.withHint("ports below 1024 need privileges; pass a port of 1024 or more");
  if (e.errno === EADDRNOTAVAIL) {
    return e.withHint('that address is not on this machine; pass hostname "127.0.0.1" or "0.0.0.0"');
  }
  if (e.errno === EINVAL) return e.withHint("hostname takes an IPv4 or IPv6 literal or localhost");
  return e;
}

/** The TLS settings, or null for plain HTTP. @throws {TypeError} for one of cert and key without the other */
function tlsOptions(options: ServeOptions): TlsConfig | null {
  const { cert, key } = options;
  if (cert === undefined && key === undefined) return null;
  if (typeof cert !== "string" || typeof key !== "string") {
    throw new TypeError("serve() needs both cert and key (PEM text) for HTTPS, or neither for HTTP");
  }
  return {
    cert,
    key,
    pem: true,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
    tickets: true,
  };
}

/** Loads OpenSSL and the certificate. */
async function startTls(config: TlsConfig): Promise<TlsAcceptor & Disposable> {
  const { TlsServer } = await import("../transport/tls.ts");
  return new TlsServer(config);
}

/** The limits given, as the server's options (absent ones keep the server's defaults). */
function limits(options: ServeOptions) {
  const out: Record<string, number> = {};
  for (
    const key of [
      "maxBodyBytes",
      "maxBodyMemoryBytes",
      "headerTimeoutMs",
      "idleTimeoutMs",
      "bodyTimeoutMs",
      "writeTimeoutMs",
    ] as const
  ) {
    const value = options[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
