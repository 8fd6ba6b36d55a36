// WebSocket frames (RFC 6455 §5.2): the opcodes, the close codes, and the head of a frame the
// server sends. Server frames are never masked (§5.1); the head is 2, 4 or 10 bytes.

/** Frame opcodes (RFC 6455 §5.2, §11.8). Any other value is reserved and fails the connection. */
export const OPCODE = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

/** Close codes (RFC 6455 §7.4.1, §11.7). */
export const CLOSE_CODE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Never sent: stands for "the close frame had no code" (§7.1.5). */
  NO_STATUS: 1005,
  /** Never sent: stands for "closed without a close frame" (§7.1.5). */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  /** The server is overloaded for now (IANA registry, RFC 6455 §11.7). */
  TRY_AGAIN_LATER: 1013,
} as const;

/** RFC 6455 §5.5: a control frame's payload is at most 125 bytes. */
export const MAX_CONTROL_PAYLOAD = 125;

/** Header bits of the first byte. */
export const FIN = 0x80;
export const RSV1 = 0x40;
export const RSV2 = 0x20;
export const RSV3 = 0x10;

/** Largest head a server frame needs: 2 bytes plus a 64-bit length. */
export const MAX_HEAD = 10;

/** Whether an opcode is a control frame's (close, ping, pong): its high bit is set (§5.5). */
export function isControl(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}

/**
 * Writes the head of an unmasked frame into `out` at `at`.
 * @param first the first byte: FIN, RSV1 and the opcode
 * @param length the payload's length (below 2^53)
 * @returns the head's length: 2, 4 or 10
 */
export function writeFrameHead(out: Uint8Array, at: number, first: number, length: number): number {
  out[at] = first;
  if (length < 126) {
    out[at + 1] = length;
    return 2;
  }
  if (length < 0x10000) {
    out[at + 1] = 126;
    out[at + 2] = length >>> 8;
    out[at + 3] = length & 0xff;
    return 4;
  }
  out[at + 1] = 127;
  const high = Math.floor(length / 0x100000000);
  const low = length >>> 0;
  out[at + 2] = 0;
  out[at + 3] = 0;
  out[at + 4] = (high >>> 8) & 0xff;
  out[at + 5] = high & 0xff;
  out[at + 6] = low >>> 24;
  out[at + 7] = (low >>> 16) & 0xff;
  out[at + 8] = (low >>> 8) & 0xff;
  out[at + 9] = low & 0xff;
  return 10;
}

/**
 * One whole frame, head and payload in one buffer (control frames and small messages).
 * @param first the first byte: FIN, RSV1 and the opcode
 */
export function encodeFrame(first: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  // One allocation: the head's length is known from the payload's (writeFrameHead's rule).
  const frame = new Uint8Array((length < 126 ? 2 : length < 0x10000 ? 4 : MAX_HEAD) + length);
  frame.set(payload, writeFrameHead(frame, 0, first, length));
  return frame;
}
