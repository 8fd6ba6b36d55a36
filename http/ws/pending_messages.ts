// Messages waiting to be compressed (RFC 7692), slice by slice so that no compression holds the
// reactor long: each slice becomes a frame of the message (RSV1 on the first only, §6.1), and
// messages queued behind one keep their order. The session decides when a slice is made.

import { FIN, OPCODE, RSV1 } from "./frame.ts";
import type { FrameQueue } from "./frame_queue.ts";
import type { PerMessageDeflate } from "./permessage_deflate.ts";
import { COMPRESS_THRESHOLD, DEFLATE_SLICE } from "./session_options.ts";

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

/** The messages of one session waiting for compression, in order. */
export class PendingMessages {
  #messages: PendingMessage[] = [];
  /** Bytes of the pending messages not yet compressed (a running total: send() reads it). */
  bytes = 0;

  /** Messages waiting. */
  get length(): number {
    return this.#messages.length;
  }

  /** Queues a message (the session's, kept as it is). */
  push(text: boolean, data: Uint8Array): void {
    this.#messages.push({ text, data, offset: 0, started: false, carry: 0 });
    this.bytes += data.length;
  }

  /**
   * Compresses one slice (DEFLATE_SLICE bytes) of the first message into a frame on `queue`.
   * Bytes zlib holds back are credited to a later frame. A message too short to compress, queued
   * behind a compressed one, is framed as it is.
   * @returns false when compression failed (the session fails the connection)
   */
  compressSlice(deflate: PerMessageDeflate | null, queue: FrameQueue): boolean {
    const p = this.#messages[0]!;
    const opcode = p.text ? OPCODE.TEXT : OPCODE.BINARY;
    if (p.data.length < COMPRESS_THRESHOLD || deflate === null) {
      this.#messages.shift();
      this.bytes -= p.data.length - p.offset;
      queue.frame(FIN | opcode, p.data, p.data.length);
      return true;
    }
    const end = Math.min(p.data.length, p.offset + DEFLATE_SLICE);
    const last = end === p.data.length;
    let compressed: Uint8Array;
    try {
      compressed = deflate.deflate(p.data.subarray(p.offset, end), last);
    } catch {
      return false;
    }
    p.carry += end - p.offset;
    this.bytes -= end - p.offset;
    p.offset = end;
    if (compressed.length === 0 && !last) return true;
    if (last) this.#messages.shift();
    const first = (last ? FIN : 0) | (p.started ? OPCODE.CONTINUATION : RSV1 | opcode);
    p.started = true;
    queue.frame(first, compressed, p.carry);
    p.carry = 0;
    return true;
  }

  /**
   * Drops every message.
   * @returns the application bytes they stood for (bufferedAmount falls by them)
   */
  drop(): number {
    let app = 0;
    for (const p of this.#messages) app += p.data.length - p.offset + p.carry;
    this.#messages.length = 0;
    this.bytes = 0;
    return app;
  }
}
