// Sans-I/O HTTP/1.1 request-head parser (RFC 9112 §2-§3, §5-§6, RFC 9110 §5).
// parseRequestHead() returns the bytes consumed or INCOMPLETE (not an error) and throws
// HttpError carrying the status to send. It never reads outside [start, end).

import { HttpError, STATUS } from "./status.ts";

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

/** Methods rawserve recognises (RFC 9110 §9 plus PATCH, RFC 5789); others get 501. */
export const METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
]);

const CR = 13, LF = 10, SP = 32, HTAB = 9, COLON = 58;

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//   "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = TCHAR[c + 32] = 1;

// RFC 9110 §5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside the value.
const VALUE_CHAR = new Uint8Array(256);
VALUE_CHAR[HTAB] = 1;
for (let c = 0x20; c <= 0xff; c++) VALUE_CHAR[c] = c === 0x7f ? 0 : 1;

// RFC 9112 §3.2 / RFC 3986: the request-target is visible ASCII, no SP, CTL or raw 8-bit bytes.
const TARGET_CHAR = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) TARGET_CHAR[c] = 1;

// RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims ).
const REG_NAME_CHAR = new Uint8Array(128);
for (const c of "-._~%!$&'()*+,;=0123456789") REG_NAME_CHAR[c.charCodeAt(0)] = 1;
for (let c = 65; c <= 90; c++) REG_NAME_CHAR[c] = REG_NAME_CHAR[c + 32] = 1;
// Inside "[...]": an IPv6 address (hex digits, colons, an embedded IPv4 tail's dots).
const IP_LITERAL_CHAR = new Uint8Array(128);
for (const c of "0123456789abcdefABCDEF:.") IP_LITERAL_CHAR[c.charCodeAt(0)] = 1;

function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
}

/**
 * Whether `value` is `uri-host [ ":" port ]` (RFC 9112 §3.2, RFC 3986 §3.2.2-3.2.3): a
 * reg-name, an IPv4 address or a bracketed IPv6 literal, then an optional decimal port up to
 * 65535. An empty value is valid (RFC 9112 §3.2: a target without authority sends `Host:`).
 * @param needPort the authority-form of CONNECT, where the port is required
 */
export function isValidHost(value: string, needPort = false): boolean {
  const n = value.length;
  let i = 0;
  if (value.charCodeAt(0) === 91) { // "["
    const close = value.indexOf("]");
    if (close < 3) return false; // unclosed, or too short to be an IPv6 address ("::" at least)
    for (let j = 1; j < close; j++) if (!IP_LITERAL_CHAR[value.charCodeAt(j)]) return false;
    i = close + 1;
  } else {
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c >= 128 || !REG_NAME_CHAR[c]) break;
      if (c === 37 && !(isHexDigit(value.charCodeAt(i + 1)) && isHexDigit(value.charCodeAt(i + 2)))) {
        return false; // "%" must start a pct-encoded octet
      }
    }
  }
  if (i === n) return !needPort;
  if (value.charCodeAt(i) !== 58) return false; // ":"
  const digits = n - i - 1;
  if (digits > 5 || (needPort && digits === 0)) return false;
  let port = 0;
  for (let j = i + 1; j < n; j++) {
    const d = value.charCodeAt(j) - 48;
    if (d < 0 || d > 9) return false;
    port = port * 10 + d;
  }
  return port <= 65535;
}

/**
 * Header names decoded once: a field name that matches one of these (ignoring case) is
 * answered with this string instead of a new one, which saves an allocation per field and
 * makes later comparisons pointer compares. The names clients send on nearly every request.
 */
const KNOWN_NAMES = [
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "expect",
  "accept",
  "accept-encoding",
  "accept-language",
  "user-agent",
  "cookie",
  "referer",
  "origin",
  "if-none-match",
  "if-modified-since",
  "if-range",
  "range",
  "cache-control",
  "content-type",
  "authorization",
  "upgrade",
  "pragma",
  "priority",
  "dnt",
  "te",
  "sec-fetch-dest",
  "sec-fetch-mode",
  "sec-fetch-site",
  "sec-fetch-user",
  "upgrade-insecure-requests",
];
/** KNOWN_NAMES by length and first letter: the candidates for a name of that shape. */
const NAMES_BY_SHAPE = new Map<number, string[]>();
for (const name of KNOWN_NAMES) {
  const key = name.length * 256 + name.charCodeAt(0);
  NAMES_BY_SHAPE.set(key, [...(NAMES_BY_SHAPE.get(key) ?? []), name]);
}

/** The field name in `buf[start, end)`, lower-cased: an interned known name, or a new string. */
function fieldName(buf: Uint8Array, start: number, end: number): string {
  // Host comes with every request: checked before the table.
  if (
    end - start === 4 && (buf[start]! | 0x20) === 104 && (buf[start + 1]! | 0x20) === 111 &&
    (buf[start + 2]! | 0x20) === 115 && (buf[start + 3]! | 0x20) === 116
  ) return "host";
  const candidates = NAMES_BY_SHAPE.get((end - start) * 256 + LOWER[buf[start]!]!);
  if (candidates) {
    for (const name of candidates) {
      let i = 1;
      while (i < name.length && LOWER[buf[start + i]!] === name.charCodeAt(i)) i++;
      if (i === name.length) return name;
    }
  }
  return latin1(buf, start, end, true);
}

/**
 * The last string decoded from some bytes, kept with those bytes. Clients send the same Host
 * and, often, the same target on every request: comparing bytes is cheaper than decoding (and
 * validating) them again, and the string is not allocated anew.
 */
class LastString {
  #value = "";
  #bytes: Uint8Array;

  /** @param max the longest value worth keeping */
  constructor(max: number) {
    this.#bytes = new Uint8Array(max);
  }

  /** The kept string when `buf[start, end)` holds its bytes, else null. */
  match(buf: Uint8Array, start: number, end: number): string | null {
    const n = end - start;
    if (n !== this.#value.length) return null;
    const bytes = this.#bytes;
    for (let i = 0; i < n; i++) if (buf[start + i] !== bytes[i]) return null;
    return this.#value;
  }

  /** Keeps `value`, decoded from `buf[start, end)` (when it is short enough). */
  keep(buf: Uint8Array, start: number, end: number, value: string): void {
    if (end - start > this.#bytes.length) return;
    this.#bytes.set(buf.subarray(start, end));
    this.#value = value;
  }
}

const LAST_HOST = new LastString(256);
const LAST_TARGET = new LastString(256);
/**
 * Accept-Encoding is read on every request for a file that has compressed forms, and a client
 * sends the same value each time: kept, the value is not decoded again (a 23-byte value took
 * ~100 ns to decode and ~100 ns more to compare, as a concatenated string, in
 * http/negotiation.ts), and the negotiation's memory of the last value is a pointer comparison.
 */
const LAST_ACCEPT_ENCODING = new LastString(256);

/** The Host field's value in `buf[start, end)`, as a string, validated. */
function hostValue(buf: Uint8Array, start: number, end: number): string {
  const kept = LAST_HOST.match(buf, start, end);
  if (kept !== null) return kept;
  const value = latin1(buf, start, end, false);
  if (!isValidHost(value)) throw bad("Invalid Host field");
  LAST_HOST.keep(buf, start, end, value);
  return value;
}

/** A field value kept in `last` when the previous one had the same bytes, else decoded and kept. */
function keptValue(last: LastString, buf: Uint8Array, start: number, end: number): string {
  const kept = last.match(buf, start, end);
  if (kept !== null) return kept;
  const value = latin1(buf, start, end, false);
  last.keep(buf, start, end, value);
  return value;
}

const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;

/** Decodes bytes as Latin-1 (every byte one code unit), lower-casing when asked. */
function latin1(buf: Uint8Array, start: number, end: number, lower: boolean): string {
  const table = lower ? LOWER : null;
  if (end - start <= 24) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(table ? table[buf[i]!]! : buf[i]!);
    return s;
  }
  let s = String.fromCharCode.apply(null, buf.subarray(start, end) as unknown as number[]);
  if (lower) s = s.toLowerCase();
  return s;
}

/** A parsed request head. Reused objects are fine: parseRequestHead() resets every field. */
export class RequestHead {
  /** Request method, e.g. `GET`. */
  method = "";
  /** The request-target exactly as sent. */
  target = "";
  /** Path and query of the target (absolute-form has its scheme and authority removed). */
  path = "";
  /** HTTP/1.x minor version: 0 or 1 (1.2 and later are answered as 1.1). */
  minor = 1;
  /** Field names (lower-case) and values, alternating. */
  headers: string[] = [];
  /** Host field value, or the authority of an absolute-form target. */
  host = "";
  /** Content-Length, or -1 when absent. */
  contentLength = -1;
  /** Transfer-Encoding: chunked. */
  chunked = false;
  /** Whether the connection may stay open after the response (RFC 9112 §9.3). */
  keepAlive = true;
  /** Expect: 100-continue (RFC 9110 §10.1.1). */
  expectContinue = false;

  /**
   * The first value of a header field.
   * @param name lower-case field name
   * @returns the value, or undefined
   */
  get(name: string): string | undefined {
    const h = this.headers;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }
}

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
  head.target = keptValue(LAST_TARGET, buf, t, r); // its characters were checked above
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
  head.minor = minor === 0 ? 0 : 1;
  if (!METHODS.has(head.method)) throw new HttpError(STATUS.NOT_IMPLEMENTED, "Unknown method");
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
        ? keptValue(LAST_ACCEPT_ENCODING, buf, vs, ve)
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
  let close = false, keepAliveToken = false;
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
        }
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
}
