// The one buffer through which files go out over TLS without kernel TLS (sendfile(2) cannot
// encrypt): a file's range is read into it and written with SSL_write, and it remembers whose
// bytes it holds so that a retried record need not be read again. HTTP/2 reads its DATA payloads
// itself (readFileRange), behind their frame heads, so each frame leaves as one record.

import { preadFd } from "../../ffi/files.ts";

/**
 * File bytes read per pread when a file goes out over TLS without kernel TLS: four full TLS
 * records (16 KiB each, RFC 8446 §5.1). One buffer serves every connection: a write that
 * blocks is retried from the file (see fileChunk), so no connection keeps file bytes.
 */
export const FILE_CHUNK = 64 * 1024;
export const FILE_BUF = new Uint8Array(FILE_CHUNK);
/** Which connection's bytes FILE_BUF holds, so a retry need not read them again. */
let fileBufOwner: object | null = null;
let fileBufFd = -1;
let fileBufOffset = -1;
let fileBufLength = 0;

/**
 * Makes FILE_BUF hold the file's bytes at `offset` for `owner`. A record that blocks is kept by
 * OpenSSL and must be offered again with the same contents: the output queue asks again for the
 * same offset, and pread gives the same bytes (read again only if another connection used the
 * buffer since).
 * @returns how many bytes of FILE_BUF to write (at most `count` and FILE_CHUNK), or what pread
 *   returned when it read nothing (0: the file shrank; -errno)
 */
export function fileChunk(owner: object, fileFd: number, offset: number, count: number): number {
  const want = Math.min(count, FILE_CHUNK);
  if (fileBufOwner !== owner || fileBufFd !== fileFd || fileBufOffset !== offset || fileBufLength < want) {
    const got = preadFd(fileFd, FILE_BUF, want, offset);
    if (got <= 0) return got;
    fileBufOwner = owner;
    fileBufFd = fileFd;
    fileBufOffset = offset;
    fileBufLength = got;
  }
  return Math.min(want, fileBufLength);
}

/** `owner` is done with the buffer's bytes (they were written, or it closed). */
export function releaseFileChunk(owner: object): void {
  if (fileBufOwner === owner) fileBufOwner = null;
}

/**
 * Reads `length` bytes of a file at `offset` into `buf`, for a caller that frames them itself
 * (HTTP/2 puts a DATA frame's head and payload in one TLS record).
 * @returns bytes read (fewer only at the file's end), or -errno when it read nothing
 */
export function readFileRange(fileFd: number, offset: number, buf: Uint8Array, length: number): number {
  let total = 0;
  while (total < length) {
    const n = preadFd(fileFd, total ? buf.subarray(total) : buf, length - total, offset + total);
    if (n < 0) return total > 0 ? total : n;
    if (n === 0) break;
    total += n;
  }
  return total;
}
