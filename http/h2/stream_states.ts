// The life of an HTTP/2 stream (RFC 9113 §5.1) as one table of allowed moves, seen from a server
// that never pushes: the reserved states cannot be entered (a client cannot push, §8.4, and we
// do not), so they are absent. A move the table lacks is a protocol error the session names.

/** Stream states (RFC 9113 §5.1, Figure 2, without the reserved states). */
export const STREAM_STATE = {
  IDLE: "idle",
  OPEN: "open",
  /** The client sent END_STREAM: it sends no more DATA or HEADERS. */
  HALF_CLOSED_REMOTE: "half-closed (remote)",
  /** We sent END_STREAM: the request may still be arriving. */
  HALF_CLOSED_LOCAL: "half-closed (local)",
  CLOSED: "closed",
} as const;
export type StreamState = typeof STREAM_STATE[keyof typeof STREAM_STATE];

/** What moves a stream: frames received (`recv`) and sent (`send`). */
export const STREAM_EVENT = {
  RECV_HEADERS: "recv HEADERS",
  RECV_END_STREAM: "recv END_STREAM",
  SEND_END_STREAM: "send END_STREAM",
  RECV_RST_STREAM: "recv RST_STREAM",
  SEND_RST_STREAM: "send RST_STREAM",
} as const;
export type StreamEvent = typeof STREAM_EVENT[keyof typeof STREAM_EVENT];

const { IDLE, OPEN, HALF_CLOSED_REMOTE, HALF_CLOSED_LOCAL, CLOSED } = STREAM_STATE;

/** The allowed moves: state, then event, then the next state. Everything else is an error. */
export const STREAM_MOVES = {
  [IDLE]: {
    [STREAM_EVENT.RECV_HEADERS]: OPEN,
  },
  [OPEN]: {
    [STREAM_EVENT.RECV_END_STREAM]: HALF_CLOSED_REMOTE,
    [STREAM_EVENT.SEND_END_STREAM]: HALF_CLOSED_LOCAL,
    [STREAM_EVENT.RECV_RST_STREAM]: CLOSED,
    [STREAM_EVENT.SEND_RST_STREAM]: CLOSED,
  },
  [HALF_CLOSED_REMOTE]: {
    [STREAM_EVENT.SEND_END_STREAM]: CLOSED,
    [STREAM_EVENT.RECV_RST_STREAM]: CLOSED,
    [STREAM_EVENT.SEND_RST_STREAM]: CLOSED,
  },
  [HALF_CLOSED_LOCAL]: {
    [STREAM_EVENT.RECV_END_STREAM]: CLOSED,
    [STREAM_EVENT.RECV_RST_STREAM]: CLOSED,
    [STREAM_EVENT.SEND_RST_STREAM]: CLOSED,
  },
  [CLOSED]: {},
} as const satisfies { readonly [S in StreamState]: { readonly [E in StreamEvent]?: StreamState } };

/**
 * The state a move leads to.
 * @returns the next state, or null when the move is not allowed from `state`
 */
export function nextState(state: StreamState, event: StreamEvent): StreamState | null {
  const moves: { readonly [E in StreamEvent]?: StreamState } = STREAM_MOVES[state];
  return moves[event] ?? null;
}

/** Whether the client may still send DATA or HEADERS on a stream in `state`. */
export function remoteOpen(state: StreamState): boolean {
  return state === OPEN || state === HALF_CLOSED_LOCAL;
}

/** Whether we may still send DATA or HEADERS on a stream in `state`. */
export function localOpen(state: StreamState): boolean {
  return state === OPEN || state === HALF_CLOSED_REMOTE;
}
