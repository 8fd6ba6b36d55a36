// The platform rawserve's FFI is written for: Linux's system calls with x86-64's struct layouts
// (epoll_event packed in 12 bytes, sockaddr, stat, tcp_info offsets). Elsewhere nothing may be
// loaded: on macOS or Windows libc.so.6 is missing, and on aarch64 Linux the layouts would be
// wrong without any error. This module imports nothing and opens nothing.

/** The one platform rawserve runs on, as Deno.build names it. */
export const SUPPORTED_PLATFORM = { os: "linux", arch: "x86_64" } as const;

/**
 * Why rawserve cannot run here, as one line, or null where it can.
 * @param build the platform (default Deno.build; tests pass another)
 */
export function unsupportedPlatform(build: { os: string; arch: string } = Deno.build): string | null {
  if (build.os === SUPPORTED_PLATFORM.os && build.arch === SUPPORTED_PLATFORM.arch) return null;
  return `rawserve runs on Linux x86-64 only (its system calls use that platform's struct layouts); ` +
    `this is ${build.os} ${build.arch}`;
}

/**
 * A stand-in for a library that must not be opened on this platform: its symbols can be
 * destructured at module level as usual, and each throws `why` when called.
 * @param why the line unsupportedPlatform() gave
 */
export function unopenedLibrary<S extends Deno.ForeignLibraryInterface>(why: string): Deno.DynamicLibrary<S> {
  const fail = () => {
    throw new Error(why);
  };
  const symbols = new Proxy({}, { get: () => fail });
  return { symbols, close() {} } as unknown as Deno.DynamicLibrary<S>;
}
