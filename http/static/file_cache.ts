// Described files kept in memory between requests: each version of a file is described once (its
// validators, media type, pre-encoded fields, and the representations it can be sent as), and
// the small ones' bytes are kept, so they are answered without touching the disk. Entries are
// found by the file's path beneath the root; request paths lead to them through routes, so the
// aliases of one file (`/a.js`, `//a.js`, `/x/../a.js`) share one entry and one compression.

import { encodeFields } from "../fields.ts";
import { validatorsFor } from "./conditionals.ts";
import type { FileInfo } from "./types.ts";
import type { AcceptedCodings, Coding } from "../negotiation.ts";

/**
 * Files up to this size are kept in memory; larger ones are streamed with sendfile. Measured
 * 2026-11-24 (13-byte file, wrk -c50, server pinned, three alternating 3 s runs): answered from
 * the cache 4.76, 4.55, 4.78 µs of server CPU per request (~210k req/s); with every request
 * doing openat2 + fstat + write + sendfile + close, 13.06, 13.13, 12.81 µs (~76k req/s), where
 * nginx needs ~7.4. So the cache stays.
 */
export const CACHE_FILE_MAX_BYTES = 64 * 1024;
/** Total bytes of cached bodies and compressed copies; the oldest entries go first beyond it. */
export const CACHE_TOTAL_MAX_BYTES = 32 * 1024 * 1024;
/** Memory charged per cache entry beyond its bodies (key, fields, validators). */
const CACHE_ENTRY_OVERHEAD_BYTES = 512;
/** A cached file is checked against the disk (open + fstat) at most this often. */
export const CACHE_REVALIDATE_MS = 1000;
/** Request paths remembered as leading to an entry; beyond it the oldest are forgotten. */
const MAX_ROUTES = 4096;
/** Longer request paths are not remembered (bounds the routes' memory); they resolve every time. */
const MAX_ROUTE_LENGTH = 1024;

/** One form a file is sent in: the file itself (identity), a precompressed sidecar, or a copy. */
export interface Representation {
  /** Its content coding; null for identity. */
  coding: Coding | null;
  etag: string;
  lastModified: string;
  /** The modification time that If-Modified-Since compares with. */
  mtimeMs: number;
  /** Its length in bytes. */
  size: number;
  /** Its bytes when they are kept in memory, else null. */
  body: Uint8Array | null;
  /** The file holding its bytes (beneath the root) as fstat described it; null for a copy. */
  file: { name: string; info: FileInfo } | null;
  /** Pre-encoded fields of a 200 answer. */
  fields: Uint8Array;
  /** Pre-encoded fields of a 304 answer (RFC 9110 §15.4.5: ETag, Last-Modified, Vary, Cache-Control). */
  notModified: Uint8Array;
}

/** A copy that will not be made: compressing did not pay, or failed. Identity is sent instead. */
export const NO_COPY = "none";
/** A compressed copy's state: made, being made, NO_COPY, or not asked for yet (null). */
export type CopyState = Representation | Promise<void> | typeof NO_COPY | null;

/** A file described for responses, with the forms it can be sent in. */
export interface CachedFile {
  /** Its path beneath the root. */
  key: string;
  /** The media type. */
  type: string;
  /** The Cache-Control field name and value, or none. */
  cacheControl: readonly string[];
  identity: Representation;
  /** Precompressed files beside it (`app.js.br`), by coding index. */
  sidecars: (Representation | null)[];
  /** The codings of `sidecars` (bits). */
  sidecarMask: number;
  /** Copies compressed here, by coding index. */
  copies: CopyState[];
  /** The codings a copy may be made in (bits), disjoint from sidecarMask. */
  copyMask: number;
  /** sidecarMask | copyMask: 0 when the answer never depends on Accept-Encoding. */
  codings: number;
  /** When it was last checked against the disk (performance.now()). */
  checkedAt: number;
  /** Still in the cache (an entry replaced or evicted is not). */
  live: boolean;
  /** Bytes charged for it. */
  cost: number;
  /** Request paths that lead to it. */
  routes: Set<string>;
  /** The coding chosen last (chooseCoding), and for which parsed Accept-Encoding. */
  choice: number;
  choiceFor: AcceptedCodings | null;
}

/**
 * Describes one form of a file: its validators and pre-encoded fields.
 * @param form `coding`: null for identity; `info`: the file whose fstat gives the validators (the
 *   sidecar's own, or for a copy the original's); `size`: the form's length; `body`: its bytes if
 *   kept in memory; `name`: the file beneath the root that holds them, or null for a copy
 * @param fields the 200 and 304 fields, given the validators
 */
export function describeRepresentation(
  form: { coding: Coding | null; info: FileInfo; size: number; body: Uint8Array | null; name: string | null },
  fields: (etag: string, lastModified: string) => { ok: readonly string[]; notModified: readonly string[] },
): Representation {
  const { etag, lastModified } = validatorsFor(form.info, form.coding);
  const { ok, notModified } = fields(etag, lastModified);
  return {
    coding: form.coding,
    etag,
    lastModified,
    mtimeMs: form.info.mtimeMs,
    size: form.size,
    body: form.body,
    file: form.name === null ? null : { name: form.name, info: { ...form.info } },
    fields: encodeFields(ok),
    notModified: encodeFields(notModified),
  };
}

/**
 * A new entry, before it is kept: no forms yet (the caller describes `identity` and the sidecars,
 * whose fields depend on the entry), no copies, never checked.
 * @param masks the codings of its sidecars, and those copies may be made in (disjoint)
 */
export function newEntry(
  key: string,
  type: string,
  cacheControl: readonly string[],
  masks: { sidecars: number; copies: number },
): CachedFile {
  return {
    key,
    type,
    cacheControl,
    identity: null!, // described next, by the caller
    sidecars: [null, null, null],
    sidecarMask: masks.sidecars,
    copies: [null, null, null],
    copyMask: masks.copies,
    codings: masks.sidecars | masks.copies,
    checkedAt: 0,
    live: false,
    cost: 0,
    routes: new Set(),
    choice: 0,
    choiceFor: null,
  };
}

/** Whether `info` describes the same version of the file as `form` does. */
export function sameVersion(form: Representation, info: FileInfo): boolean {
  const described = form.file?.info;
  return described !== undefined && described.size === info.size && described.mtimeMs === info.mtimeMs &&
    described.ino === info.ino && (described.dev ?? 0) === (info.dev ?? 0);
}

/** Bytes an entry holds in memory, plus a fixed overhead so that empty files count too. */
function costOf(entry: CachedFile): number {
  let bytes = CACHE_ENTRY_OVERHEAD_BYTES + (entry.identity.body?.length ?? 0);
  for (const form of [...entry.sidecars, ...entry.copies]) {
    if (form !== null && typeof form === "object" && "body" in form) bytes += form.body?.length ?? 0;
  }
  return bytes;
}

/** Described files by path beneath the root, bounded in total bytes, oldest out first. */
export class FileCache {
  #entries = new Map<string, CachedFile>();
  #routes = new Map<string, CachedFile>();
  #bytes = 0;

  /** The entry for a path beneath the root, if any. */
  get(key: string): CachedFile | undefined {
    return this.#entries.get(key);
  }

  /** The entry a request path led to, when it was checked against the disk within CACHE_REVALIDATE_MS. */
  fresh(path: string, now: number): CachedFile | undefined {
    const entry = this.#routes.get(path);
    return entry && now - entry.checkedAt < CACHE_REVALIDATE_MS ? entry : undefined;
  }

  /** Remembers that a request path leads to `entry` (a live one). */
  route(path: string, entry: CachedFile): void {
    if (!entry.live || path.length > MAX_ROUTE_LENGTH || this.#routes.get(path) === entry) return;
    this.forgetRoute(path);
    this.#routes.set(path, entry);
    entry.routes.add(path);
    if (this.#routes.size > MAX_ROUTES) {
      for (const [oldest] of this.#routes) {
        this.forgetRoute(oldest); // Map order is insertion order
        break;
      }
    }
  }

  /** Forgets where a request path led (it no longer leads to a file). */
  forgetRoute(path: string): void {
    const entry = this.#routes.get(path);
    if (!entry) return;
    this.#routes.delete(path);
    entry.routes.delete(path);
  }

  /** Drops the entry for `key`, and the routes to it. */
  forget(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.cost;
    entry.live = false;
    for (const path of entry.routes) this.#routes.delete(path);
    entry.routes.clear();
  }

  /** Keeps `entry` (replacing the one for its key), dropping the oldest while the total passes the bound. */
  remember(entry: CachedFile): void {
    this.forget(entry.key);
    entry.cost = costOf(entry);
    entry.live = true;
    this.#entries.set(entry.key, entry);
    this.#bytes += entry.cost;
    this.#trim();
  }

  /** A live entry holds `bytes` more (a compressed copy was made). */
  charge(entry: CachedFile, bytes: number): void {
    if (!entry.live) return;
    entry.cost += bytes;
    this.#bytes += bytes;
    this.#trim();
  }

  /** Total bytes charged (for tests). */
  get bytes(): number {
    return this.#bytes;
  }

  #trim(): void {
    for (const [key] of this.#entries) {
      if (this.#bytes <= CACHE_TOTAL_MAX_BYTES) return;
      this.forget(key); // Map order is insertion order: the oldest go first
    }
  }
}
