import assert from "node:assert/strict";
import {
  CLIENT_PREFACE,
  DEFAULT_MAX_FRAME_SIZE,
  FLAG,
  forEachSetting,
  FRAME,
  Frame,
  FrameWriter,
  H2_ERROR,
  H2Error,
  INCOMPLETE,
  parseFrame,
  SETTING,
} from "../../../http/h2/frames.ts";

/** A frame's bytes: header fields and a payload given as bytes. */
function frame(type: number, flags: number, streamId: number, payload: number[] = []): Uint8Array {
  const n = payload.length;
  return Uint8Array.from([
    n >>> 16,
    (n >>> 8) & 0xff,
    n & 0xff,
    type,
    flags,
    streamId >>> 24,
    (streamId >>> 16) & 0xff,
    (streamId >>> 8) & 0xff,
    streamId & 0xff,
    ...payload,
  ]);
}

const u32 = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const setting = (id: number, v: number) => [id >>> 8, id & 0xff, ...u32(v)];

type Valid = {
  name: string;
  bytes: Uint8Array;
  /** Expected fields; `carried` is the bytes between start and end. */
  want: Partial<Omit<Frame, "has">> & { carried?: number[] };
};

const VALID: Valid[] = [
  {
    name: "DATA",
    bytes: frame(0, 1, 1, [1, 2, 3]),
    want: { type: 0, flags: 1, streamId: 1, carried: [1, 2, 3] },
  },
  { name: "empty DATA", bytes: frame(0, 0, 3), want: { length: 0, carried: [] } },
  {
    name: "padded DATA",
    bytes: frame(0, FLAG.PADDED, 1, [2, 7, 7, 0, 0]),
    want: { length: 5, carried: [7, 7] },
  },
  { name: "DATA all padding", bytes: frame(0, FLAG.PADDED, 1, [2, 0, 0]), want: { length: 3, carried: [] } },
  {
    name: "HEADERS",
    bytes: frame(1, FLAG.END_HEADERS | FLAG.END_STREAM, 5, [0x82]),
    want: { type: 1, streamId: 5, carried: [0x82], dependency: -1 },
  },
  {
    name: "HEADERS with PRIORITY and padding",
    bytes: frame(1, FLAG.PADDED | FLAG.PRIORITY | FLAG.END_HEADERS, 3, [1, 0x80, 0, 0, 1, 15, 0x82, 0]),
    want: { carried: [0x82], dependency: 1 },
  },
  {
    name: "HEADERS depending on itself (a stream error, found by the session)",
    bytes: frame(1, FLAG.PRIORITY | FLAG.END_HEADERS, 3, [0, 0, 0, 3, 15, 0x82]),
    want: { dependency: 3, streamError: -1 },
  },
  { name: "PRIORITY", bytes: frame(2, 0, 3, [0, 0, 0, 1, 16]), want: { dependency: 1, streamError: -1 } },
  {
    name: "PRIORITY of 4 octets: stream FRAME_SIZE_ERROR",
    bytes: frame(2, 0, 3, [0, 0, 0, 1]),
    want: { streamError: H2_ERROR.FRAME_SIZE_ERROR },
  },
  {
    name: "PRIORITY on itself: stream PROTOCOL_ERROR",
    bytes: frame(2, 0, 3, [0, 0, 0, 3, 16]),
    want: { streamError: H2_ERROR.PROTOCOL_ERROR },
  },
  { name: "RST_STREAM", bytes: frame(3, 0, 1, u32(8)), want: { errorCode: 8 } },
  {
    name: "SETTINGS",
    bytes: frame(4, 0, 0, [...setting(SETTING.INITIAL_WINDOW_SIZE, 1 << 20), ...setting(0x99, 7)]),
    want: { length: 12 },
  },
  { name: "SETTINGS ACK", bytes: frame(4, FLAG.ACK, 0), want: { flags: 1, length: 0 } },
  {
    name: "SETTINGS at the bounds",
    bytes: frame(4, 0, 0, [
      ...setting(SETTING.MAX_FRAME_SIZE, 16384),
      ...setting(SETTING.MAX_FRAME_SIZE, 0xffffff),
      ...setting(SETTING.INITIAL_WINDOW_SIZE, 0x7fffffff),
      ...setting(SETTING.ENABLE_PUSH, 1),
    ]),
    want: { length: 24 },
  },
  {
    name: "PUSH_PROMISE, padded",
    bytes: frame(5, FLAG.PADDED | FLAG.END_HEADERS, 1, [1, 0, 0, 0, 2, 0x82, 0]),
    want: { lastStreamId: 2, carried: [0x82] },
  },
  {
    name: "PING",
    bytes: frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]),
    want: { carried: [1, 2, 3, 4, 5, 6, 7, 8] },
  },
  {
    name: "GOAWAY with debug data",
    bytes: frame(7, 0, 0, [...u32(0x80000007), ...u32(11), 104, 105]),
    want: { lastStreamId: 7, errorCode: 11, carried: [104, 105] },
  },
  { name: "WINDOW_UPDATE", bytes: frame(8, 0, 1, u32(0x80000010)), want: { increment: 16, streamError: -1 } },
  {
    name: "WINDOW_UPDATE of 0 on a stream: stream PROTOCOL_ERROR",
    bytes: frame(8, 0, 1, u32(0)),
    want: { streamError: H2_ERROR.PROTOCOL_ERROR },
  },
  { name: "CONTINUATION", bytes: frame(9, FLAG.END_HEADERS, 1, [0x84]), want: { carried: [0x84] } },
  { name: "unknown type, ignored", bytes: frame(0xfa, 0xff, 9, [1, 2]), want: { type: 0xfa, length: 2 } },
  {
    name: "reserved bit of the stream id ignored",
    bytes: frame(0, 0, 0x80000001, []),
    want: { streamId: 1 },
  },
];

Deno.test("parseFrame() reads every frame type's fields", () => {
  for (const { name, bytes, want } of VALID) {
    const f = new Frame();
    assert.equal(parseFrame(bytes, 0, bytes.length, DEFAULT_MAX_FRAME_SIZE, f), bytes.length, name);
    const { carried, ...fields } = want;
    for (const [k, v] of Object.entries(fields)) assert.equal(f[k as keyof Frame], v, `${name}: ${k}`);
    if (carried) assert.deepEqual([...bytes.subarray(f.start, f.end)], carried, name);
  }
});

Deno.test("parseFrame() returns INCOMPLETE for every strict prefix and never reads past end", () => {
  for (const { name, bytes } of VALID) {
    const f = new Frame();
    const big = new Uint8Array(bytes.length + 20).fill(0xee);
    big.set(bytes, 7);
    for (let cut = 0; cut < bytes.length; cut++) {
      assert.equal(parseFrame(big, 7, 7 + cut, DEFAULT_MAX_FRAME_SIZE, f), INCOMPLETE, `${name} at ${cut}`);
    }
    assert.equal(parseFrame(big, 7, big.length, DEFAULT_MAX_FRAME_SIZE, f), bytes.length, name);
  }
});

const INVALID: [string, Uint8Array, number][] = [
  ["DATA on stream 0", frame(0, 0, 0, [1]), H2_ERROR.PROTOCOL_ERROR],
  ["DATA padding as long as the payload", frame(0, FLAG.PADDED, 1, [2, 0]), H2_ERROR.PROTOCOL_ERROR],
  ["padded DATA without its Pad Length", frame(0, FLAG.PADDED, 1, []), H2_ERROR.FRAME_SIZE_ERROR],
  ["HEADERS on stream 0", frame(1, 4, 0, [0x82]), H2_ERROR.PROTOCOL_ERROR],
  ["HEADERS padding past the fragment", frame(1, FLAG.PADDED | 4, 1, [3, 0x82, 0]), H2_ERROR.PROTOCOL_ERROR],
  [
    "HEADERS with PRIORITY but 4 octets",
    frame(1, FLAG.PRIORITY | 4, 1, [0, 0, 0, 0]),
    H2_ERROR.FRAME_SIZE_ERROR,
  ],
  [
    "HEADERS padded and with PRIORITY, padding past the fragment",
    frame(1, FLAG.PADDED | FLAG.PRIORITY | 4, 1, [1, 0, 0, 0, 0, 16]),
    H2_ERROR.PROTOCOL_ERROR,
  ],
  ["PRIORITY on stream 0", frame(2, 0, 0, [0, 0, 0, 1, 16]), H2_ERROR.PROTOCOL_ERROR],
  ["RST_STREAM on stream 0", frame(3, 0, 0, u32(0)), H2_ERROR.PROTOCOL_ERROR],
  ["RST_STREAM of 3 octets", frame(3, 0, 1, [0, 0, 0]), H2_ERROR.FRAME_SIZE_ERROR],
  ["RST_STREAM of 5 octets", frame(3, 0, 1, [0, 0, 0, 0, 0]), H2_ERROR.FRAME_SIZE_ERROR],
  ["SETTINGS on a stream", frame(4, 0, 1), H2_ERROR.PROTOCOL_ERROR],
  ["SETTINGS ACK with a payload", frame(4, FLAG.ACK, 0, setting(1, 0)), H2_ERROR.FRAME_SIZE_ERROR],
  ["SETTINGS of 5 octets", frame(4, 0, 0, [0, 1, 0, 0, 0]), H2_ERROR.FRAME_SIZE_ERROR],
  ["ENABLE_PUSH of 2", frame(4, 0, 0, setting(SETTING.ENABLE_PUSH, 2)), H2_ERROR.PROTOCOL_ERROR],
  ["INITIAL_WINDOW_SIZE of 2^31", frame(4, 0, 0, setting(4, 0x80000000)), H2_ERROR.FLOW_CONTROL_ERROR],
  ["MAX_FRAME_SIZE of 16383", frame(4, 0, 0, setting(5, 16383)), H2_ERROR.PROTOCOL_ERROR],
  ["MAX_FRAME_SIZE of 2^24", frame(4, 0, 0, setting(5, 0x1000000)), H2_ERROR.PROTOCOL_ERROR],
  ["ENABLE_CONNECT_PROTOCOL of 2", frame(4, 0, 0, setting(8, 2)), H2_ERROR.PROTOCOL_ERROR],
  ["PUSH_PROMISE on stream 0", frame(5, 4, 0, u32(2)), H2_ERROR.PROTOCOL_ERROR],
  ["PUSH_PROMISE of 3 octets", frame(5, 4, 1, [0, 0, 2]), H2_ERROR.FRAME_SIZE_ERROR],
  ["PING on a stream", frame(6, 0, 1, [1, 2, 3, 4, 5, 6, 7, 8]), H2_ERROR.PROTOCOL_ERROR],
  ["PING of 7 octets", frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7]), H2_ERROR.FRAME_SIZE_ERROR],
  ["PING of 9 octets", frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8, 9]), H2_ERROR.FRAME_SIZE_ERROR],
  ["GOAWAY on a stream", frame(7, 0, 1, [...u32(0), ...u32(0)]), H2_ERROR.PROTOCOL_ERROR],
  ["GOAWAY of 7 octets", frame(7, 0, 0, [0, 0, 0, 0, 0, 0, 0]), H2_ERROR.FRAME_SIZE_ERROR],
  ["WINDOW_UPDATE of 0 on the connection", frame(8, 0, 0, u32(0)), H2_ERROR.PROTOCOL_ERROR],
  ["WINDOW_UPDATE of 3 octets", frame(8, 0, 1, [0, 0, 1]), H2_ERROR.FRAME_SIZE_ERROR],
  ["CONTINUATION on stream 0", frame(9, 4, 0, [0x82]), H2_ERROR.PROTOCOL_ERROR],
];

Deno.test("parseFrame() answers each broken size and flag rule with its connection error", () => {
  for (const [name, bytes, code] of INVALID) {
    const f = new Frame();
    assert.throws(
      () => parseFrame(bytes, 0, bytes.length, DEFAULT_MAX_FRAME_SIZE, f),
      (e: unknown) => e instanceof H2Error && e.code === code && e.streamId === 0,
      name,
    );
  }
});

Deno.test("parseFrame() refuses a frame over SETTINGS_MAX_FRAME_SIZE from its header alone", () => {
  const head = frame(0, 0, 1, []);
  head[0] = 0;
  head[1] = 0x40;
  head[2] = 0x01; // 16385
  assert.throws(
    () => parseFrame(head, 0, 9, DEFAULT_MAX_FRAME_SIZE, new Frame()),
    (e: unknown) => e instanceof H2Error && e.code === H2_ERROR.FRAME_SIZE_ERROR,
  );
  const ok = frame(0, 0, 1, new Array(16384).fill(0));
  assert.equal(parseFrame(ok, 0, ok.length, DEFAULT_MAX_FRAME_SIZE, new Frame()), ok.length);
});

Deno.test("forEachSetting() gives the parameters in order, unknown ones included", () => {
  const bytes = frame(4, 0, 0, [...setting(SETTING.INITIAL_WINDOW_SIZE, 1 << 20), ...setting(0x99, 7)]);
  const f = new Frame();
  parseFrame(bytes, 0, bytes.length, DEFAULT_MAX_FRAME_SIZE, f);
  const seen: [number, number][] = [];
  forEachSetting(bytes, f, (id, v) => seen.push([id, v]));
  assert.deepEqual(seen, [[4, 1 << 20], [0x99, 7]]);
});

Deno.test("FrameWriter frames parse back to what was written", () => {
  const w = new FrameWriter(4);
  const opaque = Uint8Array.from([9, 8, 7, 6, 5, 4, 3, 2]);
  w.settings([[SETTING.MAX_CONCURRENT_STREAMS, 100], [SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]);
  w.settingsAck();
  w.ping(true, opaque, 0);
  w.goaway(7, H2_ERROR.ENHANCE_YOUR_CALM, "calm");
  w.rstStream(3, H2_ERROR.CANCEL);
  w.windowUpdate(0, 0x7fffffff);
  w.priority(5, 3, true, 200);
  w.data(1, Uint8Array.from([1, 2, 3]), 1, 3, true);
  const f = new Frame();
  const seen: string[] = [];
  for (let p = 0; p < w.length;) {
    const n = parseFrame(w.bytes, p, w.length, DEFAULT_MAX_FRAME_SIZE, f);
    assert.ok(n > 0);
    const carried = [...w.bytes.subarray(f.start, f.end)].join(",");
    seen.push(
      `${f.type}/${f.flags}/${f.streamId}/${f.errorCode}/${f.lastStreamId}/${f.increment}/${carried}`,
    );
    p += n;
  }
  assert.deepEqual(seen, [
    "4/0/0/0/0/0/0,3,0,0,0,100,0,4,0,16,0,0",
    "4/1/0/0/0/0/",
    "6/1/0/0/0/0/9,8,7,6,5,4,3,2",
    "7/0/0/11/7/0/99,97,108,109",
    "3/0/3/8/0/0/0,0,0,8",
    "8/0/0/0/0/2147483647/127,255,255,255",
    "2/0/5/0/0/0/128,0,0,3,200",
    "0/1/1/0/0/0/2,3",
  ]);
});

Deno.test("FrameWriter.headers() splits a block into HEADERS and CONTINUATION frames at the frame size", () => {
  const block = new Uint8Array(40_000).map((_, i) => i & 0xff);
  const w = new FrameWriter();
  w.headers(1, block, block.length, true, 16384);
  const f = new Frame();
  const got: number[] = [];
  const kinds: string[] = [];
  for (let p = 0; p < w.length;) {
    p += parseFrame(w.bytes, p, w.length, 16384, f);
    kinds.push(`${f.type}:${f.flags}:${f.end - f.start}`);
    got.push(...w.bytes.subarray(f.start, f.end));
  }
  assert.deepEqual(kinds, [
    `${FRAME.HEADERS}:${FLAG.END_STREAM}:16384`,
    `${FRAME.CONTINUATION}:0:16384`,
    `${FRAME.CONTINUATION}:${FLAG.END_HEADERS}:7232`,
  ]);
  assert.deepEqual(got, [...block]);
  const small = new FrameWriter();
  small.headers(3, block, 1, false, 16384);
  assert.equal(small.length, 10);
  assert.equal(small.bytes[4], FLAG.END_HEADERS);
});

Deno.test("FrameWriter.consume() keeps what the kernel did not take", () => {
  const w = new FrameWriter(4);
  w.append(Uint8Array.from([1, 2, 3, 4, 5]));
  w.consume(2);
  assert.deepEqual([...w.bytes.subarray(0, w.length)], [3, 4, 5]);
  w.consume(10);
  assert.equal(w.length, 0);
});

Deno.test("the client preface is RFC 9113 §3.4's 24 octets", () => {
  assert.equal(new TextDecoder().decode(CLIENT_PREFACE), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  assert.equal(CLIENT_PREFACE.length, 24);
});
