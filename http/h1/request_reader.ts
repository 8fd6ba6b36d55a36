// The input side of a connection: bytes from the transport, request heads parsed from them, and
// the body reader that follows each head. It owns the bytes of a request cut short by the end of
// a read (the only input a connection keeps between reads); everything else is parsed in place
// in one buffer shared by all connections.

import { INCOMPLETE, parseRequestHead } from "./parser.ts";
import { RequestHead } from "../request_head.ts";
import { type BodyReader, type BodySink, LengthReader } from "./body_readers.ts";
import { ChunkedReader } from "./chunked.ts";
import type { Transport } from "../types.ts";

/** Shared read buffer: one read takes at most this much, so a connection's input is bounded. */
export const READ_BUFFER_BYTES = 64 * 1024;
const READ_BUF = new Uint8Array(READ_BUFFER_BYTES);

/** What the reader is doing. */
export const READ = {
  /** Waiting for (the rest of) a request head. */
  HEAD: 0,
  /** Reading the body that follows a head. */
  BODY: 1,
  /** No more requests will be read (Connection: close, an error, the peer's FIN). */
  DONE: 2,
} as const;
export type ReadState = typeof READ[keyof typeof READ];

/** Where parsed input goes: the connection. */
export interface RequestSink extends BodySink {
  /**
   * A complete head. The reader has chosen its body's framing already (`body`, null when the
   * request has none).
   */
  onHead(head: RequestHead, body: BodyReader | null): void;
  /** The body that began with the last head is complete. */
  onBodyEnd(): void;
  /** Whether to stop consuming for now (back-pressure); the rest is kept for later. */
  paused(): boolean;
}

/** Parses the requests of one connection from what its transport delivers. */
export class RequestReader {
  #state: ReadState = READ.HEAD;
  #leftover: Uint8Array | null = null;
  /** The leftover was kept because the connection paused, not because a request is incomplete. */
  #pausedWithInput = false;
  #end = 0;
  #body: BodyReader | null = null;
  #lastRequest = false;
  #maxBody: number;

  /** @param maxBody the initial limit of every body reader (413 beyond) */
  constructor(maxBody: number) {
    this.#maxBody = maxBody;
  }

  get state(): ReadState {
    return this.#state;
  }

  /** The reader of the body being read, or null. */
  get body(): BodyReader | null {
    return this.#body;
  }

  /** Whether input is buffered that does not yet form a complete request head or body. */
  get hasLeftover(): boolean {
    return this.#leftover !== null;
  }

  /**
   * Reads from `transport` into the shared buffer, behind the bytes kept from the last read.
   * @returns bytes read, 0 at end of stream, or -errno (the kept bytes stay kept)
   */
  fill(transport: Transport): number {
    const buf = READ_BUF;
    const leftover = this.#leftover;
    let filled = 0;
    if (leftover) {
      buf.set(leftover);
      filled = leftover.length;
    }
    // With a whole buffer kept (a pause after a full read) the read asks for 0 bytes and gets 0,
    // which reads as the end of stream. The connection reads while paused only when epoll
    // reports EPOLLHUP or EPOLLERR, and then the peer has gone: the 0 tells the truth.
    const n = transport.read(filled ? buf.subarray(filled) : buf, buf.length - filled);
    if (n <= 0) return n;
    this.#leftover = null;
    this.#pausedWithInput = false;
    this.#end = filled + n;
    return n;
  }

  /**
   * After a pause, makes the bytes kept at it the buffered input again, without reading. Bytes
   * kept because a request is incomplete stay kept: they need more input, not another parse.
   * @returns whether there are bytes to consume
   */
  resume(): boolean {
    const leftover = this.#leftover;
    if (!leftover || !this.#pausedWithInput) return false;
    READ_BUF.set(leftover);
    this.#end = leftover.length;
    this.#leftover = null;
    this.#pausedWithInput = false;
    return true;
  }

  /** After this request's body, read no further (Connection: close, or the server is draining). */
  lastRequest(): void {
    this.#lastRequest = true;
    if (this.#state === READ.HEAD) this.stop();
  }

  /**
   * Reads no more requests, and hands over what is kept: the bytes after the last request, for
   * the protocol that takes the connection over (an upgrade).
   * @returns the bytes (a copy), empty when none
   */
  takeBuffered(): Uint8Array {
    const kept = this.#leftover ?? new Uint8Array(0);
    this.#leftover = null;
    this.stop();
    return kept;
  }

  /** Reads no more requests; drops what is kept. */
  stop(): void {
    this.#state = READ.DONE;
    this.#leftover = null;
    this.#pausedWithInput = false;
    this.#body = null;
  }

  /**
   * Parses the buffered input: each complete head goes to `sink.onHead`, body data to
   * `sink.onBodyData`. Stops when the input runs out or `sink.paused()`, keeping the rest.
   * @returns whether input was left unparsed because no more requests will be read
   * @throws {HttpError} with the status to answer; the reader is then stopped
   */
  consume(sink: RequestSink): boolean {
    const buf = READ_BUF;
    const end = this.#end;
    let p = 0;
    this.#end = 0;
    try {
      while (p < end && !sink.paused()) {
        if (this.#state === READ.HEAD) {
          const head = new RequestHead();
          const used = parseRequestHead(buf, p, end, head);
          if (used === INCOMPLETE) break;
          p += used;
          this.#startBody(head);
          sink.onHead(head, this.#body);
        } else if (this.#state === READ.BODY) {
          const body = this.#body!;
          p += body.feed(buf, p, end, sink);
          if (body.done) this.#endBody(sink);
        } else {
          return true; // DONE: what follows the last request is not read
        }
      }
    } catch (e) {
      this.stop();
      throw e;
    }
    if (p < end && this.#state !== READ.DONE) {
      this.#leftover = buf.slice(p, end);
      this.#pausedWithInput = sink.paused();
    }
    return p < end && this.#state === READ.DONE;
  }

  /** RFC 9112 §6.3: the parser has decided the framing; pick the reader that follows it. */
  #startBody(head: RequestHead): void {
    if (head.chunked) this.#body = new ChunkedReader(this.#maxBody);
    else if (head.contentLength > 0) this.#body = new LengthReader(head.contentLength, this.#maxBody);
    else this.#body = null;
    if (!head.keepAlive) this.#lastRequest = true;
    if (this.#body) this.#state = READ.BODY;
    else if (this.#lastRequest) this.#state = READ.DONE;
  }

  #endBody(sink: RequestSink): void {
    this.#body = null;
    this.#state = this.#lastRequest ? READ.DONE : READ.HEAD;
    sink.onBodyEnd();
  }
}
