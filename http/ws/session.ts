// One WebSocket connection after the HTTP/1.1 101 (RFC 6455 §5-§7), driving a Transport: bytes in
// through the Receiver, messages out through one queue of encoded frames. Its state is one
// record and one function (#settle) turns it into the deadline and the epoll interest, as the
// HTTP/1.1 connection does. Memory is bounded: reading stops while the queue is over a bound (TCP
// pushes back on the sender), and a peer that does not read while the application sends is closed
// (1008) once its queue passes a larger one (or the one message, when larger). Work per reactor turn is bounded: one
// read, one slice of compression, one step of inflation. An exception while receiving (a bug, zlib
// out of memory) fails this socket with 1011; it never reaches the reactor.

import { CLOSE_CODE, FIN, MAX_HEAD, OPCODE } from "./frame.ts";
import { FrameQueue } from "./frame_queue.ts";
import { PendingMessages } from "./pending_messages.ts";
import {
  COMPRESS_THRESHOLD,
  DEFAULT_CLOSE_TIMEOUT_MS,
  DEFAULT_MAX_QUEUED,
  READ_PAUSE_BYTES,
  type SessionEvents,
  type SessionOptions,
  WS_STATE,
  type WsState,
} from "./session_options.ts";
import { encodeCloseBody } from "./close.ts";
import { DEFAULT_MAX_MESSAGE, Receiver, type ReceiverSink } from "./receiver.ts";
import type { PerMessageDeflate } from "./permessage_deflate.ts";
import type { Deadline, DeadlineTarget, Session, Transport } from "../types.ts";
import { IO } from "../types.ts";
import { monoClock } from "../clock.ts";
import type { WebSocketDescription, WebSocketTotals } from "./stats.ts";

/** Input copied per read: the largest bite of work one turn takes from one peer. */
const READ_SIZE = 64 * 1024;
/** One read buffer for every session: the reactor runs one callback at a time. */
const READ_BUFFER = new Uint8Array(READ_SIZE);

/** What the session's deadline is for now. */
type Wait = "idle" | "pong" | "write" | "close" | "none";

/**
 * A WebSocket over a Transport, a Session of the server's (http/types.ts): the reactor calls
 * onReadable/onWritable; graceful shutdown (closeIfIdle) begins the close handshake with 1001.
 */
export class WebSocketSession implements Session {
  #transport: Transport;
  #events: SessionEvents;
  #timer: Deadline;
  #receiver: Receiver;
  #deflate: PerMessageDeflate | null;
  #idleTimeoutMs: number;
  #writeTimeoutMs: number;
  #closeTimeoutMs: number;
  #maxQueued: number;
  #readPause: number;
  #state: WsState = WS_STATE.OPEN;
  /** Input read but not yet taken by the receiver (it is inflating), or the bytes after the 101. */
  #leftover: Uint8Array | null;
  #queue = new FrameQueue();
  #pending = new PendingMessages();
  /** Application bytes queued and not written (WebSocket bufferedAmount). */
  #buffered = 0;
  /** The socket is full: waiting for EPOLLOUT. */
  #blocked = false;
  #closeSent = false;
  /** The application's close, waiting for the pending messages to be compressed. */
  #closeAfterPending: { code: number; reason: string } | null = null;
  /** Our FIN is sent (after failing the peer, waiting for its FIN). */
  #shutdown = false;
  /** When input last arrived: the idle deadline is not moved per read, but checked when it fires. */
  #lastHeard = 0;
  #now: () => number;
  #closeReceived = false;
  /** After failing the peer: our close is queued, the TCP connection ends once it is written. */
  #finishing = false;
  #awaitingPong = false;
  #wait: Wait = "none";
  #flushing = false;
  /** Inside the receiver's push: sends queue, and the read's flush writes them together. */
  #reading = false;
  #started = false;
  #closedCode = 0;
  #closedReason = "";
  #clean = false;
  /** Counters for the status page and metrics. */
  readonly counts = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
  #totals: WebSocketTotals | null;
  #extensions: string;
  /**
   * The receiver's side of a session and its deadline's: one object of two words where six
   * closures and their context took ~0.4 KiB a socket (an idle WebSocket holds it as long as it
   * lives).
   */
  static #Sink = class implements ReceiverSink, DeadlineTarget {
    #session: WebSocketSession;
    constructor(session: WebSocketSession) {
      this.#session = session;
    }
    message(text: boolean, data: Uint8Array): void {
      this.#session.#onMessage(text, data);
    }
    ping(payload: Uint8Array): void {
      this.#session.#onPing(payload);
    }
    pong(): void {
      this.#session.#awaitingPong = false;
    }
    close(code: number, reason: string): void {
      this.#session.#onClose(code, reason);
    }
    fail(code: number, reason: string): void {
      this.#session.#fail(code, reason);
    }
    onTimer(): void {
      this.#session.#onTimeout();
    }
  };
  /** When the session began, on the `now` clock. */
  readonly openedAt: number;

  /**
   * @param transport the socket after the 101, which the session now owns
   * @param head bytes already read after the request head (the client's first frames)
   * @param events the application's side
   */
  constructor(transport: Transport, head: Uint8Array, events: SessionEvents, options: SessionOptions) {
    this.#transport = transport;
    this.#events = events;
    this.#leftover = head.length > 0 ? head.slice() : null;
    this.#deflate = options.deflate ?? null;
    const sink = new WebSocketSession.#Sink(this);
    this.#receiver = new Receiver(sink, {
      maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE,
      inflater: this.#deflate,
      budget: options.messageBudget ?? null,
    });
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.#maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED;
    this.#readPause = options.readPauseBytes ?? READ_PAUSE_BYTES;
    this.#now = options.now ?? monoClock;
    this.#lastHeard = this.openedAt = this.#now();
    this.#timer = options.deadline(sink);
    this.#extensions = options.extensions ?? "";
    this.#totals = options.totals ?? null;
    if (this.#totals !== null) {
      this.#totals.opened++;
      this.#totals.open++;
    }
  }

  /** What kind of session this is (the server tells its sessions apart by it). */
  get protocol(): "websocket" {
    return "websocket";
  }

  /** The transport the session owns (the status page reads its socket). */
  get transport(): Transport {
    return this.#transport;
  }

  /** The session's row on the status page. */
  describe(): WebSocketDescription {
    const c = this.counts;
    return {
      phase: ["connecting", "open", "closing", "closed"][this.#state]! +
        (this.#blocked && this.#state === WS_STATE.OPEN ? ", blocked" : ""),
      ageMs: Math.round(this.#now() - this.openedAt),
      messagesIn: c.messagesIn,
      messagesOut: c.messagesOut,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      extensions: this.#extensions,
      queuedBytes: this.queuedBytes,
    };
  }

  /** The WebSocket's state (OPEN, CLOSING, CLOSED). */
  get state(): WsState {
    return this.#state;
  }

  /** Application bytes sent and not yet taken by the kernel (WebSocket bufferedAmount). */
  get bufferedAmount(): number {
    return this.#buffered;
  }

  /** Encoded bytes waiting for the kernel, uncompressed slices included. */
  get queuedBytes(): number {
    return this.#queue.bytes + this.#pending.bytes;
  }

  /** The negotiated extension's parameters, or null. */
  get deflate(): PerMessageDeflate | null {
    return this.#deflate;
  }

  /** Starts reading: the bytes already read are processed first. Call once, after "open". */
  start(): void {
    if (this.#started || this.#state === WS_STATE.CLOSED) return;
    this.#started = true;
    this.#work();
  }

  /** Reactor callback: the socket is readable. */
  onReadable(): void {
    if (this.#state === WS_STATE.CLOSED || !this.#started) return;
    if (this.#leftover !== null || this.#receiver.busy) return this.#work();
    const n = this.#transport.read(READ_BUFFER, READ_SIZE);
    if (n === IO.EAGAIN) return;
    if (n <= 0) return this.#peerGone();
    this.counts.bytesIn += n;
    if (this.#totals !== null) this.#totals.bytesIn += n;
    this.#lastHeard = this.#now();
    this.#awaitingPong = false; // any input shows the peer is there
    if (this.#finishing || this.#receiver.finished) return this.#settle(); // draining to the FIN
    this.#reading = true;
    let used = n;
    try {
      used = this.#receiver.push(READ_BUFFER, 0, n);
    } catch (e) {
      this.#internalError(e);
    } finally {
      this.#reading = false;
    }
    if (used < n) this.#leftover = READ_BUFFER.slice(used, n); // the receiver is inflating
    this.#flush();
  }

  /** Reactor callback: the socket accepts output (or the session asked for a turn of its own). */
  onWritable(): void {
    if (this.#state === WS_STATE.CLOSED) return;
    this.#blocked = false;
    this.#work();
  }

  /** One turn of deferred work: a step of inflation, held input, a slice of compression, writes. */
  #work(): void {
    try {
      if (this.#receiver.busy) this.#receiver.resume();
      if (!this.#receiver.busy && this.#leftover !== null && this.#state !== WS_STATE.CLOSED) {
        const input = this.#leftover;
        this.#leftover = null;
        const used = this.#receiver.push(input);
        if (used < input.length) this.#leftover = input.subarray(used);
      }
    } catch (e) {
      this.#internalError(e);
    }
    this.#flush();
  }

  /**
   * Receiving threw (a defect, or zlib out of memory): this socket fails with 1011 (RFC 6455
   * §7.4.1, an unexpected condition); the reactor and the other sockets go on.
   */
  #internalError(e: unknown): void {
    console.error(`WebSocket receive failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    this.#leftover = null;
    this.#receiver.stop();
    if (this.#state !== WS_STATE.CLOSED) this.#fail(CLOSE_CODE.INTERNAL_ERROR, "Internal error");
  }

  /**
   * Queues a message. Ignored unless OPEN (the web layer counts it, as the standard says).
   * Messages of COMPRESS_THRESHOLD bytes and more are compressed when the extension was negotiated,
   * DEFLATE_SLICE bytes per turn. A peer whose queue passes the larger of maxQueuedBytes and this
   * message is closed with 1008: one message larger than the bound is accepted alone (the
   * application holds it already, and a peer allowed 64 MiB messages may be echoed one).
   * @param owned whether the session may keep `data` as it is; when false it copies what it keeps
   *   (a small frame is copied into its frame anyway, so an echo copies once)
   */
  send(text: boolean, data: Uint8Array, owned = true): void {
    if (this.#state !== WS_STATE.OPEN) return;
    this.counts.messagesOut++;
    if (this.#totals !== null) this.#totals.messagesOut++;
    this.#buffered += data.length;
    // A message to compress, or one behind it (order is kept), waits for its turn.
    if ((this.#deflate !== null && data.length >= COMPRESS_THRESHOLD) || this.#pending.length > 0) {
      this.#pending.push(text, owned ? data : data.slice());
    } else this.#queue.frame(FIN | (text ? OPCODE.TEXT : OPCODE.BINARY), data, data.length, owned);
    if (this.queuedBytes > Math.max(this.#maxQueued, data.length + MAX_HEAD)) return this.#overflow();
    // Sent from a message handler: the read that delivered it writes once, after its last frame.
    if (!this.#reading) this.#flush();
  }

  /** Sends a ping (the application's or the idle check's). */
  ping(payload: Uint8Array = new Uint8Array(0)): void {
    if (this.#state !== WS_STATE.OPEN) return;
    this.#queue.frame(FIN | OPCODE.PING, payload, 0);
    this.#flush();
  }

  /**
   * Begins the close handshake (RFC 6455 §7.1.2): our close frame after what is queued, then the
   * peer's within closeTimeoutMs. Does nothing unless OPEN.
   * @param code 1000, 1001 or 3000-4999 (the caller validates an application's), 1005 for none
   */
  beginClose(code: number = CLOSE_CODE.NO_STATUS, reason = ""): void {
    if (this.#state !== WS_STATE.OPEN) return;
    this.#state = WS_STATE.CLOSING;
    // What send() queued goes first: the close frame follows the last pending message.
    if (this.#pending.length > 0) this.#closeAfterPending = { code, reason };
    else this.#sendClose(code, reason);
    this.#flush();
  }

  /** Whether the session has ended (its transport is closed). */
  get closed(): boolean {
    return this.#state === WS_STATE.CLOSED;
  }

  /**
   * Graceful shutdown: begins the close handshake with 1001 (RFC 6455 §7.4.1, going away); the
   * session ends when the peer answers, or at the close timeout.
   * @returns whether it has ended already
   */
  closeIfIdle(): boolean {
    this.beginClose(CLOSE_CODE.GOING_AWAY, "Server shutting down");
    return this.closed;
  }

  /** Ends at once, without a handshake (the server stops): the application hears 1006. */
  close(): void {
    this.#end(CLOSE_CODE.ABNORMAL, "", false);
  }

  // What the peer sent (the receiver's sink).

  #onMessage(text: boolean, data: Uint8Array): void {
    this.counts.messagesIn++;
    if (this.#totals !== null) this.#totals.messagesIn++;
    // WHATWG: a message that arrives once closing has begun is not delivered.
    if (this.#state === WS_STATE.OPEN) this.#events.message(text, data);
  }

  /** RFC 6455 §5.5.2: a pong with the same payload, unless our close is already sent. */
  #onPing(payload: Uint8Array): void {
    if (!this.#closeSent && this.#closeAfterPending === null) {
      this.#queue.frame(FIN | OPCODE.PONG, payload, 0);
    }
  }

  /** The peer's close (§5.5.1): answer it echoing its code, then end the TCP connection. */
  #onClose(code: number, reason: string): void {
    this.#closeReceived = true;
    this.#clean = true;
    this.#closedCode = code;
    this.#closedReason = reason;
    if (this.#state === WS_STATE.OPEN) {
      this.#state = WS_STATE.CLOSING;
      this.#dropPending();
      this.#sendClose(code, "");
    }
    // Closing already, the application's messages still compressing go out, then its close frame
    // (§7.1.2; #flush ends the connection once both are written).
    this.#finishing = true;
  }

  /** The peer broke the protocol (§7.1.7): our close with the code, then the TCP connection ends. */
  #fail(code: number, reason: string): void {
    this.#closedCode = code;
    this.#closedReason = reason;
    this.#state = WS_STATE.CLOSING;
    this.#dropPending();
    if (!this.#closeSent) this.#sendClose(code, reason);
    this.#finishing = true;
  }

  #dropPending(): void {
    this.#buffered -= this.#pending.drop();
    this.#closeAfterPending = null;
  }

  /** Queues our close frame; nothing is sent after it (§5.5.1). */
  #sendClose(code: number, reason: string): void {
    this.#closeSent = true;
    this.#queue.frame(FIN | OPCODE.CLOSE, encodeCloseBody(code, reason), 0);
  }

  /**
   * Writes what is queued until done or the socket is full, compressing at most one slice per
   * call; then ends the connection if it is finishing, else settles the interest and deadline.
   */
  #flush(): void {
    if (this.#flushing || this.#state === WS_STATE.CLOSED) return;
    this.#flushing = true;
    try {
      if (
        this.#pending.length > 0 && this.#queue.bytes < this.#readPause &&
        !this.#pending.compressSlice(this.#deflate, this.#queue)
      ) {
        this.#fail(CLOSE_CODE.INTERNAL_ERROR, "Compression failed"); // our close goes out below
      }
      if (this.#pending.length === 0 && this.#closeAfterPending !== null) {
        this.#sendClose(this.#closeAfterPending.code, this.#closeAfterPending.reason);
        this.#closeAfterPending = null;
      }
      const before = this.#buffered;
      const result = this.#write();
      if (result < 0) return this.#end(CLOSE_CODE.ABNORMAL, "", false);
      if (this.#buffered < before) this.#events.drained?.();
      if (this.#queue.empty && this.#finishing && this.#pending.length === 0) {
        // RFC 6455 §7.1.1: after the handshake the server closes the TCP connection first.
        if (this.#closeReceived) return this.#end(this.#closedCode, this.#closedReason, this.#clean);
        // We failed the peer: our close is out. Send FIN and read (discarding) until the peer's,
        // at most closeTimeoutMs, so unread input does not turn our close into an RST.
        if (!this.#shutdown) {
          this.#shutdown = true;
          this.#transport.shutdownWrite();
        }
      }
    } finally {
      this.#flushing = false;
    }
    this.#settle();
  }

  /** @returns 0 when everything was written or the socket is full, -errno on failure */
  #write(): number {
    const n = this.#queue.write(this.#transport);
    if (n < 0) return n;
    this.#buffered -= this.#queue.credited;
    if (this.#queue.blocked) this.#blocked = true;
    if (n > 0) {
      this.counts.bytesOut += n;
      if (this.#totals !== null) this.#totals.bytesOut += n;
      if (this.#wait === "write") this.#timer.arm(this.#writeTimeoutMs);
    }
    return 0;
  }

  /** The deadline the state calls for, and the interest. */
  #settle(): void {
    if (this.#state === WS_STATE.CLOSED) return;
    let wait: Wait;
    if (this.#blocked) wait = "write";
    else if (this.#state === WS_STATE.CLOSING) wait = "close";
    else if (this.#idleTimeoutMs > 0) wait = this.#awaitingPong ? "pong" : "idle";
    else wait = "none";
    if (wait !== this.#wait) {
      this.#wait = wait;
      if (wait === "none") this.#timer.disarm();
      else {
        this.#timer.arm(
          wait === "write"
            ? this.#writeTimeoutMs
            : wait === "close"
            ? this.#closeTimeoutMs
            : this.#idleTimeoutMs,
        );
      }
    }
    const busy = this.#receiver.busy || this.#leftover !== null || this.#pending.length > 0;
    const readable = !busy && this.#queue.bytes < this.#readPause;
    this.#transport.setInterest(readable, this.#blocked || (busy && this.#queue.bytes < this.#readPause));
  }

  #onTimeout(): void {
    switch (this.#wait) {
      case "idle": {
        // Input since the deadline was armed moves it (one timer update per idle period, not per read).
        const quiet = this.#now() - this.#lastHeard;
        if (quiet < this.#idleTimeoutMs) return this.#timer.arm(this.#idleTimeoutMs - quiet);
        // Silence: ask the peer whether it is there (RFC 6455 §5.5.2).
        this.#awaitingPong = true;
        this.#queue.frame(FIN | OPCODE.PING, new Uint8Array(0), 0);
        this.#wait = "none";
        return this.#flush();
      }
      case "pong": {
        // No answer within another idle period: the peer is gone; do not wait for its close. As
        // Deno does, the application hears 1001 "No response from ping frame.", not clean.
        const reason = "No response from ping frame.";
        if (!this.#closeSent && this.#queue.dropIfUnstarted()) {
          this.#sendClose(CLOSE_CODE.GOING_AWAY, reason);
          this.#write();
        }
        return this.#end(CLOSE_CODE.GOING_AWAY, reason, false);
      }
      case "write":
        return this.#end(CLOSE_CODE.ABNORMAL, "Write timeout", false);
      case "close":
        // A failed peer hears the code we failed it with; an unanswered close is 1006 (§7.1.5).
        return this.#end(
          this.#finishing ? this.#closedCode : CLOSE_CODE.ABNORMAL,
          this.#finishing ? this.#closedReason : "",
          false,
        );
    }
  }

  /** The peer does not read while the application sends: close with 1008, dropping the queue. */
  #overflow(): void {
    // A frame partly written cannot be cut: the close frame goes only on a frame boundary.
    const partial = this.#queue.dropAllButStarted();
    this.#pending.drop();
    this.#closeAfterPending = null;
    this.#buffered = 0;
    if (!partial) {
      this.#sendClose(CLOSE_CODE.POLICY_VIOLATION, "Client does not read");
      this.#write();
    }
    this.#end(CLOSE_CODE.POLICY_VIOLATION, "Client does not read", false);
  }

  /** The peer's FIN or an error: the TCP connection is over. */
  #peerGone(): void {
    if (this.#closeReceived) return this.#end(this.#closedCode, this.#closedReason, this.#clean);
    this.#end(
      this.#finishing ? this.#closedCode : CLOSE_CODE.ABNORMAL,
      this.#finishing ? this.#closedReason : "",
      false,
    );
  }

  /** Releases everything and tells the application once. */
  #end(code: number, reason: string, clean: boolean): void {
    if (this.#state === WS_STATE.CLOSED) return;
    this.#state = WS_STATE.CLOSED;
    this.#timer.dispose();
    this.#receiver.stop();
    this.#deflate?.close();
    this.#queue.clear();
    this.#pending.drop();
    this.#leftover = null;
    this.#transport.close();
    const totals = this.#totals;
    if (totals !== null) {
      totals.open--;
      totals.closes[code] = (totals.closes[code] ?? 0) + 1;
    }
    this.#events.closed(code, reason, clean);
  }
}
