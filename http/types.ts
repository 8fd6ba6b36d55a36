// The contracts between the HTTP layer and the rest: what a handler receives and returns, and
// the transport a connection drives. http/ sees sockets only through Transport.

import type { RequestHead } from "./parser.ts";
import type { Timer } from "../loop/timers.ts";

/** A byte range of an open file, sent with sendfile(2). The connection closes it when done. */
export interface FileBody {
  readonly kind: "file";
  /** The open file's descriptor. */
  readonly fileFd: number;
  /** First byte to send. */
  readonly offset: number;
  /** Bytes to send from `offset`. */
  readonly length: number;
  /** Releases the file; called exactly once, after the last byte or when the send is abandoned. */
  close(): void;
}

/** What a response body may be. Strings are sent as UTF-8. */
export type Body = Uint8Array | string | FileBody | ReadableStream<Uint8Array> | null;

/** A response from a handler. */
export interface HttpResponse {
  status: number;
  /**
   * Field names and values, alternating, e.g. `["content-type", "text/html"]`, or fields
   * pre-encoded once with `encodeFields()` for responses that repeat them.
   */
  headers?: readonly string[] | Uint8Array;
  body?: Body;
  /**
   * The length a GET would have had, for HEAD and 304 responses whose body is omitted; when
   * absent, the length of `body` is used.
   */
  contentLength?: number;
}

/** A request as a handler sees it. */
export interface HttpRequest {
  readonly head: RequestHead;
  /** The request body (empty when none). */
  readonly body: Uint8Array;
}

/** Produces a response for a request; may be async. Throwing produces a 500. */
export type Handler = (request: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** The I/O a connection needs. Counts or `-errno`, never exceptions. */
export interface Transport {
  /** @returns bytes read into `buf[0, length)`, 0 at end of stream, or -errno */
  read(buf: Uint8Array, length: number): number;
  /** @returns bytes written from `buf[0, length)`, or -errno */
  write(buf: Uint8Array, length: number): number;
  /** @returns bytes sent from the file, or -errno */
  sendfile(fileFd: number, offset: number, count: number): number;
  /** Sets which readiness events the connection wants. */
  setInterest(readable: boolean, writable: boolean): void;
  /** Sends FIN after queued data (shutdown SHUT_WR). */
  shutdownWrite(): void;
  /** The peer's address as text (looked up on first use). */
  remoteAddress(): string;
  /** Closes the socket; called exactly once. */
  close(): void;
}

/** Timer service the connection uses for its single deadline. */
export interface Deadlines {
  /** Arms `timer` `ms` milliseconds from now (moving a deadline later costs one assignment). */
  arm(timer: Timer, ms: number): void;
  /** Takes `timer` out of the queue for good (its connection is gone). */
  remove(timer: Timer): void;
}

/** -errno values the HTTP layer interprets (Linux numbering). */
export const IO = {
  EAGAIN: -11,
  EPIPE: -32,
  ECONNRESET: -104,
} as const;

/** What the static server needs from fstat(2). */
export interface FileInfo {
  size: number;
  mtimeMs: number;
  ino: number;
  isFile: boolean;
  isDirectory: boolean;
}
