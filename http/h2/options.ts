// What an HTTP/2 session is given and what it promises: the server's options (the members of the
// HTTP/1.1 ConnectionOptions that apply), the phases the status page shows, and every limit the
// session enforces, each with its reason (RFC 9113 §6.5.2 settings, windows, flood counts).

import { DEFAULT_MAX_FRAME_SIZE, SETTING } from "./frames.ts";
import type { BodyBudget } from "../request_body.ts";
import type { ConnectionStats } from "../stats.ts";
import type { Deadline, Handler, HttpSession, ResponseDone } from "../types.ts";

/**
 * What a session waits for, by the HTTP/1.1 connection's names (the status page shows either):
 * the preface or a header block (head), nothing (idle), request bodies (body), handlers (busy),
 * the client to read or to open its windows (writing).
 */
export type SessionPhase = "idle" | "head" | "body" | "busy" | "writing" | "closed";

/**
 * The limits and hooks a session uses: the members of the HTTP/1.1 ConnectionOptions that apply,
 * so the server hands the same object to both protocols.
 */
export interface SessionOptions {
  handler: Handler;
  /** Makes the session's one deadline. */
  deadline: (callback: () => void) => Deadline;
  /** Largest request body a handler may read (413 beyond). */
  maxBodyBytes: number;
  /** Request-body bytes held by all connections, and their bound (503 beyond). */
  bodyBudget: BodyBudget;
  /** Time to receive the preface and SETTINGS, or the rest of a header block. */
  headerTimeoutMs: number;
  /** Time a session with no stream open is kept. */
  idleTimeoutMs: number;
  /** Time request bodies may stall while every stream waits for one (408 after). */
  bodyTimeoutMs: number;
  /** Time output may make no progress: a full socket closes the session, a shut window resets its stream. */
  writeTimeoutMs: number;
  /** Counters; the session only adds to them. */
  stats: ConnectionStats;
  /** Whether the server is draining: the session begins a graceful GOAWAY. */
  draining: () => boolean;
  /** Called once when the session closes. */
  onClose?: (session: HttpSession) => void;
  /** Called when a file a response held is closed (`stats.filesOpen` went down). */
  onFileClosed?: () => void;
  /** The clock (ms) for ages, response times and flood intervals. Default `performance.now()`. */
  now?: () => number;
  /**
   * Called once per response whose head went out, when it ends: the kernel has its last byte,
   * or the stream or connection ended first (`done.complete`), with the session it came on.
   */
  onComplete?: (session: HttpSession, done: ResponseDone) => void;
  /** Fields every response carries (--header), pre-encoded with encodeFields(). */
  headers?: Uint8Array;
}

/** SETTINGS_MAX_CONCURRENT_STREAMS: requests in progress at once; more are refused (RFC 9113 §5.1.2). */
export const MAX_CONCURRENT_STREAMS = 100;
/** SETTINGS_MAX_HEADER_LIST_SIZE: a request's decoded fields (RFC 7541 §4.1 count); 431 beyond. */
export const MAX_HEADER_LIST_BYTES = 16 * 1024;
/**
 * A header block's encoded octets over HEADERS and CONTINUATION frames. A block cannot be much
 * larger than the list it encodes (each field costs 32 octets in the list, 1 or more on the wire),
 * so twice the list's bound is generous; past it the block is a flood (CVE-2024-27316 class).
 */
export const MAX_HEADER_BLOCK_BYTES = 2 * MAX_HEADER_LIST_BYTES;
/** CONTINUATION frames in one block, empty ones included: two 16 KiB frames carry the largest block. */
export const MAX_CONTINUATION_FRAMES = 8;
/** Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE): body bytes a client may send ahead. */
export const STREAM_WINDOW = 256 * 1024;
/** The connection's receive window: body bytes all streams may have unread at once. */
export const CONNECTION_WINDOW = 1024 * 1024;
/** Windows are reopened in steps of at least this much, or when nearly shut (few WINDOW_UPDATEs). */
export const WINDOW_STEP = 16 * 1024;
/** Frames out are written once the buffer passes this (and a turn fills no more): bounds its growth. */
export const OUTPUT_BYTES = 64 * 1024;
/**
 * The largest DATA frame we write, whatever SETTINGS_MAX_FRAME_SIZE the peer allows: a frame of
 * bytes is copied into the output buffer whole, so a peer's 16 MiB would grow it to 16 MiB; 16 KiB
 * is the default frame size and one TLS record's plaintext (RFC 8446 §5.1).
 */
export const DATA_FRAME_BYTES = 16 * 1024;
/**
 * The largest DATA frame of a file read by the session itself (a transport that `copiesFiles`,
 * TLS): its 9-octet head and payload fill one 16 KiB TLS record (RFC 8446 §5.1) exactly, where a
 * 16 KiB payload would spill 9 bytes into a second record.
 */
export const COPIED_FRAME_BYTES = 16 * 1024 - 9;
/** An output buffer grown past this is let go when no response body is in progress. */
export const OUTPUT_KEEP_BYTES = 16 * 1024;
/**
 * A buffer lent to a session while it sends bodies (buffer_pool.ts): OUTPUT_BYTES, the DATA frame
 * that may cross it and the heads composed before them; a session that needs more grows its own.
 */
export const LENT_OUTPUT_BYTES = 2 * OUTPUT_BYTES;
/**
 * Lent buffers kept idle for the next burst: about the connections sending bodies at one moment
 * that a reactor turn serves; 8 × 128 KiB is the pool's memory at most when no one sends.
 */
export const LENT_OUTPUT_KEEP = 8;
/** A streamed body's chunks buffered ahead of the peer's window; reading the stream waits beyond. */
export const STREAM_BUFFER_BYTES = 64 * 1024;
/**
 * Control frames (SETTINGS and PING ACKs, RST_STREAM, WINDOW_UPDATE) waiting for a peer that
 * does not read: past this the peer is flooding us (Go's maxQueuedControlFrames, 10,000 frames).
 */
export const MAX_CONTROL_BYTES = 64 * 1024;
/** The interval over which FLOOD_LIMITS count frames. */
export const FLOOD_INTERVAL_MS = 1000;
/**
 * Frames a peer may send per FLOOD_INTERVAL_MS that cost us work and carry no request: past
 * any of them the connection ends with GOAWAY ENHANCE_YOUR_CALM. `reset` is rapid reset
 * (CVE-2023-44487): streams that ended before their answers did, whoever reset them, since a
 * client can make the server reset a stream as cheaply as reset it itself.
 */
export const FLOOD_LIMITS = {
  reset: 200,
  ping: 100,
  settings: 100,
  windowUpdate: 10_000,
  emptyData: 100,
  priority: 1000,
  refused: 1000,
} as const;
export type Flood = keyof typeof FLOOD_LIMITS;
export const FLOODS = Object.keys(FLOOD_LIMITS) as Flood[];

/** Bytes read per read(2): several full frames; a partial frame is kept behind them. */
export const READ_BYTES = 64 * 1024;
/** Our SETTINGS_MAX_FRAME_SIZE: the default, so a partial frame held per connection stays small. */
export const MAX_FRAME_SIZE = DEFAULT_MAX_FRAME_SIZE;
/** The largest stream id (RFC 9113 §5.1.1), announced by the first GOAWAY of a graceful drain. */
export const MAX_STREAM_ID = 0x7fffffff;

/** What our SETTINGS frame announces (RFC 9113 §6.5.2). */
export const OUR_SETTINGS: readonly (readonly [number, number])[] = [
  [SETTING.ENABLE_PUSH, 0],
  [SETTING.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS],
  [SETTING.INITIAL_WINDOW_SIZE, STREAM_WINDOW],
  [SETTING.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST_BYTES],
];
