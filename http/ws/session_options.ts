// What a WebSocket session is told and tells: its states, limits and their defaults (each with
// its reason), and the events the application hears. The session is in session.ts.

import type { Deadline, DeadlineTarget } from "../types.ts";
import type { MessageBudget } from "./receiver.ts";
import type { PerMessageDeflate } from "./permessage_deflate.ts";
import type { WebSocketTotals } from "./stats.ts";

/** The WebSocket's states (WHATWG readyState numbering; CONNECTING ends before a session exists). */
export const WS_STATE = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
export type WsState = typeof WS_STATE[keyof typeof WS_STATE];

/** Queued output past which the session stops reading: 1 MiB, so a peer cannot grow it by sending. */
export const READ_PAUSE_BYTES = 1024 * 1024;
/**
 * Queued output past which a peer that does not read is closed with 1008: 16 MiB by default. A
 * single larger message is accepted when nothing else waits (the bound is then its size).
 */
export const DEFAULT_MAX_QUEUED = 16 * 1024 * 1024;
/** How long the close handshake may take once begun (RFC 6455 §7.1.1 leaves it to the server). */
export const DEFAULT_CLOSE_TIMEOUT_MS = 5000;
/** Uncompressed bytes deflated per turn: ~0.25 ms of zlib level 1 (scripts/ws_deflate_cost.ts). */
export const DEFLATE_SLICE = 16 * 1024;
/** Messages shorter than this are sent uncompressed: they fit one TCP segment either way. */
export const COMPRESS_THRESHOLD = 1024;

/** What the application hears from a session, in order. */
export interface SessionEvents {
  /** A whole message; UTF-8 already validated when `text`. */
  message(text: boolean, data: Uint8Array): void;
  /** The queue shrank: bufferedAmount went down. */
  drained?(): void;
  /**
   * The connection is over, once: `clean` when the close handshake completed. `code` is the
   * peer's (1005 for none), or 1006 when the TCP connection ended without one, or the code the
   * server failed the connection with.
   */
  closed(code: number, reason: string, clean: boolean): void;
}

/** Limits and hooks of a session. */
export interface SessionOptions {
  /** Makes the session's one deadline (with a target, the session needs no closure for it). */
  deadline: (target: (() => void) | DeadlineTarget) => Deadline;
  /** Largest message received, across fragments and inflated (1009 beyond). */
  maxMessageSize?: number;
  /** Silence after which the peer is pinged; as long again without an answer and it is closed. 0: never. */
  idleTimeoutMs?: number;
  /** Time the queue may make no progress while the peer does not read. */
  writeTimeoutMs?: number;
  /** Time the close handshake may take. */
  closeTimeoutMs?: number;
  /**
   * Queued output past which the peer is closed with 1008 (it does not read); a single message
   * larger than this is accepted when it is alone in the queue.
   */
  maxQueuedBytes?: number;
  /** The budget every WebSocket's received message bytes are charged to (1013 beyond it). */
  messageBudget?: MessageBudget | null;
  /** Queued output past which reading stops (default READ_PAUSE_BYTES). */
  readPauseBytes?: number;
  /** The negotiated permessage-deflate, or null. */
  deflate?: PerMessageDeflate | null;
  /** The clock (ms) the idle timeout reads; default the batch clock (http/clock.ts). */
  now?: () => number;
  /** The server's totals, which the session adds to. */
  totals?: WebSocketTotals;
  /** The negotiated Sec-WebSocket-Extensions (describe() shows it). */
  extensions?: string;
}
