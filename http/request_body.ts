// The body of one request as it arrives: the connection pushes data, a handler may read it.
// Flow control: the connection stops reading while more than BODY_QUEUE_BYTES wait unread. What
// is held here counts against a budget shared by all connections: the pieces' bytes and what each
// piece costs beyond them; small pushes fill the last piece's room, so however the client splits
// its body, the pieces are few. A body nobody claims by the time its response is ready is
// dropped (see Connection), never kept.

import { HttpError, STATUS } from "./status.ts";

/** Unread bytes at which the connection stops reading (about one full read of the socket). */
export const BODY_QUEUE_BYTES = 64 * 1024;

/**
 * A body the handler does not read is read and dropped up to this many more bytes, so the
 * connection can carry the next request; a longer one ends the connection after the answer
 * (RFC 9112 §9.6). Reading 256 KiB costs less than a new connection's handshake (Go's net/http
 * draws the same line), and nothing is kept meanwhile.
 */
export const DISCARD_MAX_BYTES = 256 * 1024;

/**
 * What one queued piece costs beyond its bytes, charged with it: 200,000 one-byte Uint8Arrays
 * took ~560 bytes each in Deno 2.9.6 (RSS, measured 2026-12-06). One piece per chunk of a body
 * sent in one-byte chunks cost ~400 bytes per body byte before pieces were coalesced (issue 18).
 */
export const PIECE_OVERHEAD_BYTES = 512;
/**
 * A push that does not fit in the last piece starts one with as much room as the queue holds
 * (up to this), so a body arriving in tiny reads fills a few growing pieces; a larger push gets a
 * piece of its own size. The room left unused is charged: at most this much per body.
 */
export const MAX_PIECE_ROOM_BYTES = 16 * 1024;

/** Request-body bytes held by all the connections of a server, and their bound. */
export interface BodyBudget {
  used: number;
  limit: number;
}

/** What a body tells the connection that fills it. */
export interface BodyOwner {
  /** A handler began to read: a client waiting for 100 (Continue) may be told to send. */
  bodyClaimed(body: RequestBody): void;
  /** Queued bytes were taken: reading may resume. */
  bodyDrained(body: RequestBody): void;
  /** The handler does not want the rest: drop it. */
  bodyCancelled(body: RequestBody): void;
  /** A read found the body unacceptable (its declared length passes the limit). */
  bodyRefused(body: RequestBody, error: HttpError): void;
}

const OPEN = 0, ENDED = 1, FAILED = 2, DROPPED = 3;
/** What reading a body the consumer cancelled (or the connection dropped) gets. */
const DROPPED_ERROR = new HttpError(STATUS.BAD_REQUEST, "Request body dropped");

/** The queued bytes as one array: the pieces in order, the last one up to `tailFill`. */
function concat(pieces: Uint8Array[], tailFill: number, length: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!.subarray(0, tailFill);
  const out = new Uint8Array(length);
  let off = 0;
  for (let i = 0; i < pieces.length; i++) {
    const piece = i === pieces.length - 1 ? pieces[i]!.subarray(0, tailFill) : pieces[i]!;
    out.set(piece, off);
    off += piece.length;
  }
  return out;
}

/** One request's body. Consumers call claim/read/bytes/cancel; the connection push/end/fail/drop. */
export class RequestBody {
  /** Content-Length, or -1 for a chunked body. */
  readonly length: number;
  #limit: number;
  #budget: BodyBudget;
  #owner: BodyOwner;
  #state = OPEN;
  #error: HttpError | null = null;
  #claimed = false;
  /** bytes() is gathering the whole body: queued data stays until the end, reading never pauses. */
  #collecting = false;
  /** Queued pieces, in order; each is full but the last, which holds `#tailFill` bytes. */
  #pieces: Uint8Array[] = [];
  #tailFill = 0;
  /** Body bytes queued. */
  #queued = 0;
  /** What the queue holds, as charged to the budget: the pieces' sizes and their overhead. */
  #held = 0;
  #waiter: PromiseWithResolvers<Uint8Array | null> | null = null;
  #whole: PromiseWithResolvers<Uint8Array> | null = null;

  /**
   * @param length Content-Length, or -1 when chunked
   * @param limit the most bytes a reader may take (413 beyond; the readers enforce it as data
   *   arrives, this checks a declared length when reading starts)
   * @param budget the server's shared budget for queued bytes (503 beyond)
   * @param owner the connection
   */
  constructor(length: number, limit: number, budget: BodyBudget, owner: BodyOwner) {
    this.length = length;
    this.#limit = limit;
    this.#budget = budget;
    this.#owner = owner;
  }

  /** Whether a consumer has begun to read. */
  get claimed(): boolean {
    return this.#claimed;
  }

  /** Whether more of the body is wanted: it has not ended, failed or been dropped. */
  get wanted(): boolean {
    return this.#state === OPEN;
  }

  /** Whether the body is being dropped (nobody will read the rest). */
  get dropped(): boolean {
    return this.#state === DROPPED;
  }

  /**
   * Bytes waiting for a reader that back-pressure should count: HTTP/2 flow control holds the
   * peer's window shut by this much. 0 while bytes() gathers the whole body, which the budget
   * and the body limit bound instead (as HTTP/1.1 keeps reading then).
   */
  get unread(): number {
    return this.#collecting || this.#state !== OPEN && this.#state !== ENDED ? 0 : this.#queued;
  }

  /** Whether enough waits unread that the connection should stop reading. */
  get full(): boolean {
    return !this.#collecting && this.#held >= BODY_QUEUE_BYTES;
  }

  // ---- the consumer's side ----------------------------------------------------------------

  /**
   * Declares that the body will be read, before the first read; reading does it too. A
   * response made after claiming may still read the body (a stream echoing it, say).
   */
  claim(): void {
    if (this.#claimed) return;
    this.#claimed = true;
    if (this.length > this.#limit && this.#state === OPEN) {
      const error = new HttpError(STATUS.CONTENT_TOO_LARGE, "Request body too large");
      this.fail(error);
      this.#owner.bodyRefused(this, error);
      return;
    }
    this.#owner.bodyClaimed(this);
  }

  /**
   * The next piece of the body.
   * @returns the bytes, or null at the end
   * @throws {HttpError} when the body failed (too large, malformed, timed out, cut off)
   */
  read(): Promise<Uint8Array | null> {
    this.claim();
    if (this.#error) return Promise.reject(this.#error);
    const piece = this.#pieces.shift();
    if (piece) {
      const data = this.#pieces.length === 0 ? piece.subarray(0, this.#tailFill) : piece;
      this.#release(piece.length + PIECE_OVERHEAD_BYTES, data.length);
      this.#owner.bodyDrained(this);
      return Promise.resolve(data);
    }
    if (this.#state !== OPEN) return Promise.resolve(null);
    this.#waiter = Promise.withResolvers();
    this.#owner.bodyDrained(this); // nothing queued: the connection may read on
    return this.#waiter.promise;
  }

  /**
   * The whole body, once it has arrived. Its bytes count against the server's budget while
   * they gather.
   * @throws {HttpError} when the body failed
   */
  bytes(): Promise<Uint8Array> {
    this.#collecting = true;
    this.claim();
    if (this.#error) return Promise.reject(this.#error);
    if (this.#state === DROPPED) return Promise.reject(DROPPED_ERROR);
    const whole = this.#whole ??= Promise.withResolvers();
    this.#settleWhole(); // an ended body resolves at once
    this.#owner.bodyDrained(this);
    return whole.promise;
  }

  /** The consumer wants no more: the rest is dropped as it arrives. */
  cancel(): void {
    if (this.#state !== OPEN && this.#state !== ENDED) return;
    this.drop();
    this.#owner.bodyCancelled(this);
  }

  // ---- the connection's side ----------------------------------------------------------------

  /**
   * Data arrived: `buf[start, end)`, a view of a buffer that will be reused (copied here). It
   * fills the room left in the last piece first; what does not fit starts a new piece.
   * @throws {HttpError} 503 when the server's budget for body bytes is spent
   */
  push(buf: Uint8Array, start: number, end: number): void {
    if (this.#state !== OPEN) return; // dropped: nobody will read it
    const waiter = this.#collecting ? null : this.#waiter;
    if (waiter) { // straight to a waiting reader, never queued
      this.#waiter = null;
      waiter.resolve(buf.slice(start, end));
      return;
    }
    const n = end - start;
    const pieces = this.#pieces;
    const tail = pieces[pieces.length - 1];
    const room = tail ? tail.length - this.#tailFill : 0;
    const rest = n - room;
    let capacity = 0;
    if (rest > 0) {
      capacity = Math.max(rest, Math.min(MAX_PIECE_ROOM_BYTES, this.#queued));
      const budget = this.#budget;
      if (budget.used + capacity + PIECE_OVERHEAD_BYTES > budget.limit) {
        throw new HttpError(
          STATUS.SERVICE_UNAVAILABLE,
          "Too many request bodies in progress; try again later",
        );
      }
    }
    this.#queued += n;
    if (room > 0) {
      const take = Math.min(room, n);
      tail!.set(buf.subarray(start, start + take), this.#tailFill);
      this.#tailFill += take;
      start += take;
    }
    if (rest <= 0) return;
    const piece = new Uint8Array(capacity);
    piece.set(buf.subarray(start, end));
    pieces.push(piece);
    this.#tailFill = rest;
    this.#held += capacity + PIECE_OVERHEAD_BYTES;
    this.#budget.used += capacity + PIECE_OVERHEAD_BYTES;
  }

  /** The last byte arrived. */
  end(): void {
    if (this.#state !== OPEN) return;
    this.#state = ENDED;
    this.#waiter?.resolve(null);
    this.#waiter = null;
    this.#settleWhole();
  }

  /** The body cannot complete (bad framing, a limit, a timeout, the client left). */
  fail(error: HttpError): void {
    if (this.#state === FAILED || this.#state === DROPPED) return;
    this.#state = FAILED;
    this.#error = error;
    this.#releaseAll();
    this.#waiter?.reject(error);
    this.#waiter = null;
    this.#whole?.reject(error);
    this.#whole = null;
  }

  /** Nobody will read the rest: free what is queued; later data is not kept. */
  drop(): void {
    if (this.#state === DROPPED || this.#state === FAILED) return;
    this.#state = DROPPED;
    this.#releaseAll();
    this.#waiter?.resolve(null);
    this.#waiter = null;
    this.#whole?.reject(DROPPED_ERROR);
    this.#whole = null;
  }

  #settleWhole(): void {
    if (!this.#whole || this.#state !== ENDED) return;
    const whole = concat(this.#pieces, this.#tailFill, this.#queued);
    this.#releaseAll();
    this.#whole.resolve(whole);
    this.#whole = null;
  }

  /** A piece left the queue: `charge` was held for it, `n` bytes of body. */
  #release(charge: number, n: number): void {
    this.#queued -= n;
    this.#held -= charge;
    this.#budget.used -= charge;
  }

  #releaseAll(): void {
    this.#release(this.#held, this.#queued);
    this.#pieces = [];
    this.#tailFill = 0;
  }
}
