// Socket-level operations over libc: owned descriptors, the listening TCP socket, accept, and
// the hot-path I/O calls (Unix sockets are in unix_socket.ts). Hot functions return a count or `-errno`; setup functions throw
// SyscallError with a message that says what to do.

import {
  AF_INET6,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  FIOCLEX,
  FIONBIO,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPV6_V6ONLY,
  lastErrno,
  libc,
  MSG_NOSIGNAL,
  MSG_PEEK,
  SHUT_WR,
  SO_ACCEPTCONN,
  SO_RCVBUF,
  SO_REUSEADDR,
  SO_REUSEPORT,
  SO_SNDBUF,
  SO_TYPE,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  TCP_NODELAY,
} from "./libc.ts";
import { SyscallError } from "./errno.ts";
import { EINTR, EINVAL, ENOTSOCK } from "./errno_numbers.ts";
import { decodeSockaddr, encodeSockaddr, formatAuthority, parseHost, SOCKADDR_MAX } from "./sockaddr.ts";

const {
  accept4,
  bind,
  close,
  eventfd,
  getpeername,
  getsockname,
  getsockopt,
  ioctl,
  listen,
  read,
  recv,
  send,
  sendfile,
  setsockopt,
  shutdown,
  socket,
  write,
} = libc.symbols;

/** TCP_DEFER_ACCEPT: seconds the kernel waits for a client's first bytes before accept sees it. */
const DEFER_ACCEPT_SECONDS = 1;
const TCP_DEFER_ACCEPT = 9;
/** listen(2)'s backlog when none is given: SOMAXCONN of <sys/socket.h> (glibc 2.35 and later). */
export const SOMAXCONN = 4096;

/**
 * Owns one file descriptor and closes it exactly once.
 * @example
 * using fd = new OwnedFd(openSomething());
 */
export class OwnedFd implements Disposable {
  #fd: number;

  /** @param fd a descriptor this object now owns */
  constructor(fd: number) {
    this.#fd = fd;
  }

  /** The descriptor number, or -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  /** Closes the descriptor; later calls do nothing. */
  [Symbol.dispose](): void {
    if (this.#fd < 0) return;
    // close(2) releases the descriptor even when it returns EINTR; never retry it.
    close(this.#fd);
    this.#fd = -1;
  }
}

const INT_BUF = new Int32Array(1);
const INT_BYTES = new Uint8Array(INT_BUF.buffer);

function setIntOption(fd: number, level: number, name: number, value: number): number {
  INT_BUF[0] = value;
  return setsockopt(fd, level, name, INT_BYTES, 4) < 0 ? lastErrno() : 0;
}

/**
 * Reads an integer socket option.
 * @returns the value, or -errno
 */
export function getIntOption(fd: number, level: number, name: number): number {
  const len = new Uint32Array([4]);
  INT_BUF[0] = 0;
  if (getsockopt(fd, level, name, INT_BYTES, new Uint8Array(len.buffer)) < 0) return -lastErrno();
  return INT_BUF[0]!;
}

/** Options for {@linkcode listenTcp}. */
export interface ListenOptions {
  /** IPv4 or IPv6 literal, or `localhost`. */
  host: string;
  /** 0 asks the kernel for an ephemeral port. */
  port: number;
  /** listen(2) backlog. */
  backlog?: number;
  /** SO_REUSEPORT, so several worker processes can each own a listening socket. */
  reusePort?: boolean;
  /**
   * Bind without listening: reserves the port for SO_REUSEPORT workers. A socket that does not
   * listen receives no connections from the kernel's reuseport group.
   */
  bindOnly?: boolean;
  /** TCP_NODELAY on accepted sockets (default true). */
  noDelay?: boolean;
  /** SO_SNDBUF / SO_RCVBUF to set on the listening socket (inherited by accepted ones). */
  sndbuf?: number;
  rcvbuf?: number;
}

/** A bound, listening, non-blocking TCP socket. */
export interface Listener extends Disposable {
  readonly fd: number;
  /** The address actually bound (the real port when 0 was asked). */
  readonly host: string;
  readonly port: number;
  readonly family: number;
  /** A Unix socket's path (removed when the listener is disposed), or null for TCP. */
  readonly path?: string | null;
}

function describeListenError(errno: number, host: string, port: number, call: string) {
  return new SyscallError(call, errno, `Cannot listen on ${formatAuthority(host, port)}`, { host, port });
}

/**
 * Creates the listening socket: non-blocking, close-on-exec, SO_REUSEADDR.
 * @param options host, port and socket options
 * @returns the listener; dispose it to close
 * @throws {SyscallError} when the host is not an IP literal or a call fails
 */
export function listenTcp(options: ListenOptions): Listener {
  const parsed = parseHost(options.host);
  if (!parsed) {
    throw new SyscallError("bind", EINVAL, `Cannot listen on ${options.host}`, {
      host: options.host,
      port: options.port,
    });
  }
  const fd = socket(parsed.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw describeListenError(lastErrno(), options.host, options.port, "socket");
  const owned = new OwnedFd(fd);
  try {
    let err = setIntOption(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (!err && options.reusePort) err = setIntOption(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    // "::" listens on IPv6 only; users who want both families pass 0.0.0.0 and :: separately.
    if (!err && parsed.family === AF_INET6) err = setIntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
    if (!err && options.sndbuf) err = setIntOption(fd, SOL_SOCKET, SO_SNDBUF, options.sndbuf);
    if (!err && options.rcvbuf) err = setIntOption(fd, SOL_SOCKET, SO_RCVBUF, options.rcvbuf);
    // Nagle off, so a response that leaves in two writes is not held back waiting for an ACK;
    // accepted sockets inherit it.
    if (!err && (options.noDelay ?? true)) err = setIntOption(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    // The kernel completes the handshake but hands us the connection only once its first bytes
    // have arrived (or after the timeout), so connections that never speak cost no descriptor
    // and the first read after accept finds the request waiting.
    if (!err) err = setIntOption(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECONDS);
    if (err) throw describeListenError(err, options.host, options.port, "setsockopt");
    const addr = encodeSockaddr(parsed.family, parsed.bytes, options.port);
    if (bind(fd, addr, addr.byteLength) < 0) {
      throw describeListenError(lastErrno(), options.host, options.port, "bind");
    }
    if (!options.bindOnly && listen(fd, options.backlog ?? SOMAXCONN) < 0) {
      throw describeListenError(lastErrno(), options.host, options.port, "listen");
    }
    const bound = localAddress(fd);
    return {
      get fd() {
        return owned.fd;
      },
      host: bound.host,
      port: bound.port,
      family: bound.family,
      [Symbol.dispose]: () => owned[Symbol.dispose](),
    };
  } catch (e) {
    owned[Symbol.dispose]();
    throw e;
  }
}

/**
 * Takes over a listening socket inherited from the parent (systemd's socket activation, or a
 * descriptor the caller passed): checks it is a listening stream socket, makes it non-blocking
 * and close-on-exec (systemd passes them without either).
 * @throws {SyscallError} when `fd` is not an open, listening stream socket
 */
export function adoptListener(fd: number): Listener {
  const what = `Cannot use descriptor ${fd} as a listening socket`;
  const type = getIntOption(fd, SOL_SOCKET, SO_TYPE);
  if (type < 0) throw new SyscallError("getsockopt", -type, what);
  if (type !== SOCK_STREAM) throw new SyscallError("getsockopt", ENOTSOCK, `${what}: not a stream socket`);
  if (getIntOption(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 1) {
    throw new SyscallError("getsockopt", EINVAL, `${what}: it does not listen`);
  }
  INT_BUF[0] = 1;
  if (ioctl(fd, FIONBIO, INT_BYTES) < 0 || ioctl(fd, FIOCLEX, null) < 0) {
    throw new SyscallError("ioctl", lastErrno(), what);
  }
  const owned = new OwnedFd(fd);
  const bound = localAddress(fd);
  return {
    get fd() {
      return owned.fd;
    },
    host: bound.host,
    port: bound.port,
    family: bound.family,
    path: null,
    [Symbol.dispose]: () => owned[Symbol.dispose](),
  };
}

/**
 * The local address of a socket.
 * @throws {SyscallError} if getsockname fails
 */
export function localAddress(fd: number): ReturnType<typeof decodeSockaddr> {
  const addr = new Uint8Array(SOCKADDR_MAX);
  const len = new Uint32Array([SOCKADDR_MAX]);
  if (getsockname(fd, addr, new Uint8Array(len.buffer)) < 0) {
    throw new SyscallError("getsockname", lastErrno(), "Cannot read the bound address");
  }
  return decodeSockaddr(addr.subarray(0, len[0]));
}

/**
 * The peer address of a connected socket: its text (`127.0.0.1` or `::1`, or `-` if unknown)
 * and port (0 if unknown).
 */
export function peerAddress(fd: number): { host: string; port: number } {
  const addr = new Uint8Array(SOCKADDR_MAX);
  const len = new Uint32Array([SOCKADDR_MAX]);
  if (getpeername(fd, addr, new Uint8Array(len.buffer)) < 0) return { host: "-", port: 0 };
  const { host, port } = decodeSockaddr(addr.subarray(0, len[0]));
  return { host, port };
}

/**
 * Accepts one connection, non-blocking and close-on-exec. TCP_NODELAY comes from the listening
 * socket: Linux copies it into every accepted socket, which saves a setsockopt per connection.
 * @returns the new descriptor, or -errno (-EAGAIN when the queue is empty)
 */
export function acceptConnection(listenFd: number): number {
  const fd = accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
  return fd < 0 ? -lastErrno() : fd;
}

/**
 * read(2), retried on EINTR.
 * @returns bytes read (0 at end of stream) or -errno
 */
export function readFd(fd: number, buf: Uint8Array, length: number): number {
  for (;;) {
    const n = read(fd, buf, length);
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno !== EINTR) return -errno;
  }
}

/**
 * recv(2) of at most `length` bytes from a socket, retried on EINTR: read(2)'s result, without
 * the file layer read(2) crosses first (fdget_pos, rw_verify_area, vfs_read, sock_read_iter:
 * ~0.1 µs of kernel time a call in `perf record` of a loaded server, 2026-12-06).
 * @param flags recv(2)'s, e.g. MSG_PEEK (peekFd)
 * @returns bytes read (0 at end of stream) or -errno
 */
export function recvFd(fd: number, buf: Uint8Array, length: number, flags = 0): number {
  for (;;) {
    const n = recv(fd, buf, length, flags);
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno !== EINTR) return -errno;
  }
}

/**
 * send(2) of `buf[0, length)` to a socket, retried on EINTR: write(2) without the file layer
 * (as recvFd), and with MSG_NOSIGNAL, so a peer that has gone is EPIPE whatever SIGPIPE's
 * disposition.
 * @returns bytes sent or -errno
 */
export function sendFd(fd: number, buf: Uint8Array, length: number): number {
  for (;;) {
    const n = send(fd, buf, length, MSG_NOSIGNAL);
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno !== EINTR) return -errno;
  }
}

/**
 * recv(2) with MSG_PEEK: looks at the first bytes without taking them, retried on EINTR.
 * @returns bytes seen (0 at end of stream) or -errno
 */
export function peekFd(fd: number, buf: Uint8Array, length: number): number {
  return recvFd(fd, buf, length, MSG_PEEK);
}

/**
 * write(2) of `buf[0, length)`, retried on EINTR. SIGPIPE is ignored (see ignoreSigpipe).
 * @returns bytes written or -errno
 */
export function writeFd(fd: number, buf: Uint8Array, length: number): number {
  for (;;) {
    const n = write(fd, buf, length);
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno !== EINTR) return -errno;
  }
}

/**
 * sendfile's off_t, written as two little-endian 32-bit halves (x86-64): `BigInt(offset)` into a
 * BigInt64Array allocated a BigInt per call (17-19 ns against 5-6 ns, and garbage per response).
 */
const OFFSET_WORDS = new Uint32Array(2);
const OFFSET_BYTES = new Uint8Array(OFFSET_WORDS.buffer);
const TWO_TO_32 = 2 ** 32;

/**
 * sendfile(2) from `fileFd` at `offset` into a socket, retried on EINTR.
 * @param offset byte offset in the file (a Number: files up to 2^53 bytes)
 * @param count at most 2^31 - 1 bytes per call
 * @returns bytes sent or -errno
 */
export function sendFile(sockFd: number, fileFd: number, offset: number, count: number): number {
  for (;;) {
    OFFSET_WORDS[0] = offset % TWO_TO_32;
    OFFSET_WORDS[1] = Math.floor(offset / TWO_TO_32);
    const n = sendfile(sockFd, fileFd, OFFSET_BYTES, count);
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno !== EINTR) return -errno;
  }
}

/** shutdown(fd, SHUT_WR): sends FIN after everything queued, keeps reading possible. */
export function shutdownWrite(fd: number): void {
  shutdown(fd, SHUT_WR);
}

/** The effective SO_SNDBUF and SO_RCVBUF of a socket, in bytes (the kernel doubles requests). */
export function socketBufferSizes(fd: number): { sndbuf: number; rcvbuf: number } {
  return {
    sndbuf: getIntOption(fd, SOL_SOCKET, SO_SNDBUF),
    rcvbuf: getIntOption(fd, SOL_SOCKET, SO_RCVBUF),
  };
}

/**
 * A non-blocking eventfd, used to wake a blocked epoll_wait.
 * @throws {SyscallError}
 */
export function makeEventFd(): OwnedFd {
  const fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw new SyscallError("eventfd", lastErrno(), "Cannot create an eventfd");
  return new OwnedFd(fd);
}
