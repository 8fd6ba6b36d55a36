// The output side of an HTTP/2 connection: response heads encoded in the order they became ready,
// bodies sent round-robin one DATA frame per stream per round within the peer's windows (RFC 9113
// §6.9), control frames first, everything in one buffer written with one write per batch (while
// bodies go out, a buffer lent by a pool every session shares: buffer_pool.ts), and a
// file's bytes after their 9-octet DATA head through sendfile; over a transport that copies files
// anyway (TLS), read into the buffer behind their head, so that each frame is one TLS record.

import { FLAG, FRAME, FRAME_HEADER_BYTES, FrameWriter, H2_ERROR } from "./frames.ts";
import { localOpen } from "./stream_states.ts";
import {
  COPIED_FRAME_BYTES,
  DATA_FRAME_BYTES,
  LENT_OUTPUT_BYTES,
  LENT_OUTPUT_KEEP,
  OUTPUT_BYTES,
  OUTPUT_KEEP_BYTES,
  STREAM_BUFFER_BYTES,
} from "./options.ts";
import { BufferPool } from "./buffer_pool.ts";
import { isFileBody, responseFields } from "./response_fields.ts";
import { SessionState } from "./session_state.ts";
import type { Stream } from "./stream.ts";
import { STATUS, statusResponse } from "../status.ts";
import { countClientLeft, countError } from "../stats.ts";
import { IO } from "../types.ts";

/** What a write pass ended with. */
export const WRITE = { DONE: 0, BLOCKED: 1, FAILED: 2 } as const;
const EMPTY = new Uint8Array(0);
/** One buffer for encoding response heads (one at a time). */
const BLOCK = new FrameWriter(1024);
const ENCODER = new TextEncoder();
/** Output buffers lent to the sessions sending bodies (buffer_pool.ts), for every session. */
export const OUTPUT_BUFFERS = new BufferPool(LENT_OUTPUT_BYTES, LENT_OUTPUT_KEEP);

/** The output writer and flow control for sending (the second layer of Http2Session). */
export abstract class SessionOutput extends SessionState {
  /** The session's own small buffer while `out` writes into one lent by OUTPUT_BUFFERS, else null. */
  #own: Uint8Array | null = null;

  /** Encodes a ready response's head and sets up its body. */
  protected encodeHead(stream: Stream): void {
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
    const fields = responseFields(response, status, length, this.options.headers);
    const block = BLOCK;
    block.length = 0;
    try {
      this.encoder.encode(block, fields);
    } catch (e) {
      // A field the handler made cannot be sent: answer 500 instead. The encoder checks each
      // field before it touches the table, so the table holds what the block before it said;
      // the fields indexed so far stay in our table only, and are never referred to again.
      this.releaseResponse(stream);
      stream.response = statusResponse(STATUS.INTERNAL_SERVER_ERROR);
      this.handlerFailed(e);
      return this.encodeHead(stream);
    }
    const empty = omit || body === null || (body instanceof Uint8Array && body.length === 0) ||
      (isFileBody(body) && body.length === 0);
    // RFC 9110 §15.6: a 5xx says the server failed, whatever produced it (as HTTP/1.1 counts it).
    if (status >= 500) countError(this.stats, `http ${status}`);
    this.out.headers(stream.id, block.bytes, block.length, empty, this.peerMaxFrame);
    stream.headersSent = true;
    if (empty) {
      if (body instanceof ReadableStream) body.cancel().catch(() => {});
      this.closeFile(stream);
      return this.localEnd(stream);
    }
    if (body instanceof Uint8Array) stream.bytes = body;
    else if (body instanceof ReadableStream) stream.reader = body.getReader();
    this.sending.push(stream);
  }

  /**
   * Appends at most one DATA frame of a stream's body, within the windows and DATA_FRAME_BYTES.
   * A file's frame leaves its head in `#out` and its bytes as the file tail. A stream with bytes
   * to send and no window begins its wait for the peer (the write deadline, per stream).
   * @returns whether a frame was appended
   */
  protected appendData(stream: Stream): boolean {
    const room = Math.min(stream.sendWindow, this.connSendWindow, this.peerMaxFrame, DATA_FRAME_BYTES);
    const appended = this.appendFrame(stream, room);
    if (appended) stream.stalledAt = -1;
    else if (room <= 0 && stream.stalledAt < 0 && this.hasBytes(stream)) stream.stalledAt = this.now();
    return appended;
  }

  /** Whether a stream has body bytes at hand to send. */
  protected hasBytes(stream: Stream): boolean {
    return stream.bytes !== null || stream.file !== null || stream.chunks.length > 0;
  }

  /** appendData's frame, in `room` bytes at most. */
  protected appendFrame(stream: Stream, room: number): boolean {
    if (stream.bytes !== null) {
      const left = stream.bytes.length - stream.offset;
      const n = Math.min(left, room);
      if (n <= 0 && left > 0) return false;
      const end = n === left;
      this.out.data(stream.id, stream.bytes, stream.offset, stream.offset + n, end);
      this.spend(stream, n);
      stream.offset += n;
      if (end) {
        stream.bytes = null;
        this.localEnd(stream);
      }
      return true;
    }
    if (stream.file !== null) {
      const copies = this.transport.copiesFiles === true;
      const n = Math.min(stream.fileLeft, room, copies ? COPIED_FRAME_BYTES : room);
      if (n <= 0) return false;
      if (copies) return this.appendFileCopy(stream, n);
      const end = n === stream.fileLeft;
      this.out.head(n, FRAME.DATA, end ? FLAG.END_STREAM : 0, stream.id);
      this.spend(stream, n);
      this.fileTail = stream;
      this.fileTailLeft = n;
      return true;
    }
    if (stream.reader !== null) {
      if (stream.chunks.length === 0) {
        if (!stream.readerDone) {
          this.pull(stream);
          return false;
        }
        this.out.data(stream.id, EMPTY, 0, 0, true);
        stream.reader = null;
        this.localEnd(stream);
        return true;
      }
      const chunk = stream.chunks[0]!;
      const n = Math.min(chunk.length - stream.offset, room);
      if (n <= 0) return false;
      const last = stream.offset + n === chunk.length && stream.chunks.length === 1 && stream.readerDone;
      this.out.data(stream.id, chunk, stream.offset, stream.offset + n, last);
      this.spend(stream, n);
      stream.offset += n;
      stream.chunkBytes -= n;
      if (stream.offset === chunk.length) {
        stream.chunks.shift();
        stream.offset = 0;
      }
      if (last) {
        stream.reader = null;
        this.localEnd(stream);
      } else this.pull(stream);
      return true;
    }
    return false;
  }

  /**
   * A file's DATA frame with its `n` bytes read into `out` behind the head, for a transport whose
   * sendfile would read and write them anyway: head and payload go out in one write (one TLS
   * record) instead of two. A file that shrank or fails to read resets its stream.
   */
  protected appendFileCopy(stream: Stream, n: number): boolean {
    const out = this.out;
    out.ensure(FRAME_HEADER_BYTES + n);
    const at = out.length + FRAME_HEADER_BYTES;
    const got = this.transport.readFile!(stream.file!.fileFd, stream.fileOffset, out.bytes.subarray(at), n);
    if (got !== n) {
      countError(this.stats, got < 0 ? `file read errno ${-got}` : "file shrank");
      this.reset(stream, H2_ERROR.INTERNAL_ERROR); // the promised length cannot be sent
      this.later();
      return true;
    }
    const end = n === stream.fileLeft;
    out.head(n, FRAME.DATA, end ? FLAG.END_STREAM : 0, stream.id);
    out.length += n;
    this.spend(stream, n);
    stream.fileOffset += n;
    stream.fileLeft -= n;
    if (end) {
      this.closeFile(stream);
      this.localEnd(stream);
    }
    return true;
  }

  protected spend(stream: Stream, n: number): void {
    stream.bodySent += n; // every DATA payload composed passes here
    stream.sendWindow -= n;
    this.connSendWindow -= n;
  }

  /** Asks a streamed body for its next chunk, unless one is asked for or enough is buffered. */
  protected pull(stream: Stream): void {
    const reader = stream.reader;
    if (!reader || stream.reading || stream.readerDone || stream.chunkBytes >= STREAM_BUFFER_BYTES) return;
    stream.reading = true;
    reader.read().then(
      ({ done, value }) => {
        stream.reading = false;
        if (stream.reader !== reader) return; // released meanwhile
        if (done) stream.readerDone = true;
        else if (!(value instanceof Uint8Array)) {
          return this.streamFailed(
            stream,
            new TypeError("A response stream produced something other than bytes"),
          );
        } else if (value.length > 0) {
          stream.chunks.push(value);
          stream.chunkBytes += value.length;
        }
        this.later();
      },
      (e) => {
        stream.reading = false;
        if (stream.reader === reader) this.streamFailed(stream, e);
      },
    );
  }

  protected streamFailed(stream: Stream, reason: unknown): void {
    countError(this.stats, "stream");
    console.error(`Response stream failed: ${reason instanceof Error ? reason.message : String(reason)}`);
    this.reset(stream, H2_ERROR.INTERNAL_ERROR);
    this.later();
  }

  /** Writes `#out`, the file tail, then composes more: WRITE.DONE, BLOCKED or FAILED. */
  protected write(): number {
    const transport = this.transport;
    for (let progress = false;;) {
      const out = this.out;
      if (out.length > this.outStart) {
        const n = transport.write(out.bytes.subarray(this.outStart), out.length - this.outStart);
        if (n < 0) return this.writeFailed(n, progress);
        this.stats.bytesOut += n;
        this.outStart += n;
        progress = true;
        if (this.outStart < out.length) continue;
        out.length = 0;
        this.outStart = 0;
      }
      const tail = this.fileTail;
      if (tail !== null) {
        const file = tail.file!;
        const n = transport.sendfile(file.fileFd, tail.fileOffset, this.fileTailLeft);
        if (n <= 0) return this.writeFailed(n === 0 ? IO.EPIPE : n, progress); // 0: the file shrank
        this.stats.bytesOut += n;
        progress = true;
        tail.fileOffset += n;
        tail.fileLeft -= n;
        this.fileTailLeft -= n;
        if (this.fileTailLeft > 0) continue;
        this.fileTail = null;
        const live = this.streams.has(tail.id);
        if (!live || tail.fileLeft === 0) this.closeFile(tail);
        if (live && tail.fileLeft === 0 && localOpen(tail.state)) this.localEnd(tail);
      }
      // Everything composed so far is with the kernel: its finished responses are complete.
      if (this.finishing.length > 0) this.complete();
      if (!this.compose()) return WRITE.DONE;
    }
  }

  protected writeFailed(n: number, progress: boolean): number {
    if (n === IO.EAGAIN) {
      // The socket is full: the connection's write deadline runs from its last progress.
      if (progress || !this.blocked) this.writeAt = this.now();
      return WRITE.BLOCKED;
    }
    // The peer reset or closed: the client left, the server did not fail.
    if (n === IO.EPIPE) countClientLeft(this.stats, "EPIPE");
    else if (n === IO.ECONNRESET) countClientLeft(this.stats, "ECONNRESET");
    else countError(this.stats, `write errno ${-n}`);
    return WRITE.FAILED;
  }

  /** Fills `#out` with control frames, response heads and body frames. @returns whether it added any */
  protected compose(): boolean {
    const out = this.out;
    if (this.control.length > 0) {
      out.append(this.control.bytes, 0, this.control.length);
      this.control.length = 0;
      if (this.control.bytes.length > 4096) this.control = new FrameWriter(256);
    }
    for (let i = 0; i < this.ready.length; i++) this.encodeHead(this.ready[i]!);
    this.ready.length = 0;
    // Round-robin, one frame per stream per round, until the buffer is full or a file tail waits.
    const sending = this.sending;
    if (sending.length > 0) this.borrowOutput();
    while (out.length < OUTPUT_BYTES && this.fileTail === null && sending.length > 0) {
      let moved = false;
      for (const stream of sending.slice()) { // a stream that ends leaves the list
        if (this.fileTail !== null || out.length >= OUTPUT_BYTES) break;
        if (this.appendData(stream)) moved = true;
      }
      if (!moved) break;
    }
    if (sending.length > 1) sending.push(sending.shift()!); // the next turn starts with the next stream
    if (out.length === 0) this.returnOutput(); // all written: a stream waiting for its window borrows again
    return out.length > 0 || this.fileTail !== null;
  }

  /** Writes `out` into a lent buffer (what it holds moves there), unless it has one or outgrew it. */
  protected borrowOutput(): void {
    if (this.#own === null && this.out.bytes.length < LENT_OUTPUT_BYTES) {
      this.#own = this.out.adopt(OUTPUT_BUFFERS.take());
    }
  }

  /**
   * Gives the lent buffer back, or lets go of one `out` grew past OUTPUT_KEEP_BYTES: between
   * bursts, and while its streams wait for the peer's window, a session keeps only its small own.
   * Only when `out` is empty (written, or the session closed).
   */
  protected returnOutput(): void {
    const out = this.out;
    if (this.#own !== null) {
      OUTPUT_BUFFERS.give(out.adopt(this.#own));
      this.#own = null;
    }
    if (out.bytes.length > OUTPUT_KEEP_BYTES) out.adopt(new Uint8Array(1024));
  }

  /** The responses composed before now have reached the kernel. */
  protected complete(): void {
    for (const stream of this.finishing) {
      stream.request?.observer?.responseDone(true);
      this.ended(stream, true);
    }
    this.finishing.length = 0;
  }

  /** A stream that has bytes to send and no window to send them in, or null. */
  protected stalled(): Stream | null {
    for (const stream of this.sending) if (this.isStalled(stream)) return stream;
    return null;
  }

  /** Whether a stream has bytes to send and no window to send them in. */
  protected isStalled(stream: Stream): boolean {
    return (stream.sendWindow <= 0 || this.connSendWindow <= 0) && this.hasBytes(stream);
  }
}
