// The HTTP/2 session over the in-memory transport, with hand-built frames: the connection's
// life, streams, semantics, flow control both ways, bodies of every kind, and each hardening
// limit with its counter.

import assert from "node:assert/strict";
import { CLIENT_PREFACE, FLAG, FRAME, FrameWriter, H2_ERROR, SETTING } from "../../../http/h2/frames.ts";
import {
  CONNECTION_WINDOW,
  DATA_FRAME_BYTES,
  FLOOD_LIMITS,
  MAX_CONCURRENT_STREAMS,
  MAX_CONTINUATION_FRAMES,
  STREAM_WINDOW,
} from "../../../http/h2/session.ts";
import type { FileBody, HttpRequest, HttpResponse } from "../../../http/types.ts";
import { encodeInteger } from "../../../http/h2/hpack.ts";
import { encodeFields } from "../../../http/fields.ts";
import { h2, tick } from "./_client.ts";
import type { ConnectionOptions } from "../../../http/h1/connection.ts";
import type { SessionOptions } from "../../../http/h2/session.ts";
import type { Session } from "../../../http/types.ts";

/** A literal field without indexing, new name, no Huffman: what our encoder would refuse to make. */
function rawField(name: string, value: string, indexing = false): number[] {
  const out = new Uint8Array(16 + name.length + value.length);
  out[0] = indexing ? 0x40 : 0;
  let o = encodeInteger(out, 1, name.length, 7, 0);
  for (const ch of name) out[o++] = ch.charCodeAt(0);
  o = encodeInteger(out, o, value.length, 7, 0);
  for (const ch of value) out[o++] = ch.charCodeAt(0);
  return [...out.subarray(0, o)];
}

const ok = (body: string, headers: string[] = ["Content-Type", "text/plain"]): HttpResponse => ({
  status: 200,
  headers,
  body,
});
const echoPath = (req: HttpRequest) => ok(`path=${req.head.path}`);

Deno.test("the server's HTTP/1.1 ConnectionOptions are SessionOptions, and the session is a Session", () => {
  // Compile-time: `new Http2Session(transport, connectionOptions, initialBytes)` type-checks.
  const asOptions = (options: ConnectionOptions): SessionOptions => options;
  const c = h2(echoPath);
  const session: Session = c.session;
  assert.equal(typeof asOptions, "function");
  assert.equal(session.closed, false);
});

Deno.test("the session sends its SETTINGS and connection window, ACKs the client's, and answers a GET", () => {
  const c = h2(echoPath);
  c.preface();
  const [settings, window, ack] = c.received();
  assert.equal(settings!.type, FRAME.SETTINGS);
  assert.equal(settings!.flags, 0);
  const params = new DataView(settings!.payload.buffer);
  const got: Record<number, number> = {};
  for (let i = 0; i < settings!.payload.length; i += 6) got[params.getUint16(i)] = params.getUint32(i + 2);
  assert.equal(got[SETTING.MAX_CONCURRENT_STREAMS], MAX_CONCURRENT_STREAMS);
  assert.equal(got[SETTING.INITIAL_WINDOW_SIZE], STREAM_WINDOW);
  assert.equal(got[SETTING.ENABLE_PUSH], 0);
  assert.equal(window!.type, FRAME.WINDOW_UPDATE);
  assert.equal(window!.increment, CONNECTION_WINDOW - 65535);
  assert.equal(ack!.type, FRAME.SETTINGS);
  assert.equal(ack!.flags, FLAG.ACK);
  c.get(1, "/hello?x=1");
  const r = c.response(1);
  assert.equal(r.status, 200);
  assert.equal(r.body, "path=/hello?x=1");
  assert.equal(r.get("content-type"), "text/plain");
  assert.equal(r.get("content-length"), "15");
  assert.equal(r.get("server"), "rawserve");
  assert.ok(r.get("date")?.endsWith("GMT"));
  assert.ok(r.ended);
  assert.equal(c.stats.requests, 1);
  assert.equal(c.session.openStreams, 0);
  assert.equal(c.session.phase, "idle");
});

Deno.test("bytes the server already read (the preface, cut anywhere) are taken by the constructor", () => {
  const w = new FrameWriter();
  w.append(CLIENT_PREFACE);
  w.settings([]);
  const all = w.bytes.slice(0, w.length);
  for (const cut of [0, 1, 10, 23, 24, 25, all.length]) {
    const c = h2(echoPath, {}, all.slice(0, cut));
    if (cut < all.length) c.send(all.slice(cut));
    c.get(1, "/x");
    assert.equal(c.response(1).body, "path=/x", `cut at ${cut}`);
  }
});

Deno.test("a wrong preface, or a first frame other than SETTINGS, ends the connection with PROTOCOL_ERROR", () => {
  const bad = h2(echoPath);
  bad.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  assert.equal(bad.goaway()?.errorCode, H2_ERROR.PROTOCOL_ERROR);
  assert.equal(bad.t.closes, 1);
  assert.equal(bad.closedHook, 1);
  const noSettings = h2(echoPath);
  const w = new FrameWriter();
  w.append(CLIENT_PREFACE);
  w.ping(false, new Uint8Array(8), 0);
  noSettings.send(w.bytes.slice(0, w.length));
  assert.equal(noSettings.goaway()?.errorCode, H2_ERROR.PROTOCOL_ERROR);
  assert.equal(noSettings.t.closes, 1);
});

Deno.test("PING is answered with an ACK carrying the same data; PRIORITY and unknown frames are ignored", () => {
  const c = h2(echoPath);
  c.preface();
  const data = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
  c.frames((w) => {
    w.ping(false, data, 0);
    w.priority(3, 1, false, 16);
    w.head(2, 0xfa, 0, 0);
    w.append(Uint8Array.from([9, 9]));
  });
  const pings = c.of(FRAME.PING);
  assert.equal(pings.length, 1);
  assert.equal(pings[0]!.flags, FLAG.ACK);
  assert.deepEqual([...pings[0]!.payload], [...data]);
  assert.equal(c.goaway(), undefined);
  c.get(3); // PRIORITY did not open stream 3
  assert.equal(c.response(3).status, 200);
});

Deno.test("streams answered out of order each get their answer, ready ones leave in one write", async () => {
  const resolvers = new Map<string, (r: HttpResponse) => void>();
  const c = h2((req) => new Promise((resolve) => resolvers.set(req.head.path, resolve)));
  c.preface();
  c.frames((w) => {
    for (const [id, path] of [[1, "/1"], [3, "/2"], [5, "/3"]] as const) {
      c.request(w, id, [":method", "GET", ":scheme", "https", ":path", path, ":authority", "a"]);
    }
  });
  assert.equal(c.stats.answersAwaited, 3);
  assert.equal(c.session.phase, "busy");
  const writes = c.t.writes;
  resolvers.get("/3")!(ok("three"));
  resolvers.get("/1")!(ok("one"));
  await tick();
  assert.equal(c.t.writes, writes + 1, "two responses, one write");
  assert.equal(c.response(5).body, "three");
  assert.equal(c.response(1).body, "one");
  resolvers.get("/2")!(ok("two"));
  await tick();
  assert.equal(c.response(3).body, "two");
  assert.equal(c.stats.answersAwaited, 0);
});

Deno.test("HEAD, 204 and 304 answers are a HEADERS frame with END_STREAM and no DATA", () => {
  const c = h2((req) =>
    req.head.path === "/204"
      ? { status: 204, body: "ignored" }
      : req.head.path === "/304"
      ? { status: 304, headers: ["ETag", '"x"'] }
      : ok("twelve bytes")
  );
  c.preface();
  c.frames((w) => {
    c.request(w, 1, [":method", "HEAD", ":scheme", "http", ":path", "/", ":authority", "a"]);
    c.request(w, 3, [":method", "GET", ":scheme", "http", ":path", "/204", ":authority", "a"]);
    c.request(w, 5, [":method", "GET", ":scheme", "http", ":path", "/304", ":authority", "a"]);
  });
  assert.equal(c.of(FRAME.DATA).length, 0);
  const head = c.response(1);
  assert.equal(head.get("content-length"), "12");
  assert.ok(head.ended);
  assert.equal(c.response(3).status, 204);
  assert.equal(c.response(3).get("content-length"), undefined);
  assert.equal(c.response(5).status, 304);
  assert.equal(c.response(5).get("etag"), '"x"');
  for (const id of [1, 3, 5]) assert.equal(c.response(id).heads[0]!.flags & FLAG.END_STREAM, FLAG.END_STREAM);
});

Deno.test("request semantics: :authority is the host, cookies are joined, trailers are accepted", async () => {
  let seen: HttpRequest | null = null;
  let body = "";
  const c = h2(async (req) => {
    seen = req;
    body = new TextDecoder().decode(await req.body!.bytes());
    return ok("ok");
  });
  c.preface();
  c.frames((w) => {
    c.request(w, 1, [
      ":method",
      "POST",
      ":scheme",
      "https",
      ":path",
      "/form",
      ":authority",
      "example.com:8443",
      "cookie",
      "a=1",
      "content-type",
      "text/plain",
      "cookie",
      "b=2",
    ], false);
    w.data(1, new TextEncoder().encode("hello"), 0, 5, false);
    const trailers = c.block(["x-checksum", "abc"]);
    w.headers(1, trailers, trailers.length, true, 16384);
  });
  await tick();
  const head = seen!.head;
  assert.equal(head.method, "POST");
  assert.equal(head.host, "example.com:8443");
  assert.equal(head.get("host"), "example.com:8443");
  assert.equal(head.get("cookie"), "a=1; b=2");
  assert.equal(head.major, 2);
  assert.equal(body, "hello");
  assert.equal(c.response(1).status, 200);
});

Deno.test("malformed requests are reset with PROTOCOL_ERROR and the connection goes on (RFC 9113 §8.1.1)", () => {
  const base = [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"];
  const cases: [string, string[]][] = [
    ["connection-specific field", [...base, "connection", "keep-alive"]],
    ["transfer-encoding", [...base, "transfer-encoding", "chunked"]],
    ["TE other than trailers", [...base, "te", "gzip"]],
    ["pseudo-header after a regular field", [":method", "GET", ":scheme", "http", "x", "1", ":path", "/"]],
    ["no :path", [":method", "GET", ":scheme", "http", ":authority", "a"]],
    ["two :method", [...base, ":method", "GET"]],
    [":status in a request", [...base.slice(0, 6), ":status", "200"]],
    ["unknown pseudo-header", [...base.slice(0, 6), ":protocol", "websocket"]],
    ["value with a leading space", [...base, "x", " v"]],
    ["Host differs from :authority", [...base, "host", "b"]],
    ["relative :path", [":method", "GET", ":scheme", "http", ":path", "x", ":authority", "a"]],
  ];
  const c = h2(echoPath);
  c.preface();
  let id = 1;
  for (const [name, fields] of cases) {
    c.frames((w) => c.request(w, id, fields));
    const resets = c.of(FRAME.RST_STREAM, id);
    assert.equal(resets.length, 1, name);
    assert.equal(resets[0]!.errorCode, H2_ERROR.PROTOCOL_ERROR, name);
    id += 2;
  }
  // An upper-case name, which no HPACK encoder of ours would write.
  const upper = Uint8Array.from([...c.block(base), ...rawField("X-Up", "1")]);
  c.frames((w) => w.headers(id, upper, upper.length, true, 16384));
  assert.equal(c.of(FRAME.RST_STREAM, id)[0]?.errorCode, H2_ERROR.PROTOCOL_ERROR, "upper-case name");
  id += 2;
  c.get(id);
  assert.equal(c.response(id).status, 200);
  assert.equal(c.goaway(), undefined);
  assert.equal(c.stats.errors["h2 malformed request"], cases.length + 1);
});

Deno.test("unknown methods get 501 and CONNECT 501, as over HTTP/1.1", () => {
  const c = h2(echoPath);
  c.preface();
  c.frames((w) => {
    c.request(w, 1, [":method", "BREW", ":scheme", "http", ":path", "/", ":authority", "a"]);
    c.request(w, 3, [":method", "CONNECT", ":authority", "a:443"]);
  });
  assert.equal(c.response(1).status, 501);
  assert.equal(c.response(3).status, 501);
});

Deno.test("Content-Length that disagrees with the DATA received is a malformed request", () => {
  const c = h2(echoPath);
  c.preface();
  const post = [":method", "POST", ":scheme", "http", ":path", "/", ":authority", "a"];
  c.frames((w) => {
    c.request(w, 1, [...post, "content-length", "3"], false);
    w.data(1, Uint8Array.from([1, 2, 3, 4]), 0, 4, true);
    c.request(w, 3, [...post, "content-length", "5"], false);
    w.data(3, Uint8Array.from([1, 2]), 0, 2, true);
    c.request(w, 5, [...post, "content-length", "2"], true);
  });
  for (const id of [1, 3, 5]) assert.equal(c.of(FRAME.RST_STREAM, id)[0]?.errorCode, H2_ERROR.PROTOCOL_ERROR);
});

Deno.test("a request split over HEADERS and CONTINUATION is one request", () => {
  const c = h2((req) => ok(req.head.get("x-long")!.length.toString()));
  c.preface();
  const block = c.block([
    ":method",
    "GET",
    ":scheme",
    "http",
    ":path",
    "/",
    ":authority",
    "a",
    "x-long",
    "y".repeat(9000),
  ]);
  c.frames((w) => w.headers(1, block, block.length, true, 1000)); // HEADERS and CONTINUATIONs
  assert.equal(c.response(1).body, "9000");
});

Deno.test("a frame inside a header block ends the connection with PROTOCOL_ERROR (RFC 9113 §6.10)", () => {
  const c = h2(echoPath);
  c.preface();
  const block = c.block([":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"]);
  c.frames((w) => {
    w.head(block.length, FRAME.HEADERS, FLAG.END_STREAM, 1); // no END_HEADERS
    w.append(block);
    w.ping(false, new Uint8Array(8), 0);
  });
  assert.equal(c.goaway()?.errorCode, H2_ERROR.PROTOCOL_ERROR);
  assert.equal(c.t.closes, 1);
});

Deno.test("CONTINUATION flood: more frames than MAX_CONTINUATION_FRAMES, empty ones included, is ENHANCE_YOUR_CALM", () => {
  const c = h2(echoPath);
  c.preface();
  c.frames((w) => {
    w.head(0, FRAME.HEADERS, FLAG.END_STREAM, 1);
    for (let i = 0; i <= MAX_CONTINUATION_FRAMES; i++) w.head(0, FRAME.CONTINUATION, 0, 1);
  });
  assert.equal(c.goaway()?.errorCode, H2_ERROR.ENHANCE_YOUR_CALM);
  assert.equal(c.stats.errors["h2 continuation flood"], 1);
  assert.equal(c.t.closes, 1);
});

Deno.test("a header block past MAX_HEADER_BLOCK_BYTES is refused before it is decoded", () => {
  const c = h2(echoPath);
  c.preface();
  c.frames((w) => {
    w.head(16384, FRAME.HEADERS, 0, 1);
    w.append(new Uint8Array(16384));
    w.head(16384, FRAME.CONTINUATION, 0, 1);
    w.append(new Uint8Array(16384));
    w.head(1, FRAME.CONTINUATION, 0, 1);
    w.append(new Uint8Array(1));
  });
  assert.equal(c.goaway()?.errorCode, H2_ERROR.ENHANCE_YOUR_CALM);
  assert.equal(c.stats.errors["h2 header block too large"], 1);
});

Deno.test("an HPACK bomb gets 431 without materialising, and the connection's table stays in step", () => {
  let calls = 0;
  const c = h2((req) => {
    calls++;
    return ok(`path=${req.head.path} ${req.head.get("x-big")?.length}`);
  });
  c.preface();
  // A 4000-octet field enters the table, then 100 references to it: 400 kB decoded.
  const bomb = Uint8Array.from([
    0x82,
    0x86,
    0x84,
    ...rawField(":authority", "a"),
    ...rawField("x-big", "z".repeat(4000), true),
    ...new Array(100).fill(0xbe),
  ]);
  c.frames((w) => w.headers(1, bomb, bomb.length, true, 16384));
  assert.equal(c.response(1).status, 431);
  assert.equal(calls, 0);
  assert.equal(c.stats.errors["http 431"], 1);
  // The table stays in step: index 62 is still the big field for the next request.
  const next = Uint8Array.from([
    0x82,
    0x86,
    ...rawField(":path", "/after"),
    ...rawField(":authority", "a"),
    0xbe,
  ]);
  c.frames((w) => w.headers(3, next, next.length, true, 16384));
  assert.equal(c.response(3).body, "path=/after 4000");
});

Deno.test("flow control out: DATA never passes the client's stream or connection window, nor its frame size", () => {
  const big = new Uint8Array(100_000).fill(97);
  const c = h2(() => ({ status: 200, body: big }));
  c.preface();
  c.get(1);
  const sent = () => c.of(FRAME.DATA, 1).reduce((n, f) => n + f.payload.length, 0);
  assert.equal(sent(), 65535);
  assert.ok(c.of(FRAME.DATA, 1).every((f) => f.payload.length <= 16384));
  assert.equal(c.session.phase, "writing");
  c.frames((w) => w.windowUpdate(1, 50_000)); // the stream's window, not the connection's
  assert.equal(sent(), 65535);
  c.frames((w) => w.windowUpdate(0, 10_000));
  assert.equal(sent(), 75535);
  c.frames((w) => w.windowUpdate(0, 100_000));
  assert.equal(sent(), 100_000);
  assert.ok(c.response(1).ended);
});

Deno.test("a larger SETTINGS_INITIAL_WINDOW_SIZE is used; DATA frames stay at 16 KiB whatever MAX_FRAME_SIZE allows", () => {
  const big = new Uint8Array(40_000).fill(97);
  const c = h2(() => ({ status: 200, body: big }));
  c.preface([[SETTING.INITIAL_WINDOW_SIZE, 1 << 20], [SETTING.MAX_FRAME_SIZE, 32768]]);
  c.frames((w) => w.windowUpdate(0, 1 << 20));
  c.get(1);
  const sizes = c.of(FRAME.DATA, 1).map((f) => f.payload.length);
  assert.deepEqual(sizes, [DATA_FRAME_BYTES, DATA_FRAME_BYTES, 40_000 - 2 * DATA_FRAME_BYTES]);
});

Deno.test("flow control in: windows reopen as the handler reads, and DATA past the window resets the stream", async () => {
  let body: HttpRequest["body"] = null;
  const c = h2((req) => {
    body = req.body;
    return new Promise(() => {}); // answers never; reads when the test says
  });
  c.preface();
  const post = [":method", "POST", ":scheme", "http", ":path", "/", ":authority", "a"];
  c.frames((w) => c.request(w, 1, post, false));
  const chunk = new Uint8Array(16384);
  c.frames((w) => {
    for (let i = 0; i < STREAM_WINDOW / 16384; i++) w.data(1, chunk, 0, chunk.length, false);
  });
  assert.equal(c.of(FRAME.WINDOW_UPDATE, 1).length, 0, "nothing read: the stream window stays shut");
  assert.equal(c.session.phase, "busy", "a stream whose window we hold waits for its reader");
  let read = 0;
  for (let i = 0; i < 4; i++) read += (await body!.read())!.length;
  const granted = c.of(FRAME.WINDOW_UPDATE, 1).reduce((n, f) => n + f.increment!, 0);
  assert.equal(granted, read);
  // One byte more than the window allows: FLOW_CONTROL_ERROR on the stream.
  c.frames((w) => {
    for (let left = granted; left > 0; left -= 16384) w.data(1, chunk, 0, Math.min(16384, left), false);
    w.data(1, chunk, 0, 1, false);
  });
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.FLOW_CONTROL_ERROR);
  assert.equal(c.goaway(), undefined);
});

Deno.test("DATA past the connection window is a connection FLOW_CONTROL_ERROR", () => {
  const c = h2(() => new Promise(() => {}));
  c.preface();
  const post = [":method", "POST", ":scheme", "http", ":path", "/", ":authority", "a"];
  const chunk = new Uint8Array(16384);
  c.frames((w) => {
    for (let id = 1; id <= 11; id += 2) {
      c.request(w, id, post, false);
      for (let i = 0; i < STREAM_WINDOW / 16384; i++) w.data(id, chunk, 0, chunk.length, false);
    }
  });
  assert.equal(c.goaway()?.errorCode, H2_ERROR.FLOW_CONTROL_ERROR);
});

Deno.test("a handler that answers without reading the body gets the stream reset with NO_ERROR after the answer", () => {
  const c = h2(() => ok("early"));
  c.preface();
  c.frames((w) =>
    c.request(w, 1, [":method", "POST", ":scheme", "http", ":path", "/", ":authority", "a"], false)
  );
  assert.equal(c.response(1).body, "early");
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.NO_ERROR);
  c.frames((w) => w.data(1, new Uint8Array(10), 0, 10, true)); // in flight: ignored (RFC 9113 §5.1)
  assert.equal(c.goaway(), undefined);
  assert.equal(c.session.openStreams, 0);
});

Deno.test("Expect: 100-continue gets a 100 HEADERS when the handler reads the body", async () => {
  const c = h2(async (req) => ok(String((await req.body!.bytes()).length)));
  c.preface();
  c.frames((w) =>
    c.request(w, 1, [
      ":method",
      "PUT",
      ":scheme",
      "http",
      ":path",
      "/",
      ":authority",
      "a",
      "expect",
      "100-continue",
    ], false)
  );
  await tick();
  const heads = c.of(FRAME.HEADERS, 1);
  assert.equal(heads.length, 1);
  assert.deepEqual(heads[0]!.fields!.slice(0, 2), [":status", "100"]);
  assert.equal(heads[0]!.flags & FLAG.END_STREAM, 0);
  c.frames((w) => w.data(1, new Uint8Array(7), 0, 7, true));
  await tick();
  assert.equal(c.response(1).status, 200);
  assert.equal(c.response(1).body, "7");
});

Deno.test("a body past maxBodyBytes is answered 413 in the handler's place", async () => {
  const c = h2(async (req) => ok(String((await req.body!.bytes()).length)), { maxBodyBytes: 1000 });
  c.preface();
  c.frames((w) => {
    c.request(w, 1, [":method", "POST", ":scheme", "http", ":path", "/", ":authority", "a"], false);
    w.data(1, new Uint8Array(1001), 0, 1001, false);
  });
  await tick();
  assert.equal(c.response(1).status, 413);
  assert.equal(c.stats.errors["http 413"], 1);
});

Deno.test("a file body goes out by sendfile between 9-octet DATA heads, and is closed once", () => {
  let closes = 0;
  const file: FileBody = { kind: "file", fileFd: 42, offset: 100, length: 40_000, close: () => closes++ };
  const c = h2(() => ({ status: 200, body: file }));
  c.preface([[SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]);
  c.frames((w) => w.windowUpdate(0, 1 << 20));
  c.get(1);
  const data = c.of(FRAME.DATA, 1);
  assert.deepEqual(data.map((f) => f.payload.length), [16384, 16384, 40_000 - 32768]);
  assert.ok(data.every((f) => f.payload.every((b) => b === 120)));
  assert.deepEqual(c.t.sendfiles.map((s) => s.slice(0, 2)), [[42, 100], [42, 16484], [42, 32868]]);
  assert.equal(data.at(-1)!.flags & FLAG.END_STREAM, FLAG.END_STREAM);
  assert.equal(closes, 1);
  assert.equal(c.stats.filesOpen, 0);
});

/** Frames parsed from one write's bytes; throws if the write ends inside a frame. */
function wholeFrames(chunk: Uint8Array): { type: number; length: number }[] {
  const frames = [];
  for (let p = 0; p < chunk.length;) {
    assert.ok(p + 9 <= chunk.length, "a frame head split from its write");
    const length = (chunk[p]! << 16) | (chunk[p + 1]! << 8) | chunk[p + 2]!;
    assert.ok(p + 9 + length <= chunk.length, "a frame's payload left for another write");
    frames.push({ type: chunk[p + 3]!, length });
    p += 9 + length;
  }
  return frames;
}

Deno.test("over a transport that copies files, each DATA frame's head and payload leave in one write, sized to one TLS record", () => {
  let closes = 0;
  const file: FileBody = { kind: "file", fileFd: 42, offset: 100, length: 40_000, close: () => closes++ };
  const c = h2(() => ({ status: 200, body: file }));
  c.t.copiesFiles = true;
  c.preface([[SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]);
  c.frames((w) => w.windowUpdate(0, 1 << 20));
  c.get(1);
  const data = c.of(FRAME.DATA, 1);
  assert.deepEqual(data.map((f) => f.payload.length), [16375, 16375, 40_000 - 2 * 16375]);
  const body = new Uint8Array(data.reduce((n, f) => n + f.payload.length, 0));
  data.reduce((at, f) => (body.set(f.payload, at), at + f.payload.length), 0);
  assert.ok(body.every((b, i) => b === ((100 + i) & 0xff)), "the file's bytes, in order");
  assert.equal(data.at(-1)!.flags & FLAG.END_STREAM, FLAG.END_STREAM);
  assert.deepEqual(c.t.sendfiles, []);
  assert.deepEqual(c.t.fileReads, [[42, 100, 16375], [42, 16475, 16375], [42, 32850, 7250]]);
  const written = c.t.chunks.flatMap(wholeFrames).filter((f) => f.type === FRAME.DATA);
  assert.deepEqual(written.map((f) => f.length), [16375, 16375, 7250]);
  assert.ok(written.every((f) => f.length + 9 <= 16384), "head + payload fit one 16 KiB record");
  assert.equal(closes, 1);
  assert.equal(c.stats.filesOpen, 0);
});

Deno.test("over a transport that copies files, a file that shrank resets its stream and the connection goes on", async () => {
  let closes = 0;
  const file: FileBody = { kind: "file", fileFd: 7, offset: 0, length: 40_000, close: () => closes++ };
  const c = h2((req) => req.head.path === "/f" ? { status: 200, body: file } : ok("small"));
  c.t.copiesFiles = true;
  c.t.fileEnd = 20_000;
  c.preface([[SETTING.INITIAL_WINDOW_SIZE, 1 << 20]]);
  c.frames((w) => w.windowUpdate(0, 1 << 20));
  c.get(1, "/f");
  await tick();
  assert.deepEqual(c.of(FRAME.DATA, 1).map((f) => f.payload.length), [16375]);
  const rst = c.of(FRAME.RST_STREAM, 1);
  assert.equal(rst.length, 1);
  assert.equal(rst[0]!.errorCode, H2_ERROR.INTERNAL_ERROR);
  assert.equal(c.stats.errors["file shrank"], 1);
  assert.equal(closes, 1);
  assert.equal(c.stats.filesOpen, 0);
  c.get(3, "/s");
  assert.equal(c.response(3).body, "small");
  assert.equal(c.t.closes, 0);
});

Deno.test("a file's frame cut short by a full socket is finished before any other frame", () => {
  let closes = 0;
  const file: FileBody = { kind: "file", fileFd: 7, offset: 0, length: 10_000, close: () => closes++ };
  const c = h2((req) => req.head.path === "/f" ? { status: 200, body: file } : ok("small"));
  c.preface();
  c.t.window = c.t.output.length + 200; // the head goes out, then 200 bytes of file bytes... and a bit
  c.get(1, "/f");
  c.t.window = Infinity;
  c.frames((w) => {
    w.ping(false, new Uint8Array(8), 0);
  });
  c.get(3, "/s");
  c.session.onWritable();
  const data = c.of(FRAME.DATA, 1);
  assert.equal(data.length, 1);
  assert.equal(data[0]!.payload.length, 10_000);
  assert.ok(data[0]!.payload.every((b) => b === 120));
  assert.equal(c.response(3).body, "small");
  assert.equal(c.of(FRAME.PING).length, 1);
  assert.equal(closes, 1);
});

Deno.test("a ReadableStream body is pumped chunk by chunk and ended with END_STREAM", async () => {
  let push!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (ctl) => void (push = ctl) });
  const c = h2(() => ({ status: 200, body: stream }));
  c.preface();
  c.get(1);
  assert.equal(c.response(1).status, 200);
  assert.equal(c.response(1).get("content-length"), undefined);
  push.enqueue(new TextEncoder().encode("one,"));
  await tick();
  push.enqueue(new TextEncoder().encode("two"));
  push.close();
  await tick();
  await tick();
  const r = c.response(1);
  assert.equal(r.body, "one,two");
  assert.ok(r.ended);
});

Deno.test("a client's RST_STREAM cancels a streamed answer and tells its observer", async () => {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull: () => new Promise(() => {}),
    cancel: () => void (cancelled = true),
  });
  const outcomes: boolean[] = [];
  const c = h2((req) => {
    req.observer = { responseDone: (ok) => outcomes.push(ok) };
    return { status: 200, body: stream };
  });
  c.preface();
  c.get(1);
  c.frames((w) => w.rstStream(1, H2_ERROR.CANCEL));
  await tick();
  assert.ok(cancelled);
  assert.deepEqual(outcomes, [false]);
  assert.equal(c.session.openStreams, 0);
});

Deno.test("a handler that throws gets a 500 on its stream only", () => {
  const c = h2((req) => {
    if (req.head.path === "/boom") throw new Error("boom");
    return ok("fine");
  });
  const error = console.error;
  console.error = () => {};
  try {
    c.preface();
    c.get(1, "/boom");
    c.get(3, "/");
  } finally {
    console.error = error;
  }
  assert.equal(c.response(1).status, 500);
  assert.equal(c.response(3).body, "fine");
  assert.equal(c.stats.errors["http 500"], 1, "counted as the 500 it became");
});

Deno.test("more streams than MAX_CONCURRENT_STREAMS are refused with REFUSED_STREAM", () => {
  const c = h2(() => new Promise(() => {}));
  c.preface();
  c.frames((w) => {
    for (let i = 0; i <= MAX_CONCURRENT_STREAMS; i++) {
      c.request(w, 2 * i + 1, [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"]);
    }
  });
  const resets = c.of(FRAME.RST_STREAM);
  assert.equal(resets.length, 1);
  assert.equal(resets[0]!.streamId, 2 * MAX_CONCURRENT_STREAMS + 1);
  assert.equal(resets[0]!.errorCode, H2_ERROR.REFUSED_STREAM);
  assert.equal(c.session.openStreams, MAX_CONCURRENT_STREAMS);
  assert.equal(c.stats.errors["h2 refused stream"], 1);
});

Deno.test("rapid reset (CVE-2023-44487): streams opened and reset past the limit end the connection", () => {
  let calls = 0;
  const c = h2(() => {
    calls++;
    return ok("late"); // answered, but reset before the answer is written
  });
  c.preface();
  c.frames((w) => {
    for (let i = 0; i <= FLOOD_LIMITS.reset; i++) {
      c.request(w, 2 * i + 1, [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"]);
      w.rstStream(2 * i + 1, H2_ERROR.CANCEL);
    }
  });
  assert.equal(c.goaway()?.errorCode, H2_ERROR.ENHANCE_YOUR_CALM);
  assert.equal(c.stats.errors["h2 flood reset"], 1);
  assert.equal(calls, FLOOD_LIMITS.reset + 1);
  assert.equal(c.t.closes, 1);
});

Deno.test("resets spread over time stay under the limit", () => {
  const c = h2(() => ok("late"));
  c.preface();
  let id = 1;
  for (let second = 0; second < 3; second++) {
    c.frames((w) => {
      for (let i = 0; i < FLOOD_LIMITS.reset; i++, id += 2) {
        c.request(w, id, [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"]);
        w.rstStream(id, H2_ERROR.CANCEL);
      }
    });
    c.advance(1000);
  }
  assert.equal(c.goaway(), undefined);
});

for (
  const [kind, build] of [
    ["ping", (w: FrameWriter) => w.ping(false, new Uint8Array(8), 0)],
    ["settings", (w: FrameWriter) => w.settings([])],
    ["windowUpdate", (w: FrameWriter) => w.windowUpdate(0, 1)],
    ["emptyData", (w: FrameWriter) => w.data(1, new Uint8Array(0), 0, 0, false)],
    ["priority", (w: FrameWriter) => w.priority(1, 0, false, 1)],
  ] as const
) {
  Deno.test(`a flood of ${kind} frames past FLOOD_LIMITS.${kind} per second is ENHANCE_YOUR_CALM`, () => {
    const c = h2(() => new Promise(() => {}));
    c.preface();
    if (kind === "emptyData") {
      c.frames((w) =>
        c.request(w, 1, [":method", "POST", ":scheme", "http", ":path", "/", ":authority", "a"], false)
      );
    }
    const limit = FLOOD_LIMITS[kind] - (kind === "settings" ? 1 : 0); // the preface's SETTINGS counts
    c.frames((w) => {
      for (let i = 0; i < limit; i++) build(w);
    });
    assert.equal(c.goaway(), undefined, "at the limit, nothing happens");
    c.frames(build);
    assert.equal(c.goaway()?.errorCode, H2_ERROR.ENHANCE_YOUR_CALM);
    assert.equal(c.stats.errors[`h2 flood ${kind}`], 1);
  });
}

Deno.test("a peer that never reads: control frames pile up to MAX_CONTROL_BYTES, then the connection ends", () => {
  const c = h2(echoPath, { writeTimeoutMs: 1e9 });
  c.preface();
  c.t.window = 0; // the client reads nothing more
  c.session.onWritable();
  for (let second = 0; second < 100 && !c.session.closed; second++) {
    c.frames((w) => {
      for (let i = 0; i < FLOOD_LIMITS.ping; i++) w.ping(false, new Uint8Array(8), 0);
    });
    c.advance(1000);
  }
  assert.ok(c.session.closed);
  assert.equal(c.stats.errors["h2 control frames unread"], 1);
});

Deno.test("a peer that never opens its window: the write timeout resets the stalled stream", () => {
  const big = new Uint8Array(200_000);
  const outcomes: boolean[] = [];
  const c = h2((req) => {
    req.observer = { responseDone: (ok) => outcomes.push(ok) };
    return { status: 200, body: big };
  });
  c.preface();
  c.get(1);
  assert.equal(c.session.phase, "writing");
  c.advance(2999);
  assert.equal(c.of(FRAME.RST_STREAM).length, 0);
  c.advance(1);
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.CANCEL);
  assert.equal(c.stats.errors["h2 window stalled"], 1);
  assert.deepEqual(outcomes, [false]);
  assert.equal(c.session.openStreams, 0);
  assert.equal(c.session.closed, false);
  c.get(3);
  assert.equal(c.response(3).status, 200, "the connection still serves");
});

Deno.test("a socket that stays full past the write timeout closes the connection", () => {
  const c = h2(() => ({ status: 200, body: new Uint8Array(60_000) }));
  c.preface();
  c.t.window = c.t.output.length + 100;
  c.get(1);
  assert.equal(c.session.phase, "writing");
  assert.deepEqual(c.t.interest, { readable: false, writable: true });
  c.advance(3000);
  assert.ok(c.session.closed);
  assert.equal(c.stats.errors["write timeout"], 1);
});

Deno.test("WINDOW_UPDATE of 0 resets its stream, or ends the connection when on stream 0", () => {
  const c = h2(() => ({ status: 200, body: new Uint8Array(100_000) }));
  c.preface();
  c.get(1);
  c.frames((w) => w.windowUpdate(1, 0));
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.PROTOCOL_ERROR);
  c.frames((w) => w.windowUpdate(0, 0));
  assert.equal(c.goaway()?.errorCode, H2_ERROR.PROTOCOL_ERROR);
});

Deno.test("a window past 2^31-1 is a FLOW_CONTROL_ERROR", () => {
  const c = h2(echoPath);
  c.preface();
  c.frames((w) => w.windowUpdate(0, 0x7fffffff));
  assert.equal(c.goaway()?.errorCode, H2_ERROR.FLOW_CONTROL_ERROR);
});

Deno.test("idle, the session ends with GOAWAY NO_ERROR after the idle timeout; before SETTINGS, after the header timeout", () => {
  const c = h2(echoPath);
  c.preface();
  c.get(1);
  assert.equal(c.session.phase, "idle");
  c.advance(4999);
  assert.equal(c.session.closed, false);
  c.advance(1);
  assert.equal(c.goaway()?.errorCode, H2_ERROR.NO_ERROR);
  assert.equal(c.goaway()?.lastStreamId, 1);
  assert.ok(c.session.closed);
  const silent = h2(echoPath);
  silent.advance(1000);
  assert.ok(silent.session.closed);
  assert.equal(silent.stats.errors["header timeout"], 1);
});

Deno.test("each request restarts the idle timeout", () => {
  const c = h2(echoPath);
  c.preface();
  for (let id = 1; id <= 7; id += 2) {
    c.get(id);
    assert.equal(c.response(id).status, 200);
    c.advance(4000);
  }
  assert.equal(c.session.closed, false);
  c.advance(1000);
  assert.ok(c.session.closed);
});

Deno.test("a stalled request body is answered 408 after the body timeout", async () => {
  const c = h2(async (req) => ok(String((await req.body!.bytes()).length)));
  c.preface();
  c.frames((w) => {
    c.request(w, 1, [":method", "POST", ":scheme", "http", ":path", "/", ":authority", "a"], false);
    w.data(1, new Uint8Array(10), 0, 10, false);
  });
  assert.equal(c.session.phase, "body");
  c.advance(2000);
  await tick();
  assert.equal(c.response(1).status, 408);
  assert.equal(c.stats.errors["body timeout"], 1);
});

Deno.test("graceful drain: GOAWAY admitting all, PING, then GOAWAY with the last stream; closes when done", async () => {
  const answers = new Map<string, (r: HttpResponse) => void>();
  const c = h2((req) => new Promise((resolve) => answers.set(req.head.path, resolve)));
  c.preface();
  c.get(1, "/1");
  assert.equal(c.session.closeIfIdle(), false);
  const first = c.goaway()!;
  assert.equal(first.lastStreamId, 0x7fffffff);
  assert.equal(first.errorCode, H2_ERROR.NO_ERROR);
  const ping = c.of(FRAME.PING).find((f) => f.flags === 0)!;
  c.get(3, "/3"); // opened before the client saw the GOAWAY: still served
  c.frames((w) => w.ping(true, ping.payload, 0));
  const final = c.goaway()!;
  assert.equal(final.lastStreamId, 3);
  c.get(5); // past the final GOAWAY: ignored
  assert.equal(c.of(FRAME.HEADERS, 5).length, 0);
  assert.equal(c.session.closed, false);
  answers.get("/1")!(ok("one"));
  await tick();
  assert.equal(c.response(1).body, "one");
  assert.equal(c.session.closed, false, "stream 3 is still owed");
  answers.get("/3")!(ok("three"));
  await tick();
  assert.equal(c.response(3).body, "three");
  assert.ok(c.session.closed);
  assert.equal(c.t.closes, 1);
});

Deno.test("closeIfIdle() on an idle session sends GOAWAY and closes at once", () => {
  const c = h2(echoPath);
  c.preface();
  assert.equal(c.session.closeIfIdle(), true);
  assert.equal(c.goaway()?.errorCode, H2_ERROR.NO_ERROR);
  assert.equal(c.t.closes, 1);
});

Deno.test("the server draining starts the graceful drain at the next flush", () => {
  let draining = false;
  const c = h2(echoPath, { draining: () => draining });
  c.preface();
  draining = true;
  c.get(1);
  assert.equal(c.response(1).status, 200);
  assert.equal(c.of(FRAME.GOAWAY)[0]?.lastStreamId, 0x7fffffff);
});

Deno.test("a client GOAWAY: streams in progress finish, new ones are refused, then the session closes", async () => {
  let answer!: (r: HttpResponse) => void;
  const c = h2(() => new Promise((resolve) => answer = resolve));
  c.preface();
  c.get(1);
  c.frames((w) => w.goaway(1, H2_ERROR.NO_ERROR));
  c.get(3);
  assert.equal(c.of(FRAME.RST_STREAM, 3)[0]?.errorCode, H2_ERROR.REFUSED_STREAM);
  answer(ok("done"));
  await tick();
  assert.equal(c.response(1).body, "done");
  assert.ok(c.session.closed);
});

Deno.test("the peer's FIN closes the session and aborts what is in progress", () => {
  const outcomes: boolean[] = [];
  const c = h2((req) => {
    req.observer = { responseDone: (ok) => outcomes.push(ok) };
    return new Promise(() => {});
  });
  c.preface();
  c.get(1);
  c.t.eof = true;
  c.session.onReadable();
  assert.ok(c.session.closed);
  assert.deepEqual(outcomes, [false]);
  assert.equal(c.t.closes, 1);
  assert.equal(c.closedHook, 1);
});

Deno.test("PUSH_PROMISE from a client and HEADERS on an even stream are PROTOCOL_ERRORs", () => {
  for (
    const build of [(w: FrameWriter) => {
      w.head(4, FRAME.PUSH_PROMISE, FLAG.END_HEADERS, 1);
      w.append(Uint8Array.from([0, 0, 0, 2]));
    }, (w: FrameWriter) => w.headers(2, Uint8Array.from([0x82]), 1, true, 16384)]
  ) {
    const c = h2(echoPath);
    c.preface();
    c.frames(build);
    assert.equal(c.goaway()?.errorCode, H2_ERROR.PROTOCOL_ERROR);
  }
});

Deno.test("a broken header block is a COMPRESSION_ERROR", () => {
  const c = h2(echoPath);
  c.preface();
  c.frames((w) => w.headers(1, Uint8Array.from([0x80]), 1, true, 16384)); // index 0
  assert.equal(c.goaway()?.errorCode, H2_ERROR.COMPRESSION_ERROR);
});

Deno.test("response fields are lower-cased and HTTP/1.1's connection fields are left out", () => {
  const c = h2(() => ok("x", ["Content-Type", "text/plain", "Connection", "close", "X-Custom", "v"]));
  c.preface();
  c.get(1);
  const r = c.response(1);
  assert.equal(r.get("x-custom"), "v");
  assert.equal(r.get("connection"), undefined);
  assert.equal(r.get("content-type"), "text/plain");
});

Deno.test("pre-encoded response fields (a file's) are lower-cased and filtered the same, every time", () => {
  const fields = encodeFields(["Content-Type", "text/css", "Keep-Alive", "timeout=5", "ETag", '"e1"']);
  const c = h2(() => ({ status: 200, headers: fields, body: "x" }));
  c.preface();
  for (const id of [1, 3]) { // the second answer reads the fields back from the session's memo
    c.get(id);
    const r = c.response(id);
    assert.deepEqual(r.fields.filter((_, i) => i % 2 === 0 && i > 0).slice(2), [
      "content-type",
      "etag",
      "content-length",
    ]);
    assert.equal(r.get("etag"), '"e1"');
  }
});

Deno.test("each response whose head went out ends once: complete with its DATA bytes, or cut short when the connection closes", () => {
  const ends: [string, number, number, boolean][] = [];
  const c = h2(
    (req) => req.head.path === "/big" ? ok("b".repeat(100_000)) : ok("small"),
    { onComplete: (_conn, done) => ends.push([done.head!.path, done.status, done.bytes, done.complete]) },
  );
  c.preface();
  c.get(1, "/small");
  assert.deepEqual(ends, [["/small", 200, 5, true]]);
  // The client's connection window (65,535, 5 of it spent on /small) lets part of the big body
  // out; then the connection closes.
  c.get(3, "/big");
  assert.equal(ends.length, 1, "not ended while its body waits for the window");
  c.session.close();
  assert.deepEqual(ends[1], ["/big", 200, 65_535 - 5, false]);
  assert.equal(ends.length, 2);
});
