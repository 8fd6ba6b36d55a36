// A response body as the HTTP/1.1 encoder takes it: a short ASCII string copied behind its head
// (the same text answered twice in a row is copied as bytes), small bytes copied, and what is
// larger (bytes, a file, a stream) left to follow the head through the output queue.

import { encodeBody, type OutputBuffer } from "./writer.ts";
import type { RequestHead } from "../request_head.ts";
import type { FileBody, HttpResponse } from "../types.ts";

/** Bodies up to this size are copied behind their head (one write); larger ones follow it. */
export const COPY_BODY_BYTES = 16 * 1024;

/** A streamed body to be written after the bytes encoded before it. */
export class StreamTail {
  constructor(
    readonly reader: ReadableStreamDefaultReader<Uint8Array>,
    readonly chunked: boolean,
    readonly request: RequestHead | null,
  ) {}
}

/** What follows a head through the output queue. */
export type Tail = Uint8Array | FileBody | StreamTail;

/**
 * The last short ASCII string body, and its bytes once it came twice in a row: an application
 * that answers the same text again (a constant, the same JSON) gets it copied as bytes, without
 * its characters checked and copied one by one each time (~60 ns for "Hello, World!", measured
 * with scripts/path_bench.ts --handler app-hello).
 */
const TEXT: { last: string; bytes: Uint8Array | null } = { last: "", bytes: null };

/** Whether every character of `s` is ASCII, so its UTF-8 bytes are its char codes. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

function bodyLength(body: Uint8Array | FileBody | ReadableStream<Uint8Array> | null): number {
  if (body === null) return 0;
  if (body instanceof Uint8Array) return body.length;
  if (body instanceof ReadableStream) return -1;
  return body.length;
}

/** A body ready to encode; one object, overwritten by each prepareBody() (read at once). */
const PREPARED: {
  ascii: string | null;
  body: Uint8Array | FileBody | ReadableStream<Uint8Array> | null;
  length: number;
} = { ascii: null, body: null, length: 0 };

/**
 * Prepares a response's body: a short ASCII string stays a string, to be copied into the head's
 * buffer character by character (TextEncoder.encode is an op call in Deno, ~0.3 µs for "Hello,
 * World!"); other strings become bytes.
 * @returns the string or the body (one of them null), and the length to frame (-1: unknown)
 */
export function prepareBody(response: HttpResponse): typeof PREPARED {
  const given = response.body ?? null;
  let ascii: string | null = null;
  let body: typeof PREPARED.body = null;
  if (typeof given === "string") {
    if (given === TEXT.last) body = TEXT.bytes ??= encodeBody(given);
    else if (given.length <= COPY_BODY_BYTES && isAscii(given)) {
      ascii = given;
      TEXT.last = given;
      TEXT.bytes = null;
    } else body = encodeBody(given);
  } else body = given;
  PREPARED.ascii = ascii;
  PREPARED.body = body;
  PREPARED.length = response.contentLength ?? (ascii !== null ? ascii.length : bodyLength(body));
  return PREPARED;
}

/**
 * Appends a body behind its head when it is small, or says what follows the head.
 * @param chunked whether a stream's chunks are framed (RFC 9112 §7.1)
 * @param request the request it answers, named when a stream fails
 * @returns the body to write after `out`, or null when it is in `out`
 */
export function appendBody(
  out: OutputBuffer,
  body: string | Uint8Array | FileBody | ReadableStream<Uint8Array>,
  chunked: boolean,
  request: RequestHead | null,
): Tail | null {
  if (typeof body === "string") {
    out.appendAscii(body);
    return null;
  }
  if (body instanceof Uint8Array) {
    if (body.length > COPY_BODY_BYTES) return body;
    out.append(body);
    return null;
  }
  if (body instanceof ReadableStream) return new StreamTail(body.getReader(), chunked, request);
  return body;
}
