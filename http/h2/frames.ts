// HTTP/2 frames (RFC 9113 §4, §6): a sans-I/O parser that checks every size and flag rule of
// each frame type, and a writer that appends frames to one growable buffer (one write per batch).
// The parser throws H2Error for connection errors and reports stream errors in the frame, since
// whether a stream error applies depends on the stream's state, which only the session knows.

import type { ByteSink } from "./hpack.ts";

/** Frame types (RFC 9113 §6). */
export const FRAME = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (RFC 9113 §6); ACK and END_STREAM share a bit on different frame types. */
export const FLAG = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes (RFC 9113 §7). */
export const H2_ERROR = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** Setting identifiers (RFC 9113 §6.5.2; 8 is RFC 8441's). */
export const SETTING = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  ENABLE_CONNECT_PROTOCOL: 0x8,
} as const;

/** Every frame begins with a 9-octet header (RFC 9113 §4.1). */
export const FRAME_HEADER_BYTES = 9;
/** RFC 9113 §4.2: SETTINGS_MAX_FRAME_SIZE's initial value and its lower bound. */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
/** RFC 9113 §4.2: the largest frame size a peer may allow (2^24 - 1). */
export const MAX_FRAME_SIZE_LIMIT = 0xffffff;
/** RFC 9113 §6.9.1: the largest flow-control window (2^31 - 1). */
export const MAX_WINDOW = 0x7fffffff;
/** RFC 9113 §6.9.2: every window's initial size. */
export const DEFAULT_WINDOW = 65535;
/** RFC 9113 §3.4: the 24 octets a client opens every connection with. */
export const CLIENT_PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Returned by parseFrame() when the frame has not fully arrived: read more and call again. */
export const INCOMPLETE = -1;

/** A protocol error: a connection error when `streamId` is 0 (RFC 9113 §5.4). */
export class H2Error extends Error {
  override name = "H2Error";
  /** An H2_ERROR code. */
  readonly code: number;
  /** The stream the error is about, or 0 for the connection. */
  readonly streamId: number;

  constructor(code: number, message: string, streamId = 0) {
    super(message);
    this.code = code;
    this.streamId = streamId;
  }
}

function connectionError(code: number, message: string): H2Error {
  return new H2Error(code, message);
}

/**
 * One parsed frame; parseFrame() resets every field, so one record serves a whole connection.
 * `start`/`end` delimit, in the parsed buffer, the part the frame carries: DATA's data and a field
 * block fragment without padding or priority, PING's opaque data, GOAWAY's debug data, SETTINGS'
 * parameters.
 */
export class Frame {
  type = 0;
  flags = 0;
  streamId = 0;
  /** Payload length as sent (flow control counts all of it, padding included: RFC 9113 §6.9). */
  length = 0;
  start = 0;
  end = 0;
  /** HEADERS with PRIORITY and PRIORITY: the stream depended on, or -1. */
  dependency = -1;
  /** RST_STREAM and GOAWAY: the error code. */
  errorCode = 0;
  /** GOAWAY: the last stream id; PUSH_PROMISE: the promised stream id. */
  lastStreamId = 0;
  /** WINDOW_UPDATE: the increment. */
  increment = 0;
  /** A stream error this frame is (an H2_ERROR code), for the session to apply to `streamId`, or -1. */
  streamError = -1;

  /** Whether a flag is set. */
  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }
}

function u32(buf: Uint8Array, p: number): number {
  return ((buf[p]! << 24) >>> 0) + (buf[p + 1]! << 16) + (buf[p + 2]! << 8) + buf[p + 3]!;
}

/**
 * Parses one frame from `buf[start, end)`.
 * @param maxFrameSize our SETTINGS_MAX_FRAME_SIZE: longer frames are a connection error
 * @param frame filled in on success
 * @returns bytes consumed (header and payload), or INCOMPLETE
 * @throws {H2Error} a connection error (FRAME_SIZE_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR)
 */
export function parseFrame(
  buf: Uint8Array,
  start: number,
  end: number,
  maxFrameSize: number,
  frame: Frame,
): number {
  if (end - start < FRAME_HEADER_BYTES) return INCOMPLETE;
  const length = (buf[start]! << 16) | (buf[start + 1]! << 8) | buf[start + 2]!;
  // RFC 9113 §4.2: a frame longer than SETTINGS_MAX_FRAME_SIZE; known before its payload arrives.
  if (length > maxFrameSize) throw connectionError(H2_ERROR.FRAME_SIZE_ERROR, `Frame of ${length} octets`);
  if (end - start < FRAME_HEADER_BYTES + length) return INCOMPLETE;
  const type = buf[start + 3]!, flags = buf[start + 4]!;
  const streamId = u32(buf, start + 5) & 0x7fffffff; // §4.1: the reserved bit is ignored
  const p = start + FRAME_HEADER_BYTES, q = p + length;
  frame.type = type;
  frame.flags = flags;
  frame.streamId = streamId;
  frame.length = length;
  frame.start = p;
  frame.end = q;
  frame.dependency = -1;
  frame.errorCode = 0;
  frame.lastStreamId = 0;
  frame.increment = 0;
  frame.streamError = -1;
  switch (type) {
    case FRAME.DATA:
      onStream(frame, "DATA");
      unpad(buf, frame, 0);
      break;
    case FRAME.HEADERS:
      onStream(frame, "HEADERS");
      unpad(buf, frame, flags & FLAG.PRIORITY ? 5 : 0);
      if (flags & FLAG.PRIORITY) frame.dependency = u32(buf, frame.start - 5) & 0x7fffffff;
      break;
    case FRAME.PRIORITY:
      onStream(frame, "PRIORITY");
      // §6.3: a wrong length is a stream error.
      if (length !== 5) frame.streamError = H2_ERROR.FRAME_SIZE_ERROR;
      else {
        frame.dependency = u32(buf, p) & 0x7fffffff;
        // §5.3.1: a stream cannot depend on itself.
        if (frame.dependency === streamId) frame.streamError = H2_ERROR.PROTOCOL_ERROR;
      }
      break;
    case FRAME.RST_STREAM:
      onStream(frame, "RST_STREAM");
      exactly(frame, 4, "RST_STREAM");
      frame.errorCode = u32(buf, p);
      break;
    case FRAME.SETTINGS:
      onConnection(frame, "SETTINGS");
      if (flags & FLAG.ACK) {
        if (length !== 0) throw connectionError(H2_ERROR.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      } else if (length % 6 !== 0) {
        throw connectionError(H2_ERROR.FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6");
      }
      for (let s = p; s < q; s += 6) checkSetting(buf[s]! << 8 | buf[s + 1]!, u32(buf, s + 2));
      break;
    case FRAME.PUSH_PROMISE:
      onStream(frame, "PUSH_PROMISE");
      unpad(buf, frame, 4);
      frame.lastStreamId = u32(buf, frame.start - 4) & 0x7fffffff;
      break;
    case FRAME.PING:
      onConnection(frame, "PING");
      exactly(frame, 8, "PING");
      break;
    case FRAME.GOAWAY:
      onConnection(frame, "GOAWAY");
      if (length < 8) throw connectionError(H2_ERROR.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 octets");
      frame.lastStreamId = u32(buf, p) & 0x7fffffff;
      frame.errorCode = u32(buf, p + 4);
      frame.start = p + 8;
      break;
    case FRAME.WINDOW_UPDATE:
      exactly(frame, 4, "WINDOW_UPDATE");
      frame.increment = u32(buf, p) & 0x7fffffff;
      // §6.9: an increment of 0 is an error, of the connection's or the stream's.
      if (frame.increment === 0) {
        if (streamId === 0) throw connectionError(H2_ERROR.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
        frame.streamError = H2_ERROR.PROTOCOL_ERROR;
      }
      break;
    case FRAME.CONTINUATION:
      onStream(frame, "CONTINUATION");
      break;
    default: // §4.1, §5.5: frames of unknown types are ignored
      break;
  }
  return FRAME_HEADER_BYTES + length;
}

function onStream(frame: Frame, what: string): void {
  if (frame.streamId === 0) throw connectionError(H2_ERROR.PROTOCOL_ERROR, `${what} on stream 0`);
}

function onConnection(frame: Frame, what: string): void {
  if (frame.streamId !== 0) throw connectionError(H2_ERROR.PROTOCOL_ERROR, `${what} on a stream`);
}

function exactly(frame: Frame, length: number, what: string): void {
  if (frame.length !== length) {
    throw connectionError(H2_ERROR.FRAME_SIZE_ERROR, `${what} of ${frame.length} octets`);
  }
}

/**
 * Removes the Pad Length octet, `fixed` more octets (priority, promised stream) and the padding
 * from [frame.start, frame.end) (RFC 9113 §6.1, §6.2, §6.6).
 */
function unpad(buf: Uint8Array, frame: Frame, fixed: number): void {
  const padded = (frame.flags & FLAG.PADDED) !== 0;
  const head = (padded ? 1 : 0) + fixed;
  if (frame.length < head) throw connectionError(H2_ERROR.FRAME_SIZE_ERROR, "Frame too short for its fields");
  const padding = padded ? buf[frame.start]! : 0;
  // §6.1, §6.2: padding as long as what remains, or longer, is a PROTOCOL_ERROR.
  if (padded && padding > frame.length - head) {
    throw connectionError(H2_ERROR.PROTOCOL_ERROR, "Padding longer than the frame");
  }
  frame.start += head;
  frame.end -= padding;
}

/**
 * RFC 9113 §6.5.2 (and RFC 8441 §3): a value outside its setting's range is a connection error.
 * @throws {H2Error}
 */
export function checkSetting(id: number, value: number): void {
  switch (id) {
    case SETTING.ENABLE_PUSH:
    case SETTING.ENABLE_CONNECT_PROTOCOL:
      if (value > 1) throw connectionError(H2_ERROR.PROTOCOL_ERROR, `Setting ${id} of ${value}`);
      break;
    case SETTING.INITIAL_WINDOW_SIZE:
      if (value > MAX_WINDOW) {
        throw connectionError(H2_ERROR.FLOW_CONTROL_ERROR, `Initial window of ${value}`);
      }
      break;
    case SETTING.MAX_FRAME_SIZE:
      if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_FRAME_SIZE_LIMIT) {
        throw connectionError(H2_ERROR.PROTOCOL_ERROR, `Max frame size of ${value}`);
      }
      break;
  }
}

/**
 * Calls `each` with every parameter of a SETTINGS frame that parseFrame() accepted, in order
 * (RFC 9113 §6.5.3: processed in the order they appear; unknown ones are the caller's to ignore).
 */
export function forEachSetting(
  buf: Uint8Array,
  frame: Frame,
  each: (id: number, value: number) => void,
): void {
  for (let s = frame.start; s < frame.end; s += 6) each(buf[s]! << 8 | buf[s + 1]!, u32(buf, s + 2));
}

// ---- the writer ----------------------------------------------------------------------------------

/** A growable buffer of outgoing frames, drained by the session with one write per batch. */
export class FrameWriter implements ByteSink {
  bytes: Uint8Array;
  length = 0;

  /** @param capacity initial size in bytes */
  constructor(capacity = 16384) {
    this.bytes = new Uint8Array(capacity);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(need, this.bytes.length * 2));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /**
   * Moves the frames written so far into `bytes` (as long as they, at least) and writes on there.
   * @returns the buffer it wrote into before
   */
  adopt(bytes: Uint8Array): Uint8Array {
    const before = this.bytes;
    bytes.set(before.subarray(0, this.length));
    this.bytes = bytes;
    return before;
  }

  /** Appends raw bytes. */
  append(src: Uint8Array, start = 0, end = src.length): void {
    this.ensure(end - start);
    this.bytes.set(src.subarray(start, end), this.length);
    this.length += end - start;
  }

  /** Drops the first `n` bytes (the kernel took them). */
  consume(n: number): void {
    if (n >= this.length) {
      this.length = 0;
      return;
    }
    this.bytes.copyWithin(0, n, this.length);
    this.length -= n;
  }

  /** Appends a frame header (RFC 9113 §4.1); the payload must follow. */
  head(length: number, type: number, flags: number, streamId: number): void {
    this.ensure(FRAME_HEADER_BYTES);
    const b = this.bytes, o = this.length;
    b[o] = length >>> 16;
    b[o + 1] = (length >>> 8) & 0xff;
    b[o + 2] = length & 0xff;
    b[o + 3] = type;
    b[o + 4] = flags;
    writeU32(b, o + 5, streamId);
    this.length = o + FRAME_HEADER_BYTES;
  }

  #u32(value: number): void {
    this.ensure(4);
    writeU32(this.bytes, this.length, value);
    this.length += 4;
  }

  /** SETTINGS with parameters, as [id, value] pairs. */
  settings(params: readonly (readonly [number, number])[]): void {
    this.head(params.length * 6, FRAME.SETTINGS, 0, 0);
    for (const [id, value] of params) {
      this.ensure(6);
      this.bytes[this.length] = id >>> 8;
      this.bytes[this.length + 1] = id & 0xff;
      this.length += 2;
      this.#u32(value);
    }
  }

  /** SETTINGS with ACK. */
  settingsAck(): void {
    this.head(0, FRAME.SETTINGS, FLAG.ACK, 0);
  }

  /** PING, or its ACK, with 8 octets of opaque data from `buf[start, start + 8)`. */
  ping(ack: boolean, buf: Uint8Array, start: number): void {
    this.head(8, FRAME.PING, ack ? FLAG.ACK : 0, 0);
    this.append(buf, start, start + 8);
  }

  /** GOAWAY (RFC 9113 §6.8). */
  goaway(lastStreamId: number, code: number, debug = ""): void {
    const text = new TextEncoder().encode(debug);
    this.head(8 + text.length, FRAME.GOAWAY, 0, 0);
    this.#u32(lastStreamId);
    this.#u32(code);
    this.append(text);
  }

  /** RST_STREAM (RFC 9113 §6.4). */
  rstStream(streamId: number, code: number): void {
    this.head(4, FRAME.RST_STREAM, 0, streamId);
    this.#u32(code);
  }

  /** WINDOW_UPDATE (RFC 9113 §6.9); `increment` is 1 to 2^31 - 1. */
  windowUpdate(streamId: number, increment: number): void {
    this.head(4, FRAME.WINDOW_UPDATE, 0, streamId);
    this.#u32(increment);
  }

  /** PRIORITY (RFC 9113 §6.3). */
  priority(streamId: number, dependency: number, exclusive: boolean, weight: number): void {
    this.head(5, FRAME.PRIORITY, 0, streamId);
    this.#u32(exclusive ? (dependency | 0x80000000) >>> 0 : dependency);
    this.ensure(1);
    this.bytes[this.length++] = weight;
  }

  /** One DATA frame carrying `src[start, end)` (at most the peer's SETTINGS_MAX_FRAME_SIZE). */
  data(streamId: number, src: Uint8Array, start: number, end: number, endStream: boolean): void {
    this.head(end - start, FRAME.DATA, endStream ? FLAG.END_STREAM : 0, streamId);
    this.append(src, start, end);
  }

  /**
   * A field block as HEADERS followed by as many CONTINUATION frames as `maxFrameSize` needs
   * (RFC 9113 §4.3: the frames of one block are contiguous).
   */
  headers(
    streamId: number,
    block: Uint8Array,
    blockLength: number,
    endStream: boolean,
    maxFrameSize: number,
  ): void {
    let p = 0;
    let type: number = FRAME.HEADERS;
    do {
      const n = Math.min(maxFrameSize, blockLength - p);
      const last = p + n === blockLength;
      let flags = last ? FLAG.END_HEADERS : 0;
      if (type === FRAME.HEADERS && endStream) flags |= FLAG.END_STREAM;
      this.head(n, type, flags, streamId);
      this.append(block, p, p + n);
      p += n;
      type = FRAME.CONTINUATION;
    } while (p < blockLength);
  }
}

function writeU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
