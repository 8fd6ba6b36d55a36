import assert from "node:assert/strict";
import {
  localOpen,
  nextState,
  remoteOpen,
  STREAM_EVENT,
  STREAM_MOVES,
  STREAM_STATE,
  type StreamEvent,
  type StreamState,
} from "../../../http/h2/stream_states.ts";

const S = STREAM_STATE, E = STREAM_EVENT;

/** RFC 9113 §5.1, Figure 2, for a server that never pushes: every allowed move. */
const ALLOWED: [StreamState, StreamEvent, StreamState][] = [
  [S.IDLE, E.RECV_HEADERS, S.OPEN],
  [S.OPEN, E.RECV_END_STREAM, S.HALF_CLOSED_REMOTE],
  [S.OPEN, E.SEND_END_STREAM, S.HALF_CLOSED_LOCAL],
  [S.OPEN, E.RECV_RST_STREAM, S.CLOSED],
  [S.OPEN, E.SEND_RST_STREAM, S.CLOSED],
  [S.HALF_CLOSED_REMOTE, E.SEND_END_STREAM, S.CLOSED],
  [S.HALF_CLOSED_REMOTE, E.RECV_RST_STREAM, S.CLOSED],
  [S.HALF_CLOSED_REMOTE, E.SEND_RST_STREAM, S.CLOSED],
  [S.HALF_CLOSED_LOCAL, E.RECV_END_STREAM, S.CLOSED],
  [S.HALF_CLOSED_LOCAL, E.RECV_RST_STREAM, S.CLOSED],
  [S.HALF_CLOSED_LOCAL, E.SEND_RST_STREAM, S.CLOSED],
];

Deno.test("nextState() allows exactly RFC 9113 §5.1's moves and refuses every other", () => {
  for (const state of Object.values(S)) {
    for (const event of Object.values(E)) {
      const move = ALLOWED.find(([s, e]) => s === state && e === event);
      assert.equal(nextState(state, event), move ? move[2] : null, `${state} on ${event}`);
    }
  }
  assert.deepEqual(Object.keys(STREAM_MOVES).sort(), Object.values(S).sort());
});

Deno.test("remoteOpen() and localOpen() say who may still send", () => {
  assert.deepEqual(Object.values(S).filter(remoteOpen), [S.OPEN, S.HALF_CLOSED_LOCAL]);
  assert.deepEqual(Object.values(S).filter(localOpen), [S.OPEN, S.HALF_CLOSED_REMOTE]);
});
