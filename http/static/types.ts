// What the static file server needs from the file system and a compressor, and its options. The
// application layer provides both (app/site/static_fs.ts over ffi/files.ts, app/site/compressor.ts over
// node:zlib on a worker); tests provide them in memory.

import type { Coding } from "../negotiation.ts";
import type { OpenFiles } from "./open_files.ts";

/** What the static server reads from fstat(2). */
export interface FileInfo {
  /** The device holding it (with `ino`, the file's identity); absent where there is one device. */
  dev?: number;
  size: number;
  mtimeMs: number;
  ino: number;
  isFile: boolean;
  isDirectory: boolean;
}

/** One entry of a directory listing. */
export interface DirEntry {
  name: string;
  isDirectory: boolean;
  size: number;
  mtimeMs: number;
}

/**
 * The errno numbers a StaticFs may return (as -errno) that the handler tells apart: Linux's
 * numbering, part of the contract (http/ imports nothing below it; tests/http/errno_contract_test.ts
 * checks these against ffi/errno_numbers.ts).
 */
export const FS_ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EXDEV: 18,
  ENOTDIR: 20,
  EACCES: 13,
  ENFILE: 23,
  EMFILE: 24,
  ENAMETOOLONG: 36,
  ELOOP: 40,
} as const;

/** File-system operations, bound to the served root. Counts and fds, or -errno. */
export interface StaticFs {
  /** Opens a normalised relative path ("" is the root itself) beneath the root, without blocking. */
  open(relPath: string): number;
  stat(fd: number, out: FileInfo): number;
  readWhole(fd: number, size: number): Uint8Array | number;
  close(fd: number): void;
  /**
   * Lists a directory (for listings): every entry up to a bound the file system sets, in no
   * particular order; the listing sorts them and shows the first MAX_LISTING_ENTRIES (listing.ts).
   */
  readDir(relPath: string): Promise<{
    entries: DirEntry[];
    /** The directory has more entries than were read (past the bound). */
    truncated: boolean;
  }>;
}

/** Makes compressed copies of whole files, off the reactor's thread. */
export interface Compressor {
  /** The codings it makes: bit i stands for CODINGS[i] (http/negotiation.ts). */
  readonly codings: number;
  /**
   * Compresses a file's bytes.
   * @param text whether the bytes are text (brotli has a mode for it)
   * @param wanted asked just before the work starts (it may wait behind other files): false
   *   skips it, because nobody waits for the copy any more
   * @returns the copy, or null when skipped; rejects when it cannot be made
   */
  compress(
    coding: Coding,
    data: Uint8Array,
    text: boolean,
    wanted?: () => boolean,
  ): Promise<Uint8Array | null>;
}

/** Options for the static handler. */
export interface StaticOptions {
  fs: StaticFs;
  /** Show a listing (HTML, or JSON) for directories without index.html (else 404). */
  listing: boolean;
  /** Serve names starting with a dot. */
  dotfiles: boolean;
  /**
   * The Cache-Control value for files no `immutable` glob matches, HTML and listings included;
   * null sends none; absent keeps the presets (`no-cache`).
   */
  cacheControl?: string | null;
  /** Globs of paths beneath the root whose files are fingerprinted: sent as immutable for a year. */
  immutable?: readonly string[];
  /**
   * Send content codings (default true): precompressed sidecars, and copies made by
   * `compressor` when one is given.
   */
  compress?: boolean;
  /** Makes compressed copies of compressible files; without one, only sidecars are sent encoded. */
  compressor?: Compressor | null;
  /** A missing path whose last segment has no extension gets the root's index.html (200). */
  spa?: boolean;
  /**
   * Keeps the descriptors of files sent with sendfile open between responses; its descriptors
   * must close with `fs.close`. Absent: each response opens and closes its file.
   */
  openFiles?: OpenFiles | null;
  /** Logs unexpected file-system errors (500s) and failed compressions. */
  logError?: (message: string) => void;
}

/** A fresh FileInfo to be filled by `StaticFs.stat`. */
export function emptyFileInfo(): FileInfo {
  return { size: 0, mtimeMs: 0, ino: 0, isFile: false, isDirectory: false };
}
