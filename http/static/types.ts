// What the static file server needs from the file system, and its options. The application
// layer provides the file system (app/static_fs.ts over ffi/files.ts); tests provide one in memory.

/** What the static server reads from fstat(2). */
export interface FileInfo {
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

/** File-system operations, bound to the served root. Counts and fds, or -errno. */
export interface StaticFs {
  /** Opens a normalised relative path ("" is the root itself) beneath the root, without blocking. */
  open(relPath: string): number;
  stat(fd: number, out: FileInfo): number;
  readWhole(fd: number, size: number): Uint8Array | number;
  close(fd: number): void;
  /** Lists a directory (for listings); at most a bounded number of entries. */
  readDir(relPath: string): Promise<{
    entries: DirEntry[];
    /** The directory has more entries than a listing shows. */
    truncated: boolean;
  }>;
}

/** Options for the static handler. */
export interface StaticOptions {
  fs: StaticFs;
  /** Show an HTML listing for directories without index.html (else 404). */
  listing: boolean;
  /** Serve names starting with a dot. */
  dotfiles: boolean;
  /** The Cache-Control value, or null for none. */
  cacheControl: string | null;
  /** Logs unexpected file-system errors (500s). */
  logError?: (message: string) => void;
}

/** A fresh FileInfo to be filled by `StaticFs.stat`. */
export function emptyFileInfo(): FileInfo {
  return { size: 0, mtimeMs: 0, ino: 0, isFile: false, isDirectory: false };
}
