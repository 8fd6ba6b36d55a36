// Request body framing (RFC 9112 §6.3): a body delimited by Content-Length and a chunked one are
// read by peers with one interface. Each passes the body's data on as spans of the buffer it is
// fed (small chunks gathered into one span per feed), keeps nothing between feeds, and refuses a
// body that passes its limit (413).

import { HttpError, STATUS } from "../status.ts";

/**
 * Where a body reader's data goes: spans of the buffer it was fed, or of a buffer the reader
 * gathers small chunks in, valid during the call only.
 */
export interface BodySink {
  onBodyData(buf: Uint8Array, start: number, end: number): void;
}

/** Reads one request body from the bytes that follow its head. */
export interface BodyReader {
  /** Whether the whole body has been read (the next request may follow). */
  readonly done: boolean;
  /** Body bytes still expected, or -1 when the framing does not say (chunked). */
  readonly remaining: number;
  /** Body bytes passed on so far. */
  readonly received: number;
  /** The most body bytes accepted; passing it throws 413. The connection lowers it to drop a body. */
  limit: number;
  /**
   * Consumes body bytes from `buf[start, end)`, passing the data to `sink`.
   * @returns bytes consumed; fewer than offered only once done (the rest is the next request)
   * @throws {HttpError} 400 for malformed framing, 413 beyond `limit`
   */
  feed(buf: Uint8Array, start: number, end: number, sink: BodySink): number;
}

/** Throws the 413 a body beyond `limit` gets. */
export function tooLarge(): HttpError {
  return new HttpError(STATUS.CONTENT_TOO_LARGE, "Request body too large");
}

/** A body of exactly Content-Length bytes. */
export class LengthReader implements BodyReader {
  #remaining: number;
  #received = 0;
  limit: number;

  /**
   * @param length the Content-Length
   * @param limit the most bytes accepted
   */
  constructor(length: number, limit: number) {
    this.#remaining = length;
    this.limit = limit;
  }

  get done(): boolean {
    return this.#remaining === 0;
  }

  get remaining(): number {
    return this.#remaining;
  }

  get received(): number {
    return this.#received;
  }

  feed(buf: Uint8Array, start: number, end: number, sink: BodySink): number {
    const take = Math.min(end - start, this.#remaining);
    if (this.#received + take > this.limit) throw tooLarge();
    if (take > 0) sink.onBodyData(buf, start, start + take);
    this.#remaining -= take;
    this.#received += take;
    return take;
  }
}
