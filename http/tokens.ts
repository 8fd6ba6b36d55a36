// The characters of HTTP/1.1 (RFC 9110 §5, RFC 9112 §3, RFC 3986) as lookup tables, and the
// strings the parser makes from a head's bytes: field names interned, Host and target values
// remembered from the last request, everything else decoded as Latin-1. Split from parser.ts,
// which decides what the bytes mean.

import { HttpError, STATUS } from "./status.ts";

export const CR = 13, LF = 10, SP = 32, HTAB = 9, COLON = 58;

// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//   "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = TCHAR[c + 32] = 1;

// RFC 9110 §5.5: field-vchar = VCHAR / obs-text, plus SP and HTAB inside the value.
export const VALUE_CHAR = new Uint8Array(256);
VALUE_CHAR[HTAB] = 1;
for (let c = 0x20; c <= 0xff; c++) VALUE_CHAR[c] = c === 0x7f ? 0 : 1;

/**
 * Whether `text` can be sent as a field value as it is (RFC 9110 §5.5): field-vchar (VCHAR or
 * obs-text), SP and HTAB, as Latin-1 bytes, so no CR, LF, NUL or other control character, and
 * nothing beyond U+00FF, which has no byte of its own in a head. The one check for every value
 * an operator gives (--header, --cache-control), so that what starts is what can be written.
 */
export function isFieldValue(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff || !VALUE_CHAR[c]) return false;
  }
  return true;
}

// RFC 9112 §3.2 / RFC 3986: the request-target is visible ASCII, no SP, CTL or raw 8-bit bytes.
// The visible characters RFC 3986 leaves out (`"`, `<`, `>`, `\`, `^`, `` ` ``, `{`, `|`, `}`) are
// accepted, as nginx, Apache and Node do: browsers send `{|}^` and `` ` `` raw in queries (the URL
// Standard's query percent-encode set keeps them) and scripts send `"` raw, so refusing them would
// refuse real clients while protecting nothing the consumers of a target cannot protect
// themselves: the static handler decodes paths, and the access log escapes `"` and `\`.
export const TARGET_CHAR = new Uint8Array(256);
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
export function fieldName(buf: Uint8Array, start: number, end: number): string {
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

/** A field value kept in `last` when the previous one had the same bytes, else decoded and kept. */
function keptValue(last: LastString, buf: Uint8Array, start: number, end: number): string {
  const kept = last.match(buf, start, end);
  if (kept !== null) return kept;
  const value = latin1(buf, start, end, false);
  last.keep(buf, start, end, value);
  return value;
}

/** The Host field's value in `buf[start, end)`, as a string, validated. */
export function hostValue(buf: Uint8Array, start: number, end: number): string {
  const kept = LAST_HOST.match(buf, start, end);
  if (kept !== null) return kept;
  const value = latin1(buf, start, end, false);
  if (!isValidHost(value)) throw new HttpError(STATUS.BAD_REQUEST, "Invalid Host field");
  LAST_HOST.keep(buf, start, end, value);
  return value;
}

/** The request-target in `buf[start, end)` (its characters were checked by the caller). */
export function targetValue(buf: Uint8Array, start: number, end: number): string {
  return keptValue(LAST_TARGET, buf, start, end);
}

/** The Accept-Encoding field's value in `buf[start, end)`. */
export function acceptEncodingValue(buf: Uint8Array, start: number, end: number): string {
  return keptValue(LAST_ACCEPT_ENCODING, buf, start, end);
}

const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 65 && c <= 90 ? c + 32 : c;

/** Decodes bytes as Latin-1 (every byte one code unit), lower-casing when asked. */
export function latin1(buf: Uint8Array, start: number, end: number, lower: boolean): string {
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
