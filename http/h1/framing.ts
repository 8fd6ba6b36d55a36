// How a response is delimited and whether the connection outlives it: one decision, made here
// once per response from the facts that decide it (RFC 9112 §6.1-6.3, §9.3; RFC 9110 §6.4.1).

import { STATUS } from "../status.ts";

/** How a response's body is delimited. */
export const FRAMING = {
  /** `Content-Length: n`. */
  LENGTH: 0,
  /** `Transfer-Encoding: chunked`: length unknown, HTTP/1.1. */
  CHUNKED: 1,
  /** No framing field; the body ends when the connection closes (length unknown, HTTP/1.0). */
  UNTIL_CLOSE: 2,
  /** No body and no framing field: 1xx, 204, 304 (RFC 9110 §6.4.1). */
  NONE: 3,
} as const;
export type Framing = typeof FRAMING[keyof typeof FRAMING];

/** The decision for one response. Reused: decideFraming() overwrites every field. */
export interface ResponseFraming {
  framing: Framing;
  /** The Content-Length to send (LENGTH only). */
  length: number;
  /** The connection closes after this response: send `Connection: close`. */
  close: boolean;
  /** An HTTP/1.0 client asked to keep the connection and it stays: send `Connection: keep-alive`. */
  keepAlive10: boolean;
  /** Send the head only (HEAD, or a status that has no body). */
  omitBody: boolean;
}

/** The request-side facts (an unparsable request has none: it is answered as HTTP/1.1). */
export interface FramingRequest {
  isHead: boolean;
  /** HTTP/1.x minor version. */
  minor: number;
  /** The request, or the server, wants the connection closed after this response. */
  close: boolean;
}

/**
 * Decides a response's framing.
 * @param out overwritten with the decision
 * @param status the response status
 * @param length the body's length in bytes, or -1 when unknown (a stream); for HEAD and 304,
 *   the length a GET would have had, when the handler said
 * @param request the facts of the request being answered
 */
export function decideFraming(
  out: ResponseFraming,
  status: number,
  length: number,
  request: FramingRequest,
): void {
  out.close = request.close;
  out.length = 0;
  if (status < STATUS.OK || status === STATUS.NO_CONTENT || status === STATUS.NOT_MODIFIED) {
    out.framing = FRAMING.NONE;
    out.omitBody = true;
  } else {
    out.omitBody = request.isHead;
    if (length >= 0) {
      out.framing = FRAMING.LENGTH;
      out.length = length;
    } else if (request.minor === 0) {
      out.framing = FRAMING.UNTIL_CLOSE; // HTTP/1.0 has no chunked coding (RFC 9112 §6.1)
      out.close = true;
    } else {
      out.framing = FRAMING.CHUNKED;
    }
  }
  out.keepAlive10 = request.minor === 0 && !out.close;
}
