// Sans-I/O reader for the chunked transfer coding (RFC 9112 §7.1), fed any split of bytes.
// Chunk data is passed on as it arrives, small chunks of one feed gathered into one span (the
// client chooses chunk sizes; the server must not pay per chunk); extensions are skipped, trailer
// fields checked and dropped; sizes and the trailer section are bounded so a hostile body holds
// no unbounded state.

import { HttpError, STATUS } from "../status.ts";
import { MAX_HEAD_BYTES } from "./parser.ts";
import { TCHAR } from "../tokens.ts";
import { type BodyReader, type BodySink, tooLarge } from "./body_readers.ts";

const CR = 13, LF = 10;
/** Hex digits in a chunk size: 13 covers 2^52, more than any body we accept. */
const MAX_SIZE_DIGITS = 13;
/** Bytes of chunk extensions on one size line; they carry nothing rawserve uses. */
const MAX_EXTENSION_BYTES = 1024;

const STATE = {
  SIZE: 0,
  /** Whitespace after the size: only more of it, ";" or CR may follow (RFC 9112 §7.1.1 BWS). */
  SIZE_WS: 1,
  EXT: 2,
  SIZE_LF: 3,
  DATA: 4,
  DATA_CR: 5,
  DATA_LF: 6,
  TRAILER_LINE_START: 7,
  TRAILER_NAME: 8,
  TRAILER_VALUE: 9,
  TRAILER_LF: 10,
  END_LF: 11,
  DONE: 12,
} as const;
const S = STATE;

/**
 * Chunk data shorter than this is copied into GATHER and passed on with its neighbours; longer
 * data is passed on as its own span (a copy would cost more than the per-piece overhead saved).
 */
const GATHER_BELOW_BYTES = 4096;
/** Small chunks' data of one feed (shared: a feed runs to its end before any other starts). */
const GATHER = new Uint8Array(16 * 1024);
let gathered = 0;

/** Adds small chunk data to GATHER, passing GATHER on first when it is full. */
function gather(buf: Uint8Array, start: number, end: number, sink: BodySink): void {
  if (gathered + end - start > GATHER.length) passGathered(sink);
  GATHER.set(buf.subarray(start, end), gathered);
  gathered += end - start;
}

/** Passes on what GATHER holds, as one span. */
function passGathered(sink: BodySink): void {
  const n = gathered;
  if (n === 0) return;
  gathered = 0;
  sink.onBodyData(GATHER, 0, n);
}

function bad(message: string): HttpError {
  return new HttpError(STATUS.BAD_REQUEST, message);
}

/** Reads one chunked body. */
export class ChunkedReader implements BodyReader {
  #state: number = S.SIZE;
  #size = 0;
  #digits = 0;
  #extBytes = 0;
  #trailerBytes = 0;
  #remaining = 0;
  #received = 0;
  limit: number;

  /** @param limit the most decoded bytes accepted; a chunk size that would pass it is a 413 */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Whether the final chunk and trailer section have been read. */
  get done(): boolean {
    return this.#state === S.DONE;
  }

  /** Unknown until the last chunk: -1. */
  get remaining(): number {
    return this.#state === S.DONE ? 0 : -1;
  }

  get received(): number {
    return this.#received;
  }

  /**
   * Consumes bytes of the chunked body from `buf[start, end)`, passing chunk data to `sink`.
   * @returns bytes consumed; fewer than offered only once done (the rest is the next request)
   * @throws {HttpError} 400 for malformed framing, 413 when the body passes `limit`
   */
  feed(buf: Uint8Array, start: number, end: number, sink: BodySink): number {
    gathered = 0;
    try {
      const p = this.#decode(buf, start, end, sink);
      passGathered(sink);
      return p - start;
    } finally {
      gathered = 0; // after an error: nothing of this feed reaches the next one
    }
  }

  /** The state machine over `buf[start, end)`. @returns where it stopped */
  #decode(buf: Uint8Array, start: number, end: number, sink: BodySink): number {
    let p = start;
    while (p < end && this.#state !== S.DONE) {
      const c = buf[p]!;
      switch (this.#state) {
        case S.SIZE: {
          const d = c >= 48 && c <= 57
            ? c - 48
            : (c | 0x20) >= 97 && (c | 0x20) <= 102
            ? (c | 0x20) - 87
            : -1;
          if (d >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) {
              throw new HttpError(STATUS.CONTENT_TOO_LARGE, "Chunk too large");
            }
            this.#size = this.#size * 16 + d;
            p++;
            break;
          }
          if (this.#digits === 0) throw bad("Malformed chunk size");
          if (c === 59 /* ; */) this.#state = S.EXT;
          else if (c === 32 || c === 9) this.#state = S.SIZE_WS;
          else if (c === CR) this.#state = S.SIZE_LF;
          else throw bad("Malformed chunk size");
          p++;
          break;
        }
        case S.SIZE_WS:
          // "3 3" must not read as 3 (or 0x33): whitespace is only allowed before an extension.
          if (c === 59) this.#state = S.EXT;
          else if (c === CR) this.#state = S.SIZE_LF;
          else if (c !== 32 && c !== 9) throw bad("Malformed chunk size");
          if (++this.#extBytes > MAX_EXTENSION_BYTES) throw bad("Chunk extension too long");
          p++;
          break;
        case S.EXT:
          if (c === CR) this.#state = S.SIZE_LF;
          else if (c === LF || c < 9 || (c > 9 && c < 32) || c === 127) {
            throw bad("Malformed chunk extension");
          } else if (++this.#extBytes > MAX_EXTENSION_BYTES) throw bad("Chunk extension too long");
          p++;
          break;
        case S.SIZE_LF:
          if (c !== LF) throw bad("Chunk size line must end in CRLF");
          p++;
          if (this.#size === 0) {
            this.#state = S.TRAILER_LINE_START;
          } else {
            if (this.#received + this.#size > this.limit) throw tooLarge();
            this.#remaining = this.#size;
            this.#state = S.DATA;
          }
          break;
        case S.DATA: {
          const take = Math.min(this.#remaining, end - p);
          if (take >= GATHER_BELOW_BYTES) {
            passGathered(sink); // in order
            sink.onBodyData(buf, p, p + take);
          } else gather(buf, p, p + take, sink);
          this.#received += take;
          p += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = S.DATA_CR;
          break;
        }
        case S.DATA_CR:
          if (c !== CR) throw bad("Chunk data must end in CRLF");
          this.#state = S.DATA_LF;
          p++;
          break;
        case S.DATA_LF:
          if (c !== LF) throw bad("Chunk data must end in CRLF");
          this.#state = S.SIZE;
          this.#size = this.#digits = this.#extBytes = 0;
          p++;
          break;
        case S.TRAILER_LINE_START:
          // RFC 9112 §7.1.2: the trailer section is field lines, "name: value", like a head's.
          if (c === CR) this.#state = S.END_LF;
          else if (TCHAR[c]) this.#state = S.TRAILER_NAME;
          else throw bad("Malformed trailer field");
          this.#countTrailer();
          p++;
          break;
        case S.TRAILER_NAME:
          if (c === 58 /* : */) this.#state = S.TRAILER_VALUE;
          else if (!TCHAR[c]) throw bad("Malformed trailer field");
          this.#countTrailer();
          p++;
          break;
        case S.TRAILER_VALUE:
          if (c === CR) this.#state = S.TRAILER_LF;
          else if (c < 32 ? c !== 9 : c === 127) throw bad("Invalid character in trailer field");
          this.#countTrailer();
          p++;
          break;
        case S.TRAILER_LF:
          if (c !== LF) throw bad("Trailer field must end in CRLF");
          this.#state = S.TRAILER_LINE_START;
          this.#countTrailer();
          p++;
          break;
        case S.END_LF:
          if (c !== LF) throw bad("Chunked body must end in CRLF");
          this.#state = S.DONE;
          p++;
          break;
      }
    }
    return p;
  }

  #countTrailer(): void {
    if (++this.#trailerBytes > MAX_HEAD_BYTES) {
      throw new HttpError(STATUS.REQUEST_HEADER_FIELDS_TOO_LARGE, "Trailer section too large");
    }
  }
}
