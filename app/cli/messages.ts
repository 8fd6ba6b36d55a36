// The CLI's words for failures the layers below report as facts: a SyscallError says which call
// failed on which address or path; here it gains the flag that would fix it.

import type { SyscallError } from "../../ffi/errno.ts";
import { EACCES, EADDRINUSE, EADDRNOTAVAIL, EINVAL, ENOENT, ENOTDIR } from "../../ffi/errno_numbers.ts";

/**
 * The hint for a command-line user, naming the flag to change.
 * @param e a failure from listening or from opening the root
 * @returns the same failure with the flag hint added
 */
export function withFlagHint(e: SyscallError): SyscallError {
  const { host, port, path, permission } = e.facts;
  if (port !== undefined && !e.facts.hint) {
    if (e.errno === EADDRINUSE) {
      return e.withHint(`is another server on port ${port}? Choose another with --port`);
    }
    if (e.errno === EACCES) {
      return e.withHint("ports below 1024 need privileges; use --port 8080 or run as root");
    }
    if (e.errno === EADDRNOTAVAIL) {
      return e.withHint("that address is not on this machine; try --host 127.0.0.1 or --host 0.0.0.0");
    }
    if (e.errno === EINVAL && host !== undefined) {
      return e.withHint("--host takes an IPv4 or IPv6 literal or localhost");
    }
  }
  if (path !== undefined) {
    if (permission === "r") return e.withHint("give --no-listing to serve its files anyway");
    if (e.errno === ENOENT) return e.withHint("check the directory given (DIR or --root)");
    if (e.errno === ENOTDIR) return e.withHint("--root takes a directory");
  }
  return e;
}
