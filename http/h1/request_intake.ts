// The request side of a connection: heads parsed from the input become slots in the response
// order and handler calls; each request's body is pushed to whoever reads it, dropped when
// nobody does, or refused (413, 400, 408, 503) with an answer in the handler's place.

import { HttpError, STATUS, statusResponse } from "../status.ts";
import { READ, RequestReader, type RequestSink } from "./request_reader.ts";
import type { BodyReader } from "./body_readers.ts";
import type { RequestHead } from "../request_head.ts";
import { type BodyBudget, type BodyOwner, DISCARD_MAX_BYTES, RequestBody } from "../request_body.ts";
import { encodeBody } from "./writer.ts";
import type { ResponseQueue } from "./responses.ts";
import { DRAIN } from "./output_queue.ts";
import { Slot } from "./slot.ts";
import { type ConnectionStats, countError } from "../stats.ts";
import type { Handler, HttpRequest, HttpResponse, Peer, Transport } from "../types.ts";

const CONTINUE_100 = encodeBody("HTTP/1.1 100 Continue\r\n\r\n");
/** A body whose connection closed before it ended. */
export const CUT_SHORT = new HttpError(
  STATUS.BAD_REQUEST,
  "The connection closed before the request body ended",
);

/** What the request side needs from its server: shared by every connection, never copied. */
export interface IntakeOptions {
  handler: Handler;
  maxBodyBytes: number;
  bodyBudget: BodyBudget;
  maxPipelined: number;
  stats: ConnectionStats;
  draining: () => boolean;
  /** With it, each request's start is read from `now` (responses are timed); without, never. */
  onComplete?: (status: number, ms: number) => void;
  now?: () => number;
}

/** What the request side needs from its connection (the connection itself plays the part). */
export interface IntakeOwner {
  /** Something changed outside the reactor's dispatch: the connection should write and settle. */
  kick(): void;
  /** A handler threw: log it and answer 500. */
  handlerFailed(error: unknown): HttpResponse;
}

/**
 * Reads a connection's requests and gets them answered. It is the reader's sink and its bodies'
 * owner itself, so an idle connection holds no closures for them.
 */
export class RequestIntake implements RequestSink, BodyOwner {
  #options: IntakeOptions;
  #owner: IntakeOwner;
  #peer: Peer;
  #reader: RequestReader;
  #responses: ResponseQueue;
  /** The request whose body the reader is reading. */
  #bodySlot: Slot | null = null;
  /** Requests whose heads were read. */
  requests = 0;
  /** Bytes arrived that will never be read: the connection should close with a linger. */
  unread = false;
  /** Input stopped with no response left to carry `Connection: close`: close once written. */
  ended = false;
  /**
   * A request that asked to upgrade (RFC 9110 §7.8), until its answer says whether it does: the
   * bytes after it may belong to another protocol, so nothing more is parsed meanwhile.
   */
  #upgrade: Slot | null = null;

  /**
   * @param options the server's handler and limits
   * @param responses the connection's responses, for the order and the back-pressure they exert
   * @param peer who sends the requests (the transport)
   * @param owner the connection: wake-ups and handler failures
   */
  constructor(options: IntakeOptions, responses: ResponseQueue, peer: Peer, owner: IntakeOwner) {
    this.#options = options;
    this.#owner = owner;
    this.#peer = peer;
    this.#responses = responses;
    this.#reader = new RequestReader(options.maxBodyBytes);
  }

  // ---- the reader's sink --------------------------------------------------------------------

  onBodyData(buf: Uint8Array, start: number, end: number): void {
    this.#bodySlot!.body!.push(buf, start, end);
  }

  onBodyEnd(): void {
    this.#bodySlot!.body!.end();
    this.#bodySlot = null;
  }

  // ---- the bodies' owner --------------------------------------------------------------------

  /** A handler began to read its body: tell a client that waits for it to send (RFC 9110 §10.1.1). */
  bodyClaimed(body: RequestBody): void {
    this.#continueIfAwaited(body);
  }

  bodyDrained(): void {
    this.#owner.kick();
  }

  bodyCancelled(body: RequestBody): void {
    if (this.#bodySlot?.body === body) this.#dropBody(this.#bodySlot);
    this.#owner.kick();
  }

  bodyRefused(_body: RequestBody, error: HttpError): void {
    countError(this.#options.stats, `http ${error.status}`);
    this.refuse(error);
    this.#owner.kick();
  }

  /** The reader's state: HEAD, BODY or DONE. */
  get state(): number {
    return this.#reader.state;
  }

  /** Whether part of a request is buffered. */
  get hasLeftover(): boolean {
    return this.#reader.hasLeftover;
  }

  /** Whether to stop consuming input for now (the reader keeps the rest). */
  paused(): boolean {
    return this.#upgrade !== null || this.#responses.filesHeld > 0 ||
      this.#responses.length >= this.#options.maxPipelined ||
      (this.#reader.state === READ.BODY && this.#bodySlot!.body!.full);
  }

  /** Reads from the transport behind what is kept. @returns bytes, 0 at EOF, or -errno */
  fill(transport: Transport): number {
    return this.#reader.fill(transport);
  }

  /** After a pause: parses the bytes kept at it again. @returns whether there were any */
  resume(): boolean {
    if (!this.#reader.resume()) return false;
    this.consume();
    return true;
  }

  /** Parses the buffered input into requests; malformed input is refused. */
  consume(): void {
    try {
      if (this.#reader.consume(this)) this.unread = true;
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      countError(this.#options.stats, `http ${e.status}`);
      this.refuse(e);
    }
  }

  /** A complete head: its slot takes its place in the response order and the handler runs. */
  onHead(head: RequestHead, reader: BodyReader | null): void {
    const options = this.#options;
    options.stats.requests++;
    this.requests++;
    const close = !head.keepAlive || options.draining();
    if (close) this.#reader.lastRequest();
    const body = reader
      ? new RequestBody(reader.remaining, options.maxBodyBytes, options.bodyBudget, this)
      : null;
    const slot = new Slot(head, body, close, this.#started());
    this.#responses.push(slot);
    if (body) this.#bodySlot = slot;
    else if (head.upgrade !== "") this.#upgrade = slot;
    const request: HttpRequest = { head, body, peer: this.#peer, observer: null };
    slot.request = request;
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = options.handler(request);
    } catch (e) {
      result = this.#owner.handlerFailed(e);
    }
    if (!(result instanceof Promise)) return this.#take(slot, result);
    options.stats.answersAwaited++;
    result.then(
      (response) => {
        options.stats.answersAwaited--;
        this.#resolve(slot, response);
      },
      (e) => {
        options.stats.answersAwaited--;
        this.#resolve(
          slot,
          slot.overridden ? statusResponse(STATUS.INTERNAL_SERVER_ERROR) : this.#owner.handlerFailed(e),
        );
      },
    );
  }

  /** When a request arrived, for its response time; 0 when nobody times responses. */
  #started(): number {
    const options = this.#options;
    return options.onComplete ? options.now?.() ?? performance.now() : 0;
  }

  /** A handler's answer. A body it has not begun to read is dropped now. */
  #take(slot: Slot, response: HttpResponse): void {
    if (this.#responses.take(slot, response) && slot.body && !slot.body.claimed) this.#dropBody(slot);
    // Not switching protocols after all: the bytes after the request are HTTP/1.1 again.
    if (slot === this.#upgrade && !(response.status === STATUS.SWITCHING_PROTOCOLS && response.upgrade)) {
      this.#upgrade = null;
    }
  }

  /**
   * The 101 is written: no more requests are read, and the bytes after the upgrading request
   * go to the protocol that takes over.
   * @returns those bytes (empty when none arrived)
   */
  takeBuffered(): Uint8Array {
    this.#upgrade = null;
    this.#bodySlot = null;
    return this.#reader.takeBuffered();
  }

  #resolve(slot: Slot, response: HttpResponse): void {
    this.#take(slot, response); // after close, every slot is overridden: this releases it
    this.#owner.kick();
  }

  /** A handler began to read its body: tell a client that waits for it to send (RFC 9110 §10.1.1). */
  #continueIfAwaited(body: RequestBody): void {
    const slot = this.#bodySlot;
    if (!slot || slot.body !== body || !slot.head!.expectContinue || slot.continued) return;
    // An interim response may not overtake a response still owed, nor follow body bytes.
    if (!this.#responses.isFirst(slot) || !this.#responses.written || this.#reader.body!.received > 0) return;
    slot.continued = true;
    // Through the output queue, so a write that blocks is finished later (and counted there).
    if (this.#responses.writeInterim(CONTINUE_100) === DRAIN.BLOCKED) this.#owner.kick();
  }

  /**
   * Nobody will read the rest of `slot`'s body: it is dropped as it arrives, up to
   * DISCARD_MAX_BYTES more, so the connection can carry the next request. Beyond that, or when
   * the client waits for a 100 (Continue) that will not come, reading ends with this request.
   */
  #dropBody(slot: Slot): void {
    slot.body!.drop();
    if (slot !== this.#bodySlot) return; // read whole already
    const reader = this.#reader.body!;
    if ((slot.head!.expectContinue && !slot.continued) || reader.remaining > DISCARD_MAX_BYTES) {
      return this.#abandon();
    }
    reader.limit = reader.received + DISCARD_MAX_BYTES;
  }

  /**
   * Reads no further: the requests read so far get their answers, but where the next one would
   * begin is unknown or not worth finding. The connection closes after the last answer.
   */
  #abandon(): void {
    this.#stop();
    this.unread = true;
    const last = this.#responses.last;
    if (last) last.close = true;
    else this.ended = true;
  }

  #stop(): void {
    this.#reader.stop();
    this.#bodySlot = null;
  }

  /**
   * The input cannot go on (malformed, too large, too slow). A request whose body failed is
   * answered with `error.status` in its handler's place, unless its answer has begun to go out
   * (see below); an unparsable request gets its own answer. Either way the connection closes
   * after it.
   */
  refuse(error: HttpError): void {
    const slot = this.#bodySlot;
    this.#stop();
    this.unread = true; // the rest of what the client sent is unknown
    const answer = statusResponse(error.status, { text: error.message });
    if (!slot) {
      const unparsable = new Slot(null, null, true, this.#started());
      unparsable.response = answer;
      return this.#responses.push(unparsable);
    }
    slot.body!.fail(error);
    if (slot.overridden) {
      // answered in the handler's place already
    } else if (slot.response === null) {
      slot.overridden = true;
      slot.response = answer;
    } else if (error.status === STATUS.BAD_REQUEST && this.#responses.replace(slot, answer)) {
      // The body is malformed: the message the handler answered does not exist. Its answer gives
      // way when none of it has gone out yet, which is so when the error came in the same read
      // as the head (nginx answers 400 then too; llhttp's request vectors expect it). A 413 from
      // dropping the body, or a timeout, is the server's own limit: the handler's answer stands.
      slot.overridden = true;
    }
    // The failed body's request is the last one read: the connection closes after its answer.
    if (this.#responses.last === slot) slot.close = true;
    else this.ended = true;
  }

  /** The peer sent FIN: a request cut short can never complete, nor can its body. */
  peerClosed(): void {
    if (this.#bodySlot) this.refuse(CUT_SHORT);
    else this.#stop();
    this.ended = true;
  }

  /**
   * A response with `Connection: close` went out: no more input is read. Bytes already here, or
   * a body still arriving, make the close a lingering one.
   */
  stopAfterClosingResponse(): void {
    if (this.#reader.hasLeftover || this.#reader.state === READ.BODY) this.unread = true;
    this.#stop();
    this.ended = true;
  }

  /** Stops for good; a body still being read (after its response went out) fails. */
  close(): void {
    this.#bodySlot?.body?.fail(CUT_SHORT);
    this.#upgrade = null;
    this.#stop();
  }
}
