// The request side of a connection: heads parsed from the input become slots in the response
// order and handler calls; each request's body is pushed to whoever reads it, dropped when
// nobody does, or refused (413, 400, 408, 503) with an answer in the handler's place.

import { HttpError, STATUS, statusResponse } from "./status.ts";
import { READ, RequestReader, type RequestSink } from "./request_reader.ts";
import type { BodyReader } from "./body_readers.ts";
import type { RequestHead } from "./parser.ts";
import { type BodyBudget, type BodyOwner, DISCARD_MAX_BYTES, RequestBody } from "./request_body.ts";
import { encodeBody } from "./writer.ts";
import type { ResponseQueue } from "./responses.ts";
import { DRAIN } from "./output_queue.ts";
import { Slot } from "./slot.ts";
import { type ConnectionStats, countError } from "./stats.ts";
import type { Handler, HttpRequest, HttpResponse, Peer, Transport } from "./types.ts";

const CONTINUE_100 = encodeBody("HTTP/1.1 100 Continue\r\n\r\n");
/** A body whose connection closed before it ended. */
export const CUT_SHORT = new HttpError(
  STATUS.BAD_REQUEST,
  "The connection closed before the request body ended",
);

/** What the request side needs from its connection. */
export interface IntakeOptions {
  handler: Handler;
  maxBodyBytes: number;
  bodyBudget: BodyBudget;
  maxPipelined: number;
  stats: ConnectionStats;
  draining: () => boolean;
  /** The connection's responses, for the order and the back-pressure they exert. */
  responses: ResponseQueue;
  /** A handler threw: log it and answer 500. */
  failed: (error: unknown) => HttpResponse;
  /** Something changed outside the reactor's dispatch: the connection should write and settle. */
  kick: () => void;
  /** The clock each request's start time is read from, or null when responses are not timed. */
  clock: (() => number) | null;
  /** Who sent the requests (the transport, which knows its peer). */
  peer: Peer;
}

/** Reads a connection's requests and gets them answered. */
export class RequestIntake {
  #options: IntakeOptions;
  #reader: RequestReader;
  #responses: ResponseQueue;
  /** The request whose body the reader is reading. */
  #bodySlot: Slot | null = null;
  #sink: RequestSink;
  #bodyOwner: BodyOwner;
  /** Requests whose heads were read. */
  requests = 0;
  /** Bytes arrived that will never be read: the connection should close with a linger. */
  unread = false;
  /** Input stopped with no response left to carry `Connection: close`: close once written. */
  ended = false;

  constructor(options: IntakeOptions) {
    this.#options = options;
    this.#responses = options.responses;
    this.#reader = new RequestReader(options.maxBodyBytes);
    this.#sink = {
      onHead: (head, body) => this.#onHead(head, body),
      onBodyData: (buf, start, end) => this.#bodySlot!.body!.push(buf, start, end),
      onBodyEnd: () => {
        this.#bodySlot!.body!.end();
        this.#bodySlot = null;
      },
      paused: () => this.paused(),
    };
    this.#bodyOwner = {
      bodyClaimed: (body) => this.#onBodyClaimed(body),
      bodyDrained: () => options.kick(),
      bodyCancelled: (body) => {
        if (this.#bodySlot?.body === body) this.#dropBody(this.#bodySlot);
        options.kick();
      },
      bodyRefused: (_body, error) => {
        countError(options.stats, `http ${error.status}`);
        this.refuse(error);
        options.kick();
      },
    };
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
    return this.#responses.filesHeld > 0 || this.#responses.length >= this.#options.maxPipelined ||
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
      if (this.#reader.consume(this.#sink)) this.unread = true;
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      countError(this.#options.stats, `http ${e.status}`);
      this.refuse(e);
    }
  }

  /** A complete head: its slot takes its place in the response order and the handler runs. */
  #onHead(head: RequestHead, reader: BodyReader | null): void {
    const options = this.#options;
    options.stats.requests++;
    this.requests++;
    const close = !head.keepAlive || options.draining();
    if (close) this.#reader.lastRequest();
    const body = reader
      ? new RequestBody(reader.remaining, options.maxBodyBytes, options.bodyBudget, this.#bodyOwner)
      : null;
    const slot = new Slot(head, body, close, this.#started());
    this.#responses.push(slot);
    if (body) this.#bodySlot = slot;
    const request: HttpRequest = { head, body, peer: options.peer, observer: null };
    slot.request = request;
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = options.handler(request);
    } catch (e) {
      result = options.failed(e);
    }
    if (!(result instanceof Promise)) return this.#take(slot, result);
    result.then(
      (response) => this.#resolve(slot, response),
      (e) =>
        this.#resolve(
          slot,
          slot.overridden ? statusResponse(STATUS.INTERNAL_SERVER_ERROR) : options.failed(e),
        ),
    );
  }

  /** When a request arrived, for its response time; 0 when nobody times responses. */
  #started(): number {
    const clock = this.#options.clock;
    return clock === null ? 0 : clock();
  }

  /** A handler's answer. A body it has not begun to read is dropped now. */
  #take(slot: Slot, response: HttpResponse): void {
    if (this.#responses.take(slot, response) && slot.body && !slot.body.claimed) this.#dropBody(slot);
  }

  #resolve(slot: Slot, response: HttpResponse): void {
    this.#take(slot, response); // after close, every slot is overridden: this releases it
    this.#options.kick();
  }

  /** A handler began to read its body: tell a client that waits for it to send (RFC 9110 §10.1.1). */
  #onBodyClaimed(body: RequestBody): void {
    const slot = this.#bodySlot;
    if (!slot || slot.body !== body || !slot.head!.expectContinue || slot.continued) return;
    // An interim response may not overtake a response still owed, nor follow body bytes.
    if (!this.#responses.isFirst(slot) || !this.#responses.written || this.#reader.body!.received > 0) return;
    slot.continued = true;
    // Through the output queue, so a write that blocks is finished later (and counted there).
    if (this.#responses.writeInterim(CONTINUE_100) === DRAIN.BLOCKED) this.#options.kick();
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
   * answered with `error.status` in its handler's place, unless it has its answer already; an
   * unparsable request gets its own answer. Either way the connection closes after it.
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
    if (slot.response === null && !slot.overridden) {
      slot.overridden = true;
      slot.response = answer;
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
    this.#stop();
  }
}
