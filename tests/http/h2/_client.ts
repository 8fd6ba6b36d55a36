// A hand-driven HTTP/2 client for the session tests: frames built with our FrameWriter and
// HpackEncoder (request fields are encoded as a client would), the server's output parsed back
// into frames, response heads decoded with an HpackDecoder that follows the whole connection.

import {
  CLIENT_PREFACE,
  FRAME,
  Frame,
  FrameWriter,
  INCOMPLETE,
  parseFrame,
} from "../../../http/h2/frames.ts";
import { HpackDecoder, HpackEncoder } from "../../../http/h2/hpack.ts";
import { Http2Session, type SessionOptions } from "../../../http/h2/session.ts";
import type { Handler } from "../../../http/types.ts";
import { Timer, TimerHeap } from "../../../loop/timers.ts";
import { FakeTransport } from "../_fake_transport.ts";

/** A frame the server sent, with what it carried copied out. */
export interface SentFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Uint8Array;
  /** HEADERS: the decoded fields, names and values alternating. */
  fields?: string[];
  errorCode?: number;
  lastStreamId?: number;
  increment?: number;
}

export function makeStats() {
  return {
    requests: 0,
    bytesIn: 0,
    bytesOut: 0,
    filesOpen: 0,
    answersAwaited: 0,
    errors: {} as Record<string, number>,
    clientsLeft: {} as Record<string, number>,
  };
}

/** A session over a fake transport, with a client that speaks to it. */
export function h2(handler: Handler, overrides: Partial<SessionOptions> = {}, initial?: Uint8Array) {
  const t = new FakeTransport();
  const heap = new TimerHeap();
  let clock = 0;
  const scheduler = { timers: heap, arm: (timer: Timer, ms: number) => heap.arm(timer, clock + ms) };
  const stats = makeStats();
  let closedHook = 0;
  const session = new Http2Session(t, {
    handler,
    bodyBudget: { used: 0, limit: 1 << 22 },
    deadline: (callback) => new Timer(callback, scheduler),
    maxBodyBytes: 1 << 20,
    headerTimeoutMs: 1000,
    idleTimeoutMs: 5000,
    bodyTimeoutMs: 2000,
    writeTimeoutMs: 3000,
    stats,
    draining: () => false,
    now: () => clock,
    onClose: () => closedHook++,
    ...overrides,
  }, initial);
  const encoder = new HpackEncoder({ huffman: true });
  const decoder = new HpackDecoder();
  const frame = new Frame();
  let parsed = 0;
  const received: SentFrame[] = [];

  const client = {
    t,
    session,
    stats,
    heap,
    get closedHook() {
      return closedHook;
    },
    /** Advances the fake clock and fires due timers. */
    advance(ms: number) {
      clock += ms;
      heap.runDue(clock);
    },
    /** Sends bytes to the session, which reads until it has them all (as level-triggered epoll would call it). */
    send(bytes: Uint8Array) {
      t.input.push(bytes);
      while (t.input.length > 0 && !session.closed) session.onReadable();
    },
    /** Sends frames built by `build` in one read. */
    frames(build: (w: FrameWriter) => void) {
      const w = new FrameWriter();
      build(w);
      client.send(w.bytes.slice(0, w.length));
    },
    /** The connection preface and an empty SETTINGS (plus more settings when given). */
    preface(settings: [number, number][] = []) {
      const w = new FrameWriter();
      w.append(CLIENT_PREFACE);
      w.settings(settings);
      client.send(w.bytes.slice(0, w.length));
    },
    /** A header block for request fields (names and values alternating). */
    block(fields: string[]): Uint8Array {
      const w = new FrameWriter();
      encoder.encode(w, fields);
      return w.bytes.slice(0, w.length);
    },
    /** HEADERS for a request on `id`. */
    request(w: FrameWriter, id: number, fields: string[], endStream = true) {
      const block = client.block(fields);
      w.headers(id, block, block.length, endStream, 16384);
    },
    /** A GET of `path` on `id`, sent alone. */
    get(id: number, path = "/", extra: string[] = []) {
      client.frames((w) =>
        client.request(w, id, [
          ":method",
          "GET",
          ":scheme",
          "http",
          ":path",
          path,
          ":authority",
          "a",
          ...extra,
        ])
      );
    },
    /** Frames the server sent since the start, parsed (heads decoded in order). */
    received(): SentFrame[] {
      const out = Uint8Array.from(t.output);
      for (;;) {
        const n = parseFrame(out, parsed, out.length, 1 << 24, frame);
        if (n === INCOMPLETE) break;
        const sent: SentFrame = {
          type: frame.type,
          flags: frame.flags,
          streamId: frame.streamId,
          payload: out.slice(frame.start, frame.end),
        };
        if (frame.type === FRAME.HEADERS || frame.type === FRAME.CONTINUATION) {
          const fields: string[] = [];
          decoder.decode(out, frame.start, frame.end, fields, 1 << 20);
          sent.fields = fields;
        }
        if (frame.type === FRAME.RST_STREAM || frame.type === FRAME.GOAWAY) sent.errorCode = frame.errorCode;
        if (frame.type === FRAME.GOAWAY) sent.lastStreamId = frame.lastStreamId;
        if (frame.type === FRAME.WINDOW_UPDATE) sent.increment = frame.increment;
        received.push(sent);
        parsed += n;
      }
      return received;
    },
    /** Frames of a type (and stream, when given). */
    of(type: number, streamId?: number): SentFrame[] {
      return client.received().filter((f) =>
        f.type === type && (streamId === undefined || f.streamId === streamId)
      );
    },
    /** A stream's response: its status, fields and body text. */
    response(id: number) {
      const frames = client.received().filter((f) => f.streamId === id);
      const heads = frames.filter((f) => f.type === FRAME.HEADERS);
      const final = heads.find((h) => !h.fields![1]!.startsWith("1"));
      const fields = final?.fields ?? [];
      const body = frames.filter((f) => f.type === FRAME.DATA).map((f) => new TextDecoder().decode(f.payload))
        .join(
          "",
        );
      const ended = frames.some((f) =>
        (f.type === FRAME.HEADERS || f.type === FRAME.DATA) && (f.flags & 1) === 1
      );
      const get = (name: string) => {
        for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
        return undefined;
      };
      return { status: Number(get(":status") ?? 0), fields, body, ended, get, heads };
    },
    /** The GOAWAY the server sent last, if any. */
    goaway(): SentFrame | undefined {
      return client.of(FRAME.GOAWAY).at(-1);
    },
  };
  return client;
}

export const tick = () => new Promise((r) => setTimeout(r, 0));
