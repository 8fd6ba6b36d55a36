// What a Server is made with and what it counts: its options (the listening socket, the handler,
// the limits and timeouts, TLS, HTTP/2, the PROXY protocol) and its live counters.

import type { Listener, ListenOptions } from "../ffi/socket.ts";
import type { Reactor, ReactorOptions } from "../loop/reactor.ts";
import type { ConnectionOptions } from "../http/h1/connection.ts";
import type { ConnectionStats } from "../http/stats.ts";
import type { Handler, HeldDescriptors } from "../http/types.ts";
import type { TrustedProxies } from "./transport/trusted_proxies.ts";
import type { TlsTransport } from "./transport/tls_transport.ts";
import type { TlsHooks } from "./transport/tls_transport_options.ts";

/** HTTPS: wraps accepted sockets in TLS (app/transport/tls.ts makes one from --cert and --key). */
export interface TlsAcceptor {
  /**
   * A TLS transport for an accepted socket, handshake not begun; it owns the descriptor.
   * @param hooks the server's: the handshake is done, or the connection ended before HTTP
   */
  wrap(fd: number, reactor: Reactor, hooks: TlsHooks): TlsTransport;
}

/** Everything a server needs. */
export interface ServerOptions extends ListenOptions {
  handler: Handler;
  /** Stop accepting at this many open connections; resume below it. */
  maxConnections: number;
  /**
   * Stop accepting while connections and the files their responses hold reach this many
   * descriptors together (a download holds two); resume below it. Default: no bound beyond
   * maxConnections.
   */
  maxDescriptors?: number;
  /**
   * Descriptors the handler keeps open between responses (the static handler's open files): they
   * count in maxDescriptors, and are taken back before the server would stop accepting for want
   * of descriptors.
   */
  heldFiles?: HeldDescriptors;
  headerTimeoutMs?: number;
  idleTimeoutMs?: number;
  bodyTimeoutMs?: number;
  writeTimeoutMs?: number;
  maxBodyBytes?: number;
  maxBodyMemoryBytes?: number;
  maxPipelined?: number;
  /** Wait-strategy tuning (tools and benchmarks). */
  reactor?: ReactorOptions;
  /**
   * Called once per response when it ends: the kernel accepted its last byte, or its connection
   * closed first (`done.complete`), with the body bytes that left and the milliseconds since its
   * request's head arrived (the access log, the operator's metrics). `done` is reused: keep
   * nothing of it. Without it, nothing is timed.
   */
  onComplete?: ConnectionOptions["onComplete"];
  /** Serve HTTPS: every accepted socket does a TLS handshake before it carries HTTP. */
  tls?: TlsAcceptor;
  /**
   * Speak HTTP/2 to a cleartext connection that opens with the client preface (prior knowledge,
   * RFC 9113 §3.3), and to a TLS connection whose ALPN chose `h2` (the TlsAcceptor offers it
   * when made with the same setting); default true.
   */
  http2?: boolean;
  /** Fields every response carries (names and values, alternating), error answers included. */
  headers?: readonly string[];
  /**
   * Every connection opens with a PROXY protocol header (v1 or v2) that names the client; only
   * these peers may send one, and a connection from any other is closed. The header must arrive
   * within headerTimeoutMs.
   */
  proxyProtocol?: TrustedProxies;
  /**
   * Take over this listening socket (inherited: systemd's socket activation) instead of binding
   * host and port.
   */
  listener?: Listener;
}

/** Live counters (the raw-socket design's set). */
export interface ServerStats extends ConnectionStats {
  accepted: number;
  /** Sockets open: connections, and TLS handshakes in progress. */
  open: number;
  /** TLS handshakes completed, and how many of them resumed a session from a ticket. */
  tlsHandshakes: number;
  tlsResumed: number;
}
