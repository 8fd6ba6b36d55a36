// Descriptors of files sent with sendfile, kept open between responses (nginx's open_file_cache):
// a hot large file costs no openat2 + fstat + close per request. Each kept descriptor counts in the
// server's descriptor budget (HeldDescriptors), is tied to the version fstat described (dev, ino,
// size, mtime) and is closed when its last user lets go: the cache, and every response sending it.

import type { HeldDescriptors } from "../types.ts";
import type { FileInfo } from "./types.ts";

/**
 * Most descriptors kept open. Enough for the hot large files of a site (each costs one descriptor
 * of the budget and no memory beyond a small record); the server takes them back under pressure,
 * so this only bounds what an idle server holds for files nobody asks for any more.
 */
export const MAX_OPEN_FILES = 64;

/** One kept descriptor and who uses it. */
interface OpenFile {
  key: string;
  fd: number;
  /** Responses sending it now. */
  users: number;
  /** Whether the cache still holds it (counted in `held`), or only its users do. */
  kept: boolean;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** Kept descriptors by path beneath the root, oldest (last opened) first. */
export class OpenFiles implements HeldDescriptors, Disposable {
  #close: (fd: number) => void;
  #byKey = new Map<string, OpenFile>();
  /** Every descriptor in use or kept, by number (a number names one open descriptor at a time). */
  #byFd = new Map<number, OpenFile>();

  /** @param close closes a descriptor of the file system the handler opens files with */
  constructor(close: (fd: number) => void) {
    this.#close = close;
  }

  get held(): number {
    return this.#byKey.size;
  }

  /**
   * The descriptor kept for `key` when it is the version `info` describes, as one more user's.
   * @returns the descriptor (give it back with `release`), or -1
   */
  acquire(key: string, info: FileInfo): number {
    const file = this.#byKey.get(key);
    if (file === undefined || !sameFile(file, info)) return -1;
    file.users++;
    return file.fd;
  }

  /**
   * Keeps `fd`, just opened for `key` and described by `info`, for its first user; when the same
   * version is kept already, closes `fd` and returns the kept one instead. A kept older version
   * is let go (a file replaced on disk is sent from its new descriptor).
   * @returns the descriptor the caller uses (give it back with `release`)
   */
  adopt(key: string, fd: number, info: FileInfo): number {
    const old = this.#byKey.get(key);
    if (old !== undefined) {
      if (sameFile(old, info)) {
        this.#close(fd);
        old.users++;
        return old.fd;
      }
      this.#letGo(old);
    }
    if (this.#byKey.size >= MAX_OPEN_FILES) this.shed(1);
    const file: OpenFile = {
      key,
      fd,
      users: 1,
      kept: true,
      dev: info.dev ?? 0,
      ino: info.ino,
      size: info.size,
      mtimeMs: info.mtimeMs,
    };
    this.#byKey.set(key, file);
    this.#byFd.set(fd, file);
    return fd;
  }

  /**
   * A user is done with `fd`: the descriptor closes when it was its last user and the cache let it go.
   * @returns false when `fd` is none of the cache's (the caller closes it)
   */
  release(fd: number): boolean {
    const file = this.#byFd.get(fd);
    if (file === undefined) return false;
    if (--file.users === 0 && !file.kept) this.#closeFile(file);
    return true;
  }

  shed(count: number): number {
    let shed = 0;
    for (const file of this.#byKey.values()) {
      if (shed === count) break;
      this.#letGo(file); // deleting the current entry while iterating a Map is safe
      shed++;
    }
    return shed;
  }

  /** Lets every descriptor go (at shutdown): those in use close with their last response. */
  [Symbol.dispose](): void {
    this.shed(Infinity);
  }

  #letGo(file: OpenFile): void {
    file.kept = false;
    this.#byKey.delete(file.key);
    if (file.users === 0) this.#closeFile(file);
  }

  #closeFile(file: OpenFile): void {
    this.#byFd.delete(file.fd);
    this.#close(file.fd);
  }
}

/** Whether `info` describes the version of the file that `file` holds open. */
function sameFile(file: OpenFile, info: FileInfo): boolean {
  return file.ino === info.ino && file.dev === (info.dev ?? 0) && file.size === info.size &&
    file.mtimeMs === info.mtimeMs;
}
