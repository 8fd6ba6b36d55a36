// Unix-domain sockets over libc: a listening socket at a path (replacing a stale one), a
// connected pair for tests, and a lock held by a name in the abstract namespace. Setup functions
// throw SyscallError with a message that says what to do.

import { AF_UNIX, lastErrno, libc, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM } from "./libc.ts";
import { SyscallError } from "./errno.ts";
import { EADDRINUSE, ECONNREFUSED, EINVAL } from "./errno_numbers.ts";
import { type Listener, OwnedFd, SOMAXCONN } from "./socket.ts";

const { bind, chmod, connect, listen, socket, socketpair, unlink } = libc.symbols;

/** struct sockaddr_un: sun_path holds 108 bytes, the terminating NUL included. */
const SUN_PATH_MAX = 107;

function unixSockaddr(path: string): Uint8Array {
  const bytes = new TextEncoder().encode(path);
  if (bytes.length === 0 || bytes.length > SUN_PATH_MAX || bytes.includes(0)) {
    throw new SyscallError("bind", EINVAL, `Cannot listen on ${path}: a Unix socket path is 1 to 107 bytes`, {
      path,
    });
  }
  const addr = new Uint8Array(2 + bytes.length + 1);
  addr[0] = AF_UNIX;
  addr.set(bytes, 2);
  return addr;
}

/**
 * Removes a socket file that nothing listens on (a previous server's, left by a crash): a
 * connect(2) to it is refused. A file that is not a socket, or one that answers, is left alone
 * (bind then fails with EADDRINUSE, which says what to do).
 */
function removeStaleSocket(path: string, addr: Uint8Array): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!info.isSocket) return;
  const probe = new OwnedFd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  try {
    if (probe.fd < 0) return;
    if (connect(probe.fd, addr, addr.length) < 0 && lastErrno() === ECONNREFUSED) unlink(addr.subarray(2));
  } finally {
    probe[Symbol.dispose]();
  }
}

/**
 * Creates a listening Unix stream socket at `path`: non-blocking, close-on-exec; a stale socket
 * file is replaced, and the file is removed when the listener is disposed.
 * @param mode the file's permissions (e.g. 0o660), or null for what the umask leaves
 * @throws {SyscallError} when the path is too long, in use, or a call fails
 */
export function listenUnix(path: string, mode: number | null, backlog = SOMAXCONN): Listener {
  const addr = unixSockaddr(path);
  const fail = (call: string, errno: number) =>
    new SyscallError(call, errno, `Cannot listen on ${path}`, { path });
  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail("socket", lastErrno());
  const owned = new OwnedFd(fd);
  let bound = false;
  try {
    removeStaleSocket(path, addr);
    if (bind(fd, addr, addr.length) < 0) throw fail("bind", lastErrno());
    bound = true;
    if (mode !== null && chmod(addr.subarray(2), mode) < 0) throw fail("chmod", lastErrno());
    if (listen(fd, backlog) < 0) throw fail("listen", lastErrno());
  } catch (e) {
    if (bound) unlink(addr.subarray(2));
    owned[Symbol.dispose]();
    throw e;
  }
  return {
    get fd() {
      return owned.fd;
    },
    host: path,
    port: 0,
    family: AF_UNIX,
    path,
    [Symbol.dispose]: () => {
      if (owned.fd < 0) return;
      unlink(addr.subarray(2)); // before close: a new server may bind the path at once after
      owned[Symbol.dispose]();
    },
  };
}

/**
 * A connected pair of non-blocking Unix stream sockets, for tests.
 * @throws {SyscallError}
 */
export function makeSocketPair(): [OwnedFd, OwnedFd] {
  const fds = new Int32Array(2);
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, new Uint8Array(fds.buffer)) < 0) {
    throw new SyscallError("socketpair", lastErrno(), "Cannot create a socket pair");
  }
  return [new OwnedFd(fds[0]!), new OwnedFd(fds[1]!)];
}

/**
 * Takes a lock that lasts as long as the returned descriptor: a Unix socket bound to `name` in
 * the abstract namespace (a name that starts with a NUL byte). Abstract names belong to the
 * network namespace, not the file system, so nothing is left behind when the process dies, and
 * a second bind of the same name fails with EADDRINUSE.
 * @param name up to 100 bytes, e.g. `rawserve 127.0.0.1:8080`
 * @returns the lock's owner, or null when another process holds it
 * @throws {SyscallError} when the socket cannot be made at all
 */
export function lockAbstractName(name: string): OwnedFd | null {
  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError("socket", lastErrno(), "Cannot create a Unix socket");
  const owned = new OwnedFd(fd);
  // struct sockaddr_un { sa_family_t sun_family; char sun_path[108]; }; the address length
  // counts the leading NUL and the name, not a terminator.
  const path = new TextEncoder().encode(name).subarray(0, 100);
  const addr = new Uint8Array(2 + 1 + path.length);
  addr[0] = AF_UNIX;
  addr.set(path, 3);
  if (bind(fd, addr, addr.length) < 0) {
    const errno = lastErrno();
    owned[Symbol.dispose]();
    if (errno === EADDRINUSE) return null;
    throw new SyscallError("bind", errno, `Cannot take the lock ${JSON.stringify(name)}`);
  }
  return owned;
}
