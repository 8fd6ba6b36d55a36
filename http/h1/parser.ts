// Sans-I/O HTTP/1.1 request-head parser (RFC 9112 §2-§3, §5-§6, RFC 9110 §5).
// parseRequestHead() returns the bytes consumed or INCOMPLETE (not an error) and throws
// HttpError carrying the status to send. It never reads outside [start, end).

import { HttpError, STATUS } from "../status.ts";
import { METHODS, type RequestHead } from "../request_head.ts";
import {
  acceptEncodingValue,
  COLON,
  CR,
  fieldName,
  hostValue,
  HTAB,
  isValidHost,
  latin1,
  LF,
  SP,
  TARGET_CHAR,
  targetValue,
  TCHAR,
  VALUE_CHAR,
} from "../tokens.ts";

/** Returned when the head is not complete yet: read more and call again. */
export const INCOMPLETE = -1;

/** Head limit: bounds memory per connection and what a slowloris client can make us hold. */
export const MAX_HEAD_BYTES = 8192;
/** Header fields per request; more is an abuse of the 8 KB budget in tiny fields (431). */
export const MAX_HEADERS = 100;
/** Longest method token; the longest registered method is 17 bytes (VERSION-CONTROL). */
const MAX_METHOD = 32;
/**
 * Empty lines tolerated before a request line. RFC 9112 §2.2 asks servers to ignore "at least
 * one" (old clients sent a CRLF after a POST body); a stream of them is not a request (400).
 */
export const MAX_LEADING_EMPTY_LINES = 8;

function bad(message: string): HttpError {
  return new HttpError(STATUS.BAD_REQUEST, message);
}

/**
 * Parses one request head from `buf[start, end)`.
 *
 * Leading empty lines are skipped (RFC 9112 §2.2). Lines must end in CRLF; a bare CR or LF
 * is rejected, as are obs-fold, whitespace before a colon and control characters, because
 * each is a known request-smuggling vector when a proxy and a server disagree.
 *
 * @param buf bytes received
 * @param start where this request begins
 * @param end one past the last byte received
 * @param head filled in on success
 * @returns bytes consumed from `start` (head only, not the body), or INCOMPLETE
 * @throws {HttpError} with the status to answer (400, 414, 431, 501, 505, 417)
 */
export function parseRequestHead(
  buf: Uint8Array,
  start: number,
  end: number,
  head: RequestHead,
): number {
  let p = start;
  for (let empty = 0; p < end && buf[p] === CR; empty++) {
    if (empty === MAX_LEADING_EMPTY_LINES) throw bad("Too many empty lines before the request line");
    if (p + 1 >= end) return INCOMPLETE;
    if (buf[p + 1] !== LF) throw bad("Bare CR before the request line");
    p += 2;
  }
  if (p < end && buf[p] === LF) throw bad("Bare LF before the request line");

  // The request line is parsed as soon as its CRLF has arrived, so HTTP/0.9 and malformed
  // lines are refused without waiting for a head that will never come.
  // A loop, not indexOf: request lines are short, and the builtin's call costs more than the
  // scan (287 against 390 ns per request in scripts/path_bench.ts). Never past the head limit.
  const limit = Math.min(end, start + MAX_HEAD_BYTES + 1);
  let lineEnd = p;
  while (lineEnd < limit && buf[lineEnd] !== LF) lineEnd++;
  if (lineEnd === limit) {
    if (end - start > MAX_HEAD_BYTES) throw new HttpError(STATUS.URI_TOO_LONG, "Request line too long");
    return INCOMPLETE;
  }
  if (lineEnd - start > MAX_HEAD_BYTES) throw new HttpError(STATUS.URI_TOO_LONG, "Request line too long");
  const afterLine = parseRequestLine(buf, p, lineEnd, head);

  // One pass over the field lines finds the empty line that ends the head. It never looks past
  // the limit, so a prefix of any input gets the verdict the whole input gets (431, not a
  // complaint about a byte the limit excludes).
  const window = Math.min(end, start + MAX_HEAD_BYTES);
  const headEnd = parseFields(buf, afterLine, window, head);
  if (headEnd === INCOMPLETE) {
    if (window < end || end - start === MAX_HEAD_BYTES) {
      throw new HttpError(STATUS.REQUEST_HEADER_FIELDS_TOO_LARGE, "Header section too large");
    }
    return INCOMPLETE;
  }
  applyFieldSemantics(head);
  return headEnd - start;
}

/** Parses `method SP target SP HTTP/x.y CRLF`; `lf` is the index of the LF. */
function parseRequestLine(buf: Uint8Array, p: number, lf: number, head: RequestHead): number {
  if (buf[lf - 1] !== CR || lf - 1 < p) throw bad("Request line must end in CRLF");
  const crlf = lf - 1;
  // Method: fast paths for the common two, then the token rule.
  let q = p;
  if (buf[p] === 71 && buf[p + 1] === 69 && buf[p + 2] === 84 && buf[p + 3] === SP) {
    head.method = "GET";
    q = p + 3;
  } else {
    while (q < crlf && TCHAR[buf[q]!]) q++;
    if (q === p || buf[q] !== SP) throw bad("Malformed method");
    if (q - p > MAX_METHOD) throw new HttpError(STATUS.NOT_IMPLEMENTED, "Unknown method");
    head.method = q - p === 4 && buf[p] === 72 && buf[p + 1] === 69 && buf[p + 2] === 65 && buf[p + 3] === 68
      ? "HEAD"
      : latin1(buf, p, q, false);
  }
  // Target
  const t = q + 1;
  let r = t;
  while (r < crlf && TARGET_CHAR[buf[r]!]) r++;
  if (r === t) throw bad("Missing request target");
  if (r === crlf) throw bad("Missing HTTP version (HTTP/0.9 is not supported)");
  if (buf[r] !== SP) throw bad("Invalid character in request target");
  head.target = targetValue(buf, t, r);
  // Version: exactly "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3)
  const v = r + 1;
  if (
    crlf - v !== 8 || buf[v] !== 72 || buf[v + 1] !== 84 || buf[v + 2] !== 84 ||
    buf[v + 3] !== 80 || buf[v + 4] !== 47 || buf[v + 6] !== 46
  ) {
    throw bad("Malformed HTTP version");
  }
  const major = buf[v + 5]! - 48, minor = buf[v + 7]! - 48;
  if (major < 0 || major > 9 || minor < 0 || minor > 9) throw bad("Malformed HTTP version");
  if (major !== 1) throw new HttpError(STATUS.HTTP_VERSION_NOT_SUPPORTED, "Only HTTP/1.x is supported");
  head.major = 1;
  head.minor = minor === 0 ? 0 : 1;
  // GET, the common case, skips the set's hash look-up (its string is the literal set above).
  if (head.method !== "GET" && !METHODS.has(head.method)) {
    throw new HttpError(STATUS.NOT_IMPLEMENTED, "Unknown method");
  }
  return lf + 1;
}

/**
 * Parses field lines from `p` up to the empty line that ends the head, reading nothing at or
 * past `end`.
 * @returns the index just past the empty line, or INCOMPLETE when `end` comes first
 * @throws {HttpError} for a malformed line, as soon as its bad byte is seen
 */
function parseFields(buf: Uint8Array, p: number, end: number, head: RequestHead): number {
  const headers: string[] = [];
  head.headers = headers;
  for (;;) {
    if (p >= end) return INCOMPLETE;
    const c = buf[p]!;
    if (c === CR) {
      if (p + 1 >= end) return INCOMPLETE;
      if (buf[p + 1] !== LF) throw bad("Bare CR in the header section");
      return p + 2;
    }
    if (c === LF) throw bad("Bare LF in the header section");
    if (c === SP || c === HTAB) throw bad("Obsolete line folding is not allowed"); // RFC 9112 §5.2
    let q = p;
    while (q < end && TCHAR[buf[q]!]) q++;
    if (q === end) return INCOMPLETE;
    if (q === p) throw bad("Malformed field name");
    if (buf[q] !== COLON) {
      throw bad(buf[q] === SP || buf[q] === HTAB ? "Whitespace before colon" : "Malformed field name"); // RFC 9112 §5.1
    }
    let vs = q + 1;
    while (vs < end && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
    let ve = vs;
    while (ve < end && VALUE_CHAR[buf[ve]!]) ve++;
    if (ve + 1 >= end) {
      if (ve === end || buf[ve] === CR) return INCOMPLETE;
    }
    if (buf[ve] !== CR || buf[ve + 1] !== LF) throw bad("Invalid character in field value");
    const next = ve + 2;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    if (headers.length >= MAX_HEADERS * 2) {
      throw new HttpError(STATUS.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many header fields");
    }
    const name = fieldName(buf, p, q);
    headers.push(
      name,
      name === "host"
        ? hostValue(buf, vs, ve)
        : name === "accept-encoding"
        ? acceptEncodingValue(buf, vs, ve)
        : latin1(buf, vs, ve, false),
    );
    p = next;
  }
}

const DECIMAL = /^[0-9]+$/;
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)$/i;

/**
 * Sets `head.path` (and `head.host` for absolute-form) from the request-target's form
 * (RFC 9112 §3.2): origin-form `/path?query`; absolute-form `http://authority/path`, whose
 * authority replaces Host (§3.2.2); authority-form `host:port`, for CONNECT only (§3.2.3; its
 * path is empty); asterisk-form `*`, for OPTIONS only (§3.2.4).
 */
function parseTarget(head: RequestHead): void {
  const t = head.target;
  head.path = t;
  if (head.method === "CONNECT") {
    if (!isValidHost(t, true)) throw bad("CONNECT needs a host:port target");
    head.path = "";
    return;
  }
  if (t.charCodeAt(0) === 47) return; // origin-form "/..."
  if (t === "*") {
    if (head.method !== "OPTIONS") throw bad("Asterisk-form is only for OPTIONS");
    return;
  }
  const m = ABSOLUTE_FORM.exec(t);
  if (!m) throw bad("Unsupported request-target form");
  const authority = m[1]!;
  // RFC 9110 §4.2.4: userinfo in an http(s) URI is to be treated as an error.
  if (authority.includes("@")) throw bad("Userinfo in the request target");
  // RFC 9110 §4.2.1: an http URI with an empty host is invalid.
  if (authority === "" || authority.charCodeAt(0) === 58 || !isValidHost(authority)) {
    throw bad("Invalid authority in the request target");
  }
  head.host = authority;
  const rest = m[2]!;
  head.path = rest === "" ? "/" : rest.charCodeAt(0) === 63 ? `/${rest}` : rest; // "http://a?q" is "/?q"
}

/** Host, framing (Content-Length / Transfer-Encoding), Connection and Expect. */
function applyFieldSemantics(head: RequestHead): void {
  const h = head.headers;
  let hosts = 0, host = "";
  let contentLength = -1;
  let te: string[] | null = null;
  let close = false, keepAliveToken = false, upgradeToken = false;
  let upgrade = "";
  head.expectContinue = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!, value = h[i + 1]!;
    switch (name) {
      case "host":
        hosts++;
        host = value;
        break;
      case "content-length":
        // RFC 9112 §6.3: a list of identical values may be treated as one; anything else is fatal.
        for (const part of value.split(",")) {
          const v = part.trim();
          if (!DECIMAL.test(v)) throw bad("Invalid Content-Length");
          const n = v.length > 15 ? Infinity : Number(v);
          if (contentLength >= 0 && n !== contentLength) throw bad("Conflicting Content-Length values");
          contentLength = n;
        }
        break;
      case "transfer-encoding":
        te ??= [];
        for (const part of value.split(",")) {
          const v = part.trim().toLowerCase();
          if (v) te.push(v);
        }
        break;
      case "connection":
        for (const part of value.split(",")) {
          const v = part.trim().toLowerCase();
          if (v === "close") close = true;
          else if (v === "keep-alive") keepAliveToken = true;
          else if (v === "upgrade") upgradeToken = true;
        }
        break;
      case "upgrade":
        upgrade = upgrade ? `${upgrade}, ${value}` : value;
        break;
      case "expect":
        if (value.toLowerCase() !== "100-continue") {
          throw new HttpError(STATUS.EXPECTATION_FAILED, "Unsupported expectation");
        }
        head.expectContinue = head.minor === 1; // RFC 9110 §10.1.1: ignore it from HTTP/1.0
        break;
    }
  }
  // RFC 9112 §3.2: exactly one Host in HTTP/1.1, never more than one, and a valid value.
  if (hosts > 1) throw bad("More than one Host field");
  if (hosts === 0 && head.minor === 1) throw bad("Missing Host field");
  head.host = host;
  parseTarget(head);
  head.chunked = false;
  if (te) {
    // RFC 9112 §6.1 / §6.3: TE with Content-Length, TE in HTTP/1.0, or a final coding other than
    // chunked leave the body length undecidable: refuse and close.
    if (contentLength >= 0) throw bad("Both Transfer-Encoding and Content-Length");
    if (head.minor === 0) throw bad("Transfer-Encoding in an HTTP/1.0 request");
    if (te[te.length - 1] !== "chunked") throw bad("Final transfer coding is not chunked");
    if (te.indexOf("chunked") !== te.length - 1) throw bad("Chunked applied more than once");
    if (te.length > 1) throw new HttpError(STATUS.NOT_IMPLEMENTED, "Unsupported transfer coding");
    head.chunked = true;
  }
  head.contentLength = contentLength;
  head.keepAlive = !close && (head.minor === 1 || keepAliveToken);
  // RFC 9110 §7.8: Upgrade counts only when Connection lists it (a proxy would have removed it),
  // and HTTP/1.0 has no upgrade.
  head.upgrade = upgradeToken && head.minor === 1 ? upgrade.toLowerCase() : "";
}
