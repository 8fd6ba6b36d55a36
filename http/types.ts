// The contracts between the HTTP layer and the rest: what a handler receives and returns, the
// transport a connection drives and the deadline it arms. http/ sees sockets only through
// Transport and timers only through Deadline, so it runs in tests without either.

import type { RequestHead } from "./request_head.ts";
import type { RequestBody } from "./request_body.ts";

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

/**
 * Descriptors a handler keeps open between responses (a cache of open files). The server counts
 * them in its descriptor budget beside connections and the files responses hold, and asks for
 * them back before it would stop accepting and when the process runs out of descriptors.
 */
export interface HeldDescriptors {
  /** How many descriptors it holds now. */
  readonly held: number;
  /**
   * Stops holding up to `count` descriptors, oldest first: those no response uses are closed at
   * once, the others when their last response ends (until then each counts as that response's file).
   * @returns how many it let go
   */
  shed(count: number): number;
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
   * More fields as name and value pairs (the header list of a web Response), sent after
   * `headers`.
   */
  headerList?: readonly (readonly [string, string])[];
  /**
   * With status 101, to a request that asked to upgrade (RFC 9110 §7.8, `head.upgrade`): the
   * protocol that takes the connection over once the 101's head is written. Ignored otherwise.
   */
  upgrade?: Upgrade;
  /**
   * The body's length when `body` is a stream of known length (a Blob's): sent as
   * Content-Length instead of chunked. For HEAD and 304 responses whose body is omitted, the
   * length a GET would have had. When absent, the length of `body` is used.
   */
  contentLength?: number;
}

/** Who sent a request: the connection's peer, looked up once per connection. */
export interface Peer {
  /** The peer's address as text, e.g. `127.0.0.1` or `::1`. */
  remoteAddress(): string;
  /** The peer's port. */
  remotePort(): number;
}

/** A request as a handler sees it, as soon as its head is complete. */
export interface HttpRequest {
  readonly head: RequestHead;
  /**
   * The body as it arrives, or null when the request has none. A handler that answers without
   * reading it leaves it to the connection, which drops it (see RequestBody).
   */
  readonly body: RequestBody | null;
  /** The client. */
  readonly peer: Peer;
  /** Set by a handler that wants to know how its response ended (see ResponseObserver). */
  observer: ResponseObserver | null;
}

/** Hears, once, how a response ended. */
export interface ResponseObserver {
  /** @param ok true when the kernel took its last byte; false when the connection closed first */
  responseDone(ok: boolean): void;
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
  /**
   * True when the transport's sendfile only reads the file and writes its bytes (TLS without
   * kernel TLS): a caller that frames bytes may then read them itself with `readFile` and send
   * its frame head and the bytes in one write (one TLS record instead of two). Absent: false.
   */
  readonly copiesFiles?: boolean;
  /**
   * Reads `length` bytes of a file at `offset` into `buf` (pread(2)); given with `copiesFiles`.
   * @returns bytes read (fewer only at the file's end), or -errno
   */
  readFile?(fileFd: number, offset: number, buf: Uint8Array, length: number): number;
  /** Sets which readiness events the connection wants. */
  setInterest(readable: boolean, writable: boolean): void;
  /** Sends FIN after queued data (shutdown SHUT_WR). */
  shutdownWrite(): void;
  /** The peer's address as text (looked up on first use). */
  remoteAddress(): string;
  /** The peer's port (looked up on first use). */
  remotePort(): number;
  /** Closes the socket; called exactly once. */
  close(): void;
}

/**
 * A protocol session over one Transport (an HTTP/1.1 connection, an HTTP/2 connection, a
 * WebSocket): the reactor's readiness reaches it through its transport.
 */
export interface Session {
  /** The socket is readable (or has an error or hang-up pending). */
  onReadable(): void;
  /** The socket accepts more output. */
  onWritable(): void;
  /** Whether the session has closed (and its transport with it). */
  readonly closed: boolean;
  /** Graceful shutdown: ends at once when nothing is in progress. @returns whether it closed */
  closeIfIdle(): boolean;
  /** Closes the session and its transport at once. Safe to call twice. */
  close(): void;
}

/** Which HTTP a session speaks: HTTP/1.1, or HTTP/2 (over TLS by ALPN, or h2c by prior knowledge). */
export type HttpProtocol = "h1" | "h2";

/** An HTTP/2 connection's streams and connection-level flow-control windows (RFC 9113 §6.9). */
export interface StreamFacts {
  /** Streams open now. */
  open: number;
  /** Bytes we may still send before the client opens its window. */
  sendWindow: number;
  /** Bytes the client may still send before we open ours. */
  receiveWindow: number;
}

/**
 * A session that carries HTTP requests (HTTP/1.1's Connection, HTTP/2's Http2Session) as the
 * server's hooks, the access log and the status page read it, whichever protocol it speaks.
 */
export interface HttpSession extends Session {
  readonly protocol: HttpProtocol;
  /** The client's address, for logs. */
  readonly remoteAddress: string;
  /** What it waits for now (head, body, busy, writing, idle, ...). */
  readonly phase: string;
  /** When it was accepted, on the server's clock. */
  readonly openedAt: number;
  /** Requests read on it (streams opened, for HTTP/2). */
  readonly requests: number;
  /** Output composed and not yet taken by the kernel, in bytes. */
  readonly pendingBytes: number;
  /** The transport it drives. */
  readonly transport: Transport;
  /** HTTP/2's streams and windows; null for HTTP/1.1 (one request at a time, no windows). */
  streamFacts(): StreamFacts | null;
}

/**
 * Takes a connection over after a 101 (Switching Protocols): the transport, and the bytes the
 * client sent after its request that were read already (they belong to the new protocol).
 * @returns the session that now owns the transport
 */
export type Upgrade = (transport: Transport, buffered: Uint8Array) => Session;

/** What a deadline calls when it fires: a method, so an owner needs no closure for it. */
export interface DeadlineTarget {
  onTimer(): void;
}

/** A reusable deadline (the reactor's timers are one). One per connection, never per request. */
export interface Deadline {
  /** Fires `ms` milliseconds from now; arming again moves the deadline. */
  arm(ms: number): void;
  /** Keeps it from firing until armed again. */
  disarm(): void;
  /** Releases it for good. */
  dispose(): void;
}

/**
 * -errno values the HTTP layer interprets, as a Transport returns them: Linux's numbering, part
 * of the contract (http/ imports nothing below it; tests/http/errno_contract_test.ts checks these
 * against ffi/errno_numbers.ts).
 */
export const IO = {
  EAGAIN: -11,
  EPIPE: -32,
  ECONNRESET: -104,
} as const;

/**
 * A response that ended: its last byte accepted by the kernel (`complete`), or its connection
 * closed first. One object, reused: read it in the callback, keep nothing of it. HTTP/1.1 and
 * HTTP/2 report their responses so (the access log, the operator's metrics).
 */
export interface ResponseDone {
  /** The request, or null when it could not be parsed. */
  head: RequestHead | null;
  status: number;
  /**
   * Body bytes that left (nginx's `$body_bytes_sent`): the whole body when complete, what the
   * kernel accepted when cut short. HTTP/1.1 counts its chunk framing; HTTP/2 the DATA payloads
   * written towards the kernel.
   */
  bytes: number;
  /** Milliseconds from the request head's arrival to the end, on the options' `now` clock. */
  ms: number;
  /** Whether every byte of the response was accepted by the kernel. */
  complete: boolean;
}
