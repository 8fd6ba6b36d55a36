// One HTTP/2 connection (RFC 9113) over a Transport, with the contracts of the HTTP/1.1
// Connection: the same handler, request, response, deadline and options. Frames in are read from
// a shared buffer and acted on at once; frames out collect in one buffer written with one write
// per batch (a file's bytes follow their 9-octet DATA head through sendfile). Every kind of frame
// a peer can send cheaply is bounded per second, and every buffer has a named bound.

import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  FLAG,
  forEachSetting,
  FRAME,
  Frame,
  FRAME_HEADER_BYTES,
  FrameWriter,
  H2_ERROR,
  H2Error,
  INCOMPLETE,
  MAX_WINDOW,
  parseFrame,
  SETTING,
} from "./frames.ts";
import { HpackDecoder, HpackEncoder, HpackError } from "./hpack.ts";
import { checkTrailers, requestHeadFromFields } from "./semantics.ts";
import {
  localOpen,
  nextState,
  remoteOpen,
  STREAM_EVENT,
  STREAM_STATE,
  type StreamState,
} from "./stream_states.ts";
import type { RequestHead } from "../request_head.ts";
import { type BodyBudget, type BodyOwner, RequestBody } from "../request_body.ts";
import { HttpError, STATUS, statusResponse } from "../status.ts";
import { type ConnectionStats, countClientLeft, countError, logHandlerFailure } from "../stats.ts";
import { wallClock } from "../clock.ts";
import { decodeFields } from "../fields.ts";
import type {
  Deadline,
  FileBody,
  Handler,
  HttpRequest,
  HttpResponse,
  ResponseDone,
  Session,
  Transport,
} from "../types.ts";
import { IO } from "../types.ts";

/**
 * What a session waits for, by the HTTP/1.1 connection's names (the status page shows either):
 * the preface or a header block (head), nothing (idle), request bodies (body), handlers (busy),
 * the client to read or to open its windows (writing).
 */
export type SessionPhase = "idle" | "head" | "body" | "busy" | "writing" | "closed";

/**
 * The limits and hooks a session uses: the members of the HTTP/1.1 ConnectionOptions that apply,
 * so the server hands the same object to both protocols.
 */
export interface SessionOptions {
  handler: Handler;
  /** Makes the session's one deadline. */
  deadline: (callback: () => void) => Deadline;
  /** Largest request body a handler may read (413 beyond). */
  maxBodyBytes: number;
  /** Request-body bytes held by all connections, and their bound (503 beyond). */
  bodyBudget: BodyBudget;
  /** Time to receive the preface and SETTINGS, or the rest of a header block. */
  headerTimeoutMs: number;
  /** Time a session with no stream open is kept. */
  idleTimeoutMs: number;
  /** Time request bodies may stall while every stream waits for one (408 after). */
  bodyTimeoutMs: number;
  /** Time output may make no progress: a full socket closes the session, a shut window resets its stream. */
  writeTimeoutMs: number;
  /** Counters; the session only adds to them. */
  stats: ConnectionStats;
  /** Whether the server is draining: the session begins a graceful GOAWAY. */
  draining: () => boolean;
  /** Called once when the session closes (see onComplete for the parameter's type). */
  onClose?: (conn: never) => void;
  /** Called when a file a response held is closed (`stats.filesOpen` went down). */
  onFileClosed?: () => void;
  /** The clock (ms) for ages, response times and flood intervals. Default `performance.now()`. */
  now?: () => number;
  /**
   * Called once per response whose head went out, when it ends: the kernel has its last byte,
   * or the stream or connection ended first (`done.complete`). The server's hooks take its
   * HTTP/1.1 Connection; the session passes itself, which has the members they read
   * (remoteAddress, phase, openedAt, requests, pendingBytes, transport), hence the open type.
   */
  onComplete?: (conn: never, done: ResponseDone) => void;
  /** Fields every response carries (--header), pre-encoded with encodeFields(). */
  headers?: Uint8Array;
}

// ---- limits ----------------------------------------------------------------------------------

/** SETTINGS_MAX_CONCURRENT_STREAMS: requests in progress at once; more are refused (RFC 9113 §5.1.2). */
export const MAX_CONCURRENT_STREAMS = 100;
/** SETTINGS_MAX_HEADER_LIST_SIZE: a request's decoded fields (RFC 7541 §4.1 count); 431 beyond. */
export const MAX_HEADER_LIST_BYTES = 16 * 1024;
/**
 * A header block's encoded octets over HEADERS and CONTINUATION frames. A block cannot be much
 * larger than the list it encodes (each field costs 32 octets in the list, 1 or more on the wire),
 * so twice the list's bound is generous; past it the block is a flood (CVE-2024-27316 class).
 */
export const MAX_HEADER_BLOCK_BYTES = 2 * MAX_HEADER_LIST_BYTES;
/** CONTINUATION frames in one block, empty ones included: two 16 KiB frames carry the largest block. */
export const MAX_CONTINUATION_FRAMES = 8;
/** Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE): body bytes a client may send ahead. */
export const STREAM_WINDOW = 256 * 1024;
/** The connection's receive window: body bytes all streams may have unread at once. */
export const CONNECTION_WINDOW = 1024 * 1024;
/** Windows are reopened in steps of at least this much, or when nearly shut (few WINDOW_UPDATEs). */
const WINDOW_STEP = 16 * 1024;
/** Frames out are written once the buffer passes this (and a turn fills no more): bounds its growth. */
const OUTPUT_BYTES = 64 * 1024;
/** A streamed body's chunks buffered ahead of the peer's window; reading the stream waits beyond. */
const STREAM_BUFFER_BYTES = 64 * 1024;
/**
 * Control frames (SETTINGS and PING ACKs, RST_STREAM, WINDOW_UPDATE) waiting for a peer that
 * does not read: past this the peer is flooding us (Go's maxQueuedControlFrames, 10,000 frames).
 */
export const MAX_CONTROL_BYTES = 64 * 1024;
/** The interval over which FLOOD_LIMITS count frames. */
export const FLOOD_INTERVAL_MS = 1000;
/**
 * Frames a peer may send per FLOOD_INTERVAL_MS that cost us work and carry no request: past
 * any of them the connection ends with GOAWAY ENHANCE_YOUR_CALM. `reset` is rapid reset
 * (CVE-2023-44487): streams the client opened and cancelled before their answers ended.
 */
export const FLOOD_LIMITS = {
  reset: 200,
  ping: 100,
  settings: 100,
  windowUpdate: 10_000,
  emptyData: 100,
  priority: 1000,
  refused: 1000,
} as const;
type Flood = keyof typeof FLOOD_LIMITS;
const FLOODS = Object.keys(FLOOD_LIMITS) as Flood[];

/** Bytes read per read(2): several full frames; a partial frame is kept behind them. */
const READ_BYTES = 64 * 1024;
/** Our SETTINGS_MAX_FRAME_SIZE: the default, so a partial frame held per connection stays small. */
const MAX_FRAME_SIZE = DEFAULT_MAX_FRAME_SIZE;
/** The largest stream id (RFC 9113 §5.1.1), announced by the first GOAWAY of a graceful drain. */
const MAX_STREAM_ID = 0x7fffffff;

/** One read buffer for every session: a partial frame is copied out and back (at most one frame). */
const READ_BUF = new Uint8Array(READ_BYTES + FRAME_HEADER_BYTES + MAX_FRAME_SIZE);
/** One header-list array for every decode: handlers get a copy in their head. */
const FIELDS: string[] = [];
/** The opaque data of the PING that times a graceful drain (RFC 9113 §6.8). */
const DRAIN_PING = new Uint8Array([0x72, 0x61, 0x77, 0x64, 0x72, 0x61, 0x69, 0x6e]); // "rawdrain"

/** What our SETTINGS frame announces (RFC 9113 §6.5.2). */
const OUR_SETTINGS: readonly (readonly [number, number])[] = [
  [SETTING.ENABLE_PUSH, 0],
  [SETTING.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS],
  [SETTING.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
  [SETTING.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES],
];

/** RFC 9113 §8.2.2: response fields that mean something only to one HTTP/1.1 connection. */
const DROPPED_RESPONSE_FIELDS: ReadonlySet<string> = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "content-length", // the session states the length it sends
]);

const ENCODER = new TextEncoder();
/** A body whose stream ended before it did. */
const STREAM_RESET = new HttpError(STATUS.BAD_REQUEST, "The stream was reset before the request body ended");

// ---- a stream ---------------------------------------------------------------------------------

/** One request and its response. It owns its request body (BodyOwner), forwarding to its session. */
class Stream implements BodyOwner {
  state: StreamState = STREAM_STATE.IDLE;
  head: RequestHead | null = null;
  body: RequestBody | null = null;
  request: HttpRequest | null = null;
  /** Body bytes the client may still send (our window for it). */
  recvWindow = STREAM_WINDOW;
  /** Body bytes we may still send (the client's window for us). */
  sendWindow: number;
  /** Body bytes received, padding excluded. */
  received = 0;
  /** Unread body bytes counted against the connection window. */
  held = 0;
  response: HttpResponse | null = null;
  /** The server answered in the handler's place (413, 431, 408…): the handler's answer is dropped. */
  overridden = false;
  /** 100 (Continue) was sent. */
  continued = false;
  status = 0;
  headersSent = false;
  /** The response's bytes: a copy-free view, sent from `offset`. */
  bytes: Uint8Array | null = null;
  offset = 0;
  file: FileBody | null = null;
  fileOffset = 0;
  fileLeft = 0;
  reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  chunks: Uint8Array[] = [];
  chunkBytes = 0;
  reading = false;
  readerDone = false;
  /** When its head arrived (for onComplete), 0 when nobody times responses. */
  started = 0;
  /** DATA payload bytes composed for it (what left, once composed output reaches the kernel). */
  bodySent = 0;

  constructor(readonly id: number, readonly session: Http2Session, sendWindow: number) {
    this.sendWindow = sendWindow;
  }

  bodyClaimed(): void {
    this.session.streamBodyClaimed(this);
  }
  bodyDrained(): void {
    this.session.streamBodyDrained(this);
  }
  bodyCancelled(): void {
    this.session.streamBodyDrained(this);
  }
  bodyRefused(_body: RequestBody, error: HttpError): void {
    this.session.streamBodyRefused(this, error);
  }
}

// ---- the session -------------------------------------------------------------------------------

/**
 * One HTTP/2 connection. The server calls onReadable/onWritable from the reactor, as for
 * Connection; handlers, bodies and streams call kick() when something changed.
 *
 * @example
 * ```ts
 * // the server, after ALPN chose "h2" or a cleartext connection began with the client preface:
 * const session = new Http2Session(transport, connectionOptions, bytesAlreadyRead);
 * session.onReadable();
 * ```
 */
export class Http2Session implements Session {
  /** When it was accepted, on the server's clock (ConnectionOptions.now). */
  readonly openedAt: number;
  #transport: Transport;
  #options: SessionOptions;
  #stats: ConnectionStats;
  #timer: Deadline;
  #phase: SessionPhase = "head";
  #frame = new Frame();
  #decoder = new HpackDecoder();
  #encoder = new HpackEncoder();
  /** Frames ready to write, from `#outStart`. */
  #out = new FrameWriter(1024);
  #outStart = 0;
  /** A file's bytes owed right after `#out` (the rest of a DATA frame whose head is in it). */
  #fileTail: Stream | null = null;
  #fileTailLeft = 0;
  /** Control frames made while `#out` was being written: they follow it. */
  #control = new FrameWriter(256);
  /** Input not yet parsed: the first bytes (preface), then a partial frame. */
  #leftover: Uint8Array | null;
  #prefaceSeen = false;
  #settingsSeen = false;
  #streams = new Map<number, Stream>();
  /** Streams whose response head is ready to encode, in the order they became ready. */
  #ready: Stream[] = [];
  /** Streams with body bytes to send, served round-robin. */
  #sending: Stream[] = [];
  /** Streams whose last frame was composed: complete once the kernel has it all. */
  #finishing: Stream[] = [];
  /** The highest stream id the client opened (RFC 9113 §5.1.1). */
  #lastStreamId = 0;
  /** A header block in progress: its stream, flags and fragments (RFC 9113 §4.3). */
  #blockStream = 0;
  #blockEndStream = false;
  #blockDependency = -1;
  #blockFrames = 0;
  #block: FrameWriter | null = null;
  #connRecvWindow = DEFAULT_WINDOW;
  #connSendWindow = DEFAULT_WINDOW;
  /** Unread body bytes of all streams (the connection window's back-pressure). */
  #held = 0;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  #floodCounts: Record<Flood, number> = { ...FLOOD_LIMITS };
  #floodSince = -Infinity;
  /** Graceful drain: 0 none, 1 first GOAWAY sent (awaiting the PING's ACK), 2 final GOAWAY sent. */
  #drainStep = 0;
  #goawayLastId = MAX_STREAM_ID;
  #peerGoaway = false;
  #peerClosed = false;
  #blocked = false;
  #requests = 0;
  /** The request count when the idle or head deadline was armed. */
  #armedFor = 0;
  #flushing = false;
  #consuming = false;
  #again = false;
  /** A microtask flush is scheduled (#later). */
  #scheduled = false;
  /** Control frames piled up past MAX_CONTROL_BYTES: the connection ends. */
  #overflow = false;

  /**
   * @param transport the socket (or TLS session), seen through read/write/sendfile
   * @param options the limits, handler and hooks the server's HTTP/1.1 connections share
   * @param initialBytes bytes already read from the transport (the client preface, or part of it,
   *   and whatever followed), consumed before anything is read
   */
  constructor(transport: Transport, options: SessionOptions, initialBytes?: Uint8Array) {
    this.#transport = transport;
    this.#options = options;
    this.#stats = options.stats;
    this.openedAt = options.now?.() ?? performance.now();
    this.#leftover = initialBytes && initialBytes.length > 0 ? initialBytes.slice() : null;
    this.#timer = options.deadline(() => this.#onTimeout());
    // RFC 9113 §3.4: our preface is a SETTINGS frame, sent at once; then the connection window.
    this.#control.settings(OUR_SETTINGS);
    this.#control.windowUpdate(0, CONNECTION_WINDOW - DEFAULT_WINDOW);
    this.#connRecvWindow = CONNECTION_WINDOW;
    this.#enter("head");
    // Looked up (and kept by the transport) while connected: onComplete may ask after a reset.
    if (options.onComplete) transport.remoteAddress();
    if (this.#leftover) this.#consumeLeftover();
    if (this.#phase !== "closed") this.#flush();
  }

  /** The client's address, for logs. */
  get remoteAddress(): string {
    return this.#transport.remoteAddress();
  }

  /** Whether the session has been closed. */
  get closed(): boolean {
    return this.#phase === "closed";
  }

  /** What the session waits for now. */
  get phase(): SessionPhase {
    return this.#consuming && this.#phase !== "closed" ? "busy" : this.#phase;
  }

  /** Requests (streams) opened on this connection. */
  get requests(): number {
    return this.#requests;
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** Output composed and not yet taken by the kernel, in bytes. */
  get pendingBytes(): number {
    return this.#out.length - this.#outStart + this.#fileTailLeft + this.#control.length;
  }

  /** The transport the session drives. */
  get transport(): Transport {
    return this.#transport;
  }

  /** The send windows: the connection's, for the status page. */
  get sendWindow(): number {
    return this.#connSendWindow;
  }

  /** Whether no request is in progress and nothing is owed. */
  get idle(): boolean {
    return this.#phase !== "closed" && this.#streams.size === 0 && this.pendingBytes === 0 &&
      this.#blockStream === 0;
  }

  // ---- the reactor's side ----------------------------------------------------------------------

  /** Reactor callback: the socket is readable (or has an error or hang-up pending). */
  onReadable(): void {
    if (this.#phase === "closed") return;
    let end = 0;
    const kept = this.#leftover;
    if (kept) {
      READ_BUF.set(kept);
      end = kept.length;
    }
    const n = this.#transport.read(READ_BUF.subarray(end), READ_BUF.length - end);
    if (n < 0) {
      if (n === IO.EAGAIN) return;
      if (n === IO.ECONNRESET) countClientLeft(this.#stats, "ECONNRESET");
      else countError(this.#stats, `read errno ${-n}`);
      return this.close();
    }
    if (n === 0) return this.#onPeerFin();
    this.#stats.bytesIn += n;
    this.#leftover = null;
    this.#consume(READ_BUF, end + n);
    this.#flush();
  }

  /** Reactor callback: the socket accepts more output. */
  onWritable(): void {
    if (this.#phase !== "closed") this.#flush();
  }

  /**
   * Something changed outside the reactor's dispatch: flush in a microtask, so the answers and
   * chunks that arrive together (promises settled in one turn) leave in one write.
   */
  #later(): void {
    if (this.#scheduled || this.#phase === "closed") return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.kick();
    });
  }

  /** Something changed outside the reactor's dispatch (a handler, a stream, a body's reader). */
  kick(): void {
    if (this.#phase === "closed") return;
    if (this.#flushing || this.#consuming) {
      this.#again = true;
      return;
    }
    this.#flush();
  }

  /**
   * Closes at once when idle; otherwise begins a graceful drain (RFC 9113 §6.8: a GOAWAY that
   * admits every stream, a PING, and on its ACK the GOAWAY naming the last stream served), after
   * which the session closes itself when its last stream is done.
   * @returns whether it closed now
   */
  closeIfIdle(): boolean {
    if (this.#phase === "closed") return true;
    if (this.idle) {
      this.#goaway(H2_ERROR.NO_ERROR, "");
      return true;
    }
    this.#startDrain();
    this.kick();
    return false;
  }

  /** Closes the connection and releases everything it holds. Safe to call twice. */
  close(): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#timer.dispose();
    for (const stream of [...this.#streams.values()]) this.#release(stream);
    this.#streams.clear();
    if (this.#fileTail) this.#closeFile(this.#fileTail);
    this.#fileTail = null;
    this.#ready.length = 0;
    this.#sending.length = 0;
    for (const stream of this.#finishing) {
      stream.request?.observer?.responseDone(false);
      this.#ended(stream, false);
    }
    this.#finishing.length = 0;
    this.#leftover = null;
    this.#transport.close();
    this.#options.onClose?.(this as never); // see SessionOptions.onComplete
  }

  // ---- input -------------------------------------------------------------------------------

  #consumeLeftover(): void {
    const kept = this.#leftover!;
    this.#leftover = null;
    if (kept.length > READ_BUF.length) {
      return this.#fail(new H2Error(H2_ERROR.PROTOCOL_ERROR, "Too many early bytes"));
    }
    READ_BUF.set(kept);
    this.#consume(READ_BUF, kept.length);
  }

  /** Acts on every complete frame in `buf[0, end)`; keeps a partial one. */
  #consume(buf: Uint8Array, end: number): void {
    let p = 0;
    this.#consuming = true;
    try {
      if (!this.#prefaceSeen) {
        const n = Math.min(end, CLIENT_PREFACE.length);
        for (let i = 0; i < n; i++) {
          if (buf[i] !== CLIENT_PREFACE[i]) {
            throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "Invalid connection preface");
          }
        }
        if (end < CLIENT_PREFACE.length) {
          this.#leftover = buf.slice(0, end);
          return;
        }
        this.#prefaceSeen = true;
        p = CLIENT_PREFACE.length;
      }
      const frame = this.#frame;
      while (p < end && this.#phase !== "closed") {
        const n = parseFrame(buf, p, end, MAX_FRAME_SIZE, frame);
        if (n === INCOMPLETE) break;
        this.#onFrame(buf, frame);
        p += n;
      }
      if (p < end && this.#phase !== "closed") this.#leftover = buf.slice(p, end);
      this.#grantConnection();
    } catch (e) {
      if (e instanceof H2Error) return this.#fail(e);
      if (e instanceof HpackError) return this.#fail(new H2Error(H2_ERROR.COMPRESSION_ERROR, e.message));
      throw e;
    } finally {
      this.#consuming = false;
    }
  }

  #onFrame(buf: Uint8Array, f: Frame): void {
    // RFC 9113 §3.4: the client's preface ends with a SETTINGS frame.
    if (!this.#settingsSeen && f.type !== FRAME.SETTINGS) {
      throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "The first frame is not SETTINGS");
    }
    // §6.10: a header block's frames are contiguous.
    if (this.#blockStream !== 0 && f.type !== FRAME.CONTINUATION) {
      throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "A frame inside a header block");
    }
    switch (f.type) {
      case FRAME.DATA:
        return this.#onData(buf, f);
      case FRAME.HEADERS:
        return this.#onHeaders(buf, f);
      case FRAME.PRIORITY: // §5.3.2: accepted and ignored, but a stream error stays one
        this.#flood("priority");
        if (f.streamError >= 0) this.#resetId(f.streamId, f.streamError);
        return;
      case FRAME.RST_STREAM:
        return this.#onReset(f);
      case FRAME.SETTINGS:
        return this.#onSettings(buf, f);
      case FRAME.PUSH_PROMISE: // §8.4: a client cannot push
        throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FRAME.PING:
        this.#flood("ping");
        if (!f.has(FLAG.ACK)) return this.#controlFrame(() => this.#control.ping(true, buf, f.start));
        if (this.#drainStep === 1 && isDrainPing(buf, f.start)) this.#finishDrainGoaway();
        return;
      case FRAME.GOAWAY:
        this.#peerGoaway = true;
        return;
      case FRAME.WINDOW_UPDATE:
        return this.#onWindowUpdate(f);
      case FRAME.CONTINUATION:
        return this.#onContinuation(buf, f);
      default: // §5.5: unknown frame types are ignored
        return;
    }
  }

  #onSettings(buf: Uint8Array, f: Frame): void {
    this.#flood("settings");
    if (f.has(FLAG.ACK)) return; // our settings took effect; nothing waits for it
    this.#settingsSeen = true;
    forEachSetting(buf, f, (id, value) => {
      switch (id) {
        case SETTING.HEADER_TABLE_SIZE:
          this.#encoder.setPeerLimit(value);
          break;
        case SETTING.INITIAL_WINDOW_SIZE: {
          // §6.9.2: every stream's send window moves by the difference.
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const stream of this.#streams.values()) {
            stream.sendWindow += delta;
            if (stream.sendWindow > MAX_WINDOW) {
              throw new H2Error(H2_ERROR.FLOW_CONTROL_ERROR, "A window passed 2^31-1");
            }
          }
          break;
        }
        case SETTING.MAX_FRAME_SIZE:
          this.#peerMaxFrame = value;
          break;
      }
    });
    this.#controlFrame(() => this.#control.settingsAck());
  }

  #onWindowUpdate(f: Frame): void {
    this.#flood("windowUpdate");
    if (f.streamId === 0) {
      this.#connSendWindow += f.increment;
      if (this.#connSendWindow > MAX_WINDOW) {
        throw new H2Error(H2_ERROR.FLOW_CONTROL_ERROR, "The connection window passed 2^31-1");
      }
      return;
    }
    const stream = this.#streams.get(f.streamId);
    if (!stream) {
      if (f.streamId > this.#lastStreamId) {
        throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      }
      return; // a closed stream: ignored (§5.1)
    }
    if (f.streamError >= 0) return this.#reset(stream, f.streamError);
    stream.sendWindow += f.increment;
    if (stream.sendWindow > MAX_WINDOW) this.#reset(stream, H2_ERROR.FLOW_CONTROL_ERROR);
  }

  #onReset(f: Frame): void {
    const stream = this.#streams.get(f.streamId);
    if (!stream) {
      if (f.streamId > this.#lastStreamId) {
        throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
      }
      return;
    }
    // CVE-2023-44487: a stream opened and cancelled before its answer ended costs us a handler call.
    this.#flood("reset");
    if (this.#phase === "closed") return;
    stream.state = nextState(stream.state, STREAM_EVENT.RECV_RST_STREAM) ?? STREAM_STATE.CLOSED;
    this.#release(stream);
  }

  #onHeaders(buf: Uint8Array, f: Frame): void {
    const id = f.streamId;
    if (!this.#streams.has(id)) {
      // §5.1.1: a client opens odd streams, each above the last.
      if (id % 2 === 0) throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "An even stream id");
    }
    this.#blockStream = id;
    this.#blockEndStream = f.has(FLAG.END_STREAM);
    this.#blockDependency = f.dependency;
    this.#blockFrames = 0;
    if (f.has(FLAG.END_HEADERS)) return this.#onHeaderBlock(buf, f.start, f.end);
    this.#appendBlock(buf, f);
  }

  #onContinuation(buf: Uint8Array, f: Frame): void {
    if (this.#blockStream === 0 || f.streamId !== this.#blockStream) {
      throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "CONTINUATION outside a header block");
    }
    if (++this.#blockFrames > MAX_CONTINUATION_FRAMES) {
      countError(this.#stats, "h2 continuation flood");
      throw new H2Error(H2_ERROR.ENHANCE_YOUR_CALM, "Too many CONTINUATION frames");
    }
    this.#appendBlock(buf, f);
    if (!f.has(FLAG.END_HEADERS)) return;
    const block = this.#block!;
    this.#onHeaderBlock(block.bytes, 0, block.length);
    block.length = 0;
    if (block.bytes.length > 4096) this.#block = null; // a large block's buffer is not kept
  }

  #appendBlock(buf: Uint8Array, f: Frame): void {
    const block = this.#block ??= new FrameWriter(1024);
    if (block.length + (f.end - f.start) > MAX_HEADER_BLOCK_BYTES) {
      countError(this.#stats, "h2 header block too large");
      throw new H2Error(H2_ERROR.ENHANCE_YOUR_CALM, "Header block too large");
    }
    block.append(buf, f.start, f.end);
  }

  /** A complete header block: a new request, or trailers. */
  #onHeaderBlock(buf: Uint8Array, start: number, end: number): void {
    const id = this.#blockStream, endStream = this.#blockEndStream;
    this.#blockStream = 0;
    FIELDS.length = 0;
    // The block is decoded whatever happens to its stream: the HPACK table must stay in step.
    const fits = this.#decoder.decode(buf, start, end, FIELDS, MAX_HEADER_LIST_BYTES);
    const existing = this.#streams.get(id);
    if (existing) return this.#onTrailers(existing, endStream, fits);
    // §5.1: frames on a stream we closed (reset, or answered early) may still be on their way.
    if (id <= this.#lastStreamId) return;
    this.#lastStreamId = id;
    if (this.#drainStep === 2 && id > this.#goawayLastId) return; // §6.8: ignored after the final GOAWAY
    if (this.#blockDependency === id) return this.#resetId(id, H2_ERROR.PROTOCOL_ERROR); // §5.3.1
    if (this.#streams.size >= MAX_CONCURRENT_STREAMS || this.#peerGoaway) {
      countError(this.#stats, "h2 refused stream");
      this.#flood("refused");
      return this.#resetId(id, H2_ERROR.REFUSED_STREAM);
    }
    const stream = new Stream(id, this, this.#peerInitialWindow);
    stream.state = nextState(stream.state, STREAM_EVENT.RECV_HEADERS)!;
    if (endStream) stream.state = nextState(stream.state, STREAM_EVENT.RECV_END_STREAM)!;
    this.#streams.set(id, stream);
    this.#requests++;
    this.#stats.requests++;
    stream.started = this.#options.onComplete ? this.#options.now?.() ?? performance.now() : 0;
    if (!fits) {
      countError(this.#stats, "http 431");
      return this.#answer(stream, statusResponse(STATUS.REQUEST_HEADER_FIELDS_TOO_LARGE));
    }
    let head: RequestHead;
    try {
      head = requestHeadFromFields(FIELDS, id);
    } catch (e) {
      if (e instanceof H2Error) {
        countError(this.#stats, "h2 malformed request");
        return this.#reset(stream, e.code);
      }
      if (!(e instanceof HttpError)) throw e;
      countRefusal(this.#stats, e.status);
      return this.#answer(stream, statusResponse(e.status, { text: e.message }));
    }
    stream.head = head;
    if (!endStream) {
      stream.body = new RequestBody(
        head.contentLength,
        this.#options.maxBodyBytes,
        this.#options.bodyBudget,
        stream,
      );
    } else if (head.contentLength > 0) { // §8.1.1: Content-Length against the DATA that came (none)
      countError(this.#stats, "h2 malformed request");
      return this.#reset(stream, H2_ERROR.PROTOCOL_ERROR);
    }
    this.#callHandler(stream, head);
  }

  #onTrailers(stream: Stream, endStream: boolean, fits: boolean): void {
    if (!remoteOpen(stream.state)) return this.#reset(stream, H2_ERROR.STREAM_CLOSED); // §5.1
    try {
      // §8.1: trailers end the stream; they carry no pseudo-header fields.
      if (!endStream) throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "Trailers without END_STREAM", stream.id);
      if (fits) checkTrailers(FIELDS, stream.id);
    } catch (e) {
      if (!(e instanceof H2Error)) throw e;
      countError(this.#stats, "h2 malformed request");
      return this.#reset(stream, e.code);
    }
    this.#remoteEnd(stream);
  }

  #onData(buf: Uint8Array, f: Frame): void {
    if (f.length === 0 && !f.has(FLAG.END_STREAM)) this.#flood("emptyData");
    // §6.9: DATA counts against the connection window whatever becomes of its stream.
    this.#connRecvWindow -= f.length;
    if (this.#connRecvWindow < 0) {
      throw new H2Error(H2_ERROR.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
    }
    const stream = this.#streams.get(f.streamId);
    if (!stream) {
      if (f.streamId > this.#lastStreamId) {
        throw new H2Error(H2_ERROR.PROTOCOL_ERROR, "DATA on an idle stream");
      }
      return; // §5.1: a stream we closed; its window is the connection's again (#grantConnection)
    }
    if (!remoteOpen(stream.state)) return this.#reset(stream, H2_ERROR.STREAM_CLOSED);
    stream.recvWindow -= f.length;
    if (stream.recvWindow < 0) return this.#reset(stream, H2_ERROR.FLOW_CONTROL_ERROR);
    const n = f.end - f.start;
    stream.received += n;
    const body = stream.body;
    if (body === null) { // answered without a handler (431, 400…): the data is dropped
      if (f.has(FLAG.END_STREAM)) return this.#remoteEnd(stream);
      return this.#grant(stream);
    }
    const declared = stream.head!.contentLength;
    if (declared >= 0 && stream.received > declared) { // §8.1.1
      countError(this.#stats, "h2 malformed request");
      return this.#reset(stream, H2_ERROR.PROTOCOL_ERROR);
    }
    if (stream.received > this.#options.maxBodyBytes) {
      return this.#refuseBody(stream, new HttpError(STATUS.CONTENT_TOO_LARGE, "Request body too large"));
    }
    if (n > 0) {
      try {
        body.push(buf, f.start, f.end);
      } catch (e) {
        if (!(e instanceof HttpError)) throw e;
        return this.#refuseBody(stream, e);
      }
    }
    if (f.has(FLAG.END_STREAM)) {
      if (declared >= 0 && stream.received !== declared) {
        countError(this.#stats, "h2 malformed request");
        return this.#reset(stream, H2_ERROR.PROTOCOL_ERROR);
      }
      return this.#remoteEnd(stream);
    }
    if (this.#phase === "body") this.#timer.arm(this.#options.bodyTimeoutMs); // progress
    this.#grant(stream);
  }

  /** The client sent END_STREAM. */
  #remoteEnd(stream: Stream): void {
    stream.state = nextState(stream.state, STREAM_EVENT.RECV_END_STREAM)!;
    stream.body?.end();
    this.#updateHeld(stream);
    if (stream.state === STREAM_STATE.CLOSED) this.#forget(stream);
  }

  // ---- flow control, receiving ---------------------------------------------------------------------

  #updateHeld(stream: Stream): void {
    const unread = stream.body?.unread ?? 0; // 0 once dropped or failed
    this.#held += unread - stream.held;
    stream.held = unread;
  }

  /**
   * Reopens a stream's window by what its reader took (RFC 9113 §6.9): the window is what we
   * advertised less what waits unread, so a handler that stops reading stops the client.
   */
  #grant(stream: Stream): void {
    this.#updateHeld(stream);
    if (!remoteOpen(stream.state)) return;
    const target = STREAM_WINDOW - Math.min(stream.held, STREAM_WINDOW);
    const increment = target - stream.recvWindow;
    if (increment > 0 && (increment >= WINDOW_STEP || stream.recvWindow < WINDOW_STEP)) {
      stream.recvWindow += increment;
      this.#controlFrame(() => this.#control.windowUpdate(stream.id, increment));
    }
  }

  /** The same for the connection's window, over every stream's unread bytes. */
  #grantConnection(): void {
    if (this.#phase === "closed") return;
    const target = CONNECTION_WINDOW - Math.min(this.#held, CONNECTION_WINDOW);
    const increment = target - this.#connRecvWindow;
    if (increment > 0 && (increment >= WINDOW_STEP || this.#connRecvWindow < WINDOW_STEP)) {
      this.#connRecvWindow += increment;
      this.#controlFrame(() => this.#control.windowUpdate(0, increment));
    }
  }

  // ---- the bodies' owner (through their streams) -------------------------------------------------

  /** A handler began to read its body: a client that waits for 100 (Continue) is told to send. */
  streamBodyClaimed(stream: Stream): void {
    if (!stream.head?.expectContinue || stream.continued || stream.headersSent || stream.received > 0) return;
    if (!remoteOpen(stream.state)) return;
    stream.continued = true;
    const block = new FrameWriter(16);
    this.#encoder.encode(block, [":status", "100"]);
    this.#controlFrame(() =>
      this.#control.headers(stream.id, block.bytes, block.length, false, this.#peerMaxFrame)
    );
    this.#later();
  }

  /** Queued body bytes were taken (or dropped): the windows may reopen. */
  streamBodyDrained(stream: Stream): void {
    if (this.#phase === "closed" || !this.#streams.has(stream.id)) return;
    this.#grant(stream);
    this.#grantConnection();
    this.#later();
  }

  /** A read found the body unacceptable (its declared length passes the limit). */
  streamBodyRefused(stream: Stream, error: HttpError): void {
    countRefusal(this.#stats, error.status);
    this.#override(stream, error);
    this.#later();
  }

  /** The body cannot go on (too large, no budget): answered in the handler's place. */
  #refuseBody(stream: Stream, error: HttpError): void {
    countRefusal(this.#stats, error.status);
    stream.body?.fail(error);
    this.#override(stream, error);
  }

  /** Answers `error.status` in the handler's place, unless an answer is on its way. */
  #override(stream: Stream, error: HttpError): void {
    this.#updateHeld(stream);
    if (stream.headersSent || stream.overridden || !this.#streams.has(stream.id)) return;
    if (stream.response) {
      this.#releaseResponse(stream);
      stream.response = null;
      const i = this.#ready.indexOf(stream);
      if (i >= 0) this.#ready.splice(i, 1);
    }
    stream.overridden = true;
    this.#answer(stream, statusResponse(error.status, { text: error.message }));
  }

  // ---- handlers and responses ----------------------------------------------------------------

  #callHandler(stream: Stream, head: RequestHead): void {
    const request: HttpRequest = { head, body: stream.body, peer: this.#transport, observer: null };
    stream.request = request;
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.#options.handler(request);
    } catch (e) {
      result = this.#handlerFailed(e);
    }
    if (!(result instanceof Promise)) return this.#answer(stream, result);
    const stats = this.#stats;
    stats.answersAwaited++;
    result.then(
      (response) => {
        stats.answersAwaited--;
        this.#answer(stream, response);
        this.#later();
      },
      (e) => {
        stats.answersAwaited--;
        this.#answer(
          stream,
          stream.overridden ? statusResponse(STATUS.INTERNAL_SERVER_ERROR) : this.#handlerFailed(e),
        );
        this.#later();
      },
    );
  }

  #handlerFailed(e: unknown): HttpResponse {
    // Counted as the 500 it becomes, when its head is encoded.
    logHandlerFailure(e);
    return statusResponse(STATUS.INTERNAL_SERVER_ERROR);
  }

  /** A response for a stream: queued for its head to be encoded. */
  #answer(stream: Stream, response: HttpResponse): void {
    // A stream gone, or answered already (the server in the handler's place): nobody sends it.
    if (this.#phase === "closed" || !this.#streams.has(stream.id) || stream.response !== null) {
      return releaseResponse(response);
    }
    stream.response = response;
    const body = response.body;
    if (isFileBody(body)) {
      this.#stats.filesOpen++;
      stream.file = body;
      stream.fileOffset = body.offset;
      stream.fileLeft = body.length;
    }
    // A body the handler has not begun to read is dropped; the client is told after the answer.
    if (stream.body && !stream.body.claimed) {
      stream.body.drop();
      this.#updateHeld(stream);
    }
    this.#ready.push(stream);
  }

  /** Encodes a ready response's head and sets up its body. */
  #encodeHead(stream: Stream): void {
    const response = stream.response!;
    const status = response.status;
    stream.status = status;
    const omit = status < 200 || status === STATUS.NO_CONTENT || status === STATUS.NOT_MODIFIED ||
      stream.head?.method === "HEAD";
    let body = response.body ?? null;
    if (typeof body === "string") body = ENCODER.encode(body);
    let length = response.contentLength ??
      (body === null ? 0 : body instanceof ReadableStream ? -1 : body.length);
    if (status < 200 || status === STATUS.NO_CONTENT) length = -1;
    else if (status === STATUS.NOT_MODIFIED && response.contentLength === undefined) length = -1;
    const fields = this.#responseFields(response, status, length);
    const block = BLOCK;
    block.length = 0;
    try {
      this.#encoder.encode(block, fields);
    } catch (e) {
      // A field the handler made cannot be sent: answer 500 instead. The encoder checks each
      // field before it touches the table, so the table holds what the block before it said;
      // the fields indexed so far stay in our table only, and are never referred to again.
      this.#releaseResponse(stream);
      stream.response = statusResponse(STATUS.INTERNAL_SERVER_ERROR);
      this.#handlerFailed(e);
      return this.#encodeHead(stream);
    }
    const empty = omit || body === null || (body instanceof Uint8Array && body.length === 0) ||
      (isFileBody(body) && body.length === 0);
    // RFC 9110 §15.6: a 5xx says the server failed, whatever produced it (as HTTP/1.1 counts it).
    if (status >= 500) countError(this.#stats, `http ${status}`);
    this.#out.headers(stream.id, block.bytes, block.length, empty, this.#peerMaxFrame);
    stream.headersSent = true;
    if (empty) {
      if (body instanceof ReadableStream) body.cancel().catch(() => {});
      this.#closeFile(stream);
      return this.#localEnd(stream);
    }
    if (body instanceof Uint8Array) stream.bytes = body;
    else if (body instanceof ReadableStream) stream.reader = body.getReader();
    this.#sending.push(stream);
  }

  /** The response's fields: :status, Date, Server, the handler's (minus HTTP/1.1's), the length. */
  #responseFields(response: HttpResponse, status: number, length: number): string[] {
    const fields: string[] = [":status", statusText(status), "date", httpDate(), "server", "rawserve"];
    const headers = response.headers;
    if (headers instanceof Uint8Array) addFields(fields, encodedFields(headers));
    else if (headers) addFields(fields, headers);
    if (response.headerList) {
      for (const [name, value] of response.headerList) addField(fields, name, value);
    }
    if (this.#options.headers) addFields(fields, encodedFields(this.#options.headers));
    if (length >= 0) fields.push("content-length", String(length));
    return fields;
  }

  /**
   * Appends at most one DATA frame of a stream's body, within the windows and the peer's frame
   * size. A file's frame leaves its head in `#out` and its bytes as the file tail.
   * @returns whether a frame was appended
   */
  #appendData(stream: Stream): boolean {
    const room = Math.min(stream.sendWindow, this.#connSendWindow, this.#peerMaxFrame);
    if (stream.bytes !== null) {
      const left = stream.bytes.length - stream.offset;
      const n = Math.min(left, room);
      if (n <= 0 && left > 0) return false;
      const end = n === left;
      this.#out.data(stream.id, stream.bytes, stream.offset, stream.offset + n, end);
      this.#spend(stream, n);
      stream.offset += n;
      if (end) {
        stream.bytes = null;
        this.#localEnd(stream);
      }
      return true;
    }
    if (stream.file !== null) {
      const n = Math.min(stream.fileLeft, room);
      if (n <= 0) return false;
      const end = n === stream.fileLeft;
      this.#out.head(n, FRAME.DATA, end ? FLAG.END_STREAM : 0, stream.id);
      this.#spend(stream, n);
      this.#fileTail = stream;
      this.#fileTailLeft = n;
      return true;
    }
    if (stream.reader !== null) {
      if (stream.chunks.length === 0) {
        if (!stream.readerDone) {
          this.#pull(stream);
          return false;
        }
        this.#out.data(stream.id, EMPTY, 0, 0, true);
        stream.reader = null;
        this.#localEnd(stream);
        return true;
      }
      const chunk = stream.chunks[0]!;
      const n = Math.min(chunk.length - stream.offset, room);
      if (n <= 0) return false;
      const last = stream.offset + n === chunk.length && stream.chunks.length === 1 && stream.readerDone;
      this.#out.data(stream.id, chunk, stream.offset, stream.offset + n, last);
      this.#spend(stream, n);
      stream.offset += n;
      stream.chunkBytes -= n;
      if (stream.offset === chunk.length) {
        stream.chunks.shift();
        stream.offset = 0;
      }
      if (last) {
        stream.reader = null;
        this.#localEnd(stream);
      } else this.#pull(stream);
      return true;
    }
    return false;
  }

  #spend(stream: Stream, n: number): void {
    stream.bodySent += n; // every DATA payload composed passes here
    stream.sendWindow -= n;
    this.#connSendWindow -= n;
  }

  /** Asks a streamed body for its next chunk, unless one is asked for or enough is buffered. */
  #pull(stream: Stream): void {
    const reader = stream.reader;
    if (!reader || stream.reading || stream.readerDone || stream.chunkBytes >= STREAM_BUFFER_BYTES) return;
    stream.reading = true;
    reader.read().then(
      ({ done, value }) => {
        stream.reading = false;
        if (stream.reader !== reader) return; // released meanwhile
        if (done) stream.readerDone = true;
        else if (!(value instanceof Uint8Array)) {
          return this.#streamFailed(
            stream,
            new TypeError("A response stream produced something other than bytes"),
          );
        } else if (value.length > 0) {
          stream.chunks.push(value);
          stream.chunkBytes += value.length;
        }
        this.#later();
      },
      (e) => {
        stream.reading = false;
        if (stream.reader === reader) this.#streamFailed(stream, e);
      },
    );
  }

  #streamFailed(stream: Stream, reason: unknown): void {
    countError(this.#stats, "stream");
    console.error(`Response stream failed: ${reason instanceof Error ? reason.message : String(reason)}`);
    this.#reset(stream, H2_ERROR.INTERNAL_ERROR);
    this.#later();
  }

  /** Our last frame of a stream was composed (END_STREAM). */
  #localEnd(stream: Stream): void {
    stream.state = nextState(stream.state, STREAM_EVENT.SEND_END_STREAM)!;
    const index = this.#sending.indexOf(stream);
    if (index >= 0) this.#sending.splice(index, 1);
    this.#finishing.push(stream);
    if (stream.state === STREAM_STATE.CLOSED) return this.#forget(stream);
    // §8.1: the answer is complete before the request is; a body nobody reads is not awaited.
    if (!stream.body || !stream.body.claimed || stream.body.dropped) {
      stream.state = STREAM_STATE.CLOSED;
      this.#out.rstStream(stream.id, H2_ERROR.NO_ERROR);
      this.#forget(stream);
    }
  }

  /** A closed stream leaves the table (its response, if any, is finishing). */
  #forget(stream: Stream): void {
    if (!this.#streams.delete(stream.id)) return;
    this.#held -= stream.held;
    stream.held = 0;
  }

  /** Resets a stream (RST_STREAM with `code`) and releases it. */
  #reset(stream: Stream, code: number): void {
    if (!this.#streams.has(stream.id)) return;
    stream.state = nextState(stream.state, STREAM_EVENT.SEND_RST_STREAM) ?? STREAM_STATE.CLOSED;
    this.#controlFrame(() => this.#control.rstStream(stream.id, code));
    this.#release(stream);
  }

  /** Resets a stream we keep nothing for. */
  #resetId(id: number, code: number): void {
    const stream = this.#streams.get(id);
    if (stream) return this.#reset(stream, code);
    this.#controlFrame(() => this.#control.rstStream(id, code));
  }

  /** Lets go of everything a stream holds; its response, unless complete, ended badly. */
  #release(stream: Stream): void {
    this.#forget(stream);
    stream.state = STREAM_STATE.CLOSED;
    stream.body?.fail(STREAM_RESET);
    for (const list of [this.#ready, this.#sending]) {
      const i = list.indexOf(stream);
      if (i >= 0) list.splice(i, 1);
    }
    if (!this.#finishing.includes(stream)) {
      stream.request?.observer?.responseDone(false);
      if (stream.headersSent) this.#ended(stream, false); // reset, or its connection closed
    }
    this.#releaseResponse(stream);
  }

  #releaseResponse(stream: Stream): void {
    stream.bytes = null;
    stream.chunks = [];
    stream.chunkBytes = 0;
    if (stream.reader) {
      stream.reader.cancel().catch(() => {});
      stream.reader = null;
    } else if (!stream.headersSent && stream.response?.body instanceof ReadableStream) {
      stream.response.body.cancel().catch(() => {});
    }
    if (this.#fileTail !== stream) this.#closeFile(stream);
  }

  /** Closes a stream's file, once. */
  #closeFile(stream: Stream): void {
    const body = stream.file;
    stream.file = null;
    if (!body) return;
    body.close();
    this.#stats.filesOpen--;
    this.#options.onFileClosed?.();
  }

  // ---- output --------------------------------------------------------------------------------

  /**
   * Appends a control frame, unless the peer has let too many pile up unread: then the frame is
   * dropped and the connection ends at the next flush (this may run inside a promise callback).
   */
  #controlFrame(append: () => void): void {
    if (this.#control.length > MAX_CONTROL_BYTES) {
      if (!this.#overflow) countError(this.#stats, "h2 control frames unread");
      this.#overflow = true;
      return;
    }
    append();
  }

  /** Composes and writes until done or the socket is full; then settles. */
  #flush(): void {
    if (this.#flushing || this.#phase === "closed") return;
    this.#flushing = true;
    try {
      for (;;) {
        this.#again = false;
        if (this.#overflow) throw new H2Error(H2_ERROR.ENHANCE_YOUR_CALM, "Control frames unread");
        if (this.#options.draining() && this.#drainStep === 0) this.#startDrain();
        const result = this.#write();
        if (result === WRITE.FAILED) return this.close();
        this.#blocked = result === WRITE.BLOCKED;
        if (this.closed) return; // #write may have ended the session
        if (!this.#again) break;
      }
    } catch (e) {
      if (e instanceof H2Error) return this.#fail(e);
      throw e;
    } finally {
      this.#flushing = false;
    }
    if (this.#shouldClose()) return this.close();
    this.#settle();
  }

  /** Whether the session has nothing left to do: a drain done, the peer gone away, or left. */
  #shouldClose(): boolean {
    if (this.pendingBytes > 0 || this.#streams.size > 0) return false;
    return this.#drainStep === 2 || this.#peerGoaway || this.#peerClosed;
  }

  /** Writes `#out`, the file tail, then composes more: WRITE.DONE, BLOCKED or FAILED. */
  #write(): number {
    const transport = this.#transport;
    for (let progress = false;;) {
      const out = this.#out;
      if (out.length > this.#outStart) {
        const n = transport.write(out.bytes.subarray(this.#outStart), out.length - this.#outStart);
        if (n < 0) return this.#writeFailed(n, progress);
        this.#stats.bytesOut += n;
        this.#outStart += n;
        progress = true;
        if (this.#outStart < out.length) continue;
        out.length = 0;
        this.#outStart = 0;
      }
      const tail = this.#fileTail;
      if (tail !== null) {
        const file = tail.file!;
        const n = transport.sendfile(file.fileFd, tail.fileOffset, this.#fileTailLeft);
        if (n <= 0) return this.#writeFailed(n === 0 ? IO.EPIPE : n, progress); // 0: the file shrank
        this.#stats.bytesOut += n;
        progress = true;
        tail.fileOffset += n;
        tail.fileLeft -= n;
        this.#fileTailLeft -= n;
        if (this.#fileTailLeft > 0) continue;
        this.#fileTail = null;
        const live = this.#streams.has(tail.id);
        if (!live || tail.fileLeft === 0) this.#closeFile(tail);
        if (live && tail.fileLeft === 0 && localOpen(tail.state)) this.#localEnd(tail);
      }
      // Everything composed so far is with the kernel: its finished responses are complete.
      if (this.#finishing.length > 0) this.#complete();
      if (progress && this.#phase === "writing") this.#timer.arm(this.#options.writeTimeoutMs);
      if (!this.#compose()) return WRITE.DONE;
    }
  }

  #writeFailed(n: number, progress: boolean): number {
    if (progress && this.#phase === "writing") this.#timer.arm(this.#options.writeTimeoutMs);
    if (n === IO.EAGAIN) return WRITE.BLOCKED;
    // The peer reset or closed: the client left, the server did not fail.
    if (n === IO.EPIPE) countClientLeft(this.#stats, "EPIPE");
    else if (n === IO.ECONNRESET) countClientLeft(this.#stats, "ECONNRESET");
    else countError(this.#stats, `write errno ${-n}`);
    return WRITE.FAILED;
  }

  /** Fills `#out` with control frames, response heads and body frames. @returns whether it added any */
  #compose(): boolean {
    const out = this.#out;
    if (this.#control.length > 0) {
      out.append(this.#control.bytes, 0, this.#control.length);
      this.#control.length = 0;
      if (this.#control.bytes.length > 4096) this.#control = new FrameWriter(256);
    }
    for (let i = 0; i < this.#ready.length; i++) this.#encodeHead(this.#ready[i]!);
    this.#ready.length = 0;
    // Round-robin, one frame per stream per round, until the buffer is full or a file tail waits.
    const sending = this.#sending;
    while (out.length < OUTPUT_BYTES && this.#fileTail === null && sending.length > 0) {
      let moved = false;
      for (const stream of sending.slice()) { // a stream that ends leaves the list
        if (this.#fileTail !== null || out.length >= OUTPUT_BYTES) break;
        if (this.#appendData(stream)) moved = true;
      }
      if (!moved) break;
    }
    if (sending.length > 1) sending.push(sending.shift()!); // the next turn starts with the next stream
    return out.length > 0 || this.#fileTail !== null;
  }

  /** The responses composed before now have reached the kernel. */
  #complete(): void {
    for (const stream of this.#finishing) {
      stream.request?.observer?.responseDone(true);
      this.#ended(stream, true);
    }
    this.#finishing.length = 0;
  }

  /** Tells onComplete that a response whose head went out has ended, whole or not. */
  #ended(stream: Stream, complete: boolean): void {
    const completed = this.#options.onComplete;
    if (!completed) return;
    const done = DONE;
    done.head = stream.head;
    done.status = stream.status;
    done.bytes = stream.bodySent;
    done.ms = (this.#options.now?.() ?? performance.now()) - stream.started;
    done.complete = complete;
    completed(this as never, done); // see SessionOptions.onComplete
    done.head = null;
  }

  // ---- the connection's life ----------------------------------------------------------------

  /** Counts a frame in its flood bucket; past the bucket's limit, the connection ends. */
  #flood(kind: Flood): void {
    const now = this.#options.now?.() ?? performance.now();
    if (now - this.#floodSince >= FLOOD_INTERVAL_MS) {
      this.#floodSince = now;
      for (const k of FLOODS) this.#floodCounts[k] = 0;
    }
    if (++this.#floodCounts[kind] > FLOOD_LIMITS[kind]) {
      countError(this.#stats, `h2 flood ${kind}`);
      throw new H2Error(H2_ERROR.ENHANCE_YOUR_CALM, `Too many ${kind} frames`);
    }
  }

  /** A connection error: GOAWAY with its code, then close (RFC 9113 §5.4.1). */
  #fail(e: H2Error): void {
    if (this.#phase === "closed") return;
    if (e.code !== H2_ERROR.ENHANCE_YOUR_CALM) countError(this.#stats, `h2 ${errorName(e.code)}`);
    this.#goaway(e.code, e.message);
  }

  /** Sends GOAWAY (with what is owed before it, if the socket takes it now) and closes. */
  #goaway(code: number, debug: string): void {
    if (this.#fileTail === null) { // in the middle of a file's frame, nothing else can follow
      const out = this.#out;
      out.append(this.#control.bytes, 0, this.#control.length);
      this.#control.length = 0;
      out.goaway(this.#lastStreamId, code, debug);
      const n = this.#transport.write(out.bytes.subarray(this.#outStart), out.length - this.#outStart);
      if (n > 0) this.#stats.bytesOut += n;
    }
    this.close();
  }

  /** Begins a graceful drain (RFC 9113 §6.8): GOAWAY admitting every stream, then a PING. */
  #startDrain(): void {
    if (this.#drainStep !== 0 || this.#phase === "closed") return;
    this.#drainStep = 1;
    this.#control.goaway(MAX_STREAM_ID, H2_ERROR.NO_ERROR);
    this.#control.ping(false, DRAIN_PING, 0);
  }

  /** The drain's PING came back: streams the client opened meanwhile are known; the final GOAWAY. */
  #finishDrainGoaway(): void {
    this.#drainStep = 2;
    this.#goawayLastId = this.#lastStreamId;
    this.#controlFrame(() => this.#control.goaway(this.#lastStreamId, H2_ERROR.NO_ERROR));
  }

  /** The peer sent FIN: nothing more will come; what is ready is written, then the session closes. */
  #onPeerFin(): void {
    this.#peerClosed = true;
    if (this.#streams.size > 0) countError(this.#stats, "client left");
    for (const stream of [...this.#streams.values()]) this.#release(stream);
    this.#flush();
    if (this.#phase !== "closed") this.close();
  }

  /** The phase the facts put the session in. */
  #currentPhase(): SessionPhase {
    if (this.#blocked || this.#stalled() !== null) return "writing";
    if (!this.#settingsSeen || this.#blockStream !== 0) return "head";
    if (this.#streams.size === 0) return this.#leftover !== null ? "head" : "idle";
    for (const stream of this.#streams.values()) {
      // A stream whose window we hold shut waits for its reader, not for the client.
      if (stream.response !== null || !remoteOpen(stream.state) || stream.recvWindow <= 0) return "busy";
    }
    return "body"; // every stream waits for its request body
  }

  /** A stream that has bytes to send and no window to send them in, or null. */
  #stalled(): Stream | null {
    for (const stream of this.#sending) {
      if (stream.sendWindow <= 0 || this.#connSendWindow <= 0) {
        if (stream.bytes !== null || stream.file !== null || stream.chunks.length > 0) return stream;
      }
    }
    return null;
  }

  /** Puts the session in the phase its facts say, arming that phase's deadline; sets the interest. */
  #settle(): void {
    if (this.#phase === "closed") return;
    const phase = this.#currentPhase();
    // The idle and head deadlines belong to one request each: a new request restarts them.
    const perRequest = phase === "idle" || phase === "head";
    if (phase !== this.#phase || (perRequest && this.#armedFor !== this.#requests)) this.#enter(phase);
    this.#transport.setInterest(!this.#blocked && !this.#peerClosed, this.#blocked);
  }

  #enter(phase: SessionPhase): void {
    this.#phase = phase;
    this.#armedFor = this.#requests;
    switch (phase) {
      case "head":
        return this.#timer.arm(this.#options.headerTimeoutMs);
      case "idle":
        return this.#timer.arm(this.#options.idleTimeoutMs);
      case "body":
        return this.#timer.arm(this.#options.bodyTimeoutMs);
      case "writing":
        return this.#timer.arm(this.#options.writeTimeoutMs);
      default:
        return this.#timer.disarm();
    }
  }

  #onTimeout(): void {
    if (this.#phase === "closed") return;
    switch (this.#phase) {
      case "head":
        countError(this.#stats, "header timeout");
        return this.#goaway(H2_ERROR.NO_ERROR, "header timeout");
      case "idle":
        return this.#goaway(H2_ERROR.NO_ERROR, "");
      case "body": {
        countError(this.#stats, "body timeout");
        // RFC 9110 §15.5.9: 408 for each request whose body stalled.
        const error = new HttpError(STATUS.REQUEST_TIMEOUT, "Request Timeout");
        for (const stream of this.#streams.values()) {
          if (!remoteOpen(stream.state)) continue;
          stream.body?.fail(error);
          this.#override(stream, error);
        }
        return this.#flush();
      }
      case "writing": {
        countError(this.#stats, "write timeout");
        if (this.#blocked) return this.close();
        // A peer that never opens its window: its stalled streams are reset, their bytes freed.
        for (let stream = this.#stalled(); stream !== null; stream = this.#stalled()) {
          countError(this.#stats, "h2 window stalled");
          this.#reset(stream, H2_ERROR.CANCEL);
        }
        this.#phase = "busy";
        return this.#flush();
      }
    }
  }
}

// ---- helpers ---------------------------------------------------------------------------------

const WRITE = { DONE: 0, BLOCKED: 1, FAILED: 2 } as const;
const EMPTY = new Uint8Array(0);
/** One buffer for encoding response heads (one at a time). */
const BLOCK = new FrameWriter(1024);

function isDrainPing(buf: Uint8Array, start: number): boolean {
  for (let i = 0; i < 8; i++) if (buf[start + i] !== DRAIN_PING[i]) return false;
  return true;
}

function isFileBody(body: unknown): body is FileBody {
  return typeof body === "object" && body !== null && "kind" in body && (body as FileBody).kind === "file";
}

/** Releases a response nobody will send (its stream is gone): its file or stream. */
function releaseResponse(response: HttpResponse): void {
  const body = response.body;
  if (body instanceof ReadableStream) body.cancel().catch(() => {});
  else if (isFileBody(body)) body.close();
}

const STATUS_TEXT: string[] = [];
function statusText(status: number): string {
  return STATUS_TEXT[status] ??= String(status);
}

let dateSecond = -1, dateText = "";
/** RFC 9110 §6.6.1's Date, made once a second. */
function httpDate(): string {
  const second = Math.floor(wallClock() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/** Pre-encoded fields (encodeFields) as names and values, read back once per buffer (files repeat theirs). */
const ENCODED = new WeakMap<Uint8Array, string[]>();
function encodedFields(bytes: Uint8Array): string[] {
  let fields = ENCODED.get(bytes);
  if (!fields) ENCODED.set(bytes, fields = decodeFields(bytes));
  return fields;
}

function addFields(fields: string[], more: readonly string[]): void {
  for (let i = 0; i + 1 < more.length; i += 2) addField(fields, more[i]!, more[i + 1]!);
}

/** Adds a handler's field, its name lower-cased, leaving out HTTP/1.1's connection fields (RFC 9113 §8.2.2). */
function addField(fields: string[], name: string, value: string): void {
  const lower = hasUpper(name) ? name.toLowerCase() : name;
  if (DROPPED_RESPONSE_FIELDS.has(lower)) return;
  fields.push(lower, value);
}

function hasUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

function errorName(code: number): string {
  for (const [name, value] of Object.entries(H2_ERROR)) if (value === code) return name;
  return `error ${code}`;
}

/** The report onComplete is given, reused (it keeps nothing of it). */
const DONE: ResponseDone = { head: null, status: 0, bytes: 0, ms: 0, complete: false };

/** Counts a refused request by its status; a 5xx is counted when its head is encoded. */
function countRefusal(stats: ConnectionStats, status: number): void {
  if (status < 500) countError(stats, `http ${status}`);
}
