// The per-connection HTTP/1.1 state machine: read until CRLFCRLF, frame bodies exactly, run
// the handler, and write responses in request order, batching pipelined ones into one write.
// Idle connections hold no buffers: input and output go through shared buffers and only a
// partial request or a short write is copied into memory the connection owns.

import { INCOMPLETE, parseRequestHead, RequestHead } from "./parser.ts";
import { ChunkedDecoder } from "./chunked.ts";
import { HttpError, STATUS } from "./status.ts";
import { encodeBody, encodeHead, FRAMING, OutputBuffer } from "./writer.ts";
import type { Body, Deadlines, FileBody, Handler, HttpRequest, HttpResponse, Transport } from "./types.ts";
import { IO } from "./types.ts";
import { Timer } from "../loop/timers.ts";

/** Shared read buffer: one read takes at most this much, so a connection's input is bounded. */
export const READ_BUFFER_BYTES = 64 * 1024;
/** Encoded responses are flushed once the shared output passes this, bounding its growth. */
const OUTPUT_FLUSH_BYTES = 64 * 1024;
/** Bodies up to this size are copied behind their head (one write); larger ones go alone. */
const COPY_BODY_BYTES = 16 * 1024;
/** A lingering close waits at most this long for the peer's FIN (RFC 9112 §9.6). */
const LINGER_MS = 2000;
/** sendfile(2) count per call: 2^30 stays far below the kernel's 0x7ffff000 cap. */
const SENDFILE_CHUNK = 1 << 30;
/**
 * A body the handler does not read is read and dropped up to this size, so the connection can
 * carry the next request; a longer one ends the connection after the answer (RFC 9112 §9.6).
 * Reading 256 KiB costs less than a new connection's handshake (Go's net/http draws the same
 * line), and nothing is kept meanwhile.
 */
export const DISCARD_MAX_BYTES = 256 * 1024;

const READ_BUF = new Uint8Array(READ_BUFFER_BYTES);
const OUT = new OutputBuffer(OUTPUT_FLUSH_BYTES + 16 * 1024);
const EMPTY = new Uint8Array(0);
const CONTINUE_100 = encodeBody("HTTP/1.1 100 Continue\r\n\r\n");

/** Limits and hooks every connection of a server shares. */
export interface ConnectionOptions {
  handler: Handler;
  /**
   * Whether the handler reads request bodies. When false it is called as soon as the head is
   * complete, with an empty body, and the body is dropped as it arrives (never kept).
   */
  readBodies: boolean;
  /**
   * Request-body bytes held in memory by all the connections of a server, and their bound:
   * a body that would pass it is refused with 503, so stalled uploads cannot fill memory.
   */
  bodyMemory: { used: number; limit: number };
  deadlines: Deadlines;
  /** Largest request body accepted (413 beyond). */
  maxBodyBytes: number;
  /** Time to receive a complete head once a request has begun (408 after). */
  headerTimeoutMs: number;
  /** Time an idle keep-alive connection is kept. */
  idleTimeoutMs: number;
  /** Time a request body may stall between reads. */
  bodyTimeoutMs: number;
  /** Time a response may make no progress because the client does not read. */
  writeTimeoutMs: number;
  /** Responses queued (pipelining) before the connection stops reading. */
  maxPipelined: number;
  /** Counters; the connection only adds to them. */
  stats: ConnectionStats;
  /** Whether new responses must carry `Connection: close` (the server is draining). */
  draining: () => boolean;
  /** Called once per response when its last byte is queued to the kernel. */
  onResponse?: (conn: Connection, head: RequestHead | null, status: number, bytes: number) => void;
  /** Called once when the connection closes. */
  onClose?: (conn: Connection) => void;
  /** Called when a file a response held is closed (`stats.filesOpen` went down). */
  onFileClosed?: () => void;
}

/** Counters shared by the connections of one server. */
export interface ConnectionStats {
  requests: number;
  bytesIn: number;
  bytesOut: number;
  /** Files held open by responses (each is a descriptor beside the connection's own). */
  filesOpen: number;
  errors: Record<string, number>;
}

/** Adds one to the error counter `kind`. */
export function countError(stats: ConnectionStats, kind: string): void {
  stats.errors[kind] = (stats.errors[kind] ?? 0) + 1;
}

const STATE = {
  HEAD: 0,
  BODY: 1,
  /** No more requests will be read (Connection: close, error, peer FIN). */
  DONE_READING: 2,
  /** Response sent, FIN sent, discarding input until the peer's FIN (lingering close). */
  LINGER: 3,
  CLOSED: 4,
} as const;

const TIMER = { NONE: 0, HEADER: 1, IDLE: 2, BODY: 3, WRITE: 4, LINGER: 5 } as const;

interface Slot {
  head: RequestHead | null;
  response: HttpResponse | null;
  isHead: boolean;
  /** The connection closes after this response. */
  close: boolean;
  keepAlive10: boolean;
}

function statusResponse(status: number, message: string): HttpResponse {
  const retry = status === STATUS.SERVICE_UNAVAILABLE ? ["Retry-After", "1"] : []; // RFC 9110 §10.2.3
  return {
    status,
    headers: ["Content-Type", "text/plain; charset=utf-8", ...retry],
    body: `${status} ${message}\n`,
  };
}

function concatChunks(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]!.length === length) return chunks[0]!;
  const out = new Uint8Array(length);
  let off = 0;
  for (const chunk of chunks) {
    out.set(chunk, off);
    off += chunk.length;
  }
  return out;
}

function bodyLength(body: Body | undefined): number {
  if (body == null) return 0;
  if (typeof body === "string") return -2; // encoded later
  if (body instanceof Uint8Array) return body.length;
  if (body instanceof ReadableStream) return -1;
  return body.length;
}

/**
 * Whether a response keeps a file open until it is sent. Reading stops behind such a response
 * (resuming once it is written), so a client that pipelines many file requests holds one file
 * descriptor at a time, not one per request.
 */
function holdsFile(response: HttpResponse): boolean {
  const body = response.body;
  return typeof body === "object" && body !== null && "kind" in body;
}

/** One client connection. The server calls onReadable/onWritable from the reactor. */
export class Connection {
  #t: Transport;
  #o: ConnectionOptions;
  #state: number = STATE.HEAD;
  #leftover: Uint8Array | null = null;
  // Request body being received
  #head: RequestHead | null = null;
  // A Content-Length body grows with what arrives (never allocated up front from the header).
  #bodyChunks: Uint8Array[] = [];
  #bodyFilled = 0;
  #bodyLength = 0;
  #chunked: ChunkedDecoder | null = null;
  /** The request was answered from its head; its body is being read and dropped. */
  #discarding = false;
  /** Body bytes this connection holds, charged to `bodyMemory`. */
  #charged = 0;
  // Responses in request order; the first is the one being written or awaited.
  #queue: Slot[] = [];
  // Output not yet accepted by the kernel, in order: pending bytes, a large body, a file.
  #pending: Uint8Array | null = null;
  #pendingOff = 0;
  #chunk: Uint8Array | null = null;
  #chunkOff = 0;
  #file: FileBody | null = null;
  #fileSent = 0;
  #stream: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #streamBusy = false;
  #closeAfter = false;
  #readPaused = false;
  #wantWrite = false;
  #peerClosed = false;
  #timer: Timer;
  #timerKind: number = TIMER.NONE;
  #flushing = false;
  #unreadInput = false;

  /**
   * @param transport the socket, seen through read/write/sendfile
   * @param options limits, handler and hooks shared by the server's connections
   */
  constructor(transport: Transport, options: ConnectionOptions) {
    this.#t = transport;
    this.#o = options;
    this.#timer = new Timer(() => this.#onTimeout());
    this.#setTimer(TIMER.HEADER, options.headerTimeoutMs);
  }

  /** The client's address, for logs. */
  get remoteAddress(): string {
    return this.#t.remoteAddress();
  }

  /** Whether the connection has been closed. */
  get closed(): boolean {
    return this.#state === STATE.CLOSED;
  }

  /** Whether no request is in progress: nothing buffered, queued or being written. */
  get idle(): boolean {
    return this.#state === STATE.HEAD && !this.#leftover && this.#queue.length === 0 && this.#drained();
  }

  #setTimer(kind: number, ms: number): void {
    this.#timerKind = kind;
    this.#o.deadlines.arm(this.#timer, ms);
  }

  /** Reactor callback: the socket is readable (or has an error / hang-up pending). */
  onReadable(): void {
    if (this.#state === STATE.CLOSED) return;
    const buf = READ_BUF;
    let filled = 0;
    const leftover = this.#leftover;
    if (leftover) {
      buf.set(leftover);
      filled = leftover.length;
      this.#leftover = null;
    }
    const n = this.#t.read(filled ? buf.subarray(filled) : buf, buf.length - filled);
    if (n < 0) {
      if (leftover) this.#leftover = leftover;
      if (n === IO.EAGAIN) return;
      countError(this.#o.stats, n === IO.ECONNRESET ? "ECONNRESET" : `read errno ${-n}`);
      this.close();
      return;
    }
    if (n === 0) {
      this.#onPeerFin();
      return;
    }
    this.#o.stats.bytesIn += n;
    if (this.#state === STATE.LINGER || this.#state === STATE.DONE_READING) {
      this.#unreadInput = true; // input after the last request: close with a linger
      return;
    }
    if (this.#timerKind === TIMER.IDLE) this.#setTimer(TIMER.HEADER, this.#o.headerTimeoutMs);
    else if (this.#timerKind === TIMER.BODY) this.#setTimer(TIMER.BODY, this.#o.bodyTimeoutMs);
    this.#consume(buf, filled + n);
    this.#flush();
  }

  /** The peer sent FIN. A half-closed client still gets every answer it asked for. */
  #onPeerFin(): void {
    this.#peerClosed = true;
    this.#leftover = null; // a request cut short by FIN can never complete
    if (this.#state === STATE.LINGER || (this.#queue.length === 0 && this.#drained())) {
      this.close();
      return;
    }
    this.#state = STATE.DONE_READING;
    this.#closeAfter = true;
    this.#updateInterest();
  }

  /** Parses and dispatches every complete request in `buf[0, end)`; keeps the rest. */
  #consume(buf: Uint8Array, end: number): void {
    let p = 0;
    try {
      while (p < end && !this.#readPaused) {
        if (this.#state === STATE.HEAD) {
          const head = new RequestHead();
          const used = parseRequestHead(buf, p, end, head);
          if (used === INCOMPLETE) break;
          p += used;
          this.#startRequest(head, p, end);
        } else if (this.#state === STATE.BODY) {
          p += this.#feedBody(buf, p, end);
        } else {
          this.#unreadInput = true; // DONE_READING: what follows is ignored, then lingered on
          return;
        }
      }
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      countError(this.#o.stats, `http ${e.status}`);
      // A body being dropped has its answer already: a second one would answer nothing.
      if (this.#discarding) this.#abandonInput();
      else this.#failRequest(e.status, e.message);
      return;
    }
    if (p < end) {
      this.#leftover = buf.slice(p, end);
      if (this.#state === STATE.HEAD && this.#queue.length === 0) {
        if (this.#timerKind !== TIMER.HEADER) this.#setTimer(TIMER.HEADER, this.#o.headerTimeoutMs);
      }
    }
  }

  #startRequest(head: RequestHead, p: number, end: number): void {
    if (!head.chunked && head.contentLength <= 0) {
      this.#dispatch(head, EMPTY);
      return;
    }
    if (!this.#o.readBodies) return this.#answerBeforeBody(head);
    if (head.chunked) {
      this.#chunked = new ChunkedDecoder(this.#o.maxBodyBytes);
    } else {
      if (head.contentLength > this.#o.maxBodyBytes) {
        throw new HttpError(STATUS.CONTENT_TOO_LARGE, "Request body too large");
      }
      this.#bodyLength = head.contentLength;
      this.#bodyFilled = 0;
    }
    this.#head = head;
    this.#state = STATE.BODY;
    this.#setTimer(TIMER.BODY, this.#o.bodyTimeoutMs);
    // RFC 9110 §10.1.1: answer 100 only when the body has not started arriving and no earlier
    // response is still owed (an interim response may not overtake them).
    if (head.expectContinue && p === end && this.#queue.length === 0 && !this.#pending) {
      const n = this.#t.write(CONTINUE_100, CONTINUE_100.length);
      if (n > 0) this.#o.stats.bytesOut += n;
    }
  }

  /**
   * The handler does not read bodies: it answers from the head, at once, and the body is read
   * and dropped as it arrives so the connection can carry the next request. A body longer than
   * DISCARD_MAX_BYTES, or one the client holds back until a 100 (Continue) that will not come
   * (RFC 9110 §10.1.1), is not worth waiting for: the connection closes after the answer.
   */
  #answerBeforeBody(head: RequestHead): void {
    this.#dispatch(head, EMPTY);
    if (this.#state === STATE.DONE_READING) { // the request asked to close: the body is moot
      this.#unreadInput = true;
      return;
    }
    if (head.expectContinue || (!head.chunked && head.contentLength > DISCARD_MAX_BYTES)) {
      this.#abandonInput();
      return;
    }
    this.#discarding = true;
    if (head.chunked) this.#chunked = new ChunkedDecoder(DISCARD_MAX_BYTES, false);
    else {
      this.#bodyLength = head.contentLength;
      this.#bodyFilled = 0;
    }
    this.#head = head;
    this.#state = STATE.BODY;
    this.#setTimer(TIMER.BODY, this.#o.bodyTimeoutMs);
  }

  /** @returns bytes of body consumed from `buf[p, end)` */
  #feedBody(buf: Uint8Array, p: number, end: number): number {
    const head = this.#head!;
    let used: number;
    if (this.#chunked) {
      const before = this.#chunked.length;
      used = this.#chunked.feed(buf, p, end);
      this.#charge(this.#chunked.length - before);
      if (!this.#chunked.done) return used;
      const body = this.#chunked.body;
      this.#chunked = null;
      this.#finishBody(head, body);
    } else {
      used = Math.min(end - p, this.#bodyLength - this.#bodyFilled);
      if (!this.#discarding) {
        this.#charge(used);
        this.#bodyChunks.push(buf.slice(p, p + used));
      }
      this.#bodyFilled += used;
      if (this.#bodyFilled < this.#bodyLength) return used;
      this.#finishBody(head, this.#discarding ? EMPTY : concatChunks(this.#bodyChunks, this.#bodyLength));
    }
    return used;
  }

  /**
   * Counts `n` more body bytes held against the server-wide budget.
   * @throws {HttpError} 503 when the budget is spent (other uploads hold it; retry later)
   */
  #charge(n: number): void {
    if (this.#discarding || n === 0) return;
    const memory = this.#o.bodyMemory;
    if (memory.used + n > memory.limit) {
      throw new HttpError(STATUS.SERVICE_UNAVAILABLE, "Too many request bodies in progress; try again later");
    }
    memory.used += n;
    this.#charged += n;
  }

  /** Drops the body being received and gives its bytes back to the budget. */
  #dropBody(): void {
    this.#head = null;
    this.#chunked = null;
    this.#bodyChunks = [];
    this.#discarding = false;
    this.#o.bodyMemory.used -= this.#charged;
    this.#charged = 0;
  }

  #finishBody(head: RequestHead, body: Uint8Array): void {
    const answered = this.#discarding;
    this.#dropBody(); // the handler owns the bytes from here on
    this.#state = STATE.HEAD;
    if (!answered) this.#dispatch(head, body);
  }

  /**
   * Reads no further: the request in progress has its answer, but where the next one begins
   * cannot be known (its body's framing is in doubt) or is not worth reading. The connection
   * closes after the answers it owes.
   */
  #abandonInput(): void {
    this.#dropBody();
    this.#leftover = null;
    this.#unreadInput = true;
    this.#state = STATE.DONE_READING;
    this.#closeAfter = true;
    const last = this.#queue[this.#queue.length - 1];
    if (last) last.close = true;
  }

  /** Runs the handler; its response takes the request's place in the queue. */
  #dispatch(head: RequestHead, body: Uint8Array): void {
    const stats = this.#o.stats;
    stats.requests++;
    const close = !head.keepAlive || this.#o.draining();
    const slot: Slot = {
      head,
      response: null,
      isHead: head.method === "HEAD",
      close,
      keepAlive10: head.minor === 0 && !close,
    };
    this.#queue.push(slot);
    if (close) this.#state = STATE.DONE_READING;
    if (this.#queue.length >= this.#o.maxPipelined) this.#pauseReading();
    this.#timerKind = TIMER.NONE;
    const request: HttpRequest = { head, body };
    let result: HttpResponse | Promise<HttpResponse>;
    try {
      result = this.#o.handler(request);
    } catch (e) {
      result = this.#handlerFailed(e);
    }
    if (result instanceof Promise) {
      result.then(
        (response) => this.#resolve(slot, response),
        (e) => this.#resolve(slot, this.#handlerFailed(e)),
      );
    } else {
      this.#take(slot, result);
    }
  }

  /**
   * Puts a handler's response in its slot. A response that holds a file counts towards the
   * server's descriptors until the file is closed, and reading stops behind it (holdsFile).
   */
  #take(slot: Slot, response: HttpResponse): void {
    slot.response = response;
    if (holdsFile(response)) {
      this.#o.stats.filesOpen++;
      this.#pauseReading();
    }
  }

  /** Closes a file a response held, once, and gives its descriptor back to the server's count. */
  #closeFile(file: FileBody): void {
    file.close();
    this.#o.stats.filesOpen--;
    this.#o.onFileClosed?.();
  }

  /** Releases what a taken response holds (an open file, a stream) when it will never be sent. */
  #discard(response: HttpResponse | null): void {
    const body = response?.body;
    if (body instanceof ReadableStream) body.cancel().catch(() => {});
    else if (response && holdsFile(response)) this.#closeFile(body as FileBody);
  }

  #handlerFailed(e: unknown): HttpResponse {
    countError(this.#o.stats, "handler");
    console.error(`Handler failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    return statusResponse(STATUS.INTERNAL_SERVER_ERROR, "Internal Server Error");
  }

  #resolve(slot: Slot, response: HttpResponse): void {
    if (this.#state === STATE.CLOSED) {
      // Never taken, so never counted: release it directly.
      const body = response.body;
      if (body instanceof ReadableStream) body.cancel().catch(() => {});
      else if (holdsFile(response)) (body as FileBody).close();
      return;
    }
    this.#take(slot, response);
    if (this.#queue[0] === slot) this.#flush();
  }

  /** Answers a request that cannot be parsed, then closes (its framing is in doubt). */
  #failRequest(status: number, message: string): void {
    this.#unreadInput = true; // the rest of what the client sent is unknown
    this.#dropBody();
    this.#leftover = null;
    this.#state = STATE.DONE_READING;
    this.#queue.push({
      head: null,
      response: statusResponse(status, message),
      isHead: false,
      close: true,
      keepAlive10: false,
    });
  }

  #pauseReading(): void {
    if (this.#readPaused) return;
    this.#readPaused = true;
    this.#updateInterest();
  }

  #updateInterest(): void {
    const read = !this.#readPaused && !(this.#state === STATE.DONE_READING && this.#peerClosed);
    this.#t.setInterest(read, this.#wantWrite);
  }

  /** Reactor callback: the socket accepts more output. */
  onWritable(): void {
    if (this.#state === STATE.CLOSED) return;
    this.#flush();
  }

  /**
   * Encodes every ready response (in order) and writes until done or the socket is full.
   * Pipelined responses accumulate in the shared output buffer and leave in one write.
   */
  #flush(): void {
    if (this.#flushing || this.#state === STATE.CLOSED) return;
    this.#flushing = true;
    try {
      while (this.#flushLoop() && this.#afterDrain());
    } finally {
      this.#flushing = false;
    }
  }

  /** Whether no output is held back (pending bytes, a large body, a file or a stream). */
  #drained(): boolean {
    return !this.#pending && !this.#chunk && !this.#file && !this.#stream;
  }

  /** @returns true when everything encodable was written, false when waiting or closed */
  #flushLoop(): boolean {
    for (;;) {
      if (!this.#drainPending()) {
        this.#waitWritable();
        return false;
      }
      if (this.#stream) {
        if (!this.#pumpStream()) return false;
        continue;
      }
      const out = OUT;
      out.length = 0;
      while (out.length < OUTPUT_FLUSH_BYTES && this.#drained()) {
        const slot = this.#queue[0];
        if (!slot?.response) break;
        this.#queue.shift();
        this.#encode(slot, out);
        if (slot.close) {
          this.#closeAfter = true;
          // Nothing after a closing response is ever answered (during a drain, pipelined
          // responses may already exist behind it: release what they hold).
          for (const dropped of this.#queue) this.#discard(dropped.response);
          this.#queue.length = 0;
          break;
        }
      }
      if (out.length === 0 && this.#drained()) return this.#state !== STATE.CLOSED;
      if (out.length > 0) {
        const n = this.#write(out.bytes, out.length);
        if (n < 0) return false;
        if (n < out.length) {
          this.#pending = out.bytes.slice(n, out.length);
          this.#pendingOff = 0;
          this.#waitWritable();
          return false;
        }
      }
    }
  }

  /** write() with accounting; closes the connection on a hard error. */
  #write(buf: Uint8Array, length: number): number {
    const n = this.#t.write(buf, length);
    if (n >= 0) {
      this.#o.stats.bytesOut += n;
      if (n > 0 && this.#timerKind === TIMER.WRITE) this.#setTimer(TIMER.WRITE, this.#o.writeTimeoutMs);
      return n;
    }
    if (n === IO.EAGAIN) return 0;
    countError(
      this.#o.stats,
      n === IO.EPIPE ? "EPIPE" : n === IO.ECONNRESET ? "ECONNRESET" : `write errno ${-n}`,
    );
    this.close();
    return -1;
  }

  /**
   * Writes held output: a partial write's remainder, then a large body, then a file range.
   * @returns true when all of it has been accepted by the kernel
   */
  #drainPending(): boolean {
    while (this.#pending) {
      const left = this.#pending.length - this.#pendingOff;
      const n = this.#write(
        this.#pendingOff ? this.#pending.subarray(this.#pendingOff) : this.#pending,
        left,
      );
      if (n < 0) return false;
      if (n < left) {
        this.#pendingOff += n;
        return false;
      }
      this.#pending = null;
      this.#pendingOff = 0;
    }
    while (this.#chunk) {
      const left = this.#chunk.length - this.#chunkOff;
      const n = this.#write(this.#chunkOff ? this.#chunk.subarray(this.#chunkOff) : this.#chunk, left);
      if (n < 0) return false;
      if (n < left) {
        this.#chunkOff += n;
        return false;
      }
      this.#chunk = null;
      this.#chunkOff = 0;
    }
    const file = this.#file;
    while (file && this.#file) {
      const left = file.length - this.#fileSent;
      if (left === 0) {
        this.#file = null;
        this.#closeFile(file);
        break;
      }
      const n = this.#t.sendfile(file.fileFd, file.offset + this.#fileSent, Math.min(left, SENDFILE_CHUNK));
      if (n === IO.EAGAIN) return false;
      if (n <= 0) {
        // 0 means the file shrank under us: the promised length can no longer be kept.
        countError(
          this.#o.stats,
          n === 0 ? "file truncated" : n === IO.EPIPE ? "EPIPE" : `sendfile errno ${-n}`,
        );
        this.close();
        return false;
      }
      this.#o.stats.bytesOut += n;
      this.#fileSent += n;
      if (this.#timerKind === TIMER.WRITE) this.#setTimer(TIMER.WRITE, this.#o.writeTimeoutMs);
    }
    return this.#state !== STATE.CLOSED;
  }

  /**
   * Moves a streamed body forward: writes what the stream produced, asks for more.
   * @returns true when the stream is finished and flushing may go on
   */
  #pumpStream(): boolean {
    if (this.#streamBusy) return false;
    const reader = this.#stream!;
    this.#streamBusy = true;
    reader.read().then(
      ({ value, done }) => {
        this.#streamBusy = false;
        if (this.#state === STATE.CLOSED) return void reader.cancel().catch(() => {});
        if (done) {
          this.#stream = null;
          this.#chunk = encodeBody("0\r\n\r\n");
        } else if (value && value.length > 0) {
          const size = encodeBody(`${value.length.toString(16)}\r\n`);
          const frame = new Uint8Array(size.length + value.length + 2);
          frame.set(size);
          frame.set(value, size.length);
          frame[frame.length - 2] = 13;
          frame[frame.length - 1] = 10;
          this.#chunk = frame;
        }
        this.#flush();
      },
      (e) => {
        this.#streamBusy = false;
        // The head is gone already: the only honest signal left is to cut the connection.
        countError(this.#o.stats, "stream");
        console.error(`Response stream failed: ${e instanceof Error ? e.message : String(e)}`);
        this.close();
      },
    );
    return false;
  }

  /** Appends a response's head (and a small body) to `out`; larger bodies are held behind it. */
  #encode(slot: Slot, out: OutputBuffer): void {
    const response = slot.response!;
    let body = response.body ?? null;
    if (typeof body === "string") body = encodeBody(body);
    const status = response.status;
    const noBody = status < 200 || status === 204 || status === 304;
    let framing: number = FRAMING.LENGTH;
    let length = response.contentLength ?? bodyLength(body);
    if (noBody) framing = FRAMING.NONE;
    else if (length < 0) {
      // Streamed: chunked for HTTP/1.1; an HTTP/1.0 client learns the end when we close.
      if (slot.head && slot.head.minor === 0) {
        framing = FRAMING.NONE;
        slot.close = true;
      } else framing = FRAMING.CHUNKED;
      length = 0;
    }
    const close = slot.close || this.#o.draining();
    slot.close = close;
    const before = out.length;
    try {
      encodeHead(out, status, response.headers, {
        framing,
        contentLength: length,
        close,
        keepAlive10: slot.keepAlive10 && !close,
      });
    } catch (e) {
      out.length = before; // a handler's bad header: answer 500 instead
      this.#discard(response);
      slot.response = this.#handlerFailed(e);
      return this.#encode(slot, out);
    }
    let sent = 0; // body bytes, as the access log reports them
    const skipBody = slot.isHead || noBody;
    if (body instanceof Uint8Array) {
      if (!skipBody && body.length > 0) {
        if (body.length <= COPY_BODY_BYTES) out.append(body);
        else this.#chunk = body;
        sent += body.length;
      }
    } else if (body instanceof ReadableStream) {
      if (skipBody) body.cancel().catch(() => {});
      else this.#stream = body.getReader();
    } else if (body) {
      if (skipBody || body.length === 0) this.#closeFile(body);
      else {
        this.#file = body;
        this.#fileSent = 0;
        sent += body.length;
      }
    }
    this.#o.onResponse?.(this, slot.head, status, sent);
  }

  /**
   * Output is blocked: wait for EPOLLOUT and stop reading meanwhile, so a client that sends
   * faster than it reads holds at most one read of input and one flush of output.
   */
  #waitWritable(): void {
    if (this.#state === STATE.CLOSED) return;
    if (!this.#wantWrite || !this.#readPaused) {
      this.#wantWrite = true;
      this.#readPaused = true;
      this.#updateInterest();
    }
    if (this.#timerKind !== TIMER.WRITE) this.#setTimer(TIMER.WRITE, this.#o.writeTimeoutMs);
  }

  /**
   * Everything encodable is written: decide between waiting, reading more and closing.
   * @returns true when buffered requests were consumed and another flush pass is due
   */
  #afterDrain(): boolean {
    if (this.#closeAfter && this.#queue.length === 0) {
      this.#finish();
      return false;
    }
    const resume = this.#readPaused && this.#queue.length < this.#o.maxPipelined;
    if (this.#wantWrite || resume) {
      this.#wantWrite = false;
      if (resume) this.#readPaused = false;
      this.#updateInterest();
    }
    if (this.#state === STATE.HEAD) {
      if (this.#leftover) {
        // Part of the next request is here: it has the header timeout to complete, counted
        // from when it began, however many responses went out meanwhile.
        if (this.#timerKind !== TIMER.HEADER) this.#setTimer(TIMER.HEADER, this.#o.headerTimeoutMs);
      } else if (this.#queue.length === 0) {
        this.#setTimer(TIMER.IDLE, this.#o.idleTimeoutMs);
      } else {
        this.#timerKind = TIMER.NONE; // a handler is working; its response arms what follows
      }
    } else if (this.#state === STATE.BODY && this.#timerKind !== TIMER.BODY) {
      // A body still to come (one being dropped behind its answer, or the next one): the
      // write timer that covered the answer gives way to the body timer again.
      this.#setTimer(TIMER.BODY, this.#o.bodyTimeoutMs);
    } // in DONE_READING the write or linger timer rules
    if (resume && this.#leftover && this.#state !== STATE.LINGER) {
      // Requests read before the pause are still buffered: serve them without waiting for input.
      const rest = this.#leftover;
      this.#leftover = null;
      READ_BUF.set(rest);
      this.#consume(READ_BUF, rest.length);
      return true;
    }
    return false;
  }

  /**
   * Ends the connection after its last response. When the client may still be sending (an
   * error cut its request short, or bytes arrived after the last request), closing at once
   * would make the kernel answer those bytes with an RST that can destroy the response before
   * the client reads it; so send FIN and read until the peer's FIN, at most LINGER_MS
   * (RFC 9112 §9.6). Otherwise, as nginx does, close at once.
   */
  #finish(): void {
    if (this.#peerClosed || (!this.#unreadInput && !this.#leftover)) return this.close();
    this.#t.shutdownWrite();
    this.#state = STATE.LINGER;
    this.#readPaused = false;
    this.#wantWrite = false;
    this.#updateInterest();
    this.#setTimer(TIMER.LINGER, LINGER_MS);
  }

  #onTimeout(): void {
    switch (this.#timerKind) {
      case TIMER.HEADER:
      case TIMER.BODY:
        countError(this.#o.stats, this.#timerKind === TIMER.HEADER ? "header timeout" : "body timeout");
        // RFC 9110 §15.5.9: 408 tells the client the server closed an unfinished request;
        // a body being dropped behind its answer only ends the connection.
        if (this.#discarding) this.#abandonInput();
        else this.#failRequest(STATUS.REQUEST_TIMEOUT, "Request Timeout");
        this.#updateInterest();
        this.#flush();
        return;
      case TIMER.IDLE:
        this.close();
        return;
      case TIMER.WRITE:
        countError(this.#o.stats, "write timeout");
        this.close();
        return;
      case TIMER.LINGER:
        this.close();
        return;
    }
  }

  /** Closes at once when idle (graceful shutdown); returns whether it did. */
  closeIfIdle(): boolean {
    if (!this.idle || this.#state !== STATE.HEAD) return false;
    this.close();
    return true;
  }

  /** Closes the connection and releases everything it holds. Safe to call twice. */
  close(): void {
    if (this.#state === STATE.CLOSED) return;
    this.#state = STATE.CLOSED;
    this.#o.deadlines.remove(this.#timer);
    if (this.#file) this.#closeFile(this.#file);
    this.#file = null;
    this.#stream?.cancel().catch(() => {});
    this.#stream = null;
    for (const slot of this.#queue) this.#discard(slot.response);
    this.#queue.length = 0;
    this.#dropBody();
    this.#leftover = this.#pending = this.#chunk = null;
    this.#t.close();
    this.#o.onClose?.(this);
  }
}
