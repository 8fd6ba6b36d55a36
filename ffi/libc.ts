// The one Deno.dlopen of libc: every system call rawserve makes goes through this table.
// Hot-path symbols take only i32/u32/buffer parameters so V8 can use its fast-call path;
// 64-bit integer types would force BigInt conversions on every call (measured: docs/performance.md).

import { unopenedLibrary, unsupportedPlatform } from "./platform.ts";

/**
 * Why `u32` lengths are safe even though libc reads a 64-bit `size_t` register.
 *
 * The x86-64 SysV ABI leaves the upper half of a register holding a 32-bit argument undefined,
 * and `read(int, void *, size_t)` reads all of `rdx`. Deno's fast path (ext/ffi/turbocall.rs)
 * compiles a Cranelift trampoline that declares a `u32` parameter as a plain `I32` with no
 * `uext`, so the register reaches libc as V8 left it. V8's x64 backend keeps every Word32 value
 * zero-extended (32-bit instructions clear the upper half, and V8 itself relies on that to
 * elide Uint32 -> Uint64 changes), and the slow path goes through libffi, which widens a
 * UINT32 argument to 64 bits explicitly. So the callee sees the exact length. Nothing in the
 * ABI promises it, therefore tests/ffi/libc_test.ts drives `read`/`write` through the JIT-hot
 * fast path with many lengths and checks every count and byte.
 */
export const LIBC = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" }, // int domain, int type, int protocol
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" }, // ..., int sv[2]
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" }, // fd, level, name, const void *val, socklen_t len
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" }, // fd, level, name, void *val, socklen_t *len
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" }, // fd, const sockaddr *addr, socklen_t len
  listen: { parameters: ["i32", "i32"], result: "i32" }, // fd, int backlog
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" }, // fd, sockaddr *addr, socklen_t *len, int flags
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" }, // fd, sockaddr *addr, socklen_t *len
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" }, // fd, sockaddr *addr, socklen_t *len
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" }, // fd, const sockaddr *addr, socklen_t len
  unlink: { parameters: ["buffer"], result: "i32" }, // const char *path
  chmod: { parameters: ["buffer", "u32"], result: "i32" }, // const char *path, mode_t mode
  read: { parameters: ["i32", "buffer", "u32"], result: "i32" }, // int fd, void *buf, size_t count -> ssize_t
  write: { parameters: ["i32", "buffer", "u32"], result: "i32" }, // int fd, const void *buf, size_t count -> ssize_t
  recv: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" }, // int fd, void *buf, size_t len, int flags
  send: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" }, // int fd, const void *buf, size_t len, int flags
  // ssize_t pread(int fd, void *buf, size_t count, off_t offset) with the offset as u32: offsets
  // below 4 GiB arrive zero-extended (the note above), which is off_t's value for them; one
  // fast call per chunk of a file sent over TLS. pread64 takes any offset, through a BigInt.
  pread: { parameters: ["i32", "buffer", "u32", "u32"], result: "i32" },
  pread64: { name: "pread", parameters: ["i32", "buffer", "u32", "i64"], result: "i32" },
  sendfile: { parameters: ["i32", "i32", "buffer", "u32"], result: "i32" }, // int out, int in, off_t *offset, size_t count -> ssize_t
  close: { parameters: ["i32"], result: "i32" }, // int fd
  memfd_create: { parameters: ["buffer", "u32"], result: "i32" }, // const char *name, unsigned int flags
  shutdown: { parameters: ["i32", "i32"], result: "i32" }, // int fd, int how
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" }, // const char *path, int flags, mode_t mode
  openat: { parameters: ["i32", "buffer", "i32", "u32"], result: "i32" }, // int dirfd, const char *path, int flags, mode_t mode
  // long syscall(long nr, ...): used for openat2(2), which glibc does not wrap. The number and
  // arguments are small non-negative values, passed zero-extended (see the note above).
  syscall4: { name: "syscall", parameters: ["u32", "i32", "buffer", "buffer", "u32"], result: "i32" },
  fstat: { parameters: ["i32", "buffer"], result: "i32" }, // int fd, struct stat *st (glibc >= 2.33 exports it)
  getdents64: { parameters: ["i32", "buffer", "u32"], result: "i32" }, // int fd, void *dirp, size_t count -> ssize_t (glibc >= 2.30)
  access: { parameters: ["buffer", "i32"], result: "i32" }, // const char *path, int mode
  eventfd: { parameters: ["u32", "i32"], result: "i32" }, // unsigned initval, int flags
  epoll_create1: { parameters: ["i32"], result: "i32" }, // int flags
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" }, // int ep, int op, int fd, struct epoll_event *ev
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" }, // int ep, epoll_event *evs, int max, int timeout_ms
  // The same call run on Deno's blocking thread pool and awaited: the reactor's idle wait.
  // Deno's event loop (timers, signals, promises) keeps running while it blocks.
  epoll_wait_blocking: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  // usleep(3) on Deno's blocking thread pool and awaited: a wait that Deno's runtime parks through.
  usleep_blocking: { name: "usleep", parameters: ["u32"], result: "i32", nonblocking: true }, // useconds_t us
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" }, // int resource, struct rlimit *rl
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" }, // int resource, const struct rlimit *rl
  prctl: { parameters: ["i32", "u32", "u32", "u32", "u32"], result: "i32" }, // int option, unsigned long args...
  // int ioctl(int fd, unsigned long request, int *arg): variadic in C. On x86-64 a variadic
  // callee takes integer and pointer arguments from the same registers as a fixed one and reads
  // %al only to decide whether to spill vector registers, which is harmless either way; the
  // request numbers used are below 2^31 and arrive zero-extended (see the note above).
  ioctl: { parameters: ["i32", "u32", "buffer"], result: "i32" },
  signal: { parameters: ["i32", "pointer"], result: "pointer" }, // int sig, sighandler_t handler
  __errno_location: { parameters: [], result: "pointer" }, // int *(void)
} as const satisfies Deno.ForeignLibraryInterface;

/** Why libc must not be opened here (null on Linux x86-64): see platform.ts. */
const UNSUPPORTED = unsupportedPlatform();

/**
 * The loaded library. Callers destructure `libc.symbols` once, at module level. On another
 * platform nothing is opened and every symbol throws the reason, so that importing rawserve
 * never fails and serve() can say why it cannot run.
 */
export const libc = UNSUPPORTED === null
  ? Deno.dlopen("libc.so.6", LIBC)
  : unopenedLibrary<typeof LIBC>(UNSUPPORTED);

// errno lives in thread-local storage; the main thread's slot never moves, so one view of it
// serves every synchronous call. Calls run on other threads (nonblocking) cannot read it.
const ERRNO_VIEW = UNSUPPORTED === null
  ? new Deno.UnsafePointerView(libc.symbols.__errno_location()!)
  : new DataView(new ArrayBuffer(4));

/**
 * The errno of the last failing synchronous call on this thread. Read it immediately after the
 * call returned -1: any later FFI call or allocation may overwrite it.
 * @returns the positive errno number
 */
export function lastErrno(): number {
  return ERRNO_VIEW.getInt32(0);
}

/** Address families, socket types and flags from <sys/socket.h> and friends (x86-64 Linux). */
export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_IPV6 = 41;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_REUSEPORT = 15;
/** getsockopt(SOL_SOCKET): the socket type, and whether it listens (an inherited socket's facts). */
export const SO_TYPE = 3;
export const SO_ACCEPTCONN = 30;
/** ioctl: set non-blocking (int *), and close-on-exec (no argument) on an inherited descriptor. */
export const FIONBIO = 0x5421;
export const FIOCLEX = 0x5451;
export const TCP_NODELAY = 1;
/** getsockopt(IPPROTO_TCP, TCP_INFO): `struct tcp_info` (linux/tcp.h); see ffi/socket_info.ts. */
export const TCP_INFO = 11;
/** ioctl: bytes received and not yet read (FIONREAD), and bytes sent but not acknowledged plus
 * not yet sent (TIOCOUTQ), on a TCP socket (linux/sockios.h, asm-generic/ioctls.h). */
export const SIOCINQ = 0x541b;
export const SIOCOUTQ = 0x5411;
export const IPV6_V6ONLY = 26;
export const SHUT_WR = 1;
export const MSG_PEEK = 2;
/** send(2): a peer that has gone gives EPIPE, never SIGPIPE, whatever the signal's disposition. */
export const MSG_NOSIGNAL = 0x4000;
export const O_RDONLY = 0;
export const O_NONBLOCK = 0o4000;
export const O_NOCTTY = 0o400;
/** memfd_create(2): close the descriptor on exec. */
export const MFD_CLOEXEC = 1;
export const O_CLOEXEC = 0o2000000;
export const O_DIRECTORY = 0o200000;
export const O_PATH = 0o10000000;
export const EFD_NONBLOCK = 0o4000;
export const EFD_CLOEXEC = 0o2000000;
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
/** access(2) modes. */
export const R_OK = 4;
export const X_OK = 1;
export const RLIMIT_NOFILE = 7;
export const SIGPIPE = 13;
export const SYS_OPENAT2 = 437;
/** openat2 `how.resolve` flags (linux/openat2.h). */
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_BENEATH = 0x08;

/** `struct epoll_event` is packed on x86-64: u32 events at 0, u64 data at 4 (12 bytes). */
export const EPOLL_EVENT_SIZE = 12;

/**
 * `struct stat` on x86-64 glibc: 144 bytes. Offsets of the fields rawserve reads.
 */
export const STAT = {
  SIZE: 144,
  DEV: 0,
  INO: 8,
  MODE: 24,
  FILE_SIZE: 48,
  MTIME_SEC: 88,
  MTIME_NSEC: 96,
} as const;
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;

/**
 * Makes a write to a socket whose peer has gone return EPIPE instead of killing the process.
 * Rust programs (Deno among them) already start with SIGPIPE ignored; this states it anyway so
 * that `write(2)` (one syscall, no flags) is safe on every socket rawserve owns.
 */
export function ignoreSigpipe(): void {
  libc.symbols.signal(SIGPIPE, Deno.UnsafePointer.create(1n)); // SIG_IGN == (sighandler_t)1
}

/**
 * Raises the soft limit on open files to the hard limit (as nginx's worker_rlimit_nofile does),
 * so the connection limit is set by the operator's hard limit, not the 1024 default.
 * @returns the soft limit now in force
 */
export function raiseFileLimit(): number {
  const rl = new BigUint64Array(2); // struct rlimit { rlim_t cur, max }
  const bytes = new Uint8Array(rl.buffer);
  if (libc.symbols.getrlimit(RLIMIT_NOFILE, bytes) < 0) return 1024;
  if (rl[0]! < rl[1]!) {
    const soft = rl[0]!;
    rl[0] = rl[1]!;
    if (libc.symbols.setrlimit(RLIMIT_NOFILE, bytes) < 0) rl[0] = soft;
  }
  return Number(rl[0]! > 1n << 31n ? 1n << 31n : rl[0]!);
}

/**
 * The soft limit on open files now in force (RLIMIT_NOFILE), for the status page.
 * @returns the limit, capped at 2^31, or -1 if it cannot be read
 */
export function fileLimit(): number {
  const rl = new BigUint64Array(2); // struct rlimit { rlim_t cur, max }
  if (libc.symbols.getrlimit(RLIMIT_NOFILE, new Uint8Array(rl.buffer)) < 0) return -1;
  return Number(rl[0]! > 1n << 31n ? 1n << 31n : rl[0]!);
}

const PR_SET_PDEATHSIG = 1;
const SIGTERM = 15;

/** Asks the kernel to send this process SIGTERM when its parent dies (workers use it). */
export function exitWithParent(): void {
  libc.symbols.prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
}
