// One HTTP/2 connection (RFC 9113) over a Transport, with the contracts of the HTTP/1.1
// Connection: the same handler, request, response, deadline and options. Frames in are read from
// a shared buffer and acted on at once; frames out collect in one buffer written with one write
// per batch (a file's bytes follow their 9-octet DATA head through sendfile). Every kind of frame
// a peer can send cheaply is bounded per second, and every buffer has a named bound.

import { DEFAULT_WINDOW, H2_ERROR, H2Error } from "./frames.ts";
import { remoteOpen } from "./stream_states.ts";
import type { Stream } from "./stream.ts";
import { CONNECTION_WINDOW, OUR_SETTINGS, type SessionOptions, type SessionPhase } from "./options.ts";
import { WRITE } from "./session_output.ts";
import { READ_BUF, SessionFrames } from "./session_frames.ts";
import { HttpError, STATUS } from "../status.ts";
import { countClientLeft, countError } from "../stats.ts";
import type { HttpSession, StreamFacts, Transport } from "../types.ts";
import { IO } from "../types.ts";

export {
  CONNECTION_WINDOW,
  DATA_FRAME_BYTES,
  FLOOD_INTERVAL_MS,
  FLOOD_LIMITS,
  MAX_CONCURRENT_STREAMS,
  MAX_CONTINUATION_FRAMES,
  MAX_CONTROL_BYTES,
  MAX_HEADER_BLOCK_BYTES,
  MAX_HEADER_LIST_BYTES,
  type SessionOptions,
  type SessionPhase,
  STREAM_WINDOW,
} from "./options.ts";

/**
 * One HTTP/2 connection. The server calls onReadable/onWritable from the reactor, as for
 * Connection; handlers, bodies and streams call kick() when something changed. The class is the
 * top of five layers, one module each: state and stream bookkeeping (session_state.ts), output
 * (session_output.ts), request bodies (session_intake.ts), frame dispatch (session_frames.ts),
 * and here the connection's life: reading, flushing, phases and deadlines, drain and close.
 *
 * @example
 * ```ts
 * // the server, after ALPN chose "h2" or a cleartext connection began with the client preface:
 * const session = new Http2Session(transport, connectionOptions, bytesAlreadyRead);
 * session.onReadable();
 * ```
 */
export class Http2Session extends SessionFrames implements HttpSession {
  /** HTTP/2 (the status page's and the metrics' label). */
  readonly protocol = "h2";

  /**
   * @param transport the socket (or TLS session), seen through read/write/sendfile
   * @param options the limits, handler and hooks the server's HTTP/1.1 connections share
   * @param initialBytes bytes already read from the transport (the client preface, or part of it,
   *   and whatever followed), consumed before anything is read
   */
  constructor(transport: Transport, options: SessionOptions, initialBytes?: Uint8Array) {
    super(transport, options);
    this.leftover = initialBytes && initialBytes.length > 0 ? initialBytes.slice() : null;
    // RFC 9113 §3.4: our preface is a SETTINGS frame, sent at once; then the connection window.
    this.control.settings(OUR_SETTINGS);
    this.control.windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW);
    this.connRecvWindow = CONNECTION_WINDOW;
    this.enter("head");
    // Looked up (and kept by the transport) while connected: onComplete may ask after a reset.
    if (options.onComplete) transport.remoteAddress();
    if (this.leftover) this.consumeLeftover();
    if (this.stage !== "closed") this.flush();
  }

  /** The client's address, for logs. */
  get remoteAddress(): string {
    return this.transport.remoteAddress();
  }

  /** Whether the session has been closed. */
  get closed(): boolean {
    return this.stage === "closed";
  }

  /** What the session waits for now. */
  get phase(): SessionPhase {
    return this.consuming && this.stage !== "closed" ? "busy" : this.stage;
  }

  /** Requests (streams) opened on this connection. */
  get requests(): number {
    return this.requestCount;
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** The send windows: the connection's, for the status page. */
  get sendWindow(): number {
    return this.connSendWindow;
  }
  /** Its streams and connection windows, for the status page (HttpSession). */
  streamFacts(): StreamFacts {
    return { open: this.streams.size, sendWindow: this.connSendWindow, receiveWindow: this.connRecvWindow };
  }

  /** Reactor callback: the socket is readable (or has an error or hang-up pending). */
  onReadable(): void {
    if (this.stage === "closed") return;
    let end = 0;
    const kept = this.leftover;
    if (kept) {
      READ_BUF.set(kept);
      end = kept.length;
    }
    const n = this.transport.read(READ_BUF.subarray(end), READ_BUF.length - end);
    if (n < 0) {
      if (n === IO.EAGAIN) return;
      if (n === IO.ECONNRESET) countClientLeft(this.stats, "ECONNRESET");
      else countError(this.stats, `read errno ${-n}`);
      return this.close();
    }
    if (n === 0) return this.onPeerFin();
    this.stats.bytesIn += n;
    this.leftover = null;
    this.consume(READ_BUF, end + n);
    this.flush();
  }

  /** Reactor callback: the socket accepts more output. */
  onWritable(): void {
    if (this.stage !== "closed") this.flush();
  }

  /**
   * Something changed outside the reactor's dispatch: flush in a microtask, so the answers and
   * chunks that arrive together (promises settled in one turn) leave in one write.
   */
  protected later(): void {
    if (this.scheduled || this.stage === "closed") return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.kick();
    });
  }

  /** Something changed outside the reactor's dispatch (a handler, a stream, a body's reader). */
  kick(): void {
    if (this.stage === "closed") return;
    if (this.flushing || this.consuming) {
      this.again = true;
      return;
    }
    this.flush();
  }

  /**
   * Closes at once when idle; otherwise begins a graceful drain (RFC 9113 §6.8: a GOAWAY that
   * admits every stream, a PING, and on its ACK the GOAWAY naming the last stream served), after
   * which the session closes itself when its last stream is done.
   * @returns whether it closed now
   */
  closeIfIdle(): boolean {
    if (this.stage === "closed") return true;
    if (this.idle) {
      this.goaway(H2_ERROR.NO_ERROR, "");
      return true;
    }
    this.startDrain();
    this.kick();
    return false;
  }

  /** Closes the connection and releases everything it holds. Safe to call twice. */
  close(): void {
    if (this.stage === "closed") return;
    this.stage = "closed";
    this.timer.dispose();
    for (const stream of [...this.streams.values()]) this.release(stream);
    this.streams.clear();
    if (this.fileTail) this.closeFile(this.fileTail);
    this.fileTail = null;
    this.ready.length = 0;
    this.sending.length = 0;
    for (const stream of this.finishing) {
      stream.request?.observer?.responseDone(false);
      this.ended(stream, false);
    }
    this.finishing.length = 0;
    this.leftover = null;
    this.out.length = 0; // what was not written never will be
    this.outStart = 0;
    this.returnOutput();
    this.transport.close();
    this.options.onClose?.(this);
  }

  /** Composes and writes until done or the socket is full; then settles. */
  protected flush(): void {
    if (this.flushing || this.stage === "closed") return;
    this.flushing = true;
    try {
      for (;;) {
        this.again = false;
        this.checkCalm();
        if (this.options.draining() && this.drainStep === 0) this.startDrain();
        const result = this.write();
        if (result === WRITE.FAILED) return this.close();
        this.blocked = result === WRITE.BLOCKED;
        if (this.closed) return; // #write may have ended the session
        if (!this.again) break;
      }
    } catch (e) {
      if (e instanceof H2Error) return this.fail(e);
      throw e;
    } finally {
      this.flushing = false;
    }
    if (this.shouldClose()) return this.close();
    this.settle();
  }

  /** Whether the session has nothing left to do: a drain done, the peer gone away, or left. */
  protected shouldClose(): boolean {
    if (this.pendingBytes > 0 || this.streams.size > 0) return false;
    return this.drainStep === 2 || this.peerGoaway || this.peerClosed;
  }

  /** A connection error: GOAWAY with its code, then close (RFC 9113 §5.4.1). */
  protected fail(e: H2Error): void {
    if (this.stage === "closed") return;
    if (e.code !== H2_ERROR.ENHANCE_YOUR_CALM) countError(this.stats, `h2 ${errorName(e.code)}`);
    this.goaway(e.code, e.message);
  }

  /** Sends GOAWAY (with what is owed before it, if the socket takes it now) and closes. */
  protected goaway(code: number, debug: string): void {
    if (this.fileTail === null) { // in the middle of a file's frame, nothing else can follow
      const out = this.out;
      out.append(this.control.bytes, 0, this.control.length);
      this.control.length = 0;
      // §6.8: the last stream id never rises past one a GOAWAY announced before.
      out.goaway(Math.min(this.ids.last, this.goawayLastId), code, debug);
      const n = this.transport.write(out.bytes.subarray(this.outStart), out.length - this.outStart);
      if (n > 0) this.stats.bytesOut += n;
    }
    this.close();
  }

  /** The peer sent FIN: nothing more will come; what is ready is written, then the session closes. */
  protected onPeerFin(): void {
    this.peerClosed = true;
    if (this.streams.size > 0) countError(this.stats, "client left");
    for (const stream of [...this.streams.values()]) this.release(stream);
    this.flush();
    if (this.stage !== "closed") this.close();
  }

  /** The phase the facts put the session in. */
  protected currentPhase(): SessionPhase {
    if (this.blocked || this.stalled() !== null) return "writing";
    if (!this.settingsSeen || this.blockStream !== 0) return "head";
    if (this.streams.size === 0) return this.leftover !== null ? "head" : "idle";
    for (const stream of this.streams.values()) {
      // A stream whose window we hold shut waits for its reader, not for the client.
      if (stream.response !== null || !remoteOpen(stream.state) || stream.recvWindow <= 0) return "busy";
    }
    return "body"; // every stream waits for its request body
  }

  /**
   * Puts the session in the phase its facts say and arms the one timer for the earliest of its
   * deadlines: the phase's (head, idle), a full socket's, and each stream's; sets the interest.
   */
  protected settle(): void {
    if (this.stage === "closed") return;
    const phase = this.currentPhase();
    // The idle and head deadlines belong to one request each: a new request restarts them.
    const perRequest = phase === "idle" || phase === "head";
    if (phase !== this.stage || (perRequest && this.armedFor !== this.requestCount)) this.enter(phase);
    let due = this.phaseDue;
    if (this.blocked) due = Math.min(due, this.writeAt + this.options.writeTimeoutMs);
    due = Math.min(due, this.streamsDue());
    if (due === Infinity) this.timer.disarm();
    else this.timer.arm(Math.max(0, due - this.now()));
    this.transport.setInterest(!this.blocked && !this.peerClosed, this.blocked);
  }

  protected enter(phase: SessionPhase): void {
    this.stage = phase;
    this.armedFor = this.requestCount;
    const ms = phase === "head"
      ? this.options.headerTimeoutMs
      : phase === "idle"
      ? this.options.idleTimeoutMs
      : Infinity; // bodies and stalled windows are timed per stream, a full socket by writeAt
    this.phaseDue = this.now() + ms;
  }

  /**
   * Whether a stream waits for its client to send body bytes: the client may send (its window is
   * open) and somebody wants them, whether or not its answer has begun.
   */
  protected awaitsBody(stream: Stream): boolean {
    return remoteOpen(stream.state) && stream.recvWindow > 0 && stream.body !== null && stream.body.wanted;
  }

  /** The earliest of the streams' deadlines: a body's, a window's (Infinity when none). */
  protected streamsDue(): number {
    let due = Infinity;
    for (const stream of this.streams.values()) {
      if (this.awaitsBody(stream)) due = Math.min(due, stream.bodyAt + this.options.bodyTimeoutMs);
      if (stream.stalledAt >= 0) due = Math.min(due, stream.stalledAt + this.options.writeTimeoutMs);
    }
    return due;
  }

  protected onTimeout(): void {
    if (this.stage === "closed") return;
    const now = this.now();
    if (this.blocked && now >= this.writeAt + this.options.writeTimeoutMs) {
      countError(this.stats, "write timeout");
      return this.close();
    }
    if (now >= this.phaseDue) {
      if (this.stage === "head") countError(this.stats, "header timeout");
      return this.goaway(H2_ERROR.NO_ERROR, this.stage === "head" ? "header timeout" : "");
    }
    for (const stream of [...this.streams.values()]) {
      if (this.awaitsBody(stream) && now >= stream.bodyAt + this.options.bodyTimeoutMs) {
        this.bodyTimedOut(stream);
      } else if (stream.stalledAt >= 0 && now >= stream.stalledAt + this.options.writeTimeoutMs) {
        // A peer that does not open this stream's window: it is reset, its bytes (and file) freed.
        if (!this.isStalled(stream)) stream.stalledAt = -1;
        else {
          countError(this.stats, "h2 window stalled");
          this.reset(stream, H2_ERROR.CANCEL);
        }
      }
    }
    this.flush();
  }

  /**
   * A request body stalled past the body timeout: RFC 9110 §15.5.9's 408 in the handler's place,
   * or, once its answer has begun, the stream is reset; its reader learns why either way.
   */
  protected bodyTimedOut(stream: Stream): void {
    countError(this.stats, "body timeout");
    const error = new HttpError(STATUS.REQUEST_TIMEOUT, "Request Timeout");
    stream.body?.fail(error);
    if (stream.headersSent) this.reset(stream, H2_ERROR.CANCEL);
    else this.override(stream, error);
  }
}

function errorName(code: number): string {
  for (const [name, value] of Object.entries(H2_ERROR)) if (value === code) return name;
  return `error ${code}`;
}
