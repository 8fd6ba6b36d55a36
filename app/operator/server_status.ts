// One snapshot of a server and the kernel under it, composed only when the status page or the
// metrics are requested: the process, the listener's accept queue, the reactor's counters, the
// HTTP counters, the machine's socket totals and a bounded set of connections with their
// TCP_INFO, queues and buffers. The request path never runs any of this.

import { fileLimit, SO_RCVBUF, SO_SNDBUF, SOL_SOCKET } from "../../ffi/libc.ts";
import { getIntOption } from "../../ffi/socket.ts";
import { countOpenFds, readProcText } from "../../ffi/procfs.ts";
import { formatAuthority } from "../../ffi/sockaddr.ts";
import { listenQueue, peerEndpoint, queuedBytes, readTcpInfo, type TcpInfo } from "../../ffi/socket_info.ts";
import type { HttpProtocol, HttpSession, StreamFacts } from "../../http/types.ts";
import type { ConnectionStats } from "../../http/stats.ts";
import type { ResponseMetrics } from "./response_metrics.ts";
import type { WebSocketSession } from "../../http/ws/session.ts";
import type { WebSocketDescription, WebSocketTotals } from "../../http/ws/stats.ts";
import type { GroupSummary } from "./worker_group.ts";

/**
 * Connections shown at most from each end: the N oldest and the N with the most requests. Each
 * row costs six system calls (getpeername, TCP_INFO, SIOCINQ, SIOCOUTQ, SO_SNDBUF, SO_RCVBUF).
 * Measured with 10,000 connections open (curl, 2 busy CPUs): the page with its 100 rows took
 * 3-11 ms, the metrics 1-7 ms, a plain GET 0.4 ms; rows for all 10,000 would hold the reactor for
 * 60,000 system calls.
 */
export const STATUS_ROWS = 50;

/** What a snapshot reads from a server (app/server.ts's Server is one). */
export interface StatusSource {
  readonly stats: ConnectionStats & { accepted: number; open: number };
  readonly reactor: {
    readonly counters: { waits: number; blockingWaits: number; macrotaskYields: number; batches: number };
    readonly spinBudget: number;
    now(): number;
  };
  /** Null when responses are not counted (no --metrics or --status). */
  readonly responseMetrics: ResponseMetrics | null;
  /** Whether a graceful shutdown has begun. */
  readonly draining: boolean;
  /** The listening socket, or -1 once it is closed (draining). */
  readonly listenerFd: number;
  /** Descriptors of files kept open between responses (absent: none are kept). */
  readonly filesKept?: number;
  /** Open HTTP connections (HTTP/1.1 and HTTP/2), oldest first. */
  connections(): Iterable<HttpSession>;
  /** Open WebSockets, oldest first (absent: none). */
  webSockets?(): Iterable<WebSocketSession>;
  /** What the server's WebSockets add up to (absent: none). */
  readonly webSocketTotals?: WebSocketTotals;
}

/** One WebSocket as the status page shows it: its socket, peer and what its session says. */
export interface WebSocketRow extends WebSocketDescription {
  fd: number;
  /** `host:port` */
  peer: string;
}

/** One connection as the status page shows it. */
export interface ConnectionRow {
  fd: number;
  /** `host:port` */
  peer: string;
  /** The load balancer's address when a PROXY header named the client (`peer`), else null. */
  via: string | null;
  /** `h1` or `h2`. */
  protocol: HttpProtocol;
  /** HTTP/2's open streams and connection windows; null for HTTP/1.1. */
  streams: StreamFacts | null;
  /** What it waits for (http/h1/phases.ts). */
  phase: string;
  ageMs: number;
  requests: number;
  /** Response bytes still in rawserve's own output queue (not yet given to the kernel). */
  pendingBytes: number;
  tcp: TcpInfo | null;
  /** Bytes in the kernel's queues: received and unread (SIOCINQ), written and unacknowledged (SIOCOUTQ). */
  queued: { in: number | null; out: number | null };
  /** SO_SNDBUF / SO_RCVBUF: the kernel's byte limits for those queues. */
  buffers: { snd: number | null; rcv: number | null };
}

/** The whole snapshot; the JSON answer is this object. */
export interface StatusSnapshot {
  process: {
    pid: number;
    uptimeS: number;
    /** Unix time the process started, seconds. */
    startTimeS: number;
    rssBytes: number;
    openFds: number;
    fdLimit: number;
  };
  /** This process's place in a --workers group, or null when it serves alone. */
  worker: { index: number } | null;
  /** On the status page of a --workers group: every worker, from their latest published numbers. */
  group?: GroupSummary[];
  draining: boolean;
  /** Null once the listener is closed (draining). */
  listener: { backlog: number; acceptQueue: number } | null;
  reactor: { batches: number; waits: number; blockingWaits: number; yields: number; spinBudget: number };
  counters: {
    accepted: number;
    open: number;
    requests: number;
    /** Responses whose last byte reached the kernel, by status code. */
    requestsByStatus: Record<string, number>;
    /** The same responses by protocol (`h1`, `h2`). */
    requestsByProtocol: Record<string, number>;
    bytesIn: number;
    bytesOut: number;
    filesOpen: number;
    /** Files kept open between responses (the static handler's open files). */
    filesKept: number;
    errors: Record<string, number>;
    /** Clients that left before their answer was all sent, by how (ECONNRESET, EPIPE, ...). */
    clientsLeft: Record<string, number>;
  };
  /** Response times (seconds), cumulative buckets as in Prometheus; `le` "+Inf" last. */
  responseSeconds: { buckets: { le: number | "+Inf"; count: number }[]; sum: number; count: number };
  /** The machine's socket totals from /proc/net/sockstat{,6} (this network namespace), or null. */
  system: Record<string, Record<string, number>> | null;
  connections: { total: number; shown: number; rows: ConnectionRow[] };
  /** WebSockets: the totals, and rows (the oldest and the busiest) on the status page. */
  webSockets: { totals: WebSocketTotals; shown: number; rows: WebSocketRow[] };
}

/** Options for {@linkcode collectStatus}. */
export interface CollectOptions {
  /** Gather connection rows (the status page) or not (metrics need only the totals). */
  rows: boolean;
  worker: { index: number } | null;
}

/**
 * Takes a snapshot: a stat of /proc/self/fd, two small /proc reads and, with rows, six system
 * calls per row shown.
 */
export function collectStatus(source: StatusSource, options: CollectOptions): StatusSnapshot {
  const { stats, reactor } = source;
  const metrics = source.responseMetrics;
  const queue = source.listenerFd >= 0 ? listenQueue(source.listenerFd) : null;
  return {
    process: processFacts(),
    worker: options.worker,
    draining: source.draining,
    listener: queue && { backlog: queue.backlog, acceptQueue: queue.queued },
    reactor: {
      batches: reactor.counters.batches,
      waits: reactor.counters.waits,
      blockingWaits: reactor.counters.blockingWaits,
      yields: reactor.counters.macrotaskYields,
      spinBudget: reactor.spinBudget,
    },
    counters: {
      accepted: stats.accepted,
      open: stats.open,
      requests: stats.requests,
      requestsByStatus: metrics ? metrics.statusCounts() : {},
      requestsByProtocol: metrics ? metrics.protocolCounts() : {},
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      filesOpen: stats.filesOpen,
      filesKept: source.filesKept ?? 0,
      errors: { ...stats.errors },
      clientsLeft: { ...stats.clientsLeft },
    },
    responseSeconds: {
      buckets: (metrics?.cumulativeBuckets() ?? []).map(({ le, count }) => ({
        le: le === Infinity ? "+Inf" : le,
        count,
      })),
      sum: metrics?.sumSeconds ?? 0,
      count: metrics?.count ?? 0,
    },
    system: options.rows ? socketTotals() : null,
    connections: options.rows ? connectionRows(source) : { total: stats.open, shown: 0, rows: [] },
    webSockets: webSocketRows(source, options.rows),
  };
}

const NO_TOTALS: WebSocketTotals = Object.freeze({
  opened: 0,
  open: 0,
  messagesIn: 0,
  messagesOut: 0,
  bytesIn: 0,
  bytesOut: 0,
  closes: Object.freeze({}),
});

/** The WebSocket totals and, with rows, the oldest and busiest sessions (one getpeername each). */
function webSocketRows(source: StatusSource, rows: boolean): StatusSnapshot["webSockets"] {
  const totals = source.webSocketTotals ?? NO_TOTALS;
  const copy = { ...totals, closes: { ...totals.closes } };
  if (!rows || !source.webSockets) return { totals: copy, shown: 0, rows: [] };
  const picked = pickRows(
    source.webSockets(),
    STATUS_ROWS,
    (s) => s.counts.messagesIn + s.counts.messagesOut,
  );
  return {
    totals: copy,
    shown: picked.length,
    rows: picked.map((session) => {
      const fd = socketFd(session);
      return { fd, peer: fd >= 0 ? peerEndpoint(fd) : "", ...session.describe() };
    }),
  };
}

function processFacts(): StatusSnapshot["process"] {
  const openFds = countOpenFds();
  const uptimeS = performance.now() / 1000; // performance.timeOrigin is the process's start
  return {
    pid: Deno.pid,
    uptimeS: Math.round(uptimeS * 10) / 10,
    startTimeS: Math.round(performance.timeOrigin / 1000),
    rssBytes: Deno.memoryUsage().rss,
    openFds,
    fdLimit: fileLimit(),
  };
}

/**
 * Parses /proc/net/sockstat: lines like `TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1`, each a
 * name followed by key/value pairs (net/ipv4/proc.c sockstat_seq_show).
 * @returns each line's pairs under its name, e.g. `{ TCP: { inuse: 5, ... } }`
 */
export function parseSockstat(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const words = line.slice(colon + 1).trim().split(/\s+/);
    const pairs: Record<string, number> = {};
    for (let i = 0; i + 1 < words.length; i += 2) pairs[words[i]!] = Number(words[i + 1]);
    out[line.slice(0, colon)] = pairs;
  }
  return out;
}

/**
 * The socket and TCP lines of /proc/net/sockstat and sockstat6: sockets in use by the whole
 * machine (this network namespace), TCP sockets in use, orphaned (closed by their program,
 * still sending), in TIME_WAIT, allocated, and the pages of memory TCP buffers hold.
 */
function socketTotals(): Record<string, Record<string, number>> | null {
  const text = readProcText("/proc/net/sockstat");
  if (text === null) return null;
  const v4 = parseSockstat(text);
  const out: Record<string, Record<string, number>> = {};
  if (v4.sockets) out.sockets = v4.sockets;
  if (v4.TCP) out.TCP = v4.TCP;
  const v6 = parseSockstat(readProcText("/proc/net/sockstat6") ?? ""); // absent with IPv6 disabled
  if (v6.TCP6) out.TCP6 = v6.TCP6;
  return out;
}

/**
 * The rows to show out of many: the `n` oldest (the first `n`, in the order given) and then
 * the `n` heaviest of the rest by `weight`, heaviest first. One pass, and the kept set never
 * holds more than `n`, so thousands of items cost no sort of them all.
 */
export function pickRows<T>(items: Iterable<T>, n: number, weight: (item: T) => number): T[] {
  const oldest: T[] = [];
  const heavy: { item: T; w: number }[] = []; // sorted heaviest first, at most n
  for (const item of items) {
    if (oldest.length < n) {
      oldest.push(item);
      continue;
    }
    if (n === 0) break;
    const w = weight(item);
    if (heavy.length === n && w <= heavy[n - 1]!.w) continue;
    let i = heavy.length;
    while (i > 0 && heavy[i - 1]!.w < w) i--;
    heavy.splice(i, 0, { item, w });
    if (heavy.length > n) heavy.pop();
  }
  return [...oldest, ...heavy.map((h) => h.item)];
}

function connectionRows(source: StatusSource): StatusSnapshot["connections"] {
  const all = [...source.connections()];
  const now = source.reactor.now();
  const rows = pickRows(all, STATUS_ROWS, (c) => c.requests).map((conn) => describeConnection(conn, now));
  return { total: all.length, shown: rows.length, rows };
}

/** A connection's row: its facts, and what the kernel holds for its socket (six system calls). */
function describeConnection(conn: HttpSession, now: number): ConnectionRow {
  const fd = socketFd(conn);
  const option = (name: number) => {
    const value = fd >= 0 ? getIntOption(fd, SOL_SOCKET, name) : -1;
    return value < 0 ? null : value;
  };
  return {
    fd,
    ...peerAndVia(conn, fd),
    protocol: conn.protocol,
    streams: conn.streamFacts(),
    phase: conn.phase,
    ageMs: Math.round(now - conn.openedAt),
    requests: conn.requests,
    pendingBytes: conn.pendingBytes,
    tcp: fd >= 0 ? readTcpInfo(fd) : null,
    queued: fd >= 0 ? queuedBytes(fd) : { in: null, out: null },
    buffers: { snd: option(SO_SNDBUF), rcv: option(SO_RCVBUF) },
  };
}

/**
 * Who a row's client is: the socket's peer (getpeername), or the client a PROXY header named,
 * with the balancer the socket is connected to.
 */
function peerAndVia(conn: HttpSession, fd: number): { peer: string; via: string | null } {
  const transport = conn.transport as { via?: unknown } & HttpSession["transport"];
  if (typeof transport.via === "string") {
    return { peer: formatAuthority(transport.remoteAddress(), transport.remotePort()), via: transport.via };
  }
  return { peer: fd >= 0 ? peerEndpoint(fd) : conn.remoteAddress, via: null };
}

/** The socket under a session's transport, when its transport has one (SocketTransport). */
function socketFd(conn: { transport: unknown }): number {
  const fd = (conn.transport as { fd?: unknown }).fd;
  return typeof fd === "number" ? fd : -1;
}
