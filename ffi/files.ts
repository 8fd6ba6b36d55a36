// Files for the static server: the served root as a descriptor, opening paths beneath it with
// openat2(RESOLVE_BENEATH) so no path or symbolic link can leave it, fstat and whole-file reads.
// Hot functions return -errno; opening the root throws SyscallError with a message for the user.

import {
  lastErrno,
  libc,
  MFD_CLOEXEC,
  O_CLOEXEC,
  O_DIRECTORY,
  O_NOCTTY,
  O_NONBLOCK,
  O_PATH,
  O_RDONLY,
  R_OK,
  RESOLVE_BENEATH,
  RESOLVE_NO_MAGICLINKS,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  STAT,
  SYS_OPENAT2,
  X_OK,
} from "./libc.ts";
import { SyscallError } from "./errno.ts";
import { EINTR, ENAMETOOLONG, ENOSYS } from "./errno_numbers.ts";
import { OwnedFd } from "./socket.ts";

/** What rawserve reads from fstat(2). */
export interface FileStat {
  /** The device holding it: with `ino`, what names this file and no other. */
  dev: number;
  size: number;
  mtimeMs: number;
  ino: number;
  isFile: boolean;
  isDirectory: boolean;
}

const { access, close, fstat, memfd_create, open, openat, pread, pread64, read, syscall4, write } =
  libc.symbols;

/** Longest path passed to the kernel (PATH_MAX, including the NUL). */
const PATH_MAX = 4096;
const PATH_BUF = new Uint8Array(PATH_MAX);
const ENCODER = new TextEncoder();
// struct open_how { u64 flags; u64 mode; u64 resolve; }
const HOW = new BigUint64Array(3);
const HOW_BYTES = new Uint8Array(HOW.buffer);
const STAT_BUF = new Uint8Array(STAT.SIZE);
const STAT_VIEW = new DataView(STAT_BUF.buffer);
let openat2Missing = false;

function cString(path: string): Uint8Array | null {
  const { written, read: used } = ENCODER.encodeInto(path, PATH_BUF.subarray(0, PATH_MAX - 1));
  if (used < path.length) return null;
  PATH_BUF[written] = 0;
  return PATH_BUF;
}

/**
 * Opens the directory to serve, as an O_PATH descriptor used only as the base for openat2.
 * An O_PATH open needs no permission on the directory itself, so access(2) checks first what
 * serving will need: search (x) permission to reach anything beneath it, and read (r)
 * permission when directories are to be listed.
 * @param needRead whether listings are on
 * @throws {SyscallError} "Cannot serve ./site: no such file or directory (ENOENT)"
 */
export function openRoot(dir: string, needRead: boolean): OwnedFd {
  const path = cString(dir);
  if (!path) throw new SyscallError("open", ENAMETOOLONG, `Cannot serve ${dir}`, { path: dir });
  const fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) {
    throw new SyscallError("open", lastErrno(), `Cannot serve ${dir}`, { path: dir });
  }
  const owned = new OwnedFd(fd);
  const denied = (mode: number) => access(path, mode) < 0 ? lastErrno() : 0;
  let errno = denied(X_OK);
  let permission: "x" | "r" = "x";
  let hint = "this user cannot enter it; check its permissions (it needs x)";
  if (!errno && needRead) {
    errno = denied(R_OK);
    permission = "r";
    hint = "this user cannot list it (it needs r)";
  }
  if (errno) {
    owned[Symbol.dispose]();
    throw new SyscallError("access", errno, `Cannot serve ${dir}`, { path: dir, permission, hint });
  }
  return owned;
}

/**
 * Flags for every file opened on a request's behalf. O_NONBLOCK because open(2) of a FIFO for
 * reading waits for a writer, which would freeze the only thread (and every client with it);
 * with it the open returns at once and fstat shows what was opened, so the caller refuses
 * anything but regular files and directories. On regular files and directories O_NONBLOCK
 * changes nothing (reads of them never return EAGAIN), as nginx relies on too. O_NOCTTY so a
 * terminal reached through a link never becomes our controlling terminal.
 */
const OPEN_FLAGS = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;

/**
 * Opens `relPath` (no leading slash, already normalised) for reading beneath `rootFd`, without
 * blocking (see OPEN_FLAGS): the caller must fstat the result and refuse what is not a
 * regular file or a directory.
 * Without `followSymlinks`, RESOLVE_BENEATH makes the kernel refuse (EXDEV) any resolution,
 * symbolic links included, that would leave the root; with it, links may point anywhere.
 * @returns a descriptor or -errno
 */
export function openBeneath(rootFd: number, relPath: string, followSymlinks: boolean): number {
  const path = cString(relPath === "" ? "." : relPath);
  if (!path) return -ENAMETOOLONG;
  for (;;) {
    let fd: number;
    if (followSymlinks || openat2Missing) {
      fd = openat(rootFd, path, OPEN_FLAGS, 0);
    } else {
      HOW[0] = BigInt(OPEN_FLAGS);
      HOW[1] = 0n;
      HOW[2] = BigInt(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
      fd = syscall4(SYS_OPENAT2, rootFd, path, HOW_BYTES, 24);
    }
    if (fd >= 0) return fd;
    const errno = lastErrno();
    if (errno === EINTR) continue;
    if (errno === ENOSYS && !openat2Missing) {
      // Kernels before 5.6: the caller checks containment itself (needsPathContainmentCheck).
      openat2Missing = true;
      continue;
    }
    return -errno;
  }
}

/** Whether openat2 is unavailable and symlink containment must be checked by path. */
export function needsPathContainmentCheck(): boolean {
  return openat2Missing;
}

/**
 * fstat(2) into `out`.
 * @returns 0 or -errno
 */
export function statFd(fd: number, out: FileStat): number {
  if (fstat(fd, STAT_BUF) < 0) return -lastErrno();
  const v = STAT_VIEW;
  const mode = v.getUint32(STAT.MODE, true) & S_IFMT;
  out.size = v.getUint32(STAT.FILE_SIZE, true) + v.getUint32(STAT.FILE_SIZE + 4, true) * 2 ** 32;
  out.dev = v.getUint32(STAT.DEV, true) + v.getUint32(STAT.DEV + 4, true) * 2 ** 32;
  out.ino = v.getUint32(STAT.INO, true) + v.getUint32(STAT.INO + 4, true) * 2 ** 32;
  out.mtimeMs = (v.getUint32(STAT.MTIME_SEC, true) + v.getInt32(STAT.MTIME_SEC + 4, true) * 2 ** 32) * 1000 +
    Math.floor(v.getUint32(STAT.MTIME_NSEC, true) / 1e6);
  out.isFile = mode === S_IFREG;
  out.isDirectory = mode === S_IFDIR;
  return 0;
}

/**
 * Reads a whole small file (for the in-memory cache).
 * @returns the bytes, or -errno
 */
export function readWhole(fd: number, size: number): Uint8Array | number {
  const buf = new Uint8Array(size);
  let got = 0;
  while (got < size) {
    const n = read(fd, got ? buf.subarray(got) : buf, size - got);
    if (n < 0) {
      const errno = lastErrno();
      if (errno === EINTR) continue;
      return -errno;
    }
    if (n === 0) return buf.subarray(0, got); // shrank while reading
    got += n;
  }
  return buf;
}

/** Offsets below this go through the u32 (fast-call) pread; larger ones through pread64. */
const PREAD_U32_LIMIT = 2 ** 32;

/**
 * pread(2) of up to `length` bytes at `offset` into `buf`, retried on EINTR. Offsets below
 * 4 GiB take the fast-call symbol (see LIBC.pread); larger ones pay a BigInt.
 * @returns bytes read (0 at end of file) or -errno
 */
export function preadFd(fd: number, buf: Uint8Array, length: number, offset: number): number {
  for (;;) {
    const n = offset < PREAD_U32_LIMIT
      ? pread(fd, buf, length, offset)
      : pread64(fd, buf, length, BigInt(offset));
    if (n >= 0) return n;
    const errno = lastErrno();
    if (errno !== EINTR) return -errno;
  }
}

/** close(2) for a file descriptor opened here. */
export function closeFd(fd: number): void {
  close(fd);
}

/**
 * A file in memory (memfd_create(2)) holding `bytes`, for a library that reads only from paths:
 * it is reachable as `/proc/self/fd/N` while the descriptor is open, and never touches a disk.
 * @param name shown in /proc/PID/fd (as `memfd:NAME`)
 * @returns the owned descriptor and its path
 * @throws {SyscallError} when it cannot be made or written
 */
export function memoryFile(name: string, bytes: Uint8Array): { fd: OwnedFd; path: string } {
  const fd = memfd_create(cString(name)!, MFD_CLOEXEC);
  if (fd < 0) throw new SyscallError("memfd_create", lastErrno(), `Cannot hold ${name} in memory`);
  const owned = new OwnedFd(fd);
  for (let off = 0; off < bytes.length;) {
    const n = write(fd, bytes.subarray(off), bytes.length - off);
    if (n < 0 && lastErrno() === EINTR) continue;
    if (n <= 0) {
      const errno = lastErrno();
      owned[Symbol.dispose]();
      throw new SyscallError("write", errno, `Cannot hold ${name} in memory`);
    }
    off += n;
  }
  return { fd: owned, path: `/proc/self/fd/${fd}` };
}
