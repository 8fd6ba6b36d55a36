// The response side of a connection: slots in request order, each answered when its handler
// is done; ready responses encoded together into one shared buffer (heads and small bodies in
// one write), large bodies, files and streams following through the output queue. A response
// that holds a file counts towards the server's descriptors until the file is closed.

import { type HttpError, STATUS } from "../status.ts";
import { decideFraming, FRAMING, type ResponseFraming } from "./framing.ts";
import { DRAIN, type DrainResult, OutputQueue, takeFirst } from "./output_queue.ts";
import { encodeHead, OutputBuffer } from "./writer.ts";
import { appendBody, prepareBody, StreamTail, type Tail } from "./response_body.ts";
import { isFileBody, releaseUntaken, Slot } from "./slot.ts";
import { type ConnectionStats, countClientLeft, countError } from "../stats.ts";
import type { FileBody, HttpResponse, ResponseDone, ResponseObserver, Transport, Upgrade } from "../types.ts";
import { IO } from "../types.ts";

/** Encoded responses are written once the shared output buffer passes this, bounding its growth. */
const OUTPUT_FLUSH_BYTES = 64 * 1024;
const OUT = new OutputBuffer(OUTPUT_FLUSH_BYTES + 16 * 1024);
const FRAME: ResponseFraming = {
  framing: FRAMING.NONE,
  length: 0,
  close: false,
  keepAlive10: false,
  omitBody: false,
};

/**
 * Where the body of the response #encode just encoded begins in the shared output (after its
 * head): read at once by its caller. Shared, not a field: an idle connection holds no more.
 */
const ENCODED = { bodyAt: 0 };

/** What a reused place of the in-flight list holds once its response has been reported. */
const NO_SLOT = new Slot(null, null, false);

const DONE: ResponseDone = { head: null, status: 0, bytes: 0, ms: 0, complete: false };

/** What the response side needs from its server: shared by every connection, never copied. */
export interface ResponseOptions {
  stats: ConnectionStats;
  /** Whether new responses must carry `Connection: close` (the server is draining). */
  draining: () => boolean;
  /**
   * Present when someone hears responses end (the owner's responseDone): responses are then
   * timed and their bytes counted. Absent, nothing is.
   */
  onComplete?: unknown;
  /** The clock `onComplete` measures with (the reactor's batch clock; default performance.now). */
  now?: () => number;
  /**
   * Fields every response carries, error answers of the HTTP layer included (--header),
   * pre-encoded with encodeFields().
   */
  headers?: Uint8Array;
}

/**
 * What the response side needs from its connection. The connection itself plays this part, so
 * an idle connection holds no closures for it (tests/memory: scripts/conn_memory.ts).
 */
export interface ResponseOwner {
  /** A response ended, whole or cut short (only when ResponseOptions.onComplete is set). */
  responseDone(done: ResponseDone): void;
  /** A response's file was closed (`stats.filesOpen` went down). */
  fileClosed(): void;
  /** Something changed outside the reactor's dispatch (a stream produced more): write again. */
  kick(): void;
  /** A stream spent this turn's allowance: call `resumeTurn` and write again on the next turn. */
  deferOutput(): void;
  /** A handler's response cannot be sent as it is (a header would split it): log and replace it. */
  handlerFailed(error: unknown): HttpResponse;
}

/**
 * The observers of the responses being encoded (the first `length` places), heard once the write
 * is known (one connection at a time). Reused, never truncated, as #inFlight; a place heard
 * holds NO_OBSERVER, which keeps nothing alive.
 */
const WAITING = { list: [] as ResponseObserver[], length: 0 };
const NO_OBSERVER: ResponseObserver = { responseDone() {} };

/** The responses a connection owes, in order, and the output not yet written. */
export class ResponseQueue {
  #slots: Slot[] = [];
  #output: OutputQueue;
  #options: ResponseOptions;
  #owner: ResponseOwner;
  #filesHeld = 0;
  /**
   * Responses encoded whose bytes the kernel has not all taken, in the first `#inFlightLength`
   * places; they are complete once the output queue is empty. Each slot's bodyStart/bodyEnd say
   * where its body lies in the output, counted from the bytes takeSent() has not collected yet.
   * Only kept when `options.onComplete` is set. The array is reused, never truncated:
   * `length = 0` and push again cost ~30 ns a response (the backing store is freed and
   * regrown), indexed stores ~1.
   */
  #inFlight: Slot[] | null = null;
  #inFlightLength = 0;
  /** A closing response has been encoded: nothing follows it. */
  closing = false;
  /**
   * A 101 has been encoded: nothing follows it, and once it is written this protocol takes the
   * connection over (the connection hands it the transport).
   */
  upgrade: Upgrade | null = null;

  /**
   * @param transport where responses are written
   * @param options the server's counters, drain state and response clock
   * @param owner the connection: the access log, wake-ups and failures
   */
  constructor(transport: Transport, options: ResponseOptions, owner: ResponseOwner) {
    this.#options = options;
    this.#owner = owner;
    this.#output = new OutputQueue(transport, this);
  }

  /** The output queue is done with a file (sent, or dropped): close it. */
  fileDone(file: FileBody): void {
    this.#closeFile(file);
  }

  /** The output queue's stream produced its next chunk (or ended, or failed). */
  streamReady(): void {
    this.#owner.kick();
  }

  /** The output queue's stream spent this turn's allowance: the connection goes on next turn. */
  nextTurn(): void {
    this.#owner.deferOutput();
  }

  /** The reactor's next turn, asked for by `nextTurn`: streams may go on (write again after). */
  resumeTurn(): void {
    this.#output.resumeTurn();
  }

  /** Responses owed. */
  get length(): number {
    return this.#slots.length;
  }

  /** The slot read last, if any. */
  get last(): Slot | undefined {
    return this.#slots[this.#slots.length - 1];
  }

  /** Whether `slot` is the next to be written. */
  isFirst(slot: Slot): boolean {
    return this.#slots[0] === slot;
  }

  /** Files this connection's responses hold open. */
  get filesHeld(): number {
    return this.#filesHeld;
  }

  /** Whether all encoded output has been accepted by the kernel. */
  get written(): boolean {
    return this.#output.empty;
  }

  /**
   * Whether writing waits for the application: the next response is not ready, or its stream
   * has not produced its next chunk.
   */
  get awaitsApplication(): boolean {
    const first = this.#slots[0];
    return this.#output.waitingOnStream || (this.#output.empty && first !== undefined && !first.response);
  }

  /** Bytes of encoded output the kernel has not taken yet (walks the queue: not for hot paths). */
  get pendingBytes(): number {
    return this.#output.pendingBytes();
  }

  /** A request read: its response will take this place in the order. */
  push(slot: Slot): void {
    this.#slots.push(slot);
  }

  /**
   * A handler's answer for `slot`. A file it holds counts from here until it is closed.
   * @returns false when the server answered in the handler's place (the answer is released)
   */
  take(slot: Slot, response: HttpResponse): boolean {
    if (slot.overridden) {
      releaseUntaken(response);
      return false;
    }
    slot.response = response;
    if (isFileBody(response.body)) {
      this.#filesHeld++;
      this.#options.stats.filesOpen++;
    }
    return true;
  }

  /**
   * Replaces the answer of `slot` when none of its bytes have been encoded yet (it is still
   * owed), releasing what the handler's answer held.
   * @returns whether it was replaced (false once its head has gone out, or begun to)
   */
  replace(slot: Slot, response: HttpResponse): boolean {
    if (!this.#slots.includes(slot)) return false; // at most maxPipelined slots: only on errors
    if (slot.response) this.#release(slot.response);
    slot.response = response;
    return true;
  }

  /**
   * Writes what is queued, then every ready response in order, until done, the socket is
   * full, a stream has nothing ready yet, or something fails (see `failure`).
   */
  write(): DrainResult {
    const output = this.#output;
    for (;;) {
      const drained = output.drain();
      if (drained !== DRAIN.DONE) return drained;
      if (this.#inFlightLength > 0) this.#complete();
      const out = OUT;
      out.length = 0;
      let tail: Tail | null = null;
      const waiting = WAITING;
      // Everything queued before has been accepted: `out` begins at this offset of the output.
      const base = this.#output.sent;
      while (out.length < OUTPUT_FLUSH_BYTES && this.upgrade === null) {
        const slot = this.#slots[0];
        if (!slot?.response) break;
        takeFirst(this.#slots);
        tail = this.#encode(slot, out);
        const observer = slot.request?.observer;
        if (observer) waiting.list[waiting.length++] = observer;
        if (this.#options.onComplete) this.#remember(slot, base + ENCODED.bodyAt, base + out.length, tail);
        if (slot.close) this.#closeAfter();
        if (tail !== null || slot.close) break;
      }
      if (out.length === 0 && tail === null) return DRAIN.DONE;
      const written = out.length > 0 ? output.write(out.bytes, out.length) : DRAIN.DONE;
      // Queued even when the write failed: the connection closes next, and closing the queue
      // releases the file or stream (a tail dropped here would leak its descriptor).
      if (tail instanceof Uint8Array) output.pushBytes(tail);
      else if (tail instanceof StreamTail) output.pushStream(tail.reader, tail.chunked, tail.request);
      else if (tail !== null) output.pushFile(tail);
      if (written === DRAIN.FAILED) {
        this.#markFailed();
        return DRAIN.FAILED;
      }
      this.#markDone(written === DRAIN.DONE && tail === null);
    }
  }

  /**
   * The responses just encoded are written (`now`), or will be once the output queued for them
   * drains: their observers hear it then (a mark in the output queue).
   */
  #markDone(now: boolean): void {
    const { list, length } = WAITING;
    WAITING.length = 0;
    for (let i = 0; i < length; i++) {
      const observer = list[i]!;
      list[i] = NO_OBSERVER;
      if (now) observer.responseDone(true);
      else this.#output.pushObserver(observer);
    }
  }

  /** The write of the responses just encoded failed: their observers hear it now. */
  #markFailed(): void {
    const { list, length } = WAITING;
    WAITING.length = 0;
    for (let i = 0; i < length; i++) {
      const observer = list[i]!;
      list[i] = NO_OBSERVER;
      observer.responseDone(false);
    }
  }

  /**
   * Everything encoded so far has been accepted by the kernel (`complete`), or the connection
   * closed: each response in flight ends, with the body bytes that left, at the clock's current
   * reading (one reading for all of them: they left together).
   */
  #complete(complete = true): void {
    const inFlight = this.#inFlight!;
    const now = this.#options.now?.() ?? performance.now();
    const sent = this.#output.sent;
    const done = DONE;
    for (let i = 0; i < this.#inFlightLength; i++) {
      const slot = inFlight[i]!;
      inFlight[i] = NO_SLOT; // keeps nothing alive, and the array's element kind
      done.head = slot.head;
      done.status = slot.response!.status;
      done.ms = now - slot.started;
      // A stream's end is unknown until it ends (Infinity): what left is what it sent.
      done.bytes = Math.max(0, Math.min(sent, slot.bodyEnd) - slot.bodyStart);
      done.complete = complete;
      this.#owner.responseDone(done);
    }
    done.head = null;
    this.#inFlightLength = 0;
  }

  /**
   * An encoded response, to be reported once its bytes are all in the kernel.
   * @param bodyStart where its body begins in the connection's output
   * @param outEnd where `out` ends in the connection's output now
   * @param tail the body that follows `out`, if any
   */
  #remember(slot: Slot, bodyStart: number, outEnd: number, tail: Tail | null): void {
    slot.bodyStart = bodyStart;
    slot.bodyEnd = tail === null ? outEnd : tail instanceof StreamTail ? Infinity : outEnd + tail.length;
    (this.#inFlight ??= [])[this.#inFlightLength++] = slot;
  }

  /**
   * Writes an interim response (100 Continue) while nothing else is queued. What the transport
   * does not take at once stays queued and leaves first: a TLS transport that blocked mid-record
   * has taken the bytes into a record and must be offered them again (SSL_write(3)).
   * @returns BLOCKED when some of it waits for the socket
   */
  writeInterim(bytes: Uint8Array): DrainResult {
    return this.#output.write(bytes, bytes.length);
  }

  /** Bytes the kernel accepted since the last call; they are added to the counters here. */
  takeSent(): number {
    const sent = this.#output.sent;
    this.#output.sent = 0;
    // The responses in flight are placed from the uncollected bytes: move them back by these.
    for (let i = 0; i < this.#inFlightLength; i++) {
      const slot = this.#inFlight![i]!;
      slot.bodyStart -= sent;
      slot.bodyEnd -= sent;
    }
    this.#options.stats.bytesOut += sent;
    return sent;
  }

  /** Counts why writing failed (after `write` returned FAILED); a stream's failure is logged. */
  countFailure(): void {
    const reason = this.#output.failure;
    const stats = this.#options.stats;
    if (typeof reason !== "number") {
      // A stream failed after its head went out: the only honest signal left is to cut the connection.
      countError(stats, "stream");
      const request = this.#output.failedRequest;
      const of = request ? ` of ${request.method} ${request.path}` : "";
      console.error(
        `Response stream${of} failed: ${reason instanceof Error ? reason.message : String(reason)}`,
      );
      return;
    }
    // The peer reset or closed: the client left, the server did not fail.
    if (reason === IO.EPIPE) return countClientLeft(stats, "EPIPE");
    if (reason === IO.ECONNRESET) return countClientLeft(stats, "ECONNRESET");
    countError(stats, reason === 0 ? "file truncated" : `write errno ${-reason}`);
  }

  /** Nothing after a closing response is ever answered: release what later slots hold. */
  #closeAfter(): void {
    this.closing = true;
    this.#dropSlots(null);
  }

  /** Overrides every owed slot, releasing its response; its body fails with `error` or is dropped. */
  #dropSlots(error: HttpError | null): void {
    for (const slot of this.#slots) {
      slot.request?.observer?.responseDone(false);
      slot.overridden = true;
      if (slot.response) this.#release(slot.response);
      if (error) slot.body?.fail(error);
      else slot.body?.drop();
    }
    this.#slots.length = 0;
  }

  /**
   * Appends a response's head (and a small body) to `out`.
   * @returns the body to write after `out`, or null
   */
  #encode(slot: Slot, out: OutputBuffer): Tail | null {
    const response = slot.response!;
    if (response.status === STATUS.SWITCHING_PROTOCOLS && !this.#switching(slot, response)) {
      return this.#encode(slot, out);
    }
    const { ascii, body, length } = prepareBody(response);
    if (this.upgrade === null) slot.close ||= this.#options.draining();
    decideFraming(FRAME, response.status, length, slot);
    slot.close = FRAME.close;
    const before = out.length;
    try {
      encodeHead(
        out,
        response.status,
        response.headers,
        FRAME,
        response.headerList,
        this.#options.headers ?? null,
      );
    } catch (e) {
      out.length = before; // a handler's bad header: answer 500 instead
      this.#release(response);
      slot.response = this.#owner.handlerFailed(e);
      return this.#encode(slot, out);
    }
    const omit = FRAME.omitBody || (body === null && ascii === null);
    ENCODED.bodyAt = out.length;
    // RFC 9110 §15.6: a 5xx says the server failed, whatever produced it (a handler that threw
    // included); the HTTP layer's own 5xx refusals are counted here too, not where they arise.
    if (response.status >= 500) countError(this.#options.stats, `http ${response.status}`);
    if (omit) {
      if (body !== null && !(body instanceof Uint8Array)) this.#release(response);
      return null;
    }
    return appendBody(out, ascii ?? body!, FRAME.framing === FRAMING.CHUNKED, slot.head);
  }

  /**
   * A 101: the protocol it names takes the connection once its head is written, and nothing
   * follows it. RFC 9110 §15.2.2: 101 only switches to a protocol the client asked for, and a
   * switch needs a protocol to take over; anything else would strand the client, so it is
   * replaced by a 500.
   * @returns false when it was replaced
   */
  #switching(slot: Slot, response: HttpResponse): boolean {
    if (!response.upgrade || !slot.head?.upgrade) {
      this.#release(response);
      slot.response = this.#owner.handlerFailed(new TypeError("A 101 answers only a request to upgrade"));
      return false;
    }
    this.upgrade = response.upgrade;
    slot.close = false; // the connection outlives the 101: it carries the new protocol
    return true;
  }

  /** Closes a file a counted response held, once, and gives its descriptor back. */
  #closeFile(file: FileBody): void {
    file.close();
    this.#filesHeld--;
    this.#options.stats.filesOpen--;
    this.#owner.fileClosed();
  }

  /** Releases what a counted response holds (a file, a stream) when it will never be sent. */
  #release(response: HttpResponse): void {
    const body = response.body;
    if (body instanceof ReadableStream) body.cancel().catch(() => {});
    else if (isFileBody(body)) this.#closeFile(body);
  }

  /**
   * Releases everything: queued output, what every owed response holds, and the bodies of
   * their requests (a handler still reading one gets `error`).
   */
  close(error: HttpError): void {
    if (this.#inFlightLength > 0) this.#complete(false);
    this.#output.close();
    this.#dropSlots(error);
  }
}
