// The static file handler: a request path to a file beneath the root (paths.ts), answered from
// the cache or the disk (file_cache.ts) with validators, conditionals and ranges
// (conditionals.ts), or a directory's index or listing (listing.ts). Large files go out with
// sendfile(2) and are never read into memory.

import type { FileBody, Handler, HttpRequest, HttpResponse } from "../types.ts";
import { STATUS, statusResponse } from "../status.ts";
import { normalizePath } from "./paths.ts";
import { isNotModified, requestedRange } from "./conditionals.ts";
import { CACHE_FILE_MAX_BYTES, type CachedFile, describeFile, FileCache, sameVersion } from "./file_cache.ts";
import { listDirectory } from "./listing.ts";
import { monoClock } from "../clock.ts";
import { emptyFileInfo, type FileInfo, type StaticOptions } from "./types.ts";

export type { FileInfo, StaticFs, StaticOptions } from "./types.ts";

const ENOENT = 2, EACCES = 13, EPERM = 1, ENOTDIR = 20, EXDEV = 18, ELOOP = 40, ENAMETOOLONG = 36;
const ENFILE = 23, EMFILE = 24;
const ALLOW = ["Allow", "GET, HEAD"];
const TEXT = "text/plain; charset=utf-8";

/**
 * Creates the handler that serves files beneath the root given by `options.fs`.
 * @example
 * const handler = createStaticHandler({ fs, listing: true, dotfiles: false, cacheControl: null });
 */
export function createStaticHandler(options: StaticOptions): Handler {
  const server = new StaticServer(options);
  return (request) => server.serve(request);
}

/** The static handler's state: its options, its cache, and one scratch FileInfo for fstat. */
class StaticServer {
  #options: StaticOptions;
  #cache = new FileCache();
  #cacheControl: readonly string[];
  /** fstat's output, reused by every request (the handler runs on one thread, to completion). */
  #info: FileInfo = emptyFileInfo();

  constructor(options: StaticOptions) {
    this.#options = options;
    this.#cacheControl = options.cacheControl ? ["Cache-Control", options.cacheControl] : [];
  }

  serve(request: HttpRequest): HttpResponse | Promise<HttpResponse> {
    const head = request.head;
    if (head.method !== "GET" && head.method !== "HEAD") {
      if (head.method === "OPTIONS") return { status: STATUS.NO_CONTENT, headers: ALLOW };
      return statusResponse(STATUS.METHOD_NOT_ALLOWED, { headers: ALLOW });
    }
    const q = head.path.indexOf("?"); // the query string plays no part in finding the file
    const rawPath = q < 0 ? head.path : head.path.slice(0, q);
    const now = monoClock();
    const hit = this.#cache.fresh(rawPath, now);
    if (hit) return this.#respond(request, hit, -1);

    const normal = normalizePath(rawPath);
    if (!normal) return statusResponse(STATUS.BAD_REQUEST);
    const { segments, trailingSlash } = normal;
    if (!this.#options.dotfiles && segments.some((s) => s.startsWith("."))) {
      return statusResponse(STATUS.NOT_FOUND);
    }
    const rel = segments.join("/");
    const { fs } = this.#options;
    const info = this.#info;
    const fd = fs.open(rel);
    if (fd < 0) {
      this.#cache.forget(rawPath);
      return this.#errnoResponse(-fd, rel);
    }
    if (fs.stat(fd, info) < 0) {
      fs.close(fd);
      return statusResponse(STATUS.INTERNAL_SERVER_ERROR);
    }
    if (info.isFile) {
      if (!trailingSlash) return this.#serveFile(request, { key: rawPath, name: rel, fd, info, now });
      fs.close(fd); // "/file.txt/" names a directory that does not exist (open(2) says ENOTDIR)
      return statusResponse(STATUS.NOT_FOUND);
    }
    fs.close(fd);
    if (!info.isDirectory) return statusResponse(STATUS.FORBIDDEN); // devices, sockets, FIFOs
    const query = q < 0 ? "" : head.path.slice(q);
    return this.#serveDirectory(request, { key: rawPath, segments, trailingSlash, query, now });
  }

  /** A directory: a redirect to its slash, its index.html, its listing, or 404. */
  #serveDirectory(
    request: HttpRequest,
    dir: { key: string; segments: string[]; trailingSlash: boolean; query: string; now: number },
  ): HttpResponse | Promise<HttpResponse> {
    const { fs } = this.#options;
    const { segments } = dir;
    const rel = segments.join("/");
    if (!dir.trailingSlash && rel !== "") {
      // RFC 9110 §15.4.2: relative links inside the directory need the trailing slash.
      const location = "/" + segments.map(encodeURIComponent).join("/") + "/" + dir.query;
      return {
        status: STATUS.MOVED_PERMANENTLY,
        headers: ["Location", location, "Content-Type", TEXT],
        body: `301 ${location}\n`,
      };
    }
    const indexRel = rel ? `${rel}/index.html` : "index.html";
    const indexFd = fs.open(indexRel);
    const info = this.#info;
    if (indexFd >= 0) {
      if (fs.stat(indexFd, info) === 0 && info.isFile) {
        return this.#serveFile(request, { key: dir.key, name: indexRel, fd: indexFd, info, now: dir.now });
      }
      fs.close(indexFd);
    }
    if (!this.#options.listing) return statusResponse(STATUS.NOT_FOUND);
    return listDirectory(fs, rel, {
      urlPath: "/" + segments.join("/") + (rel ? "/" : ""),
      dotfiles: this.#options.dotfiles,
      headers: this.#cacheControl,
    });
  }

  #errnoResponse(errno: number, rel: string): HttpResponse {
    if (errno === ENOENT || errno === ENOTDIR || errno === ENAMETOOLONG) {
      return statusResponse(STATUS.NOT_FOUND);
    }
    if (errno === EACCES || errno === EPERM) return statusResponse(STATUS.FORBIDDEN);
    if (errno === EXDEV || errno === ELOOP) return statusResponse(STATUS.FORBIDDEN); // a link leaving the root
    // Out of descriptors for a moment (the server stops accepting before this, so it takes other
    // processes or a low limit): RFC 9110 §15.6.4 says try again later.
    if (errno === EMFILE || errno === ENFILE) return statusResponse(STATUS.SERVICE_UNAVAILABLE);
    this.#options.logError?.(`Cannot open /${rel}: errno ${errno}`);
    return statusResponse(STATUS.INTERNAL_SERVER_ERROR);
  }

  /** Serves an open regular file; takes ownership of `file.fd`. */
  #serveFile(
    request: HttpRequest,
    file: { key: string; name: string; fd: number; info: FileInfo; now: number },
  ): HttpResponse {
    const { fs } = this.#options;
    const { key, fd, info } = file;
    let entry = this.#cache.get(key);
    if (entry && sameVersion(entry, info)) {
      entry.checkedAt = file.now;
    } else {
      this.#cache.forget(key);
      let body: Uint8Array | null = null;
      if (info.size <= CACHE_FILE_MAX_BYTES) {
        const read = fs.readWhole(fd, info.size);
        if (typeof read === "number") {
          fs.close(fd);
          return this.#errnoResponse(-read, key);
        }
        body = read;
        info.size = read.length;
      }
      entry = describeFile(key, file.name, info, body, this.#cacheControl);
      if (body) this.#cache.remember(entry);
    }
    if (entry.body) {
      fs.close(fd);
      return this.#respond(request, entry, -1);
    }
    return this.#respond(request, entry, fd);
  }

  /** Answers for a described file: 304, 416, 206 or 200. `fd` is the open file, or -1 if cached. */
  #respond(request: HttpRequest, entry: CachedFile, fd: number): HttpResponse {
    const { fs } = this.#options;
    const head = request.head;
    const size = entry.info.size;
    const release = () => {
      if (fd >= 0) fs.close(fd);
    };
    if (isNotModified(head, entry.etag, entry.info.mtimeMs)) {
      release();
      return {
        status: STATUS.NOT_MODIFIED,
        headers: ["ETag", entry.etag, "Last-Modified", entry.lastModified, ...this.#cacheControl],
      };
    }
    const range = requestedRange(head, size, entry);
    if (range === "unsatisfiable") {
      release();
      return statusResponse(STATUS.RANGE_NOT_SATISFIABLE, {
        headers: ["Content-Range", `bytes */${size}`, "Accept-Ranges", "bytes"],
      });
    }
    const [start, end] = range ?? [0, size - 1];
    const length = size === 0 ? 0 : end - start + 1;
    const body = entry.body
      ? (range ? entry.body.subarray(start, end + 1) : entry.body)
      : fileBody((file) => fs.close(file), fd, start, length);
    if (!range) return { status: STATUS.OK, headers: entry.fields, body };
    return {
      status: STATUS.PARTIAL_CONTENT,
      headers: [
        "Content-Type",
        entry.type,
        "Content-Range",
        `bytes ${start}-${end}/${size}`,
        "Last-Modified",
        entry.lastModified,
        "ETag",
        entry.etag,
        "Accept-Ranges",
        "bytes",
        "X-Content-Type-Options",
        "nosniff",
        ...this.#cacheControl,
      ],
      body,
    };
  }
}

/** A range of an open file for sendfile; closing it closes the file, once. */
function fileBody(close: (fd: number) => void, fd: number, offset: number, length: number): FileBody {
  let closed = false;
  return {
    kind: "file",
    fileFd: fd,
    offset,
    length,
    close() {
      if (closed) return;
      closed = true;
      close(fd);
    },
  };
}
