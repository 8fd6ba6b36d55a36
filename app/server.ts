// The server: a listening socket and its connections on one reactor. It owns every socket fd,
// enforces the connection limit by taking the listener out of epoll, backs off on EMFILE, and
// drains gracefully on shutdown.

import { acceptConnection, type Listener, listenTcp, peekFd } from "../ffi/socket.ts";
import { EPOLLIN, ignoreSigpipe } from "../ffi/libc.ts";
import { errnoName } from "../ffi/errno.ts";
import { EAGAIN, ECONNABORTED, EINTR, EMFILE, ENFILE, ENOBUFS, ENOMEM } from "../ffi/errno_numbers.ts";
import { type IoHandler, Reactor } from "../loop/reactor.ts";
import type { Timer } from "../loop/timers.ts";
import { Connection, type ConnectionOptions } from "../http/h1/connection.ts";
import { Http2Session } from "../http/h2/session.ts";
import { countClientLeft, countError } from "../http/stats.ts";
import type { HttpSession, Session } from "../http/types.ts";
import type { WebSocketSession } from "../http/ws/session.ts";
import { type WebSocketTotals, webSocketTotals } from "../http/ws/stats.ts";
import { batchEnd, batchStart } from "../http/clock.ts";
import { encodeFields } from "../http/fields.ts";
import { SocketTransport, type TransportOwner } from "./transport/socket_transport.ts";
import { type Proxied, ProxyHeaderGate } from "./transport/proxy_header_wait.ts";
import { DEFAULTS } from "./defaults.ts";
import type { ServerOptions, ServerStats, TlsAcceptor } from "./server_options.ts";
// Types only: the TLS modules load libssl, which a plain-HTTP server never needs.
import type { TlsTransport } from "./transport/tls_transport.ts";
import type { TlsHooks } from "./transport/tls_transport_options.ts";

/** HTTP/2's ALPN protocol ID over TLS (RFC 9113 §3.2; app/transport/alpn.ts offers it). */
const ALPN_H2 = "h2";

/**
 * How a TLS connection that ended before HTTP ended when its client left (closed, reset, or
 * stopped reading): counted apart from errors, as HTTP/1.1's connections count it.
 */
const CLIENT_LEFT = /peer closed|ECONNRESET|EPIPE/;
/**
 * The first line of HTTP/2's client preface (RFC 9113 §3.4), which no HTTP/1.1 request can begin
 * with: enough to choose the protocol. The session checks the whole preface.
 */
const PREFACE_START = new TextEncoder().encode("PRI * HTTP/2.0\r\n");
const PEEKED = new Uint8Array(PREFACE_START.length);

/** Connections accepted per readiness event before other sockets get a turn. */
const ACCEPT_BATCH = 64;
/** Pause before retrying accept after EMFILE/ENFILE/ENOBUFS, so a full fd table is no busy loop. */
export const ACCEPT_BACKOFF_MS = 100;

/**
 * An HTTP/1.1 server on one reactor.
 * @example
 * const server = new Server({ host: "127.0.0.1", port: 0, maxConnections: 1000, handler });
 * server.listen();
 * await server.run();
 */
export class Server implements Disposable {
  readonly reactor: Reactor;
  readonly stats: ServerStats = {
    accepted: 0,
    open: 0,
    requests: 0,
    bytesIn: 0,
    bytesOut: 0,
    filesOpen: 0,
    answersAwaited: 0,
    errors: {},
    clientsLeft: {},
    tlsHandshakes: 0,
    tlsResumed: 0,
  };
  /** What its WebSockets add up to (their sessions count into it; the status page and metrics read it). */
  readonly webSocketTotals: WebSocketTotals = webSocketTotals();
  #options: ServerOptions;
  #listener: Listener | null = null;
  #listening = false;
  /** Sessions carrying a protocol: HTTP/1.1 connections, and what took one over after a 101. */
  #connections = new Set<Session>();
  /**
   * The last HTTP/1.1 connection and HTTP/2 session to close, each kept until the next of its kind
   * closes: with them, the maps of the objects a connection is made of outlive an idle spell that
   * closed them all, and so does the optimized code that checks them (http/shapes.ts says why
   * that matters). A closed one holds no buffers: its reader, queue and body were emptied.
   */
  #lastClosed: { h1: Connection | null; h2: Http2Session | null } = { h1: null, h2: null };
  /** TLS connections before HTTP: handshaking, or being told that this port speaks HTTPS. */
  #handshakes = new Set<TlsTransport>();
  #tlsHooks: TlsHooks = {
    established: (transport) => this.#onHandshakeDone(transport),
    ended: (transport, kind) => this.#onHandshakeEnded(transport, kind),
  };
  /** With --proxy-protocol, where connections wait for their header (counted as open). */
  #proxyGate: ProxyHeaderGate | null = null;
  #connOptions: ConnectionOptions;
  #draining = false;
  #announced = false;
  #backoff: Timer;
  #drained: (() => void) | null = null;

  /** @param options address, limits and handler */
  constructor(options: ServerOptions) {
    ignoreSigpipe();
    // One reading of each clock per batch for everything the batch does (http/clock.ts).
    const batch = { start: (now: number) => batchStart(now, Date.now()), end: batchEnd };
    this.reactor = new Reactor({
      // A synchronous wait (syncWaitMs) must not hold up a promise an answer waits for.
      mayBlockThread: () => this.stats.answersAwaited === 0,
      ...options.reactor,
      batch,
    });
    this.#backoff = this.reactor.timer(() => this.#resumeAccepting());
    this.#options = options;
    this.#connOptions = {
      handler: options.handler,
      deadline: (callback) => this.reactor.timer(callback),
      // Bounded work per turn: a stream past its allowance goes on after the next poll.
      nextTurn: (task) => this.reactor.feed({ onEvents: task }, 0),
      bodyBudget: { used: 0, limit: options.maxBodyMemoryBytes ?? DEFAULTS.maxBodyMemoryBytes },
      maxBodyBytes: options.maxBodyBytes ?? DEFAULTS.maxBodyBytes,
      headerTimeoutMs: options.headerTimeoutMs ?? DEFAULTS.headerTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
      writeTimeoutMs: options.writeTimeoutMs ?? DEFAULTS.writeTimeoutMs,
      maxPipelined: options.maxPipelined ?? DEFAULTS.maxPipelined,
      stats: this.stats,
      draining: () => this.#draining,
      onUpgrade: (conn, session) => this.#onUpgrade(conn, session),
      onFileClosed: () => this.#onDescriptorFreed(),
      // The batch clock: ages and response times cost no clock reading of their own.
      now: () => this.reactor.now(),
      ...(options.onComplete ? { onComplete: options.onComplete } : {}),
      ...(options.headers?.length ? { headers: encodeFields(options.headers) } : {}),
    };
    if (options.proxyProtocol) {
      this.#proxyGate = new ProxyHeaderGate(
        options.proxyProtocol,
        this.reactor,
        this.#connOptions.headerTimeoutMs,
        {
          passed: (fd, proxied) => {
            this.stats.open--;
            this.#adopt(fd, proxied);
          },
          closed: (kind, clientLeft) => this.#onProxyClosed(kind, clientLeft),
        },
      );
    }
  }

  /**
   * Binds and listens.
   * @returns the bound address (the real port when 0 was asked)
   * @throws {SyscallError} with a message for the user (address in use, permission, ...)
   */
  listen(): { host: string; port: number; fd: number; path: string | null } {
    const listener = this.#options.listener ??
      listenTcp({ ...this.#options, backlog: this.#options.backlog ?? DEFAULTS.backlog });
    this.#listener = listener;
    this.#startAccepting();
    return { host: listener.host, port: listener.port, fd: listener.fd, path: listener.path ?? null };
  }

  /** Runs the reactor until shutdown completes. */
  run(): Promise<void> {
    return this.reactor.run();
  }

  #listenerHandler: IoHandler = { onEvents: () => this.#acceptBatch() };

  #startAccepting(): void {
    if (this.#listening || !this.#listener || this.#draining) return;
    this.reactor.add(this.#listener.fd, EPOLLIN, this.#listenerHandler);
    this.#listening = true;
  }

  #stopAccepting(): void {
    if (!this.#listening || !this.#listener) return;
    this.reactor.remove(this.#listener.fd);
    this.#listening = false;
  }

  /**
   * Whether another connection fits under --max-connections and the descriptor budget, which
   * counts connections, the files responses hold and those the handler keeps (taken back first).
   */
  #hasRoom(): boolean {
    const { open, filesOpen } = this.stats;
    if (open >= this.#options.maxConnections) return false;
    const budget = this.#options.maxDescriptors ?? Infinity;
    const held = this.#options.heldFiles;
    if (held === undefined) return open + filesOpen < budget;
    const over = open + filesOpen + held.held - budget + 1;
    return over <= 0 || held.shed(over) === over;
  }

  #resumeAccepting(): void {
    if (this.#hasRoom()) this.#startAccepting();
  }

  /** A connection or a response's file closed: accepting may resume (unless backing off). */
  #onDescriptorFreed(): void {
    if (!this.#listening && !this.#draining && this.#backoff.deadline === Infinity) this.#resumeAccepting();
  }

  #acceptBatch(): void {
    const listenFd = this.#listener!.fd;
    for (let i = 0; i < ACCEPT_BATCH; i++) {
      if (!this.#hasRoom()) {
        // Beyond the limit, new clients wait in the kernel's backlog instead of being dropped.
        this.#stopAccepting();
        return;
      }
      const fd = acceptConnection(listenFd);
      if (fd < 0) {
        const errno = -fd;
        if (errno === EAGAIN) return;
        if (errno === ECONNABORTED || errno === EINTR) continue;
        countError(this.stats, errnoName(errno));
        if ((errno === EMFILE || errno === ENFILE) && (this.#options.heldFiles?.shed(Infinity) ?? 0) > 0) {
          continue; // the kept files' descriptors are free again: retry
        }
        if (errno === EMFILE || errno === ENFILE || errno === ENOBUFS || errno === ENOMEM) {
          // Level-triggered: the pending connection would wake us again at once. Step out of
          // epoll and retry later, when closing connections may have freed descriptors.
          this.#stopAccepting();
          this.#backoff.arm(ACCEPT_BACKOFF_MS);
          return;
        }
        return;
      }
      this.stats.accepted++;
      if (!this.#proxyGate) this.#adopt(fd, null);
      else {
        this.stats.open++; // until it passes the gate (then #adopt counts it) or is closed there
        this.#proxyGate.accept(fd);
      }
    }
  }

  /** A connection closed at the PROXY header gate (untrusted, malformed, slow, gone). */
  #onProxyClosed(kind: string, clientLeft: boolean): void {
    this.stats.open--;
    if (clientLeft) countClientLeft(this.stats, kind);
    else countError(this.stats, kind);
    if (!this.#draining) this.#onDescriptorFreed();
  }

  /**
   * Starts a connection's transport: TLS first when the server has a certificate.
   * @param proxied the client a PROXY header named, and the balancer's address
   */
  #adopt(fd: number, proxied: Proxied | null): void {
    if (this.#options.tls) return this.#adoptTls(fd, this.#options.tls, proxied);
    const transport = new SocketTransport(fd, this.reactor);
    if (proxied) transport.setPeer(proxied.client, proxied.via);
    const err = this.reactor.add(fd, EPOLLIN, transport);
    if (err) {
      countError(this.stats, `epoll_ctl ${errnoName(-err)}`);
      transport.close(); // closes the fd exactly once
      return;
    }
    this.stats.open++;
    this.#begin(transport);
  }

  /** A TLS connection: the handshake comes first, the Connection after it (#onHandshakeDone). */
  #adoptTls(fd: number, tls: TlsAcceptor, proxied: Proxied | null): void {
    const transport = tls.wrap(fd, this.reactor, this.#tlsHooks);
    if (proxied) transport.setPeer(proxied.client, proxied.via);
    const err = this.reactor.add(fd, EPOLLIN, transport);
    if (err) {
      countError(this.stats, `epoll_ctl ${errnoName(-err)}`);
      transport.close();
      return;
    }
    this.#handshakes.add(transport);
    this.stats.open++;
    transport.start();
  }

  #onHandshakeDone(transport: TlsTransport): void {
    this.#handshakes.delete(transport);
    this.stats.tlsHandshakes++;
    if (transport.resumed) this.stats.tlsResumed++;
    this.#begin(transport);
  }

  /**
   * The one place that decides which protocol a new connection speaks (HTTP/2 by ALPN over TLS
   * or by the client preface on a cleartext port, else HTTP/1.1), and starts it. TCP_DEFER_ACCEPT means the
   * first request is usually here already: it is read now rather than after another epoll_wait.
   */
  #begin(transport: SocketTransport | TlsTransport): void {
    const session = this.#speaksHttp2(transport)
      ? new Http2Session(transport, this.#connOptions)
      : new Connection(transport, this.#connOptions);
    transport.connection = session;
    transport.owner = this.#transportOwner;
    this.#connections.add(session);
    session.onReadable();
  }

  /**
   * Over TLS, whether ALPN chose `h2` (RFC 9113 §3.2; a client without ALPN speaks HTTP/1.1).
   * On a cleartext port, whether the connection opens with HTTP/2's client preface (RFC 9113
   * §3.4), seen without taking it (MSG_PEEK: the session reads it). TCP_DEFER_ACCEPT means the
   * first bytes are normally here; a client that has sent nothing yet, or only part of the
   * preface's first line, is taken as HTTP/1.1, where `PRI` is no method (501).
   */
  #speaksHttp2(transport: SocketTransport | TlsTransport): boolean {
    if (this.#options.http2 === false) return false;
    if (!(transport instanceof SocketTransport)) return transport.protocol === ALPN_H2;
    const n = peekFd(transport.fd, PEEKED, PREFACE_START.length);
    if (n < PREFACE_START.length) return false;
    for (let i = 0; i < n; i++) if (PEEKED[i] !== PREFACE_START[i]) return false;
    return true;
  }

  /** An HTTP/1.1 connection handed its transport to another protocol after a 101. */
  #onUpgrade(conn: Connection, session: Session): void {
    if (!this.#connections.delete(conn)) return; // the new session closed the socket already
    (conn.transport as SocketTransport | TlsTransport).connection = session;
    this.#connections.add(session);
  }

  #onHandshakeEnded(transport: TlsTransport, kind: string | null): void {
    if (!this.#handshakes.delete(transport)) return;
    if (kind && CLIENT_LEFT.test(kind)) countClientLeft(this.stats, kind);
    else if (kind) countError(this.stats, kind);
    this.stats.open--;
    if (!this.#draining) this.#onDescriptorFreed();
  }

  /**
   * Closes the connections that carry no HTTP yet, TLS handshakes and PROXY headers awaited
   * (shutdown has nothing to wait for there).
   */
  #closeHandshakes(): void {
    this.stats.open -= this.#proxyGate?.size ?? 0;
    this.#proxyGate?.closeAll();
    for (const transport of [...this.#handshakes]) {
      transport.close();
      this.#onHandshakeEnded(transport, null);
    }
  }

  /** Hears every transport close, whichever session owned it then. */
  #transportOwner: TransportOwner = {
    transportClosed: (transport) => this.#onSessionClosed(transport.connection!),
  };

  #onSessionClosed(session: Session): void {
    if (!this.#connections.delete(session)) return;
    // HTTP sessions only: a closed WebSocket may still hold a message it was receiving.
    if (session instanceof Connection) this.#lastClosed.h1 = session;
    else if (session instanceof Http2Session) this.#lastClosed.h2 = session;
    this.stats.open--;
    if (this.#draining) {
      if (this.#connections.size === 0) this.#drained?.();
    } else this.#onDescriptorFreed();
  }

  /** Open connections (for tests and stats). */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Open HTTP connections, HTTP/1.1 and HTTP/2, oldest first (for the status page). */
  *connections(): Iterable<HttpSession> {
    for (const session of this.#connections) {
      if (session instanceof Connection || session instanceof Http2Session) yield session;
    }
  }

  /** Open WebSockets, oldest first (for the status page); only their type is imported here. */
  *webSockets(): Iterable<WebSocketSession> {
    for (const session of this.#connections) {
      if ((session as { protocol?: unknown }).protocol === "websocket") yield session as WebSocketSession;
    }
  }

  /**
   * Whether a graceful shutdown has begun, or been announced (health answers 503 from then on).
   */
  get draining(): boolean {
    return this.#draining || this.#announced;
  }

  /**
   * Says the server is about to stop, for the balancers' health checks, while it goes on
   * accepting and serving as before; shutdown() follows.
   */
  announceShutdown(): void {
    this.#announced = true;
  }

  /** Descriptors the handler keeps open between responses (heldFiles), counted in the budget. */
  get filesKept(): number {
    return this.#options.heldFiles?.held ?? 0;
  }

  /** The listening socket's descriptor, or -1 before listen() and once draining closed it. */
  get listenerFd(): number {
    return this.#listener?.fd ?? -1;
  }

  /**
   * Graceful shutdown: close the listener (new connects are refused), close idle keep-alive
   * connections, let in-flight responses finish (each carrying `Connection: close`), then stop
   * the reactor. After `timeoutMs` the remaining connections are cut.
   * @returns how many connections had to be cut
   */
  async shutdown(timeoutMs: number = DEFAULTS.shutdownTimeoutMs): Promise<number> {
    if (!this.#draining) {
      this.#draining = true;
      this.#stopAccepting();
      this.#listener?.[Symbol.dispose]();
      this.#listener = null;
      this.#backoff.dispose();
      this.#closeHandshakes();
      for (const conn of [...this.#connections]) conn.closeIfIdle();
    }
    let cut = 0;
    if (this.#connections.size > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finished = await new Promise<boolean>((resolve) => {
        this.#drained = () => resolve(true);
        timer = setTimeout(() => resolve(false), timeoutMs);
        this.reactor.wake();
      });
      clearTimeout(timer);
      if (!finished) {
        cut = this.#connections.size;
        for (const conn of [...this.#connections]) conn.close();
      }
    }
    this.reactor.stop();
    return cut;
  }

  /** Closes everything at once (tests, and the second Ctrl-C). */
  [Symbol.dispose](): void {
    this.#closeHandshakes();
    for (const conn of [...this.#connections]) conn.close();
    this.#listener?.[Symbol.dispose]();
    this.#listener = null;
    this.reactor.stop();
    this.reactor[Symbol.dispose]();
  }
}
