// Response heads, encoded into a reused output buffer: pre-encoded status lines, a Date field
// refreshed at most once a second, Server, framing and Connection fields (RFC 9112 §4, §6).
// Field values are checked for CR, LF and NUL so a handler cannot split a response.

import { REASON } from "./status.ts";
import { FRAMING, type ResponseFraming } from "./framing.ts";

const ENCODER = new TextEncoder();

/** A growable byte buffer that is reused across responses. */
export class OutputBuffer {
  bytes: Uint8Array;
  length = 0;

  /** @param capacity initial size in bytes */
  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(need, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** Appends raw bytes. */
  append(src: Uint8Array): void {
    this.ensure(src.length);
    this.bytes.set(src, this.length);
    this.length += src.length;
  }

  /**
   * Appends a header-safe Latin-1 string.
   * @throws {TypeError} on CR, LF, NUL or characters above U+00FF
   */
  appendLatin1(s: string): void {
    this.ensure(s.length);
    const b = this.bytes;
    let o = this.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff || c === 13 || c === 10 || c === 0) {
        throw new TypeError(`Invalid character in response header: ${JSON.stringify(s)}`);
      }
      b[o++] = c;
    }
    this.length = o;
  }

  /** Appends a non-negative integer in decimal. */
  appendDecimal(n: number): void {
    if (n < 10) {
      this.ensure(1);
      this.bytes[this.length++] = 48 + n;
      return;
    }
    this.appendLatin1(String(n));
  }
}

const STATUS_LINES = new Map<number, Uint8Array>();

/** `HTTP/1.1 200 OK\r\n`, encoded once per status. */
function statusLine(status: number): Uint8Array {
  let line = STATUS_LINES.get(status);
  if (!line) {
    line = ENCODER.encode(`HTTP/1.1 ${status} ${REASON[status] ?? "Unknown"}\r\n`);
    STATUS_LINES.set(status, line);
  }
  return line;
}

/** `Server: rawserve\r\n`. */
export const SERVER_FIELD = ENCODER.encode("Server: rawserve\r\n");
const CONTENT_LENGTH = ENCODER.encode("Content-Length: ");
const CHUNKED = ENCODER.encode("Transfer-Encoding: chunked\r\n");
const CONNECTION_CLOSE = ENCODER.encode("Connection: close\r\n");
const CONNECTION_KEEP_ALIVE = ENCODER.encode("Connection: keep-alive\r\n");
const CRLF = ENCODER.encode("\r\n");
const COLON_SP = ENCODER.encode(": ");

let dateSecond = -1;
let dateField = new Uint8Array(0);

/**
 * The `Date: ...\r\n` field (RFC 9110 §6.6.1), rebuilt when the second changes.
 * @param nowMs `Date.now()`
 */
export function dateFieldBytes(nowMs: number): Uint8Array {
  const second = Math.floor(nowMs / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateField = ENCODER.encode(`Date: ${new Date(second * 1000).toUTCString()}\r\n`);
  }
  return dateField;
}

/**
 * Appends a complete response head, ending with the empty line.
 * @param out the buffer to append to
 * @param status the status code
 * @param headers field names and values, alternating
 * @param framing the framing and connection fields (decideFraming)
 * @throws {TypeError} for a field that would split the response
 */
export function encodeHead(
  out: OutputBuffer,
  status: number,
  headers: readonly string[] | Uint8Array | undefined,
  framing: ResponseFraming,
): void {
  out.append(statusLine(status));
  out.append(dateFieldBytes(Date.now()));
  out.append(SERVER_FIELD);
  if (headers instanceof Uint8Array) {
    out.append(headers); // pre-encoded "Name: value\r\n" lines (see encodeFields)
  } else if (headers) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      out.appendLatin1(headers[i]!);
      out.append(COLON_SP);
      out.appendLatin1(headers[i + 1]!);
      out.append(CRLF);
    }
  }
  if (framing.framing === FRAMING.LENGTH) {
    out.append(CONTENT_LENGTH);
    out.appendDecimal(framing.length);
    out.append(CRLF);
  } else if (framing.framing === FRAMING.CHUNKED) {
    out.append(CHUNKED);
  }
  if (framing.close) out.append(CONNECTION_CLOSE);
  else if (framing.keepAlive10) out.append(CONNECTION_KEEP_ALIVE);
  out.append(CRLF);
}

/**
 * Pre-encodes header fields for responses that repeat them (static files, fixed pages), so
 * each response copies bytes instead of re-encoding and re-checking strings.
 * @param headers field names and values, alternating
 * @returns the `Name: value\r\n` lines
 * @throws {TypeError} for a field that would split the response
 */
export function encodeFields(headers: readonly string[]): Uint8Array {
  const out = new OutputBuffer(256);
  for (let i = 0; i + 1 < headers.length; i += 2) {
    out.appendLatin1(headers[i]!);
    out.append(COLON_SP);
    out.appendLatin1(headers[i + 1]!);
    out.append(CRLF);
  }
  return out.bytes.slice(0, out.length);
}

/** Encodes a string body once; handlers returning constant strings should pre-encode. */
export function encodeBody(body: string): Uint8Array {
  return ENCODER.encode(body);
}
