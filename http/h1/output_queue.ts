// The output of one connection not yet accepted by the kernel, in order: bytes, file ranges and
// streamed bodies, drained by one routine (libuv's stream write queue in spirit). The common
// case keeps nothing: a batch of responses written whole in one write never enters the queue.
// A stream is pumped by promise callbacks, so its work is bounded per turn of the reactor: past
// the allowance it waits for the next turn, and the other connections' events come first.

import type { FileBody, ResponseObserver, Transport } from "../types.ts";
import { IO } from "../types.ts";
import type { RequestHead } from "../request_head.ts";
import { currentBatch } from "../clock.ts";
import { keepShape } from "../shapes.ts";

/**
 * Removes the first element of a queue. A connection's queues usually hold one element, and
 * shift() of an array's only element frees its backing store, which the next push grows again
 * (31 ns a push and shift against 5.5 for a push and pop, measured 2026-12-06); pop() keeps it.
 */
export function takeFirst<T>(queue: T[]): void {
  if (queue.length === 1) queue.pop();
  else queue.shift();
}

/** sendfile(2) count per call: 2^30 stays far below the kernel's 0x7ffff000 cap. */
const SENDFILE_CHUNK = 1 << 30;
const CRLF = new Uint8Array([13, 10]);
const LAST_CHUNK = new TextEncoder().encode("0\r\n\r\n");
const ENCODER = new TextEncoder();

/**
 * Bytes a connection's stream may hand the socket per reactor turn. A stream whose chunks are
 * always ready (a generator piped through a TextEncoderStream) and a client that reads as fast
 * kept the reactor in promise callbacks until the download ended (2.7-3.8 s for 46 MiB, issue
 * 18): another client's GET waited as long. 256 KiB is ~0.1 ms of copying and writing; the next
 * turn costs ~3 µs (a macrotask and an epoll_wait).
 */
export const STREAM_TURN_BYTES = 256 * 1024;
/**
 * Chunks a connection's stream may deliver per reactor turn, for streams of small chunks (a CSV
 * row each), whose cost is per chunk (a few µs of promise hops and a write each): 64 keep a turn
 * well under a millisecond.
 */
export const STREAM_TURN_CHUNKS = 64;

/** What a drain achieved. */
export const DRAIN = {
  /** Everything queued was accepted by the kernel. */
  DONE: 0,
  /** The socket is full: wait for EPOLLOUT. */
  BLOCKED: 1,
  /** A stream's next chunk is not produced yet: `onStreamReady` will say when. */
  WAITING: 2,
  /** Writing failed, or a stream errored; the connection must close (see `failure`). */
  FAILED: 3,
} as const;
export type DrainResult = typeof DRAIN[keyof typeof DRAIN];

const BYTES = 0, FILE = 1, STREAM = 2, MARK = 3;

/** One piece of queued output. One shape for all kinds keeps the drain loop monomorphic. */
class Segment {
  /** Bytes left to write (BYTES; a STREAM's current framed chunk). */
  bytes: Uint8Array | null = null;
  offset = 0;
  file: FileBody | null = null;
  /** File bytes sent so far. */
  sent = 0;
  reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  chunked = false;
  reading = false;
  ended = false;
  error: unknown = null;
  /** STREAM: the request it answers, for the log when it fails. */
  request: RequestHead | null = null;
  /** MARK: told true when the drain reaches it, false if the queue closes first. */
  observer: ResponseObserver | null = null;
  constructor(readonly kind: number) {}
}

// Segments live only while output is queued; this one keeps the class's map (../shapes.ts).
keepShape(new Segment(BYTES));

/** What the queue tells the connection. */
export interface OutputHooks {
  /** A file segment is done with (sent, or dropped): close it. */
  fileDone(file: FileBody): void;
  /** A stream produced its next chunk (or ended, or failed): drain again. */
  streamReady(): void;
  /** A stream has spent this turn's allowance: call `resumeTurn` on the reactor's next turn. */
  nextTurn(): void;
}

/** A connection's pending output. */
export class OutputQueue {
  #transport: Transport;
  #hooks: OutputHooks;
  #segments: Segment[] = [];
  #closed = false;
  /** Bytes accepted by the kernel since the connection last took the count. */
  sent = 0;
  /** Why the last drain failed: `-errno` of a write, 0 for a file that shrank, or a stream's error. */
  failure: unknown = null;
  /** The request whose response stream failed (with `failure`), when a stream did. */
  failedRequest: RequestHead | null = null;
  /** The reactor batch the allowance below belongs to (currentBatch). */
  #turn = -1;
  #turnBytes = 0;
  #turnChunks = 0;
  /** The allowance is spent and `nextTurn` was asked for. */
  #deferred = false;

  /**
   * @param transport where the bytes go
   * @param hooks file release and stream wake-ups
   */
  constructor(transport: Transport, hooks: OutputHooks) {
    this.#transport = transport;
    this.#hooks = hooks;
  }

  /** Whether nothing is queued. */
  get empty(): boolean {
    return this.#segments.length === 0;
  }

  /**
   * Whether the queue waits for a stream to produce its next chunk (the application's turn); a
   * stream that waits for the reactor's next turn is not waiting on the application.
   */
  get waitingOnStream(): boolean {
    const first = this.#segments[0];
    return first?.kind === STREAM && first.reading;
  }

  /**
   * Bytes queued here that the kernel has not taken: bytes, file ranges, a stream's current
   * chunk (a stream's future chunks are unknown). Walks the queue: for the status page only.
   */
  pendingBytes(): number {
    let total = 0;
    for (const segment of this.#segments) {
      if (segment.file) total += segment.file.length - segment.sent;
      else if (segment.bytes) total += segment.bytes.length - segment.offset;
    }
    return total;
  }

  /**
   * Writes `buf[0, length)` after what is queued: at once when nothing is, keeping a copy of
   * what the kernel did not take.
   * @returns DONE when all of it was accepted, BLOCKED when some is queued, FAILED on an error
   */
  write(buf: Uint8Array, length: number): DrainResult {
    let off = 0;
    if (this.#segments.length === 0) {
      const n = this.#transport.write(buf, length);
      if (n === IO.EAGAIN) off = 0;
      else if (n < 0) return this.#fail(n);
      else off = n;
      this.sent += off;
      if (off === length) return DRAIN.DONE;
    }
    this.pushBytes(buf.slice(off, length));
    return DRAIN.BLOCKED;
  }

  /** Queues bytes the queue may keep (not a view of a reused buffer). */
  pushBytes(bytes: Uint8Array): void {
    const segment = new Segment(BYTES);
    segment.bytes = bytes;
    this.#segments.push(segment);
  }

  /** Queues a file range, sent with sendfile(2); the queue hands it to `fileDone` after. */
  pushFile(file: FileBody): void {
    const segment = new Segment(FILE);
    segment.file = file;
    this.#segments.push(segment);
  }

  /**
   * Queues a streamed body, read chunk by chunk as the socket takes them.
   * @param chunked frame the chunks (RFC 9112 §7.1) and end with the last chunk
   * @param request the request it answers, named when the stream fails
   */
  pushStream(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    chunked: boolean,
    request: RequestHead | null = null,
  ): void {
    const segment = new Segment(STREAM);
    segment.reader = reader;
    segment.chunked = chunked;
    segment.request = request;
    this.#segments.push(segment);
  }

  /** Queues a mark: `observer` hears true once everything queued before it is accepted. */
  pushObserver(observer: ResponseObserver): void {
    const segment = new Segment(MARK);
    segment.observer = observer;
    this.#segments.push(segment);
  }

  /**
   * Writes queued output in order until it is all accepted, the socket is full, a stream has
   * nothing ready, or something fails.
   */
  drain(): DrainResult {
    const segments = this.#segments;
    while (segments.length > 0) {
      const segment = segments[0]!;
      const result = segment.kind === FILE ? this.#sendFile(segment) : this.#writeBytes(segment);
      if (result !== DRAIN.DONE) return result;
      if (segment.kind === STREAM) {
        const step = this.#pumpStream(segment);
        if (step !== DRAIN.DONE) return step;
      }
      takeFirst(segments);
      if (segment.file) this.#hooks.fileDone(segment.file);
      segment.observer?.responseDone(true);
    }
    return DRAIN.DONE;
  }

  #writeBytes(segment: Segment): DrainResult {
    const bytes = segment.bytes;
    if (!bytes) return DRAIN.DONE;
    const left = bytes.length - segment.offset;
    const n = this.#transport.write(segment.offset ? bytes.subarray(segment.offset) : bytes, left);
    if (n === IO.EAGAIN) return DRAIN.BLOCKED;
    if (n < 0) return this.#fail(n);
    this.sent += n;
    if (n < left) {
      segment.offset += n;
      return DRAIN.BLOCKED;
    }
    segment.bytes = null;
    segment.offset = 0;
    return DRAIN.DONE;
  }

  #sendFile(segment: Segment): DrainResult {
    const file = segment.file!;
    while (segment.sent < file.length) {
      const count = Math.min(file.length - segment.sent, SENDFILE_CHUNK);
      const n = this.#transport.sendfile(file.fileFd, file.offset + segment.sent, count);
      if (n === IO.EAGAIN) return DRAIN.BLOCKED;
      // 0 means the file shrank under us: the promised length can no longer be kept.
      if (n <= 0) return this.#fail(n);
      this.sent += n;
      segment.sent += n;
    }
    return DRAIN.DONE;
  }

  /**
   * A stream segment whose current chunk is written: end it, or ask the stream for more.
   * @returns DONE when the stream has ended, WAITING while a chunk is produced, FAILED on error
   */
  #pumpStream(segment: Segment): DrainResult {
    if (segment.error !== null) {
      this.failedRequest = segment.request;
      return this.#fail(segment.error);
    }
    if (segment.ended) return DRAIN.DONE;
    if (segment.reading || !this.#mayPump()) return DRAIN.WAITING;
    segment.reading = true;
    segment.reader!.read().then(
      ({ value, done }) => {
        segment.reading = false;
        if (this.#closed) return void segment.reader!.cancel().catch(() => {});
        if (done) {
          segment.ended = true;
          if (segment.chunked) segment.bytes = LAST_CHUNK;
        } else if (!(value instanceof Uint8Array)) {
          // The Fetch standard makes any other chunk an error (a string, an ArrayBuffer, a
          // Uint16Array): written as it is, it crashed the FFI call or went out as NUL bytes.
          segment.error = new TypeError(
            `A response stream chunk must be a Uint8Array, not ${describe(value)}`,
          );
        } else if (value.length > 0) {
          this.#turnBytes += value.length;
          segment.bytes = segment.chunked ? frameChunk(value) : value;
        }
        this.#turnChunks++;
        this.#hooks.streamReady();
      },
      (e) => {
        segment.reading = false;
        segment.error = e ?? new Error("stream failed");
        if (!this.#closed) this.#hooks.streamReady();
      },
    );
    return DRAIN.WAITING;
  }

  /**
   * Whether a stream may be read again in this reactor turn; when the allowance is spent, asks
   * for the next turn (once) and says no.
   */
  #mayPump(): boolean {
    const turn = currentBatch();
    if (turn !== this.#turn) this.resumeTurn(turn);
    if (this.#turnBytes < STREAM_TURN_BYTES && this.#turnChunks < STREAM_TURN_CHUNKS) return true;
    if (!this.#deferred) {
      this.#deferred = true;
      this.#hooks.nextTurn();
    }
    return false;
  }

  /**
   * The reactor's next turn has come (or `turn` began): streams get a fresh allowance. The
   * connection drains again after it.
   */
  resumeTurn(turn: number = currentBatch()): void {
    this.#turn = turn;
    this.#turnBytes = 0;
    this.#turnChunks = 0;
    this.#deferred = false;
  }

  #fail(reason: unknown): DrainResult {
    this.failure = reason;
    return DRAIN.FAILED;
  }

  /** Releases everything queued: files go to `fileDone`, streams are cancelled, marks hear false. */
  close(): void {
    this.#closed = true;
    for (const segment of this.#segments) {
      if (segment.file) this.#hooks.fileDone(segment.file);
      if (segment.reader && !segment.ended) segment.reader.cancel().catch(() => {});
      segment.observer?.responseDone(false);
    }
    this.#segments.length = 0;
  }
}

/** What a chunk is, for the error that names it: "a string", "an ArrayBuffer", "7". */
function describe(value: unknown): string {
  if (typeof value === "string") return "a string";
  if (value === null || typeof value !== "object") return String(value);
  const type = Object.prototype.toString.call(value).slice(8, -1);
  return `${/^[AEIO]/.test(type) ? "an" : "a"} ${type}`; // "a Uint16Array"
}

/** One chunk of the chunked coding: size in hex, CRLF, the data, CRLF. */
function frameChunk(data: Uint8Array): Uint8Array {
  const size = ENCODER.encode(`${data.length.toString(16)}\r\n`);
  const frame = new Uint8Array(size.length + data.length + 2);
  frame.set(size);
  frame.set(data, size.length);
  frame.set(CRLF, size.length + data.length);
  return frame;
}
