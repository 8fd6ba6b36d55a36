// The state of one HTTP/2 connection, and its stream bookkeeping: which streams are open and
// where each stands (ready to answer, sending, finishing), how one is answered, ended, reset or
// released, and the control frames queued for the peer. The layers above add the output writer
// (session_output.ts), the request bodies' intake (session_intake.ts), the frame dispatch
// (session_frames.ts) and the connection's life (session.ts); each reads and changes this state.

import { DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW, Frame, FrameWriter, H2_ERROR, H2Error } from "./frames.ts";
import { HpackDecoder, HpackEncoder } from "./hpack.ts";
import { localOpen, nextState, STREAM_EVENT, STREAM_STATE } from "./stream_states.ts";
import { StreamIds } from "./stream_ids.ts";
import {
  type Flood,
  FLOOD_INTERVAL_MS,
  FLOOD_LIMITS,
  FLOODS,
  MAX_CONTROL_BYTES,
  MAX_STREAM_ID,
  type SessionOptions,
  type SessionPhase,
} from "./options.ts";
import { isFileBody, releaseResponse } from "./response_fields.ts";
import type { Stream } from "./stream.ts";
import type { RequestHead } from "../request_head.ts";
import { HttpError, STATUS, statusResponse } from "../status.ts";
import { type ConnectionStats, countError, logHandlerFailure } from "../stats.ts";
import type { Deadline, HttpRequest, HttpResponse, HttpSession, ResponseDone, Transport } from "../types.ts";

/** A body whose stream ended before it did. */
const STREAM_RESET = new HttpError(STATUS.BAD_REQUEST, "The stream was reset before the request body ended");
/** The report onComplete is given, reused (it keeps nothing of it). */
const DONE: ResponseDone = { head: null, status: 0, bytes: 0, ms: 0, complete: false };

/** Counts a refused request by its status; a 5xx is counted when its head is encoded. */
export function countRefusal(stats: ConnectionStats, status: number): void {
  if (status < 500) countError(stats, `http ${status}`);
}

/** One HTTP/2 connection's state and stream bookkeeping (the base of Http2Session). */
export abstract class SessionState {
  /** When it was accepted, on the server's clock (ConnectionOptions.now). */
  readonly openedAt: number;
  /** The transport the session drives. */
  readonly transport: Transport;
  protected options: SessionOptions;
  protected stats: ConnectionStats;
  protected timer: Deadline;
  protected stage: SessionPhase = "head";

  protected frame = new Frame();

  protected decoder = new HpackDecoder();

  protected encoder = new HpackEncoder();

  /** Frames ready to write, from `#outStart`. */
  protected out = new FrameWriter(1024);

  protected outStart = 0;

  /** A file's bytes owed right after `#out` (the rest of a DATA frame whose head is in it). */
  protected fileTail: Stream | null = null;

  protected fileTailLeft = 0;

  /** Control frames made while `#out` was being written: they follow it. */
  protected control = new FrameWriter(256);

  /** Input not yet parsed: the first bytes (preface), then a partial frame. */
  protected leftover: Uint8Array | null = null;

  protected prefaceSeen = false;

  protected settingsSeen = false;

  protected streams = new Map<number, Stream>();

  /** Streams whose response head is ready to encode, in the order they became ready. */
  protected ready: Stream[] = [];

  /** Streams with body bytes to send, served round-robin. */
  protected sending: Stream[] = [];

  /** Streams whose last frame was composed: complete once the kernel has it all. */
  protected finishing: Stream[] = [];

  /** The client's stream ids: the highest it opened, those it skipped, those we reset (§5.1.1). */
  protected ids = new StreamIds();

  /** Streams gone from the table whose handlers still run: they hold concurrency slots too. */
  protected orphans = 0;

  /** A header block in progress: its stream, flags and fragments (RFC 9113 §4.3). */
  protected blockStream = 0;

  protected blockEndStream = false;

  protected blockDependency = -1;

  protected blockFrames = 0;

  protected block: FrameWriter | null = null;

  protected connRecvWindow = DEFAULT_WINDOW;

  protected connSendWindow = DEFAULT_WINDOW;

  /** Unread body bytes of all streams (the connection window's back-pressure). */
  protected held = 0;

  protected peerInitialWindow = DEFAULT_WINDOW;

  protected peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;

  protected floodCounts: Record<Flood, number> = { ...FLOOD_LIMITS };

  protected floodSince = -Infinity;

  /** Graceful drain: 0 none, 1 first GOAWAY sent (awaiting the PING's ACK), 2 final GOAWAY sent. */
  protected drainStep = 0;

  /** The id our final GOAWAY named (none yet: the largest): streams above it are ignored (§6.8). */
  protected goawayLastId = MAX_STREAM_ID;

  protected peerGoaway = false;

  protected peerClosed = false;

  protected blocked = false;

  /** When the socket last took output, or stopped taking it (the connection's write deadline). */
  protected writeAt = 0;

  /** When the phase's own deadline (head, idle) falls, on the session's clock; Infinity if none. */
  protected phaseDue = Infinity;

  protected requestCount = 0;

  /** The request count when the idle or head deadline was armed. */
  protected armedFor = 0;

  protected flushing = false;

  protected consuming = false;

  protected again = false;

  /** A microtask flush is scheduled (#later). */
  protected scheduled = false;

  /**
   * Why the connection must end with GOAWAY ENHANCE_YOUR_CALM (a flood, control frames unread),
   * or null: set wherever it is found (a promise callback, a timer), acted on by the frame loop
   * after the frame that caused it and by every flush.
   */
  protected calm: string | null = null;

  /**
   * @param transport the socket (or TLS session), seen through read/write/sendfile
   * @param options the limits, handler and hooks the server's HTTP/1.1 connections share
   */
  constructor(transport: Transport, options: SessionOptions) {
    this.transport = transport;
    this.options = options;
    this.stats = options.stats;
    this.openedAt = options.now?.() ?? performance.now();
    this.timer = options.deadline(() => this.onTimeout());
  }

  /** Flushes in a microtask: something changed outside the reactor's dispatch. */
  protected abstract later(): void;
  /** The session's deadline passed. */
  protected abstract onTimeout(): void;
  /** Closes the connection and releases everything it holds. */
  abstract close(): void;

  /** Output composed and not yet taken by the kernel, in bytes. */
  get pendingBytes(): number {
    return this.out.length - this.outStart + this.fileTailLeft + this.control.length;
  }

  /** Whether no request is in progress and nothing is owed. */
  get idle(): boolean {
    return this.stage !== "closed" && this.streams.size === 0 && this.pendingBytes === 0 &&
      this.blockStream === 0;
  }

  /** The session's clock (ms). */
  protected now(): number {
    return this.options.now?.() ?? performance.now();
  }

  /** Counts a frame (or a reset) in its flood bucket; past the bucket's limit, the connection ends. */
  protected flood(kind: Flood): void {
    const now = this.now();
    if (now - this.floodSince >= FLOOD_INTERVAL_MS) {
      this.floodSince = now;
      for (const k of FLOODS) this.floodCounts[k] = 0;
    }
    if (++this.floodCounts[kind] > FLOOD_LIMITS[kind] && this.calm === null) {
      countError(this.stats, `h2 flood ${kind}`);
      this.calm = `Too many ${kind} frames`;
    }
  }

  /** Throws the connection error a flood or an unread pile of control frames called for. */
  protected checkCalm(): void {
    if (this.calm !== null) throw new H2Error(H2_ERROR.ENHANCE_YOUR_CALM, this.calm);
  }

  /**
   * Appends a control frame, unless the peer has let too many pile up unread: then the frame is
   * dropped and the connection ends at the next flush (this may run inside a promise callback).
   */
  protected controlFrame(append: () => void): void {
    if (this.control.length > MAX_CONTROL_BYTES) {
      if (this.calm === null) countError(this.stats, "h2 control frames unread");
      this.calm ??= "Control frames unread";
      return;
    }
    append();
  }

  protected updateHeld(stream: Stream): void {
    const unread = stream.body?.unread ?? 0; // 0 once dropped or failed
    this.held += unread - stream.held;
    stream.held = unread;
  }

  protected callHandler(stream: Stream, head: RequestHead): void {
    const request: HttpRequest = { head, body: stream.body, peer: this.transport, observer: null };
    stream.request = request;
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.options.handler(request);
    } catch (e) {
      result = this.handlerFailed(e);
    }
    if (!(result instanceof Promise)) return this.answer(stream, result);
    const stats = this.stats;
    stats.answersAwaited++;
    stream.handlerPending = true;
    result.then(
      (response) => {
        stats.answersAwaited--;
        this.handlerSettled(stream);
        this.answer(stream, response);
        this.later();
      },
      (e) => {
        stats.answersAwaited--;
        this.handlerSettled(stream);
        this.answer(
          stream,
          stream.overridden ? statusResponse(STATUS.INTERNAL_SERVER_ERROR) : this.handlerFailed(e),
        );
        this.later();
      },
    );
  }

  /** A handler settled: a stream reset meanwhile gives its concurrency slot back now. */
  protected handlerSettled(stream: Stream): void {
    stream.handlerPending = false;
    if (!stream.orphan) return;
    stream.orphan = false;
    this.orphans--;
  }

  protected handlerFailed(e: unknown): HttpResponse {
    // Counted as the 500 it becomes, when its head is encoded.
    logHandlerFailure(e);
    return statusResponse(STATUS.INTERNAL_SERVER_ERROR);
  }

  /** A response for a stream: queued for its head to be encoded. */
  protected answer(stream: Stream, response: HttpResponse): void {
    // A stream gone, or answered already (the server in the handler's place): nobody sends it.
    if (this.stage === "closed" || !this.streams.has(stream.id) || stream.response !== null) {
      return releaseResponse(response);
    }
    stream.response = response;
    const body = response.body;
    if (isFileBody(body)) {
      this.stats.filesOpen++;
      stream.file = body;
      stream.fileOffset = body.offset;
      stream.fileLeft = body.length;
    }
    // A body the handler has not begun to read is dropped; the client is told after the answer.
    if (stream.body && !stream.body.claimed) {
      stream.body.drop();
      this.updateHeld(stream);
    }
    this.ready.push(stream);
  }

  /** Our last frame of a stream was composed (END_STREAM). */
  protected localEnd(stream: Stream): void {
    stream.state = nextState(stream.state, STREAM_EVENT.SEND_END_STREAM)!;
    const index = this.sending.indexOf(stream);
    if (index >= 0) this.sending.splice(index, 1);
    this.finishing.push(stream);
    if (stream.state === STREAM_STATE.CLOSED) return this.forget(stream);
    // §8.1: the answer is complete before the request is, so the rest of it is not awaited, read
    // or not: RST_STREAM(NO_ERROR) asks the client to stop sending, and the stream is let go.
    stream.state = STREAM_STATE.CLOSED;
    this.out.rstStream(stream.id, H2_ERROR.NO_ERROR);
    this.ids.resetByUs(stream.id);
    stream.body?.fail(STREAM_RESET);
    this.forget(stream);
  }

  /** A closed stream leaves the table (its response, if any, is finishing). */
  protected forget(stream: Stream): void {
    if (!this.streams.delete(stream.id)) return;
    this.held -= stream.held;
    stream.held = 0;
    if (stream.handlerPending) { // Go's x/net/http2 and nghttp2 count it until its handler returns
      stream.orphan = true;
      this.orphans++;
    }
  }

  /**
   * Resets a stream (RST_STREAM with `code`) and releases it. One whose answer had not ended
   * counts as a rapid reset (CVE-2023-44487): a client can provoke our resets as cheaply as it
   * can send its own (DATA past Content-Length, WINDOW_UPDATE of 0, a stream depending on itself).
   */
  protected reset(stream: Stream, code: number): void {
    if (!this.streams.has(stream.id)) return;
    this.endedEarly(stream);
    stream.state = nextState(stream.state, STREAM_EVENT.SEND_RST_STREAM) ?? STREAM_STATE.CLOSED;
    this.controlFrame(() => this.control.rstStream(stream.id, code));
    this.ids.resetByUs(stream.id);
    this.release(stream);
  }

  /** Resets a stream we keep nothing for. */
  protected resetId(id: number, code: number): void {
    const stream = this.streams.get(id);
    if (stream) return this.reset(stream, code);
    this.controlFrame(() => this.control.rstStream(id, code));
    this.ids.resetByUs(id);
  }

  /** A stream ends, reset by either side: before its answer did, it counts as a rapid reset. */
  protected endedEarly(stream: Stream): void {
    if (localOpen(stream.state)) this.flood("reset");
  }

  /** Lets go of everything a stream holds; its response, unless complete, ended badly. */
  protected release(stream: Stream): void {
    this.forget(stream);
    stream.state = STREAM_STATE.CLOSED;
    stream.body?.fail(STREAM_RESET);
    for (const list of [this.ready, this.sending]) {
      const i = list.indexOf(stream);
      if (i >= 0) list.splice(i, 1);
    }
    if (!this.finishing.includes(stream)) {
      stream.request?.observer?.responseDone(false);
      if (stream.headersSent) this.ended(stream, false); // reset, or its connection closed
    }
    this.releaseResponse(stream);
  }

  protected releaseResponse(stream: Stream): void {
    stream.bytes = null;
    stream.chunks = [];
    stream.chunkBytes = 0;
    if (stream.reader) {
      stream.reader.cancel().catch(() => {});
      stream.reader = null;
    } else if (!stream.headersSent && stream.response?.body instanceof ReadableStream) {
      stream.response.body.cancel().catch(() => {});
    }
    if (this.fileTail !== stream) this.closeFile(stream);
  }

  /** Closes a stream's file, once. */
  protected closeFile(stream: Stream): void {
    const body = stream.file;
    stream.file = null;
    if (!body) return;
    body.close();
    this.stats.filesOpen--;
    this.options.onFileClosed?.();
  }

  /** Tells onComplete that a response whose head went out has ended, whole or not. */
  protected ended(stream: Stream, complete: boolean): void {
    const completed = this.options.onComplete;
    if (!completed) return;
    const done = DONE;
    done.head = stream.head;
    done.status = stream.status;
    done.bytes = stream.bodySent;
    done.ms = (this.options.now?.() ?? performance.now()) - stream.started;
    done.complete = complete;
    completed(this as unknown as HttpSession, done); // the top layer, Http2Session, is one
    done.head = null;
  }
}
