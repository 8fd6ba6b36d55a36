// The close frame's body (RFC 6455 §5.5.1, §7.4): a 2-byte code and a UTF-8 reason, the codes a
// peer may send, and the codes and reasons an application may ask for (the WebSocket standard's
// close() rules).

import { CLOSE_CODE, MAX_CONTROL_PAYLOAD } from "./frame.ts";
import { isUtf8 } from "./utf8.ts";

/** A reason is decoded as UTF-8 without BOM (WHATWG WebSockets): a leading U+FEFF is kept. */
const DECODER = new TextDecoder("utf-8", { ignoreBOM: true });
const ENCODER = new TextEncoder();

/** A close frame's reason is at most 123 bytes: 125 less the code's 2 (§5.5). */
export const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2;

/**
 * Whether a peer may send `code` in a close frame (§7.4.1, §7.4.2): 1000-1003, 1007-1014 (1012-1014
 * registered with IANA since), and 3000-4999 (libraries, frameworks, applications). 1004, 1005,
 * 1006, 1015 and everything else below 3000 or above 4999 are a protocol error.
 */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** A close frame's body as received: its code and reason, or the close code its defect calls for. */
export type CloseBody = { code: number; reason: string } | { error: number; message: string };

/**
 * Reads a received close frame's payload (§5.5.1).
 * @returns the code (1005 when the body is empty) and reason, or the code to fail with: 1002 for
 *   a 1-byte body or an invalid code, 1007 for a reason that is not UTF-8
 */
export function parseCloseBody(payload: Uint8Array): CloseBody {
  if (payload.length === 0) return { code: CLOSE_CODE.NO_STATUS, reason: "" };
  if (payload.length === 1) return { error: CLOSE_CODE.PROTOCOL_ERROR, message: "Close frame of 1 byte" };
  const code = (payload[0]! << 8) | payload[1]!;
  if (!isValidCloseCode(code)) {
    return { error: CLOSE_CODE.PROTOCOL_ERROR, message: `Invalid close code ${code}` };
  }
  const reason = payload.subarray(2);
  if (!isUtf8(reason)) return { error: CLOSE_CODE.INVALID_PAYLOAD, message: "Close reason is not UTF-8" };
  return { code, reason: DECODER.decode(reason) };
}

/**
 * The body of a close frame the server sends. A code of 1005 (none) sends an empty body.
 * @param reason at most 123 bytes as UTF-8 (longer reasons are cut at a character boundary)
 */
export function encodeCloseBody(code: number, reason = ""): Uint8Array {
  if (code === CLOSE_CODE.NO_STATUS) return new Uint8Array(0);
  let text = ENCODER.encode(reason);
  if (text.length > MAX_CLOSE_REASON) {
    let end = MAX_CLOSE_REASON;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--; // not inside a character
    text = text.subarray(0, end);
  }
  const body = new Uint8Array(2 + text.length);
  body[0] = code >>> 8;
  body[1] = code & 0xff;
  body.set(text, 2);
  return body;
}

/** Why an application's close(code, reason) is refused, as the WebSocket standard words it. */
export const CLOSE_REFUSAL = {
  /** The code is neither 1000 nor 3000-4999 (InvalidAccessError). */
  CODE: "code",
  /** The reason is longer than 123 bytes as UTF-8 (SyntaxError). */
  REASON: "reason",
} as const;

/**
 * Checks an application's close(code, reason) (WHATWG WebSocket, close() steps 1-2).
 * @returns null when allowed, else which argument is refused
 */
export function checkAppClose(
  code: number | undefined,
  reason: string | undefined,
): typeof CLOSE_REFUSAL[keyof typeof CLOSE_REFUSAL] | null {
  if (code !== undefined && code !== CLOSE_CODE.NORMAL && !(code >= 3000 && code <= 4999)) {
    return CLOSE_REFUSAL.CODE;
  }
  if (reason !== undefined && ENCODER.encode(reason).length > MAX_CLOSE_REASON) return CLOSE_REFUSAL.REASON;
  return null;
}
