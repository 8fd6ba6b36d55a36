// One WebSocket connection after the HTTP/1.1 101 (RFC 6455 §5-§7), driving a Transport: bytes in
// through the Receiver, messages out through one queue of encoded frames. Its state is one
// record and one function (#settle) turns it into the deadline and the epoll interest, as the
// HTTP/1.1 connection does. Memory is bounded: reading stops while the queue is over a bound (TCP
// pushes back on the sender), and a peer that does not read while the application sends is closed
// (1008) once its queue passes a larger one. Work per reactor turn is bounded: one read, one
// slice of compression, one step of inflation.

import { CLOSE_CODE, encodeFrame, FIN, MAX_HEAD, OPCODE, RSV1, writeFrameHead } from "./frame.ts";
import { encodeCloseBody } from "./close.ts";
import { DEFAULT_MAX_MESSAGE, Receiver, type ReceiverSink } from "./receiver.ts";
import type { PerMessageDeflate } from "./permessage_deflate.ts";
import type { Deadline, Session, Transport } from "../types.ts";
import { IO } from "../types.ts";
import { monoClock } from "../clock.ts";
import type { WebSocketDescription, WebSocketTotals } from "./stats.ts";

/** The WebSocket's states (WHATWG readyState numbering; CONNECTING ends before a session exists). */
export const WS_STATE = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
export type WsState = typeof WS_STATE[keyof typeof WS_STATE];

/** Queued output past which the session stops reading: 1 MiB, so a peer cannot grow it by sending. */
export const READ_PAUSE_BYTES = 1024 * 1024;
/** Queued output past which a peer that does not read is closed with 1008: 16 MiB by default. */
export const DEFAULT_MAX_QUEUED = 16 * 1024 * 1024;
/** How long the close handshake may take once begun (RFC 6455 §7.1.1 leaves it to the server). */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5000;
/** Input copied per read: the largest bite of work one turn takes from one peer. */
const READ_SIZE = 64 * 1024;
/** Uncompressed bytes deflated per turn: ~0.25 ms of zlib level 1 (scripts/ws_deflate_cost.ts). */
export const DEFLATE_SLICE = 16 * 1024;
/** Messages shorter than this are sent uncompressed: they fit one TCP segment either way. */
export const COMPRESS_THRESHOLD = 1024;
/** Payloads up to this size are copied into their frame; larger ones follow their head unchanged. */
const COPY_LIMIT = 4096;

/** One read buffer for every session: the reactor runs one callback at a time. */
const READ_BUFFER = new Uint8Array(READ_SIZE);
/** One buffer to gather small frames into a single write(2), for every session. */
const WRITE_BUFFER = new Uint8Array(64 * 1024);
/** Chunks up to this size are gathered; larger ones are written from where they are. */
const GATHER_CHUNK = 16 * 1024;

/** What the application hears from a session, in order. */
export interface SessionEvents {
  /** A whole message; UTF-8 already validated when `text`. */
  message(text: boolean, data: Uint8Array): void;
  /** The queue shrank: bufferedAmount went down. */
  drained?(): void;
  /**
   * The connection is over, once: `clean` when the close handshake completed. `code` is the
   * peer's (1005 for none), or 1006 when the TCP connection ended without one, or the code the
   * server failed the connection with.
   */
  closed(code: number, reason: string, clean: boolean): void;
}

/** Limits and hooks of a session. */
export interface SessionOptions {
  /** Makes the session's one deadline. */
  deadline: (callback: () => void) => Deadline;
  /** Largest message received, across fragments and inflated (1009 beyond). */
  maxMessageSize?: number;
  /** Silence after which the peer is pinged; as long again without an answer and it is closed. 0: never. */
  idleTimeoutMs?: number;
  /** Time the queue may make no progress while the peer does not read. */
  writeTimeoutMs?: number;
  /** Time the close handshake may take. */
  closeTimeoutMs?: number;
  /** Queued output past which the peer is closed with 1008 (it does not read). */
  maxQueuedBytes?: number;
  /** Queued output past which reading stops (default READ_PAUSE_BYTES). */
  readPauseBytes?: number;
  /** The negotiated permessage-deflate, or null. */
  deflate?: PerMessageDeflate | null;
  /** The clock (ms) the idle timeout reads; default the batch clock (http/clock.ts). */
  now?: () => number;
  /** The server's totals, which the session adds to. */
  totals?: WebSocketTotals;
  /** The negotiated Sec-WebSocket-Extensions (describe() shows it). */
  extensions?: string;
}

/** What the session's deadline is for now. */
type Wait = "idle" | "pong" | "write" | "close" | "none";

/** A piece of output: bytes from `offset`, and how much of the application's data it carries. */
interface Chunk {
  bytes: Uint8Array;
  offset: number;
  /** Application bytes this chunk stands for (bufferedAmount), credited as it is written. */
  app: number;
  /** Bytes of frame head at its start, which stand for no application bytes. */
  head: number;
  /** Application bytes credited so far. */
  credited: number;
}

/** A message waiting to be compressed slice by slice. */
interface PendingMessage {
  text: boolean;
  data: Uint8Array;
  offset: number;
  /** Whether its first frame was queued (later ones are continuations). */
  started: boolean;
  /** Application bytes compressed but not yet in a frame (zlib holds their output). */
  carry: number;
}

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
  #queue: Chunk[] = [];
  #pending: PendingMessage[] = [];
  /** Encoded bytes queued and not written. */
  #queuedBytes = 0;
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
    const sink: ReceiverSink = {
      message: (text, data) => this.#onMessage(text, data),
      ping: (payload) => this.#onPing(payload),
      pong: () => this.#awaitingPong = false,
      close: (code, reason) => this.#onClose(code, reason),
      fail: (code, reason) => this.#fail(code, reason),
    };
    this.#receiver = new Receiver(sink, {
      maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE,
      inflater: this.#deflate,
    });
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? 30_000;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    this.#maxQueued = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED;
    this.#readPause = options.readPauseBytes ?? READ_PAUSE_BYTES;
    this.#now = options.now ?? monoClock;
    this.#lastHeard = this.openedAt = this.#now();
    this.#timer = options.deadline(() => this.#onTimeout());
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
    return this.#queuedBytes + this.#pendingBytes();
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
    let used: number;
    try {
      used = this.#receiver.push(READ_BUFFER, 0, n);
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
    if (this.#receiver.busy) this.#receiver.resume();
    if (!this.#receiver.busy && this.#leftover !== null && this.#state !== WS_STATE.CLOSED) {
      const input = this.#leftover;
      this.#leftover = null;
      const used = this.#receiver.push(input);
      if (used < input.length) this.#leftover = input.subarray(used);
    }
    this.#flush();
  }

  /**
   * Queues a message. Ignored unless OPEN (the web layer counts it, as the standard says).
   * Messages of COMPRESS_THRESHOLD bytes and more are compressed when the extension was negotiated,
   * DEFLATE_SLICE bytes per turn. A peer whose queue passes maxQueuedBytes is closed with 1008.
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
      this.#pending.push({ text, data: owned ? data : data.slice(), offset: 0, started: false, carry: 0 });
    } else this.#queueFrame(FIN | (text ? OPCODE.TEXT : OPCODE.BINARY), data, data.length, owned);
    if (this.queuedBytes > this.#maxQueued) return this.#overflow();
    // Sent from a message handler: the read that delivered it writes once, after its last frame.
    if (!this.#reading) this.#flush();
  }

  /** Sends a ping (the application's or the idle check's). */
  ping(payload: Uint8Array = new Uint8Array(0)): void {
    if (this.#state !== WS_STATE.OPEN) return;
    this.#queueFrame(FIN | OPCODE.PING, payload, 0);
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
    if (!this.#closeSent && this.#closeAfterPending === null) this.#queueFrame(FIN | OPCODE.PONG, payload, 0);
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
    for (const p of this.#pending) this.#buffered -= p.data.length - p.offset + p.carry;
    this.#pending.length = 0;
    this.#closeAfterPending = null;
  }

  /** Queues our close frame; nothing is sent after it (§5.5.1). */
  #sendClose(code: number, reason: string): void {
    this.#closeSent = true;
    this.#queueFrame(FIN | OPCODE.CLOSE, encodeCloseBody(code, reason), 0);
  }

  #queueFrame(first: number, payload: Uint8Array, app: number, owned = true): void {
    if (payload.length <= COPY_LIMIT) {
      const frame = encodeFrame(first, payload);
      this.#push(frame, app, frame.length - payload.length);
      return;
    }
    const head = new Uint8Array(MAX_HEAD);
    this.#push(head.subarray(0, writeFrameHead(head, 0, first, payload.length)), 0, 0);
    this.#push(owned ? payload : payload.slice(), app, 0);
  }

  #push(bytes: Uint8Array, app: number, head: number): void {
    this.#queue.push({ bytes, offset: 0, app, head, credited: 0 });
    this.#queuedBytes += bytes.length;
  }

  #pendingBytes(): number {
    let n = 0;
    for (const p of this.#pending) n += p.data.length - p.offset;
    return n;
  }

  /**
   * Compresses one slice of the first pending message into a frame: fragments of one message,
   * RSV1 on the first only (RFC 7692 §6.1). Bytes zlib holds back are credited to a later frame.
   * A message too short to compress, queued behind a compressed one, is framed as it is.
   */
  #compressSlice(): void {
    const p = this.#pending[0]!;
    const opcode = p.text ? OPCODE.TEXT : OPCODE.BINARY;
    if (p.data.length < COMPRESS_THRESHOLD) {
      this.#pending.shift();
      return this.#queueFrame(FIN | opcode, p.data, p.data.length);
    }
    const end = Math.min(p.data.length, p.offset + DEFLATE_SLICE);
    const last = end === p.data.length;
    let compressed: Uint8Array;
    try {
      compressed = this.#deflate!.deflate(p.data.subarray(p.offset, end), last);
    } catch {
      return this.#fail(CLOSE_CODE.INTERNAL_ERROR, "Compression failed");
    }
    p.carry += end - p.offset;
    p.offset = end;
    if (compressed.length === 0 && !last) return;
    if (last) this.#pending.shift();
    const first = (last ? FIN : 0) | (p.started ? OPCODE.CONTINUATION : RSV1 | opcode);
    p.started = true;
    this.#queueFrame(first, compressed, p.carry);
    p.carry = 0;
  }

  /**
   * Writes what is queued until done or the socket is full, compressing at most one slice per
   * call; then ends the connection if it is finishing, else settles the interest and deadline.
   */
  #flush(): void {
    if (this.#flushing || this.#state === WS_STATE.CLOSED) return;
    this.#flushing = true;
    try {
      if (this.#pending.length > 0 && this.#queuedBytes < this.#readPause) this.#compressSlice();
      if (this.#pending.length === 0 && this.#closeAfterPending !== null) {
        this.#sendClose(this.#closeAfterPending.code, this.#closeAfterPending.reason);
        this.#closeAfterPending = null;
      }
      const before = this.#buffered;
      const result = this.#write();
      if (result < 0) return this.#end(CLOSE_CODE.ABNORMAL, "", false);
      if (this.#buffered < before) this.#events.drained?.();
      if (this.#queue.length === 0 && this.#finishing) {
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
    const queue = this.#queue;
    let progress = false;
    while (queue.length > 0) {
      // Small frames (an echo's, a burst of sends) leave together in one write.
      const gathered = queue.length > 1 ? this.#gather() : 0;
      const chunk = queue[0]!;
      const out = gathered > 0 ? WRITE_BUFFER : chunk.bytes.subarray(chunk.offset);
      const length = gathered > 0 ? gathered : out.length;
      const n = this.#transport.write(out, length);
      if (n === IO.EAGAIN) {
        this.#blocked = true;
        break;
      }
      if (n < 0) return n;
      progress = true;
      this.#queuedBytes -= n;
      this.counts.bytesOut += n;
      if (this.#totals !== null) this.#totals.bytesOut += n;
      this.#advance(n);
      if (n < length) {
        this.#blocked = true;
        break;
      }
    }
    if (progress && this.#wait === "write") this.#timer.arm(this.#writeTimeoutMs);
    return 0;
  }

  /**
   * Copies the leading frames that fit into the shared write buffer, while they are small.
   * @returns the bytes gathered, or 0 when the first chunk is better written alone
   */
  #gather(): number {
    let length = 0;
    for (const chunk of this.#queue) {
      const rest = chunk.bytes.length - chunk.offset;
      if (rest > GATHER_CHUNK || length + rest > WRITE_BUFFER.length) break;
      WRITE_BUFFER.set(chunk.offset === 0 ? chunk.bytes : chunk.bytes.subarray(chunk.offset), length);
      length += rest;
    }
    return length;
  }

  /** `n` bytes of the queue were written: chunks advance, bufferedAmount falls, done ones leave. */
  #advance(n: number): void {
    const queue = this.#queue;
    while (n > 0) {
      const chunk = queue[0]!;
      const take = Math.min(n, chunk.bytes.length - chunk.offset);
      chunk.offset += take;
      n -= take;
      // Uncompressed, each payload byte is an application byte; compressed, they count pro rata.
      const payload = Math.max(0, chunk.offset - chunk.head);
      const credit = chunk.offset === chunk.bytes.length
        ? chunk.app
        : Math.floor(chunk.app * payload / (chunk.bytes.length - chunk.head));
      this.#buffered -= credit - chunk.credited;
      chunk.credited = credit;
      if (chunk.offset === chunk.bytes.length) queue.shift();
    }
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
    const readable = !busy && this.#queuedBytes < this.#readPause;
    this.#transport.setInterest(readable, this.#blocked || (busy && this.#queuedBytes < this.#readPause));
  }

  #onTimeout(): void {
    switch (this.#wait) {
      case "idle": {
        // Input since the deadline was armed moves it (one timer update per idle period, not per read).
        const quiet = this.#now() - this.#lastHeard;
        if (quiet < this.#idleTimeoutMs) return this.#timer.arm(this.#idleTimeoutMs - quiet);
        // Silence: ask the peer whether it is there (RFC 6455 §5.5.2).
        this.#awaitingPong = true;
        this.#queueFrame(FIN | OPCODE.PING, new Uint8Array(0), 0);
        this.#wait = "none";
        return this.#flush();
      }
      case "pong": {
        // No answer within another idle period: the peer is gone; do not wait for its close. As
        // Deno does, the application hears 1001 "No response from ping frame.", not clean.
        const reason = "No response from ping frame.";
        if (!this.#closeSent && this.#queue.every((c) => c.offset === 0)) {
          this.#queue.length = 0;
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
    const partial = this.#queue.length > 0 && this.#queue[0]!.offset > 0;
    this.#queue.length = partial ? 1 : 0;
    this.#pending.length = 0;
    this.#queuedBytes = partial ? this.#queue[0]!.bytes.length - this.#queue[0]!.offset : 0;
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
    this.#queue.length = 0;
    this.#pending.length = 0;
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
