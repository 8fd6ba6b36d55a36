// What the kernel knows about one socket, read on demand (the status page, never the request
// path): `struct tcp_info` from getsockopt(TCP_INFO), the queues from ioctl(SIOCINQ/SIOCOUTQ)
// and the peer's address. Each function is one or two system calls and never blocks.

import { IPPROTO_TCP, libc, SIOCINQ, SIOCOUTQ, TCP_INFO } from "./libc.ts";
import { decodeSockaddr, formatAuthority, SOCKADDR_MAX } from "./sockaddr.ts";

const { getpeername, getsockopt, ioctl } = libc.symbols;

/**
 * Byte offsets of the `struct tcp_info` fields rawserve reads, on x86-64 Linux, from
 * include/uapi/linux/tcp.h as shipped in linux-libc-dev 6.1 (checked with offsetof() against
 * that header: 232 bytes in all). The struct only ever grows at its end; getsockopt copies
 * min(our length, the kernel's size) and reports how much it copied, so a field past that
 * length (an older kernel) reads as null rather than as zero.
 */
export const TCP_INFO_LAYOUT = {
  /** u8 tcpi_state: a TCP_STATES index. */
  STATE: 0,
  /** u8 tcpi_retransmits: retransmission timeouts in a row now (0 when healthy). */
  RETRANSMITS: 2,
  /** u32 tcpi_snd_mss: largest segment we send, bytes. */
  SND_MSS: 16,
  /** u32 tcpi_unacked: segments sent, not yet acknowledged. On a LISTEN socket: the accept queue. */
  UNACKED: 24,
  /** u32 tcpi_sacked: on a LISTEN socket, the backlog in force (net/ipv4/tcp.c tcp_get_info). */
  SACKED: 28,
  /** u32 tcpi_pmtu: path MTU, bytes. */
  PMTU: 60,
  /** u32 tcpi_rtt: smoothed round-trip time, µs. */
  RTT: 68,
  /** u32 tcpi_rttvar: its mean deviation, µs. */
  RTTVAR: 72,
  /** u32 tcpi_snd_ssthresh: slow-start threshold, segments (TCP_INFINITE_SSTHRESH until a loss). */
  SND_SSTHRESH: 76,
  /** u32 tcpi_snd_cwnd: congestion window, segments. */
  SND_CWND: 80,
  /** u32 tcpi_rcv_space: the receive window the kernel is tuning towards, bytes. */
  RCV_SPACE: 96,
  /** u32 tcpi_total_retrans: segments retransmitted over the connection's life. */
  TOTAL_RETRANS: 100,
  /** u64 tcpi_bytes_acked (Linux 4.1). */
  BYTES_ACKED: 120,
  /** u64 tcpi_bytes_received (Linux 4.1). */
  BYTES_RECEIVED: 128,
  /** u32 tcpi_notsent_bytes: queued and not yet sent at all (Linux 4.6). */
  NOTSENT_BYTES: 144,
  /** u32 tcpi_min_rtt: lowest RTT seen, µs (Linux 4.6). */
  MIN_RTT: 148,
  /** sizeof(struct tcp_info) in the 6.1 header; newer kernels append fields we do not read. */
  SIZE: 232,
} as const;

/** tcpi_snd_ssthresh before the first loss: "infinite" (include/net/tcp.h). */
export const TCP_INFINITE_SSTHRESH = 0x7fffffff;

/** tcpi_state values, from include/net/tcp_states.h. */
export const TCP_STATES: readonly string[] = [
  "UNKNOWN",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECV",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "TIME_WAIT",
  "CLOSE",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
  "BOUND_INACTIVE",
];

/** The fields of `struct tcp_info` the status page shows, in its units. */
export interface TcpInfo {
  state: string;
  rttUs: number;
  rttVarUs: number;
  /** null on kernels before 4.6 */
  minRttUs: number | null;
  /** segments */
  cwnd: number;
  /** segments; TCP_INFINITE_SSTHRESH while still in the first slow start */
  ssthresh: number;
  retransmits: number;
  totalRetrans: number;
  /** segments in flight */
  unacked: number;
  pmtu: number;
  mss: number;
  rcvSpace: number;
  /** null on kernels before 4.6 */
  notsentBytes: number | null;
  /** null on kernels before 4.1 */
  bytesAcked: number | null;
  bytesReceived: number | null;
}

// Room for kernels newer than the header: the kernel copies no more than its own size.
const INFO = new Uint8Array(512);
const INFO_VIEW = new DataView(INFO.buffer);
const LEN = new Uint32Array(1);
const LEN_BYTES = new Uint8Array(LEN.buffer);

/** getsockopt(TCP_INFO) into INFO; @returns the bytes the kernel filled, or -1 */
function fetchTcpInfo(fd: number): number {
  INFO.fill(0);
  LEN[0] = INFO.length;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, INFO, LEN_BYTES) < 0) return -1;
  return LEN[0]!;
}

function u32(offset: number, filled: number): number | null {
  return offset + 4 <= filled ? INFO_VIEW.getUint32(offset, true) : null;
}

function u64(offset: number, filled: number): number | null {
  return offset + 8 <= filled ? Number(INFO_VIEW.getBigUint64(offset, true)) : null;
}

/**
 * A connected TCP socket's `struct tcp_info`.
 * @returns the fields, or null when the call fails (not a TCP socket, closed) or the kernel's
 *   struct is too old to hold the fields every Linux since 2.6 has
 */
export function readTcpInfo(fd: number): TcpInfo | null {
  const filled = fetchTcpInfo(fd);
  const L = TCP_INFO_LAYOUT;
  if (filled < L.TOTAL_RETRANS + 4) return null;
  const state = INFO[L.STATE]!;
  return {
    state: TCP_STATES[state] ?? `state ${state}`,
    rttUs: u32(L.RTT, filled)!,
    rttVarUs: u32(L.RTTVAR, filled)!,
    minRttUs: u32(L.MIN_RTT, filled),
    cwnd: u32(L.SND_CWND, filled)!,
    ssthresh: u32(L.SND_SSTHRESH, filled)!,
    retransmits: INFO[L.RETRANSMITS]!,
    totalRetrans: u32(L.TOTAL_RETRANS, filled)!,
    unacked: u32(L.UNACKED, filled)!,
    pmtu: u32(L.PMTU, filled)!,
    mss: u32(L.SND_MSS, filled)!,
    rcvSpace: u32(L.RCV_SPACE, filled)!,
    notsentBytes: u32(L.NOTSENT_BYTES, filled),
    bytesAcked: u64(L.BYTES_ACKED, filled),
    bytesReceived: u64(L.BYTES_RECEIVED, filled),
  };
}

/**
 * The accept queue of a listening socket. For a socket in LISTEN, tcp_get_info() reports
 * `sk_ack_backlog` (connections the handshake completed and accept() has not taken yet) in
 * tcpi_unacked and `sk_max_ack_backlog` (the backlog in force: listen()'s argument capped at
 * net.core.somaxconn) in tcpi_sacked, and stops there.
 * @returns the queue's length and bound, or null if the socket is not listening
 */
export function listenQueue(fd: number): { queued: number; backlog: number } | null {
  const filled = fetchTcpInfo(fd);
  if (filled < TCP_INFO_LAYOUT.SACKED + 4 || TCP_STATES[INFO[TCP_INFO_LAYOUT.STATE]!] !== "LISTEN") {
    return null;
  }
  return { queued: u32(TCP_INFO_LAYOUT.UNACKED, filled)!, backlog: u32(TCP_INFO_LAYOUT.SACKED, filled)! };
}

const COUNT = new Int32Array(1);
const COUNT_BYTES = new Uint8Array(COUNT.buffer);

function ioctlCount(fd: number, request: number): number | null {
  COUNT[0] = 0;
  return ioctl(fd, request, COUNT_BYTES) < 0 ? null : COUNT[0]!;
}

/**
 * Bytes in a TCP socket's kernel queues (tcp(7)): `in` arrived and not yet read by us
 * (SIOCINQ); `out` written by us and not yet acknowledged by the peer, sent or not (SIOCOUTQ).
 * @returns the counts, null each when the call fails (e.g. EINVAL on a listening socket)
 */
export function queuedBytes(fd: number): { in: number | null; out: number | null } {
  return { in: ioctlCount(fd, SIOCINQ), out: ioctlCount(fd, SIOCOUTQ) };
}

/**
 * The peer of a connected socket as `host:port` (`[::1]:5000` for IPv6), or `-` if unknown.
 */
export function peerEndpoint(fd: number): string {
  const addr = new Uint8Array(SOCKADDR_MAX);
  const len = new Uint32Array([SOCKADDR_MAX]);
  if (getpeername(fd, addr, new Uint8Array(len.buffer)) < 0) return "-";
  const peer = decodeSockaddr(addr.subarray(0, len[0]));
  return formatAuthority(peer.host, peer.port);
}
