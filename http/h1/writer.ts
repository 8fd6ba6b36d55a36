// Response heads, encoded into a reused output buffer: pre-encoded status lines, a Date field
// refreshed at most once a second, Server, framing and Connection fields (RFC 9112 §4, §6).
// Field values are checked for CR, LF and NUL so a handler cannot split a response.

import { REASON } from "../status.ts";
import { FRAMING, type ResponseFraming } from "./framing.ts";
import { wallClock } from "../clock.ts";

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

  /** Appends an ASCII string (every char code below 0x80: its UTF-8 bytes are its codes). */
  appendAscii(s: string): void {
    this.ensure(s.length);
    const b = this.bytes;
    let o = this.length;
    for (let i = 0; i < s.length; i++) b[o++] = s.charCodeAt(i);
    this.length = o;
  }

  /** Appends a non-negative integer (below 2^53) in decimal. */
  appendDecimal(n: number): void {
    this.ensure(16);
    this.length = writeDecimal(this.bytes, this.length, n);
  }

  /**
   * Appends the end of a head: `Content-Length: n` (when n >= 0), `Connection: close` or
   * `Connection: keep-alive` (when asked), and the empty line. Short runs of bytes are written
   * with a loop: for fewer than ~20 bytes that is faster than TypedArray.set (~10 ns a call).
   * @param contentLength the length, or -1 for no Content-Length field
   * @param connection CONNECTION_CLOSE, CONNECTION_KEEP_ALIVE or null
   */
  appendHeadEnd(contentLength: number, connection: Uint8Array | null): void {
    this.ensure(64);
    const b = this.bytes;
    let o = this.length;
    if (contentLength >= 0) {
      for (let i = 0; i < CONTENT_LENGTH.length; i++) b[o++] = CONTENT_LENGTH[i]!;
      o = writeDecimal(b, o, contentLength);
      b[o++] = 13;
      b[o++] = 10;
    }
    if (connection) { for (let i = 0; i < connection.length; i++) b[o++] = connection[i]!; }
    b[o++] = 13;
    b[o++] = 10;
    this.length = o;
  }
}

/**
 * Writes `n` (a non-negative integer below 2^53) in decimal into `b` at `o`.
 * @returns the index after the last digit
 */
function writeDecimal(b: Uint8Array, o: number, n: number): number {
  if (n < 0x7fffffff) { // small integer arithmetic, which V8 keeps off the floating-point path
    let digits = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
    let i = o + digits;
    do {
      const q = (n / 10) | 0;
      b[--i] = 48 + n - q * 10;
      n = q;
    } while (n > 0);
    return o + digits;
  }
  const text = String(n);
  for (let i = 0; i < text.length; i++) b[o++] = text.charCodeAt(i);
  return o;
}

/**
 * The start of every response head with a given status: status line, Date and Server, encoded
 * once per status and second (RFC 9110 §6.6.1: Date has a one-second resolution), so a head
 * begins with one copy. Index: status - 100.
 */
const STARTS: { second: number; bytes: Uint8Array }[] = [];

function headStart(status: number, nowMs: number): Uint8Array {
  const second = Math.floor(nowMs / 1000);
  const index = status - 100;
  const cached = STARTS[index];
  if (cached && cached.second === second) return cached.bytes;
  const date = new Date(second * 1000).toUTCString();
  const bytes = ENCODER.encode(
    `HTTP/1.1 ${status} ${REASON[status] ?? "Unknown"}\r\nDate: ${date}\r\nServer: rawserve\r\n`,
  );
  if (index >= 0 && index < 500) STARTS[index] = { second, bytes };
  return bytes;
}

const CONTENT_LENGTH = ENCODER.encode("Content-Length: ");
const CHUNKED = ENCODER.encode("Transfer-Encoding: chunked\r\n");
const CONNECTION_CLOSE = ENCODER.encode("Connection: close\r\n");
const CONNECTION_KEEP_ALIVE = ENCODER.encode("Connection: keep-alive\r\n");
const CRLF = ENCODER.encode("\r\n");
const COLON_SP = ENCODER.encode(": ");

/**
 * Appends a complete response head, ending with the empty line.
 * @param out the buffer to append to
 * @param status the status code
 * @param headers field names and values, alternating
 * @param framing the framing and connection fields (decideFraming)
 * @param headerList more fields as name and value pairs
 * @param always pre-encoded fields every response carries (encodeFields), or null
 * @throws {TypeError} for a field that would split the response
 */
export function encodeHead(
  out: OutputBuffer,
  status: number,
  headers: readonly string[] | Uint8Array | undefined,
  framing: ResponseFraming,
  headerList?: readonly (readonly [string, string])[],
  always: Uint8Array | null = null,
): void {
  out.append(headStart(status, wallClock()));
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
  if (headerList) {
    for (let i = 0; i < headerList.length; i++) {
      const field = headerList[i]!;
      out.appendLatin1(field[0]);
      out.append(COLON_SP);
      out.appendLatin1(field[1]);
      out.append(CRLF);
    }
  }
  if (always !== null) out.append(always);
  if (framing.framing === FRAMING.CHUNKED) out.append(CHUNKED);
  const connection = framing.close ? CONNECTION_CLOSE : framing.keepAlive10 ? CONNECTION_KEEP_ALIVE : null;
  out.appendHeadEnd(framing.framing === FRAMING.LENGTH ? framing.length : -1, connection);
}

/** Encodes a string body once; handlers returning constant strings should pre-encode. */
export function encodeBody(body: string): Uint8Array {
  return ENCODER.encode(body);
}
