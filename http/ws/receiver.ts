// The receiving half of a WebSocket, sans I/O (RFC 6455 §5, RFC 7692 §6): bytes in, messages,
// pings, pongs, a close or a failure out. It checks every rule a server must check of a client
// (masking, reserved bits and opcodes, control frames, fragmentation, UTF-8, close bodies) and
// refuses a message too large from the frame head, before its bytes arrive. Work is linear in the
// bytes pushed; memory is the message being assembled, which grows as its bytes arrive (never from
// what a head claims), never exceeds the limit, and is charged to a budget every WebSocket shares.

import { CLOSE_CODE, FIN, isControl, MAX_CONTROL_PAYLOAD, OPCODE, RSV1, RSV2, RSV3 } from "./frame.ts";
import { parseCloseBody } from "./close.ts";
import { Utf8Validator } from "./utf8.ts";
import { checkMaxMessageSize, DEFAULT_MAX_MESSAGE, INFLATE_STEP } from "./receiver_options.ts";
import type { MessageBudget, MessageInflater, ReceiverOptions, ReceiverSink } from "./receiver_options.ts";

// Its limits, budget, sink and inflater, for those who import the receiver.
export * from "./receiver_options.ts";

/** First allocation for a message's bytes: 16 KiB; it doubles as bytes arrive, up to the frame's length. */
const FIRST_CHUNK = 16 * 1024;
/**
 * Payload runs at least this long are copied (memcpy) and unmasked in place 32 bits at a time;
 * shorter ones byte by byte, where making the word view would cost more than it saves. A 4 KiB
 * frame is read in 1.4 µs against 5.2 byte by byte; 64 bytes take 0.36 µs either way
 * (scripts/ws_unmask_cost.ts).
 */
const WORD_UNMASK_MIN = 128;
/** The mask as one 32-bit word in memory order: written as bytes, read in the native order. */
const MASK_BYTES = new Uint8Array(4);
const MASK_WORD = new Int32Array(MASK_BYTES.buffer);

/** Where the reader is within a frame. */
const STAGE = {
  /** First byte: FIN, RSV, opcode. */
  BYTE0: 0,
  /** Second byte: MASK, 7-bit length. */
  BYTE1: 1,
  /** Extended length: 2 or 8 bytes. */
  LENGTH: 2,
  /** Masking key: 4 bytes. */
  MASK: 3,
  /** Payload bytes. */
  PAYLOAD: 4,
  /** A close was read or the peer failed: nothing more is read. */
  DONE: 5,
  /** A compressed message is being inflated over several steps: input waits (see resume()). */
  INFLATING: 6,
} as const;
type Stage = typeof STAGE[keyof typeof STAGE];

const EMPTY = new Uint8Array(0);
const EMPTY_WORDS = new Int32Array(0);

/** Parses a client's frames into messages; feed it with push(). */
export class Receiver {
  #sink: ReceiverSink;
  #maxMessage: number;
  #inflater: MessageInflater | null;
  #stage: Stage = STAGE.BYTE0;
  // The frame being read.
  #first = 0;
  #opcode = 0;
  /** Bytes of extended length or mask still to read. */
  #left = 0;
  #length = 0;
  /** Payload bytes of the frame still to read. */
  #remaining = 0;
  #mask0 = 0;
  #mask1 = 0;
  #mask2 = 0;
  #mask3 = 0;
  /** Payload bytes read so far in the frame (the mask's phase). */
  #done = 0;
  // The control frame's payload, or the message being assembled.
  #control: Uint8Array = EMPTY;
  #controlLength = 0;
  /** The message's opcode (TEXT or BINARY), 0 when no message is in progress. */
  #messageOpcode = 0;
  #compressed = false;
  #message: Uint8Array = EMPTY;
  /** `#message` as 32-bit words (its buffer starts at 0, so it is aligned), for unmasking; made lazily. */
  #messageWords: Int32Array = EMPTY_WORDS;
  #messageLength = 0;
  #utf8: Utf8Validator | null = null;
  #budget: MessageBudget | null;
  /** Bytes charged to the budget now: the message buffer and the inflater's output. */
  #charged = 0;

  /**
   * @param sink hears messages, control frames and failures
   * @throws {RangeError} for a maxMessageSize that checkMaxMessageSize() refuses
   */
  constructor(sink: ReceiverSink, options: ReceiverOptions = {}) {
    this.#sink = sink;
    this.#maxMessage = checkMaxMessageSize(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE);
    this.#inflater = options.inflater ?? null;
    this.#budget = options.budget ?? null;
  }

  /** Whether nothing more will be read (a close arrived or the peer failed). */
  get finished(): boolean {
    return this.#stage === STAGE.DONE;
  }

  /** Whether a compressed message is inflating: call resume() on a later turn. */
  get busy(): boolean {
    return this.#stage === STAGE.INFLATING;
  }

  /** Continues inflating a compressed message by one step. */
  resume(): void {
    if (this.#stage === STAGE.INFLATING) this.#inflateStep();
  }

  /** Whether a message has begun and not ended (its bytes are held). */
  get inMessage(): boolean {
    return this.#messageOpcode !== 0;
  }

  /** Bytes held for the message being assembled. */
  get heldBytes(): number {
    return this.#message.length + this.#control.length;
  }

  /** Reads nothing more (the session is closing for its own reasons). */
  stop(): void {
    this.#stage = STAGE.DONE;
    this.#message = EMPTY;
    this.#messageWords = EMPTY_WORDS;
    this.#control = EMPTY;
    this.#charge(0);
  }

  /**
   * Reads `bytes[start, end)`; reports to the sink as frames complete. Stops early when a
   * compressed message needs more steps than this call may take (see busy); ignores input once
   * finished.
   * @returns the bytes consumed; the caller keeps the rest for after resume()
   */
  push(bytes: Uint8Array, start = 0, end = bytes.length): number {
    if (this.#stage === STAGE.DONE) return end - start;
    let i = start;
    while (i < end && this.#reading()) {
      switch (this.#stage) {
        case STAGE.BYTE0:
          this.#first = bytes[i++]!;
          this.#stage = STAGE.BYTE1;
          break;
        case STAGE.BYTE1:
          this.#readByte1(bytes[i++]!);
          break;
        case STAGE.LENGTH: {
          const b = bytes[i++]!;
          // §5.2: the most significant bit of a 64-bit length must be 0. Checked on the byte: as a
          // double, 2^63-1 rounds up to 2^63.
          if (this.#left === 8 && b >= 0x80) {
            this.#fail(CLOSE_CODE.PROTOCOL_ERROR, "Length with its top bit set");
            break;
          }
          this.#length = this.#length * 256 + b;
          if (--this.#left === 0) this.#lengthKnown();
          break;
        }
        case STAGE.MASK:
          this.#readMaskByte(bytes[i++]!);
          break;
        case STAGE.PAYLOAD: {
          const n = Math.min(end - i, this.#remaining);
          this.#payload(bytes, i, i + n);
          i += n;
          break;
        }
      }
    }
    return this.finished ? end - start : i - start;
  }

  /** Whether input is read now (not finished, not between inflating steps). */
  #reading(): boolean {
    return this.#stage !== STAGE.DONE && this.#stage !== STAGE.INFLATING;
  }

  #readByte1(b: number): void {
    const first = this.#first;
    const opcode = first & 0x0f;
    this.#opcode = opcode;
    // RFC 6455 §5.2: RSV2 and RSV3 have no extension of ours; RSV1 means "compressed" (RFC 7692
    // §6), allowed only when negotiated and only on a data message's first frame.
    if ((first & (RSV2 | RSV3)) !== 0) return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, "Reserved bits set");
    if (
      (first & RSV1) !== 0 && (this.#inflater === null || opcode === OPCODE.CONTINUATION || isControl(opcode))
    ) {
      return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, "RSV1 set without a compressed message's first frame");
    }
    if (isControl(opcode)) {
      if (opcode !== OPCODE.CLOSE && opcode !== OPCODE.PING && opcode !== OPCODE.PONG) {
        return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, `Reserved opcode ${opcode}`);
      }
      // §5.5: control frames are never fragmented and carry at most 125 bytes.
      if ((first & FIN) === 0) return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, "Fragmented control frame");
      if ((b & 0x7f) > MAX_CONTROL_PAYLOAD) {
        return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, "Control frame over 125 bytes");
      }
    } else if (opcode === OPCODE.CONTINUATION) {
      if (this.#messageOpcode === 0) {
        return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, "Continuation without a message");
      }
    } else if (opcode === OPCODE.TEXT || opcode === OPCODE.BINARY) {
      // §5.4: fragments of one message are not interleaved with another's.
      if (this.#messageOpcode !== 0) {
        return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, "New message inside a fragmented one");
      }
    } else return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, `Reserved opcode ${opcode}`);
    // §5.1: a server closes the connection on an unmasked frame from a client.
    if ((b & 0x80) === 0) return this.#fail(CLOSE_CODE.PROTOCOL_ERROR, "Unmasked frame from a client");
    const length = b & 0x7f;
    this.#length = 0;
    if (length === 126) {
      this.#left = 2;
      this.#stage = STAGE.LENGTH;
    } else if (length === 127) {
      this.#left = 8;
      this.#stage = STAGE.LENGTH;
    } else {
      this.#length = length;
      this.#lengthKnown();
    }
  }

  /**
   * The frame's length is read (past 2^53 it is inexact, but far past any limit, so it fails). The
   * minimal encoding is not required of the peer (ws and uWS accept it too).
   */
  #lengthKnown(): void {
    const length = this.#length;
    if (!isControl(this.#opcode)) {
      // The limit is decided here, from the head, before the payload arrives.
      if (this.#messageLength + length > this.#maxMessage) {
        return this.#fail(CLOSE_CODE.MESSAGE_TOO_BIG, "Message too big");
      }
    }
    this.#remaining = length;
    this.#left = 4;
    this.#stage = STAGE.MASK;
  }

  #readMaskByte(b: number): void {
    switch (this.#left--) {
      case 4:
        this.#mask0 = b;
        return;
      case 3:
        this.#mask1 = b;
        return;
      case 2:
        this.#mask2 = b;
        return;
    }
    this.#mask3 = b;
    this.#done = 0;
    this.#stage = STAGE.PAYLOAD;
    if (isControl(this.#opcode)) {
      this.#control = this.#remaining === 0 ? EMPTY : new Uint8Array(this.#remaining);
      this.#controlLength = 0;
    } else this.#beginData();
    if (this.#remaining === 0) this.#frameEnd();
  }

  /** A data frame's payload begins: a new message starts empty; its buffer grows as bytes arrive. */
  #beginData(): void {
    if (this.#opcode !== OPCODE.CONTINUATION) {
      this.#messageOpcode = this.#opcode;
      this.#compressed = (this.#first & RSV1) !== 0;
      this.#messageLength = 0;
      this.#message = EMPTY;
      this.#messageWords = EMPTY_WORDS;
      if (this.#opcode === OPCODE.TEXT && !this.#compressed) {
        this.#utf8 ??= new Utf8Validator();
        this.#utf8.reset();
      }
    }
  }

  /**
   * Makes room for `n` more bytes of the message: the buffer doubles (from FIRST_CHUNK) but never
   * past what the frame's head announced, so memory follows the bytes received, not a claim.
   * @returns false when the budget every WebSocket shares is spent (the receiver failed)
   */
  #reserve(n: number): boolean {
    const needed = this.#messageLength + n;
    if (needed <= this.#message.length) return true;
    const announced = this.#messageLength + this.#remaining;
    const size = Math.min(announced, Math.max(needed, FIRST_CHUNK, this.#message.length * 2));
    if (!this.#charge(size)) return false;
    const grown = new Uint8Array(size);
    grown.set(this.#message.subarray(0, this.#messageLength));
    this.#message = grown;
    return true;
  }

  /**
   * Sets what this receiver holds against the budget.
   * @returns false, after failing with 1013, when the budget cannot take it
   */
  #charge(bytes: number): boolean {
    const budget = this.#budget;
    if (budget === null || bytes === this.#charged) return true;
    if (bytes > this.#charged && budget.used + bytes - this.#charged > budget.limit) {
      this.#fail(CLOSE_CODE.TRY_AGAIN_LATER, "Server busy: too much WebSocket data in memory");
      return false;
    }
    budget.used += bytes - this.#charged;
    this.#charged = bytes;
    return true;
  }

  /** Unmasks payload bytes into the control frame or the message. */
  #payload(bytes: Uint8Array, start: number, end: number): void {
    const control = isControl(this.#opcode);
    if (!control && !this.#reserve(end - start)) return;
    const out = control ? this.#control : this.#message;
    const at = control ? this.#controlLength : this.#messageLength;
    const n = end - start;
    if (!control && n >= WORD_UNMASK_MIN) {
      out.set(bytes.subarray(start, end), at);
      this.#unmaskWords(at, at + n);
    } else {
      const m0 = this.#mask0, m1 = this.#mask1, m2 = this.#mask2, m3 = this.#mask3;
      let k = this.#done;
      let o = at;
      let i = start;
      // Up to the next multiple of four masked bytes, then four at a time with the mask in order:
      // a branch per byte cost a quarter of a 64-byte echo.
      for (; i < end && (k & 3) !== 0; i++, k++, o++) out[o] = bytes[i]! ^ this.#maskByte(k);
      for (; i + 3 < end; i += 4, k += 4, o += 4) {
        out[o] = bytes[i]! ^ m0;
        out[o + 1] = bytes[i + 1]! ^ m1;
        out[o + 2] = bytes[i + 2]! ^ m2;
        out[o + 3] = bytes[i + 3]! ^ m3;
      }
      for (; i < end; i++, k++, o++) out[o] = bytes[i]! ^ this.#maskByte(k);
    }
    this.#done += n;
    this.#remaining -= n;
    if (control) this.#controlLength += n;
    else {
      this.#messageLength += n;
      // §8.1: fail fast on text that cannot be UTF-8, before the rest of the message arrives.
      if (this.#utf8 !== null && this.#messageOpcode === OPCODE.TEXT && !this.#compressed) {
        if (!this.#utf8.push(out, at, at + n)) {
          return this.#fail(CLOSE_CODE.INVALID_PAYLOAD, "Text is not UTF-8");
        }
      }
    }
    if (this.#remaining === 0) this.#frameEnd();
  }

  /** The mask's byte for payload byte `k` of the frame (§5.3: octet i uses key octet i mod 4). */
  #maskByte(k: number): number {
    const phase = k & 3;
    return phase === 0 ? this.#mask0 : phase === 1 ? this.#mask1 : phase === 2 ? this.#mask2 : this.#mask3;
  }

  /**
   * Unmasks the message's bytes `[from, to)` in place (copied there masked): bytes up to a 4-byte
   * boundary of the buffer, then whole 32-bit words with the mask rotated to that boundary's
   * phase, then the bytes left.
   */
  #unmaskWords(from: number, to: number): void {
    const out = this.#message;
    let k = this.#done;
    let o = from;
    for (; o < to && (o & 3) !== 0; o++, k++) out[o] = out[o]! ^ this.#maskByte(k);
    MASK_BYTES[0] = this.#maskByte(k);
    MASK_BYTES[1] = this.#maskByte(k + 1);
    MASK_BYTES[2] = this.#maskByte(k + 2);
    MASK_BYTES[3] = this.#maskByte(k + 3);
    const mask = MASK_WORD[0]!;
    // Made at the first long run of each buffer: short messages never pay for the view.
    if (this.#messageWords.buffer !== out.buffer) {
      this.#messageWords = new Int32Array(out.buffer, 0, out.length >>> 2);
    }
    const words = this.#messageWords;
    const last = to >>> 2;
    for (let w = o >>> 2; w < last; w++) words[w] = words[w]! ^ mask;
    const tail = last << 2;
    if (tail > o) {
      k += tail - o;
      o = tail;
    }
    for (; o < to; o++, k++) out[o] = out[o]! ^ this.#maskByte(k);
  }

  #frameEnd(): void {
    this.#stage = STAGE.BYTE0;
    const opcode = this.#opcode;
    if (isControl(opcode)) {
      const payload = this.#control;
      this.#control = EMPTY;
      if (opcode === OPCODE.PING) return this.#sink.ping(payload);
      if (opcode === OPCODE.PONG) return this.#sink.pong(payload);
      const body = parseCloseBody(payload);
      if ("error" in body) return this.#fail(body.error, body.message);
      this.#stage = STAGE.DONE;
      return this.#sink.close(body.code, body.reason);
    }
    if ((this.#first & FIN) !== 0) this.#messageEnd();
  }

  #messageEnd(): void {
    const text = this.#messageOpcode === OPCODE.TEXT;
    const data = this.#messageLength === 0
      ? new Uint8Array(0)
      : this.#message.length === this.#messageLength
      ? this.#message
      : this.#message.slice(0, this.#messageLength);
    this.#message = EMPTY;
    this.#messageWords = EMPTY_WORDS;
    this.#messageOpcode = 0;
    this.#messageLength = 0;
    if (this.#compressed) {
      this.#stage = STAGE.INFLATING;
      this.#messageOpcode = text ? OPCODE.TEXT : OPCODE.BINARY; // still in progress
      try {
        this.#inflater!.begin(data, this.#maxMessage);
      } catch {
        return this.#fail(CLOSE_CODE.INTERNAL_ERROR, "Cannot inflate");
      }
      return this.#inflateStep();
    }
    this.#charge(0); // delivered: the application holds it now
    if (text && !this.#utf8!.complete) {
      return this.#fail(CLOSE_CODE.INVALID_PAYLOAD, "Text ends inside a character");
    }
    this.#sink.message(text, data);
  }

  #inflateStep(): void {
    const inflater = this.#inflater!;
    const result = inflater.step(INFLATE_STEP);
    // The compressed payload is still held (the inflater reads it), with what came out so far.
    if (result === null) {
      this.#charge(inflater.held);
      return; // more on a later turn
    }
    this.#charge(0); // delivered (or failed): the application holds it now
    const text = this.#messageOpcode === OPCODE.TEXT;
    this.#messageOpcode = 0;
    this.#stage = STAGE.BYTE0;
    if (typeof result === "number") {
      return this.#fail(
        result,
        result === CLOSE_CODE.MESSAGE_TOO_BIG ? "Message too big" : "Bad compressed data",
      );
    }
    if (text) {
      this.#utf8 ??= new Utf8Validator();
      this.#utf8.reset();
      if (!this.#utf8.push(result, 0, result.length) || !this.#utf8.complete) {
        return this.#fail(CLOSE_CODE.INVALID_PAYLOAD, "Text is not UTF-8");
      }
    }
    this.#sink.message(text, result);
  }

  #fail(code: number, reason: string): void {
    this.#stage = STAGE.DONE;
    this.#message = EMPTY;
    this.#messageWords = EMPTY_WORDS;
    this.#control = EMPTY;
    if (this.#budget !== null) {
      this.#budget.used -= this.#charged;
      this.#charged = 0;
    }
    this.#sink.fail(code, reason);
  }
}
