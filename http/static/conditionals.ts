// Validators and the requests that test them: a file's ETag and Last-Modified (RFC 9110 §8.8),
// If-None-Match and If-Modified-Since (§13.1.2-13.1.3), and one byte range with If-Range (§14).

import type { RequestHead } from "../request_head.ts";
import type { FileInfo } from "./types.ts";

/** A file's validators. */
export interface Validators {
  /** Strong: size, modification time and inode, in hex, and the content coding if any. */
  etag: string;
  /** The modification time as an HTTP-date (whole seconds). */
  lastModified: string;
}

/**
 * The validators of a file as fstat describes it, for one of its forms. RFC 9110 §8.8.3: a
 * strong validator changes with the bytes of the representation, so each content coding has
 * its own ETag (`"d-18c2a-5-br"` beside identity's `"d-18c2a-5"`).
 * @param coding the content coding of the form, or null for the file as it is
 */
export function validatorsFor(info: FileInfo, coding: string | null = null): Validators {
  const etag = `"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}-${info.ino.toString(16)}${
    coding === null ? "" : `-${coding}`
  }"`;
  const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000).toUTCString();
  return { etag, lastModified };
}

/** RFC 9110 §13.1.2: If-None-Match uses weak comparison; `*` matches any current file. */
export function noneMatch(header: string, etag: string): boolean {
  if (header.trim() === "*") return true;
  for (const part of header.split(",")) {
    let tag = part.trim();
    if (tag.startsWith("W/")) tag = tag.slice(2);
    if (tag === etag) return true;
  }
  return false;
}

/**
 * Whether the client's copy is current, so 304 answers (RFC 9110 §13.2.2: If-None-Match, when
 * present, decides; If-Modified-Since only without it).
 * @param mtimeMs the file's modification time
 */
export function isNotModified(head: RequestHead, etag: string, mtimeMs: number): boolean {
  const inm = head.get("if-none-match");
  if (inm !== undefined) return noneMatch(inm, etag);
  const ims = head.get("if-modified-since");
  return ims !== undefined && Date.parse(ims) >= Math.floor(mtimeMs / 1000) * 1000;
}

/**
 * RFC 9110 §14.1.2: parses a Range header against `size`.
 * @returns [start, end] inclusive; "unsatisfiable"; or null to ignore the header and send
 *   the whole file (not bytes, malformed, or several ranges)
 */
export function parseRange(header: string, size: number): [number, number] | "unsatisfiable" | null {
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m) return null; // includes multiple ranges: answered with the whole file (§14.2 allows it)
  const [, a, b] = m;
  if (a === "" && b === "") return null;
  let start: number, end: number;
  if (a === "") {
    const suffix = Number(b);
    if (suffix === 0) return "unsatisfiable";
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(a);
    end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
    if (b !== "" && Number(b) < start) return null; // invalid range: ignore the header
  }
  if (start >= size || size === 0) return "unsatisfiable";
  return [start, end];
}

/**
 * The part of a file a GET asks for: a Range that If-Range still allows (§13.1.5: a changed
 * representation is sent whole).
 * @returns [start, end], "unsatisfiable", or null for the whole file
 */
export function requestedRange(
  head: RequestHead,
  size: number,
  validators: Validators,
): [number, number] | "unsatisfiable" | null {
  const header = head.method === "GET" ? head.get("range") : undefined;
  if (header === undefined) return null;
  const range = parseRange(header, size);
  const ifRange = head.get("if-range");
  if (
    range !== null && ifRange !== undefined && ifRange !== validators.etag &&
    ifRange !== validators.lastModified
  ) {
    return null;
  }
  return range;
}
