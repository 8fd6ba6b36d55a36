// errno names and messages a person can act on (the numbers are in errno_numbers.ts).
// Hot paths compare `-errno` return values against these constants; setup code throws
// SyscallError, whose message names the call, the errno and what to do.

import {
  EACCES,
  EADDRINUSE,
  EADDRNOTAVAIL,
  EAFNOSUPPORT,
  EAGAIN,
  EBADF,
  ECONNABORTED,
  ECONNRESET,
  EFAULT,
  EHOSTUNREACH,
  EINTR,
  EINVAL,
  EIO,
  EISDIR,
  ELOOP,
  EMFILE,
  ENAMETOOLONG,
  ENETDOWN,
  ENETUNREACH,
  ENFILE,
  ENOBUFS,
  ENOENT,
  ENOMEM,
  ENOSPC,
  ENOSYS,
  ENOTCONN,
  ENOTDIR,
  ENOTSOCK,
  EPERM,
  EPIPE,
  EPROTO,
  ETIMEDOUT,
  EXDEV,
} from "./errno_numbers.ts";

const ERRNO_TABLE: Record<number, readonly [name: string, message: string]> = {
  [EPERM]: ["EPERM", "operation not permitted"],
  [ENOENT]: ["ENOENT", "no such file or directory"],
  [EINTR]: ["EINTR", "interrupted by a signal"],
  [EIO]: ["EIO", "input/output error"],
  [EBADF]: ["EBADF", "bad file descriptor"],
  [EAGAIN]: ["EAGAIN", "resource temporarily unavailable (EWOULDBLOCK)"],
  [ENOMEM]: ["ENOMEM", "out of memory"],
  [EACCES]: ["EACCES", "permission denied"],
  [EFAULT]: ["EFAULT", "bad address"],
  [EXDEV]: ["EXDEV", "path resolves outside the served directory"],
  [ENOTDIR]: ["ENOTDIR", "not a directory"],
  [EISDIR]: ["EISDIR", "is a directory"],
  [EINVAL]: ["EINVAL", "invalid argument"],
  [ENFILE]: ["ENFILE", "too many open files in the system"],
  [EMFILE]: ["EMFILE", "too many open files in this process"],
  [ENOSPC]: ["ENOSPC", "no space left on device"],
  [EPIPE]: ["EPIPE", "broken pipe: the peer closed the connection"],
  [ENAMETOOLONG]: ["ENAMETOOLONG", "file name too long"],
  [ENOSYS]: ["ENOSYS", "system call not available on this kernel"],
  [ELOOP]: ["ELOOP", "too many levels of symbolic links"],
  [EPROTO]: ["EPROTO", "protocol error"],
  [ENOTSOCK]: ["ENOTSOCK", "not a socket"],
  [EAFNOSUPPORT]: ["EAFNOSUPPORT", "address family not supported"],
  [EADDRINUSE]: ["EADDRINUSE", "address already in use"],
  [EADDRNOTAVAIL]: ["EADDRNOTAVAIL", "address not available on this machine"],
  [ENETDOWN]: ["ENETDOWN", "network is down"],
  [ENETUNREACH]: ["ENETUNREACH", "network is unreachable"],
  [ECONNABORTED]: ["ECONNABORTED", "connection aborted before it was accepted"],
  [ECONNRESET]: ["ECONNRESET", "connection reset by peer"],
  [ENOBUFS]: ["ENOBUFS", "no kernel buffer space available"],
  [ENOTCONN]: ["ENOTCONN", "socket is not connected"],
  [ETIMEDOUT]: ["ETIMEDOUT", "connection timed out"],
  [EHOSTUNREACH]: ["EHOSTUNREACH", "host is unreachable"],
};

/**
 * The symbolic name of an errno number.
 * @param errno a positive errno number
 * @returns `"EADDRINUSE"`, or `"errno 123"` for numbers outside the table
 */
export function errnoName(errno: number): string {
  return ERRNO_TABLE[errno]?.[0] ?? `errno ${errno}`;
}

/**
 * A short human description of an errno number.
 * @param errno a positive errno number
 * @returns `"address already in use"`, or `"errno 123"` for numbers outside the table
 */
export function errnoMessage(errno: number): string {
  return ERRNO_TABLE[errno]?.[1] ?? `errno ${errno}`;
}

/** Facts a SyscallError may carry beyond the call and errno, for whoever words the hint. */
export interface SyscallFacts {
  /** The address involved (`host` and `port` as given). */
  host?: string;
  port?: number;
  /** The path involved. */
  path?: string;
  /** The permission an access(2) check found missing: `x` (enter) or `r` (list). */
  permission?: "x" | "r";
  /** What the user can do, in words that name no flag or option (those are the caller's). */
  hint?: string;
}

/**
 * A failed system call during setup: the call, the errno and the facts. Its message says what
 * failed; whoever knows how the user spoke (the CLI's flags, serve()'s options) adds the hint
 * with {@linkcode SyscallError.withHint}.
 */
export class SyscallError extends Error {
  /** The positive errno number. */
  readonly errno: number;
  /** The name of the call that failed, e.g. `"bind"`. */
  readonly syscall: string;
  /** What rawserve was trying to do, e.g. `"Cannot listen on 127.0.0.1:80"`. */
  readonly what: string;
  /** The address, path or permission involved, and a hint that names no flag. */
  readonly facts: SyscallFacts;

  /**
   * @param syscall the call that failed
   * @param errno the positive errno it set
   * @param what what rawserve was trying to do, e.g. `"Cannot listen on 127.0.0.1:80"`
   * @param facts the address or path involved, and a hint free of flag names
   */
  constructor(syscall: string, errno: number, what: string, facts: SyscallFacts = {}) {
    const base = `${what}: ${errnoMessage(errno)} (${errnoName(errno)})`;
    super(facts.hint ? `${base}; ${facts.hint}` : base);
    this.name = "SyscallError";
    this.errno = errno;
    this.syscall = syscall;
    this.what = what;
    this.facts = facts;
  }

  /**
   * The same failure with the caller's hint (after the facts' own, if any).
   * @param hint what the user can do, in the user's terms (a flag, an option); "" for none
   * @returns a new error, or this one when there is no hint to add
   */
  withHint(hint: string): SyscallError {
    if (!hint) return this;
    const joined = this.facts.hint ? `${this.facts.hint}; ${hint}` : hint;
    return new SyscallError(this.syscall, this.errno, this.what, { ...this.facts, hint: joined });
  }
}

/**
 * A failure to start that is the user's to fix and is no system call's (a library that is not
 * installed, a certificate that does not parse): one line, exit code 1.
 */
export class StartupError extends Error {}
