// A file's forms (RFC 9110 §8.4): the file itself, the precompressed sidecars beside it
// (`app.js.br`, `.zst`, `.gz`, sent as they are), and copies compressed here, once per version of
// the file, on the compressor's thread, kept in the cache beside the file's bytes. Which form a
// request gets is http/negotiation.ts's choice; this module describes them and makes the copies.

import { type Coding, CODINGS } from "../negotiation.ts";
import {
  CACHE_FILE_MAX_BYTES,
  type CachedFile,
  describeRepresentation,
  newEntry,
  NO_COPY,
} from "./file_cache.ts";
import type { Representation } from "./file_cache.ts";
import type { CachePolicy } from "./cache_policy.ts";
import { isCompressible, isText, mediaTypeFor } from "./media_types.ts";
import { emptyFileInfo, type FileInfo, type StaticFs } from "./types.ts";

/** The sidecar of each coding, by index in CODINGS. */
export const SIDECAR_SUFFIXES: Readonly<Record<Coding, string>> = { br: ".br", zstd: ".zst", gzip: ".gz" };
/**
 * Smaller files are not compressed here: Content-Encoding and Vary add ~45 bytes to the head,
 * and on a built site (scripts/compression_levels.ts, the Rust book, br 5) files under 256
 * bytes saved 39 bytes each, under 512 about 100: less than or barely more than that.
 */
export const COMPRESS_MIN_BYTES = 512;
/**
 * Larger files are not compressed here (a sidecar still serves them). At br 5, ~16 ms per MiB
 * on this machine, the largest takes ~130 ms once per version (the first client to ask waits
 * for it, no one else does), and its copies take ~2 MB of the cache (text compresses to ~21%).
 * Files beyond it are mostly data (search indexes, source maps) that a build can precompress.
 */
export const COMPRESS_MAX_BYTES = 8 * 1024 * 1024;
/**
 * Bytes of files being compressed, or waiting for the compressor, at once. Each holds its bytes
 * until its copy is made (~16 ms per MiB): beyond this, answers go out as identity at once and a
 * later request makes the copy, so clients asking for many large files together cannot make the
 * server hold them all. 32 MiB is about half a second of the compressor's work at br 5.
 */
export const COMPRESS_QUEUE_MAX_BYTES = 32 * 1024 * 1024;
/** A copy is kept only if it is at least this much smaller than the file (else identity is sent). */
const MIN_SAVING_BYTES = 64;

const VARY = ["Vary", "Accept-Encoding"];
const NOSNIFF = ["X-Content-Type-Options", "nosniff"];

/** What describing a file needs. */
export interface DescribeContext {
  fs: StaticFs;
  policy: CachePolicy;
  /** The codings copies can be made in (bits); 0 when compression is off. */
  copyCodings: number;
  /** Whether precompressed sidecars are looked for (compression on). */
  sidecars: boolean;
}

/** A sidecar found beside a file. */
interface Sidecar {
  name: string;
  info: FileInfo;
  body: Uint8Array | null;
}

/**
 * Describes an open file and its sidecars.
 * @param rel its path beneath the root
 * @param fd the open file (left open)
 * @param info what fstat said of it
 * @returns the entry, or -errno when its bytes could not be read
 */
export function describeFile(
  context: DescribeContext,
  rel: string,
  fd: number,
  info: FileInfo,
): CachedFile | number {
  let body: Uint8Array | null = null;
  const size = info.size;
  if (size <= CACHE_FILE_MAX_BYTES) {
    const read = context.fs.readWhole(fd, size);
    if (typeof read === "number") return read;
    body = read;
  }
  const type = mediaTypeFor(rel);
  const compressible = isCompressible(type);
  const found = compressible && context.sidecars ? findSidecars(context.fs, rel, info) : [null, null, null];
  const sidecarMask = found.reduce((mask, sidecar, i) => sidecar ? mask | 1 << i : mask, 0);
  const fits = compressible && size >= COMPRESS_MIN_BYTES && size <= COMPRESS_MAX_BYTES;
  const copyMask = fits ? context.copyCodings & ~sidecarMask : 0;
  const cacheControl = context.policy.fieldsFor("/" + rel, type);
  const entry = newEntry(rel, type, cacheControl, { sidecars: sidecarMask, copies: copyMask });
  // A file that shrank while it was read is described as read (it is checked again within a second).
  const read = body && body.length !== size ? { ...info, size: body.length } : info;
  entry.identity = describeForm(entry, { coding: null, info: read, size: read.size, body, name: rel });
  found.forEach((sidecar, i) => {
    if (!sidecar) return;
    const { name, info, body } = sidecar;
    entry.sidecars[i] = describeForm(entry, { coding: CODINGS[i]!, info, size: info.size, body, name });
  });
  return entry;
}

/** One form of `entry`, with the fields its answers carry. */
function describeForm(
  entry: CachedFile,
  form: { coding: Coding | null; info: FileInfo; size: number; body: Uint8Array | null; name: string | null },
): Representation {
  const vary = entry.codings !== 0 ? VARY : [];
  return describeRepresentation(form, (etag, lastModified) => ({
    ok: [
      "Content-Type",
      entry.type,
      ...(form.coding === null ? [] : ["Content-Encoding", form.coding]),
      "Last-Modified",
      lastModified,
      "ETag",
      etag,
      "Accept-Ranges",
      "bytes",
      ...vary,
      ...NOSNIFF,
      ...entry.cacheControl,
    ],
    notModified: ["ETag", etag, "Last-Modified", lastModified, ...vary, ...entry.cacheControl],
  }));
}

/**
 * The sidecars beside a file, by coding index. One counts when it is a regular file, not empty,
 * and not older than the file: a sidecar older than its file was left by an earlier build.
 */
function findSidecars(fs: StaticFs, rel: string, original: FileInfo): (Sidecar | null)[] {
  const info = emptyFileInfo();
  return CODINGS.map((coding) => {
    const name = rel + SIDECAR_SUFFIXES[coding];
    const fd = fs.open(name);
    if (fd < 0) return null;
    try {
      if (fs.stat(fd, info) < 0 || !info.isFile || info.size === 0 || info.mtimeMs < original.mtimeMs) {
        return null;
      }
      let body: Uint8Array | null = null;
      if (info.size <= CACHE_FILE_MAX_BYTES) {
        const read = fs.readWhole(fd, info.size);
        if (typeof read === "number" || read.length !== info.size) return null;
        body = read;
      }
      return { name, info: { ...info }, body };
    } finally {
      fs.close(fd);
    }
  });
}

/** Whether the sidecars beside `entry`'s file are not what it describes any more. */
export function sidecarsChanged(context: DescribeContext, entry: CachedFile): boolean {
  if (!context.sidecars || !isCompressible(entry.type)) return false;
  const info = emptyFileInfo();
  return CODINGS.some((coding, i) => {
    const described = entry.sidecars[i]?.file?.info;
    const fd = context.fs.open(entry.key + SIDECAR_SUFFIXES[coding]);
    if (fd < 0) return described !== undefined;
    const ok = context.fs.stat(fd, info) === 0;
    context.fs.close(fd);
    const counts = ok && info.isFile && info.size > 0 && info.mtimeMs >= entry.identity.mtimeMs;
    if (!counts) return described !== undefined;
    return described === undefined || described.size !== info.size || described.mtimeMs !== info.mtimeMs ||
      described.ino !== info.ino;
  });
}

/** What making a copy needs: the compressor, and where the copy's bytes are charged. */
export interface CopyContext {
  compress(
    coding: Coding,
    data: Uint8Array,
    text: boolean,
    wanted: () => boolean,
  ): Promise<Uint8Array | null>;
  /** The entry holds `bytes` more. */
  charge(entry: CachedFile, bytes: number): void;
  /** A compression failed (logged once per entry and coding). */
  failed(message: string): void;
}

/**
 * Starts the copy of `entry` in the coding at `index`; its state is the promise until it is made.
 * A copy that does not save MIN_SAVING_BYTES, or fails, becomes NO_COPY (identity is sent); one
 * skipped because nobody wanted it any more is not made (null: the next request makes it).
 * @param data the file's bytes
 * @param wanted whether anyone still waits for the copy (asked before the work starts)
 * @returns a promise that resolves (never rejects) when the state is settled
 */
export function makeCopy(
  context: CopyContext,
  entry: CachedFile,
  index: number,
  data: Uint8Array,
  wanted: () => boolean,
): Promise<void> {
  const coding = CODINGS[index]!;
  let compressed: Promise<Uint8Array | null>;
  try {
    compressed = context.compress(coding, data, isText(entry.type), wanted);
  } catch (e) {
    compressed = Promise.reject(e); // a compressor that throws instead of rejecting fails the same way
  }
  const done = compressed.then(
    (copy) => {
      if (copy === null) {
        entry.copies[index] = null;
        return;
      }
      if (copy.length + MIN_SAVING_BYTES > entry.identity.size) {
        entry.copies[index] = NO_COPY;
        return;
      }
      const info = entry.identity.file!.info;
      entry.copies[index] = describeForm(entry, { coding, info, size: copy.length, body: copy, name: null });
      context.charge(entry, copy.length);
    },
    (error) => {
      entry.copies[index] = NO_COPY;
      context.failed(
        `Cannot compress /${entry.key} (${coding}): ${error instanceof Error ? error.message : error}`,
      );
    },
  );
  entry.copies[index] = done;
  return done;
}
