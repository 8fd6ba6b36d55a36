// What a WebSocket receiver is told and tells: its limits and their defaults (each with its
// reason), the budget its messages are charged to, what it reports, and the inflater it may be
// given. The receiver is in receiver.ts.

/** Default largest message, across its fragments (and after inflating): 64 MiB, as ws and uWS. */
export const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;
/**
 * The largest maxMessageSize allowed: 1 GiB. A message is held whole in one buffer; past this,
 * one allocation is likely to fail (V8 refuses typed arrays past 2^32) and a server should stream.
 */
export const MAX_MESSAGE_LIMIT = 1024 * 1024 * 1024;

/**
 * Bytes of messages being assembled or inflated, across every WebSocket of a server (as
 * BodyBudget is for HTTP bodies): a message that would take it past `limit` fails its socket with
 * 1013 (Try Again Later), so many peers at their maxMessageSize at once cannot exhaust memory.
 */
export interface MessageBudget {
  used: number;
  limit: number;
}

/**
 * Checks a maxMessageSize option.
 * @throws {RangeError} unless an integer from 0 to MAX_MESSAGE_LIMIT
 */
export function checkMaxMessageSize(value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > MAX_MESSAGE_LIMIT) {
    throw new RangeError(`maxMessageSize must be an integer from 0 to ${MAX_MESSAGE_LIMIT}, not ${value}`);
  }
  return value;
}

/** What the receiver reports, in the order the peer sent it. */
export interface ReceiverSink {
  /** A whole message: UTF-8 already validated when `text`. */
  message(text: boolean, data: Uint8Array): void;
  ping(payload: Uint8Array): void;
  pong(payload: Uint8Array): void;
  /** The peer's close frame (code 1005 when it had no body). Nothing is read after it. */
  close(code: number, reason: string): void;
  /** The peer broke the protocol: close with `code` (1002, 1007, 1009). Nothing is read after it. */
  fail(code: number, reason: string): void;
}

/**
 * Inflates a compressed message (RFC 7692 §7.2.2) a bounded step at a time, so a message that
 * inflates to megabytes (a deflate bomb) never holds the reactor for long; the permessage-deflate
 * extension provides it.
 */
export interface MessageInflater {
  /**
   * Starts on a message's whole compressed payload; the result may be at most `maxBytes`.
   * @throws Error when no stream can be made (out of memory, no zlib): the socket fails with 1011
   */
  begin(data: Uint8Array, maxBytes: number): void;
  /** Inflated bytes held for the message so far (charged to the MessageBudget). */
  readonly held: number;
  /**
   * Inflates until about `budget` bytes came out, or the message is done.
   * @returns the message when done, null when more steps are needed, or the close code to fail
   *   with (1009 past maxBytes, 1007 for data that is not DEFLATE)
   */
  step(budget: number): Uint8Array | null | number;
}

/** Inflated bytes per step (one push or resume): ~3 ms of zlib at most (scripts/ws_deflate_cost.ts). */
export const INFLATE_STEP = 1024 * 1024;

/** Options of a receiver. */
export interface ReceiverOptions {
  /** Largest message in bytes, across fragments and after inflating (1009 beyond). */
  maxMessageSize?: number;
  /** Present when permessage-deflate was negotiated: RSV1 is then allowed on a message's first frame. */
  inflater?: MessageInflater | null;
  /** The budget every WebSocket's message bytes are charged to (none: unlimited). */
  budget?: MessageBudget | null;
}
