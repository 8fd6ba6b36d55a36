// A WebSocket session's output: encoded frames in order, written together when small (one
// write(2) for an echo's burst) and from where they are when large; bufferedAmount credited as
// the kernel takes the bytes. The session decides what to queue and when; this only keeps and
// writes it. Small frames are encoded straight into the shared write buffer while the queue holds
// nothing else (an echo's replies, written at the end of the read that made them); whatever of
// them the kernel does not take is copied out before the buffer serves anyone else.

import { encodeFrame, MAX_HEAD, writeFrameHead } from "./frame.ts";
import type { Transport } from "../types.ts";
import { IO } from "../types.ts";

/** Payloads up to this size are copied into their frame; larger ones follow their head unchanged. */
const COPY_LIMIT = 4096;
/** One buffer to gather small frames into a single write(2), for every session. */
const WRITE_BUFFER = new Uint8Array(64 * 1024);
/**
 * The queue whose frames are encoded in WRITE_BUFFER from 0 to `staged` (none: null). The
 * reactor runs one callback at a time and write() releases the buffer, so another queue finds it
 * taken only when a frame was queued and not written in the same turn: it copies that queue's
 * frames out first.
 */
let stager: FrameQueue | null = null;
let staged = 0;
/** Chunks up to this size are gathered; larger ones are written from where they are. */
const GATHER_CHUNK = 16 * 1024;

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
  /** Whether `bytes` is a view of WRITE_BUFFER (it must be copied out before the buffer is reused). */
  staged: boolean;
}

/** The encoded frames of one session not yet taken by the kernel. */
export class FrameQueue {
  #chunks: Chunk[] = [];
  /** Encoded bytes queued and not written. */
  bytes = 0;
  /** Application bytes the last write() credited (the session's bufferedAmount falls by them). */
  credited = 0;
  /** The last write() stopped because the socket is full. */
  blocked = false;

  /** Whether nothing is queued. */
  get empty(): boolean {
    return this.#chunks.length === 0;
  }

  /**
   * Drops everything queued, if none of it has begun to go out (a frame cut in the middle would
   * break the stream).
   * @returns whether it did
   */
  dropIfUnstarted(): boolean {
    if (!this.#chunks.every((c) => c.offset === 0)) return false;
    this.clear();
    return true;
  }

  /**
   * Drops everything but a frame partly written, which must be finished before anything else.
   * @returns whether such a frame stays
   */
  dropAllButStarted(): boolean {
    const first = this.#chunks[0];
    const partial = first !== undefined && first.offset > 0;
    this.#chunks.length = partial ? 1 : 0;
    this.bytes = partial ? first.bytes.length - first.offset : 0;
    this.#unstage();
    return partial;
  }

  /** Drops everything queued. */
  clear(): void {
    this.#chunks.length = 0;
    this.bytes = 0;
    this.#unstage();
  }

  /**
   * Queues one frame.
   * @param first the frame's first byte (FIN, RSV1, opcode)
   * @param app the application bytes it stands for (0 for control frames)
   * @param owned whether `payload` may be kept as it is (else a large one is copied)
   */
  frame(first: number, payload: Uint8Array, app: number, owned = true): void {
    const length = payload.length;
    if (length <= COPY_LIMIT) {
      if (this.#mayStage(length)) {
        // Encoded where it will be written from: no frame allocated, no copy to gather it.
        const at = staged;
        const head = writeFrameHead(WRITE_BUFFER, at, first, length);
        WRITE_BUFFER.set(payload, at + head);
        staged = at + head + length;
        stager = this;
        this.#push(WRITE_BUFFER.subarray(at, staged), app, head, true);
        return;
      }
      const frame = encodeFrame(first, payload);
      this.#push(frame, app, frame.length - length, false);
      return;
    }
    const head = new Uint8Array(MAX_HEAD);
    this.#push(head.subarray(0, writeFrameHead(head, 0, first, length)), 0, 0, false);
    this.#push(owned ? payload : payload.slice(), app, 0, false);
  }

  /**
   * Whether a frame of `length` payload bytes may be encoded into WRITE_BUFFER: everything queued
   * is there already (so the staged frames stay one run at the queue's head) and it fits. A
   * queue that left frames there (queued, not written) gives the buffer up first.
   */
  #mayStage(length: number): boolean {
    if (stager !== this) {
      if (this.#chunks.length > 0) return false;
      if (stager !== null) stager.#unstage();
    } else if (this.#chunks.at(-1)?.staged === false) return false;
    return staged + MAX_HEAD + length <= WRITE_BUFFER.length;
  }

  /** Copies this queue's frames out of WRITE_BUFFER, if it holds any, and frees the buffer. */
  #unstage(): void {
    if (stager !== this) return;
    for (const chunk of this.#chunks) {
      if (!chunk.staged) break; // staged frames are a run at the head
      chunk.bytes = chunk.bytes.slice();
      chunk.staged = false;
    }
    stager = null;
    staged = 0;
  }

  #push(bytes: Uint8Array, app: number, head: number, isStaged: boolean): void {
    this.#chunks.push({ bytes, offset: 0, app, head, credited: 0, staged: isStaged });
    this.bytes += bytes.length;
  }

  /**
   * Writes what is queued until done or the socket is full (then `blocked`); `credited` says how
   * much application data left.
   * @returns the bytes the kernel took, or -errno on failure
   */
  write(transport: Transport): number {
    const chunks = this.#chunks;
    let written = 0;
    this.credited = 0;
    this.blocked = false;
    while (chunks.length > 0) {
      // Small frames (an echo's, a burst of sends) leave together in one write: encoded in
      // WRITE_BUFFER already (staged, never partly written: see the end), or gathered there.
      const fromStage = stager === this && chunks[0]!.staged;
      const gathered = fromStage ? staged : chunks.length > 1 ? this.#gather() : 0;
      const chunk = chunks[0]!;
      const out = gathered > 0 ? WRITE_BUFFER : chunk.bytes.subarray(chunk.offset);
      const length = gathered > 0 ? gathered : out.length;
      const n = transport.write(out, length);
      if (n === IO.EAGAIN) {
        this.blocked = true;
        break;
      }
      if (n < 0) {
        this.#unstage();
        return n;
      }
      written += n;
      this.bytes -= n;
      this.#advance(n);
      if (n < length) {
        this.blocked = true;
        break;
      }
    }
    this.#unstage(); // what the kernel did not take waits in the queue's own memory
    return written;
  }

  /**
   * Copies the leading frames that fit into the shared write buffer, while they are small.
   * @returns the bytes gathered, or 0 when the first chunk is better written alone
   */
  #gather(): number {
    if (stager !== null) stager.#unstage(); // frames left in the buffer: copied out before it is reused
    let length = 0;
    for (const chunk of this.#chunks) {
      const rest = chunk.bytes.length - chunk.offset;
      if (rest > GATHER_CHUNK || length + rest > WRITE_BUFFER.length) break;
      WRITE_BUFFER.set(chunk.offset === 0 ? chunk.bytes : chunk.bytes.subarray(chunk.offset), length);
      length += rest;
    }
    return length;
  }

  /** `n` bytes were written: chunks advance, application bytes are credited, done ones leave. */
  #advance(n: number): void {
    const chunks = this.#chunks;
    while (n > 0) {
      const chunk = chunks[0]!;
      const take = Math.min(n, chunk.bytes.length - chunk.offset);
      chunk.offset += take;
      n -= take;
      // Uncompressed, each payload byte is an application byte; compressed, they count pro rata.
      const payload = Math.max(0, chunk.offset - chunk.head);
      const credit = chunk.offset === chunk.bytes.length
        ? chunk.app
        : Math.floor(chunk.app * payload / (chunk.bytes.length - chunk.head));
      this.credited += credit - chunk.credited;
      chunk.credited = credit;
      if (chunk.offset === chunk.bytes.length) chunks.shift();
    }
  }
}
