// Every default of the server in one leaf module that imports nothing: the CLI prints them in
// its help and applies them to flags, serve() applies them to options, the server to whatever
// was left out. A default lives here and nowhere else.

/** Defaults for every limit; the CLI exposes them as flags, serve() as options. */
export const DEFAULTS = {
  /** Slowloris bound: a request head must arrive within this (408 after). */
  headerTimeoutMs: 10_000,
  /** Idle keep-alive connections are closed after this. */
  idleTimeoutMs: 5_000,
  /** A request body may stall this long between reads. */
  bodyTimeoutMs: 30_000,
  /** A response may make no progress this long (slow-read attack bound). */
  writeTimeoutMs: 30_000,
  /** Request bodies larger than this get 413; bounds memory per request. */
  maxBodyBytes: 1024 * 1024,
  /**
   * Request-body bytes all connections together may hold in memory; beyond it, 503. Without it
   * the bound would be max connections x max body (~19 GiB with the defaults).
   */
  maxBodyMemoryBytes: 64 * 1024 * 1024,
  /**
   * Received WebSocket message bytes (being assembled or inflated) all sockets together may hold;
   * beyond it, 1013. Two messages at the default maxMessageSize (64 MiB): without it the bound
   * would be sockets x 64 MiB, and a few deflate bombs of 64 KiB each reach it at once.
   */
  maxWebSocketMemoryBytes: 128 * 1024 * 1024,
  /** Pipelined responses owed before the connection stops reading more requests. */
  maxPipelined: 64,
  /** Graceful shutdown waits this long for in-flight responses. */
  shutdownTimeoutMs: 10_000,
  /**
   * A TLS handshake normally takes two round trips (one for TLS 1.3); 10 s leaves room for a
   * lossy mobile link's retransmissions (TCP's first retransmission waits 1 s) and still bounds
   * what a client that connects and says nothing holds: a descriptor and an SSL object, no
   * longer than a slow request head may take (headerTimeoutMs).
   */
  handshakeTimeoutMs: 10_000,
  /** listen(2) backlog: the kernel caps it at net.core.somaxconn (4096 on current kernels). */
  backlog: 4096,
} as const;

/** Descriptors kept free for logs and Deno itself when deriving the connection limit. */
export const FD_RESERVE = 256;

/** The fewest connections a server accepts, however low the open-file limit. */
const MIN_CONNECTIONS = 16;

/**
 * The descriptors a server may use for connections and the files their answers hold, given the
 * process's open-file limit: the limit less FD_RESERVE, and never fewer than MIN_CONNECTIONS.
 * @param fileLimit RLIMIT_NOFILE (after raising the soft limit to the hard one)
 * @returns the connection limit's default and the descriptor budget
 */
export function descriptorBudget(fileLimit: number): number {
  return Math.max(MIN_CONNECTIONS, fileLimit - FD_RESERVE);
}
