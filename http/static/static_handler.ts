// The static file handler: a request path to a file beneath the root (paths.ts), described once
// per version with the forms it can be sent in (file_cache.ts, encodings.ts), one of them chosen
// by Accept-Encoding (negotiation.ts) and answered with validators, conditionals and ranges
// (conditionals.ts); a directory's index or listing (listing.ts); for a missing path, the root's
// 404.html or, with --spa, its index.html. Large files go out with sendfile(2), never read into
// memory; no answer waits on the disk or a compression on the reactor's thread.

import type { Handler, HttpRequest, HttpResponse } from "../types.ts";
import { STATUS, statusResponse } from "../status.ts";
import {
  acceptedCodings,
  acceptsHtml,
  chooseCoding,
  IDENTITY,
  NOT_ACCEPTABLE,
  prefersJson,
} from "../negotiation.ts";
import { normalizePath } from "./paths.ts";
import { isNotModified, requestedRange } from "./conditionals.ts";
import {
  CACHE_REVALIDATE_MS,
  type CachedFile,
  FileCache,
  NO_COPY,
  type Representation,
  sameVersion,
} from "./file_cache.ts";
import {
  COMPRESS_QUEUE_MAX_BYTES,
  type CopyContext,
  type DescribeContext,
  describeFile,
  makeCopy,
  sidecarsChanged,
} from "./encodings.ts";
import { CachePolicy } from "./cache_policy.ts";
import { listDirectory, ListingGate } from "./listing.ts";
import { monoClock } from "../clock.ts";
import { emptyFileInfo, type FileInfo, FS_ERRNO, type StaticOptions } from "./types.ts";

const { EACCES, ELOOP, EMFILE, ENAMETOOLONG, ENFILE, ENOENT, ENOTDIR, EPERM, EXDEV } = FS_ERRNO;
import { CLIENT_LEFT, CopyWaiter, type CopyWaiters, fileBody } from "./waiting.ts";
import type { OpenFiles } from "./open_files.ts";

const ALLOW = ["Allow", "GET, HEAD"];
const TEXT = "text/plain; charset=utf-8";
const VARY_ENCODING = ["Vary", "Accept-Encoding"];
const VARY_ACCEPT = ["Vary", "Accept"];
const NOSNIFF = ["X-Content-Type-Options", "nosniff"];
/** The page a --spa answers for client-side routes, and the page of every 404 when present. */
const INDEX = "index.html", NOT_FOUND_PAGE = "404.html";

type Answer = HttpResponse | Promise<HttpResponse>;

/**
 * Creates the handler that serves files beneath the root given by `options.fs`.
 * @example
 * const handler = createStaticHandler({ fs, listing: true, dotfiles: false });
 */
export function createStaticHandler(options: StaticOptions): Handler {
  const server = new StaticServer(options);
  return (request) => server.serve(request);
}

/** Whether a path segment looks like a file name (`app.js`), as opposed to a route (`about`). */
function hasExtension(segment: string | undefined): boolean {
  return segment !== undefined && segment.lastIndexOf(".") > 0;
}

/** The static handler's state: its options, its cache, and one scratch FileInfo for fstat. */
class StaticServer {
  #options: StaticOptions;
  #cache = new FileCache();
  #policy: CachePolicy;
  #describe: DescribeContext;
  /** Bounds the directory listings working at once (MAX_CONCURRENT_LISTINGS). */
  #listings = new ListingGate();
  #copies: CopyContext;
  /** fstat's output, reused by every request (the handler runs on one thread, to completion). */
  #info: FileInfo = emptyFileInfo();
  /** Bytes of files whose copies are being made (COMPRESS_QUEUE_MAX_BYTES bounds it). */
  #compressing = 0;
  /** When a page (404.html, and index.html for --spa) was last found missing, by name. */
  #missingAt = new Map<string, number>();
  /** Who waits for each copy being made (the promise in CachedFile.copies). */
  #waiters = new WeakMap<Promise<void>, CopyWaiters>();
  /** Descriptors of large files kept open between responses, or null to open each time. */
  #openFiles: OpenFiles | null;
  /** Closes a descriptor, or gives it back to #openFiles when it is one of theirs. */
  #closeFile = (fd: number) => {
    if (this.#openFiles === null || !this.#openFiles.release(fd)) this.#options.fs.close(fd);
  };

  constructor(options: StaticOptions) {
    this.#options = options;
    this.#openFiles = options.openFiles ?? null;
    this.#policy = new CachePolicy(options);
    const compress = options.compress ?? true;
    const compressor = compress ? options.compressor ?? null : null;
    this.#describe = {
      fs: options.fs,
      policy: this.#policy,
      copyCodings: compressor?.codings ?? 0,
      sidecars: compress,
    };
    this.#copies = {
      compress: (coding, data, text, wanted) => compressor!.compress(coding, data, text, wanted),
      charge: (entry, bytes) => this.#cache.charge(entry, bytes),
      failed: (message) => options.logError?.(message),
    };
  }

  serve(request: HttpRequest): Answer {
    const head = request.head;
    if (head.method !== "GET" && head.method !== "HEAD") {
      if (head.method === "OPTIONS") return { status: STATUS.NO_CONTENT, headers: ALLOW };
      return this.#error(request, STATUS.METHOD_NOT_ALLOWED, ALLOW);
    }
    const q = head.path.indexOf("?"); // the query string plays no part in finding the file
    const rawPath = q < 0 ? head.path : head.path.slice(0, q);
    const now = monoClock();
    const hit = this.#cache.fresh(rawPath, now);
    if (hit) {
      const answer = this.#answer(request, hit, -1, STATUS.OK);
      if (answer !== null) return answer;
    }

    const normal = normalizePath(rawPath);
    if (!normal) return this.#error(request, STATUS.BAD_REQUEST);
    const { segments, trailingSlash } = normal;
    if (!this.#options.dotfiles && segments.some((s) => s.startsWith("."))) return this.#notFound(request);
    const rel = segments.join("/");
    const { fs } = this.#options;
    const info = this.#info;
    const fd = this.#open(rel);
    if (fd < 0) {
      this.#cache.forgetRoute(rawPath);
      return this.#missing(request, -fd, rel, segments.at(-1));
    }
    if (fs.stat(fd, info) < 0) {
      fs.close(fd);
      return this.#error(request, STATUS.INTERNAL_SERVER_ERROR);
    }
    if (info.isFile) {
      if (!trailingSlash) return this.#serveFile(request, { rel, fd, info, now, route: rawPath }, STATUS.OK);
      fs.close(fd); // "/file.txt/" names a directory that does not exist (open(2) says ENOTDIR)
      return this.#notFound(request);
    }
    fs.close(fd);
    if (!info.isDirectory) return this.#error(request, STATUS.FORBIDDEN); // devices, sockets, FIFOs
    const query = q < 0 ? "" : head.path.slice(q);
    return this.#serveDirectory(request, { key: rawPath, segments, trailingSlash, query, now });
  }

  /**
   * Opens a path beneath the root. Out of descriptors (other processes, or a low limit: the
   * server stops accepting before its own use gets there), the kept ones are closed first.
   * @returns a descriptor or -errno
   */
  #open(rel: string): number {
    const fd = this.#options.fs.open(rel);
    if (fd !== -EMFILE && fd !== -ENFILE || this.#openFiles === null) return fd;
    return this.#openFiles.shed(Infinity) > 0 ? this.#options.fs.open(rel) : fd;
  }

  /** A directory: a redirect to its slash, its index.html, its listing, or 404. */
  #serveDirectory(
    request: HttpRequest,
    dir: { key: string; segments: string[]; trailingSlash: boolean; query: string; now: number },
  ): Answer {
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
    const indexRel = rel ? `${rel}/${INDEX}` : INDEX;
    const indexFd = this.#open(indexRel);
    const info = this.#info;
    if (indexFd >= 0) {
      if (fs.stat(indexFd, info) === 0 && info.isFile) {
        const file = { rel: indexRel, fd: indexFd, info, now: dir.now, route: dir.key };
        return this.#serveFile(request, file, STATUS.OK);
      }
      fs.close(indexFd);
    }
    if (!this.#options.listing) return this.#notFound(request);
    return listDirectory(fs, rel, {
      urlPath: "/" + segments.join("/") + (rel ? "/" : ""),
      query: dir.query,
      dotfiles: this.#options.dotfiles,
      json: prefersJson(request.head.get("accept")),
      headers: this.#policy.document,
      error: (status) => status === STATUS.NOT_FOUND ? this.#notFound(request) : this.#error(request, status),
      gate: this.#listings,
    });
  }

  /** A path that could not be opened: --spa's index.html, or 404 (the 404 page), or what the error means. */
  #missing(request: HttpRequest, errno: number, rel: string, last: string | undefined): Answer {
    if (errno !== ENOENT && errno !== ENOTDIR && errno !== ENAMETOOLONG) {
      return this.#failed(request, errno, rel);
    }
    if (this.#options.spa && !hasExtension(last)) {
      return this.#page(request, INDEX, STATUS.OK) ?? this.#notFound(request);
    }
    return this.#notFound(request);
  }

  /** A file that could not be opened or read: 403, 503 or 500 (logged). */
  #failed(request: HttpRequest, errno: number, rel: string): Answer {
    if (errno === EACCES || errno === EPERM) return this.#error(request, STATUS.FORBIDDEN);
    if (errno === EXDEV || errno === ELOOP) return this.#error(request, STATUS.FORBIDDEN); // a link leaving the root
    // Out of descriptors for a moment (the server stops accepting before this, so it takes other
    // processes or a low limit): RFC 9110 §15.6.4 says try again later.
    if (errno === EMFILE || errno === ENFILE) return this.#error(request, STATUS.SERVICE_UNAVAILABLE);
    this.#options.logError?.(`Cannot open /${rel}: errno ${errno}`);
    return this.#error(request, STATUS.INTERNAL_SERVER_ERROR);
  }

  /** 404: the root's 404.html when there is one, else the status as text or HTML. */
  #notFound(request: HttpRequest): Answer {
    return this.#page(request, NOT_FOUND_PAGE, STATUS.NOT_FOUND) ?? this.#error(request, STATUS.NOT_FOUND);
  }

  /** An error's answer: an HTML page for a client that names text/html, else plain text; varies with Accept. */
  #error(request: HttpRequest, status: number, headers: readonly string[] = []): HttpResponse {
    const html = acceptsHtml(request.head.get("accept"));
    return statusResponse(status, { headers: [...headers, ...VARY_ACCEPT], html });
  }

  /**
   * A file at the root answering for another path: 404.html (with 404) or --spa's index.html
   * (with 200, its validators and ranges). A missing page is looked for again after
   * CACHE_REVALIDATE_MS, so a stream of 404s costs no open(2) each.
   * @returns the answer, or null when the page is missing
   */
  #page(request: HttpRequest, name: string, status: number): Answer | null {
    const now = monoClock();
    const entry = this.#cache.get(name);
    if (entry && now - entry.checkedAt < CACHE_REVALIDATE_MS) {
      const answer = this.#answer(request, entry, -1, status);
      if (answer !== null) return answer;
    }
    if (now - (this.#missingAt.get(name) ?? -Infinity) < CACHE_REVALIDATE_MS) return null;
    const { fs } = this.#options;
    const info = this.#info;
    const fd = this.#open(name);
    if (fd >= 0 && fs.stat(fd, info) === 0 && info.isFile) {
      this.#missingAt.delete(name);
      return this.#serveFile(request, { rel: name, fd, info, now, route: null }, status);
    }
    if (fd >= 0) fs.close(fd);
    this.#missingAt.set(name, now);
    this.#cache.forget(name);
    return null;
  }

  /**
   * Serves an open regular file, describing it again when it changed (or its sidecars did, checked
   * once per CACHE_REVALIDATE_MS); takes ownership of `file.fd`.
   * @param file `route`: the request path to remember as leading to it, or null
   */
  #serveFile(
    request: HttpRequest,
    file: { rel: string; fd: number; info: FileInfo; now: number; route: string | null },
    status: number,
  ): Answer {
    const { rel, fd, info, now } = file;
    let entry = this.#cache.get(rel);
    const current = entry !== undefined && sameVersion(entry.identity, info) &&
      (now - entry.checkedAt < CACHE_REVALIDATE_MS || !sidecarsChanged(this.#describe, entry));
    if (!current) {
      const described = describeFile(this.#describe, rel, fd, info);
      if (typeof described === "number") {
        this.#options.fs.close(fd);
        return this.#failed(request, -described, rel);
      }
      entry = described;
      this.#cache.remember(entry);
    }
    entry!.checkedAt = now;
    if (file.route !== null) this.#cache.route(file.route, entry!);
    return this.#answer(request, entry!, fd, status)!; // with the file open, there is always an answer
  }

  /**
   * Answers with the form of `entry` the request accepts. Takes ownership of `fd` (the file, or
   * -1) and closes it unless the answer sends it.
   * @param status OK for the file, NOT_FOUND for the 404 page
   * @returns the answer, or null when it needs the file and `fd` is -1
   */
  #answer(request: HttpRequest, entry: CachedFile, fd: number, status: number): Answer | null {
    const { fs } = this.#options;
    let form = entry.identity;
    if (entry.codings !== 0) {
      const chosen = this.#choose(request, entry, fd, status === STATUS.OK);
      if (chosen === null) return null;
      if (!("etag" in chosen)) {
        if (fd >= 0) fs.close(fd);
        return chosen;
      }
      form = chosen;
    }
    let file = -1;
    if (form.body === null && form !== entry.identity) {
      file = this.#openSidecar(form);
      if (file < 0) {
        // It changed since it was described: the next request describes it again; this one gets the file.
        this.#cache.forget(entry.key);
        form = entry.identity;
      }
    }
    if (form === entry.identity && form.body === null) {
      const kept = this.#openFiles;
      const info = form.file!.info;
      file = kept === null ? fd : fd >= 0 ? kept.adopt(entry.key, fd, info) : kept.acquire(entry.key, info);
      if (file < 0) return null;
    } else if (fd >= 0) fs.close(fd);
    return status === STATUS.OK
      ? this.#respond(request, entry, form, file)
      : this.#notFoundPage(entry, form, file);
  }

  /**
   * The form of a file with codings that the request's Accept-Encoding picks: identity, a
   * sidecar, a compressed copy (made now if it is the first time a GET asks for it: the answer
   * then waits for it), or 406 when the client refuses every one (RFC 9110 §12.5.3). A HEAD
   * gets a copy only once it is made: it never starts one nor waits for one, because nobody
   * reads its bytes (300 HEADs on a large site cost 3.7 s of compression before), so it may
   * answer identity where a GET would get the copy; both vary on Accept-Encoding.
   * @param strict answer 406 when nothing is acceptable; else identity (the 404 page stays a 404)
   * @returns the form, an answer, or null when making the copy needs the file and `fd` is -1
   */
  #choose(
    request: HttpRequest,
    entry: CachedFile,
    fd: number,
    strict: boolean,
  ): Representation | Answer | null {
    const head = request.head;
    const accepted = acceptedCodings(head);
    // Clients send the same Accept-Encoding each time, parsed to the same object: the choice is kept.
    if (entry.choiceFor !== accepted) {
      entry.choice = chooseCoding(accepted, entry.sidecarMask, entry.copyMask);
      entry.choiceFor = accepted;
    }
    const choice = entry.choice;
    if (choice === IDENTITY) return entry.identity;
    if (choice === NOT_ACCEPTABLE) {
      return strict ? this.#error(request, STATUS.NOT_ACCEPTABLE, VARY_ENCODING) : entry.identity;
    }
    if ((entry.sidecarMask >> choice & 1) !== 0) return entry.sidecars[choice]!;
    // A copy is made again after a restart, and its bytes could differ with the library's
    // version: ranges are answered from the file itself, whose bytes do not (RFC 9110 §15.3.7).
    if (accepted[IDENTITY]! > 0 && head.method === "GET" && head.get("range") !== undefined) {
      return entry.identity;
    }
    const copy = entry.copies[choice]!;
    if (copy === NO_COPY) return entry.identity;
    if (copy !== null && !(copy instanceof Promise)) return copy;
    if (head.method === "HEAD") return entry.identity;
    if (copy instanceof Promise) return this.#afterCopy(request, copy, this.#waiters.get(copy)!);
    const size = entry.identity.size;
    if (this.#compressing + size > COMPRESS_QUEUE_MAX_BYTES) return entry.identity; // a later request makes it
    const data = entry.identity.body ?? (fd >= 0 ? this.#options.fs.readWhole(fd, size) : null);
    if (data === null) return null;
    if (typeof data === "number" || data.length !== size) return entry.identity;
    this.#compressing += size;
    const waiters: CopyWaiters = { count: 0 };
    // The request counts before the compressor can ask (it asks at once when it is idle).
    const waiter = new CopyWaiter(request, waiters);
    const made = makeCopy(this.#copies, entry, choice, data, () => waiters.count > 0);
    this.#waiters.set(made, waiters);
    made.then(() => this.#compressing -= size);
    return this.#afterCopy(request, made, waiters, waiter);
  }

  /**
   * Answers `request` once the copy being made is settled, as a waiter for it until then; a
   * request whose client left meanwhile gets CLIENT_LEFT instead of a copy made again for nobody.
   */
  #afterCopy(
    request: HttpRequest,
    made: Promise<void>,
    waiters: CopyWaiters,
    waiter = new CopyWaiter(request, waiters),
  ): Promise<HttpResponse> {
    return made.then(() => {
      waiter.settled();
      return waiter.left ? CLIENT_LEFT : this.serve(request);
    });
  }

  /** Opens a sidecar sent from disk and checks it is the version described. @returns its fd, or -1 */
  #openSidecar(form: Representation): number {
    const { fs } = this.#options;
    const described = form.file!;
    const fd = this.#open(described.name);
    if (fd < 0) return -1;
    const info = this.#info;
    if (fs.stat(fd, info) === 0 && sameVersion(form, info)) return fd;
    fs.close(fd);
    return -1;
  }

  /** The 404 page: its bytes (in the chosen coding), without validators, ranges or conditionals. */
  #notFoundPage(entry: CachedFile, form: Representation, fd: number): HttpResponse {
    return {
      status: STATUS.NOT_FOUND,
      headers: [...contentFields(entry, form), ...(entry.codings !== 0 ? VARY_ENCODING : []), ...NOSNIFF],
      body: form.body ?? fileBody(this.#closeFile, fd, 0, form.size),
    };
  }

  /** Answers for a form of a file: 304, 416, 206 or 200. `fd` is its open file, or -1 if in memory. */
  #respond(request: HttpRequest, entry: CachedFile, form: Representation, fd: number): HttpResponse {
    const head = request.head;
    const size = form.size;
    if (isNotModified(head, form.etag, form.mtimeMs)) {
      if (fd >= 0) this.#closeFile(fd);
      return { status: STATUS.NOT_MODIFIED, headers: form.notModified };
    }
    // Files (the file itself, a sidecar) answer ranges; a copy is sent whole (#choose says why).
    const range = form.file !== null ? requestedRange(head, size, form) : null;
    if (range === "unsatisfiable") {
      if (fd >= 0) this.#closeFile(fd);
      return this.#error(request, STATUS.RANGE_NOT_SATISFIABLE, [
        "Content-Range",
        `bytes */${size}`,
        "Accept-Ranges",
        "bytes",
        ...(entry.codings !== 0 ? VARY_ENCODING : []),
      ]);
    }
    const [start, end] = range ?? [0, size - 1];
    const length = size === 0 ? 0 : end - start + 1;
    const body = form.body
      ? (range ? form.body.subarray(start, end + 1) : form.body)
      : fileBody(this.#closeFile, fd, start, length);
    if (!range) return { status: STATUS.OK, headers: form.fields, body };
    return {
      status: STATUS.PARTIAL_CONTENT,
      headers: [
        ...contentFields(entry, form),
        "Content-Range",
        `bytes ${start}-${end}/${size}`,
        "Last-Modified",
        form.lastModified,
        "ETag",
        form.etag,
        "Accept-Ranges",
        "bytes",
        ...(entry.codings !== 0 ? VARY_ENCODING : []),
        ...NOSNIFF,
        ...entry.cacheControl,
      ],
      body,
    };
  }
}

/** Content-Type, and Content-Encoding for a coded form. */
function contentFields(entry: CachedFile, form: Representation): string[] {
  return form.coding === null
    ? ["Content-Type", entry.type]
    : ["Content-Type", entry.type, "Content-Encoding", form.coding];
}
