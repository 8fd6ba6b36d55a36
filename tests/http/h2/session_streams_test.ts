// The HTTP/2 session's stream accounting under a hostile client, over the in-memory transport:
// resets the client provokes count as rapid resets, a reset stream keeps its slot until its
// handler settles, unfinished bodies end with the answer, per-stream body and window deadlines,
// stream ids that were never opened, the last GOAWAY's id, and a frame's repeated settings.

import assert from "node:assert/strict";
import { FLAG, FRAME, type FrameWriter, H2_ERROR, SETTING } from "../../../http/h2/frames.ts";
import { FLOOD_LIMITS, MAX_CONCURRENT_STREAMS } from "../../../http/h2/session.ts";
import type { FileBody, HttpRequest, HttpResponse } from "../../../http/types.ts";
import { h2, tick } from "./_client.ts";

const ok = (body: string): HttpResponse => ({ status: 200, headers: ["content-type", "text/plain"], body });
const GET = [":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a"];
const post = (extra: string[] = []) => [
  ":method",
  "POST",
  ":scheme",
  "http",
  ":path",
  "/",
  ":authority",
  "a",
  ...extra,
];

/** A DATA frame with `pad` octets of padding around `payload`. */
function padded(w: FrameWriter, id: number, payload: Uint8Array, pad: number): void {
  w.head(1 + payload.length + pad, FRAME.DATA, FLAG.PADDED, id);
  w.append(new Uint8Array([pad]));
  w.append(payload);
  w.append(new Uint8Array(pad));
}

const PROVOKED: [string, (w: FrameWriter, id: number) => void][] = [
  ["DATA past Content-Length", (w, id) => w.data(id, new Uint8Array(1), 0, 1, false)],
  ["WINDOW_UPDATE of 0", (w, id) => w.windowUpdate(id, 0)],
  ["PRIORITY on itself", (w, id) => w.priority(id, id, false, 16)],
];

for (const [what, provoke] of PROVOKED) {
  Deno.test(`streams the server resets for ${what} count as rapid resets: GOAWAY ENHANCE_YOUR_CALM`, () => {
    let calls = 0;
    const c = h2(() => {
      calls++;
      return ok("hi");
    });
    c.preface();
    c.frames((w) => {
      for (let i = 0; i <= FLOOD_LIMITS.reset; i++) {
        const id = 2 * i + 1;
        if (what === "DATA past Content-Length") c.request(w, id, post(["content-length", "0"]), false);
        else c.request(w, id, GET);
        provoke(w, id);
      }
    });
    assert.equal(c.goaway()?.errorCode, H2_ERROR.ENHANCE_YOUR_CALM);
    assert.equal(c.stats.errors["h2 flood reset"], 1);
    assert.equal(calls, FLOOD_LIMITS.reset + 1, "no stream past the one that crossed the limit");
    assert.ok(c.session.closed);
  });
}

Deno.test("a stream reset while its handler runs holds its concurrency slot until the handler settles", async () => {
  const answers: ((r: HttpResponse) => void)[] = [];
  const c = h2(() => new Promise((resolve) => answers.push(resolve)));
  c.preface();
  c.frames((w) => {
    for (let i = 0; i < MAX_CONCURRENT_STREAMS; i++) {
      c.request(w, 2 * i + 1, GET);
      w.rstStream(2 * i + 1, H2_ERROR.CANCEL);
    }
  });
  assert.equal(c.session.openStreams, 0);
  const next = 2 * MAX_CONCURRENT_STREAMS + 1;
  c.frames((w) => c.request(w, next, GET));
  assert.equal(c.of(FRAME.RST_STREAM, next)[0]?.errorCode, H2_ERROR.REFUSED_STREAM);
  assert.equal(answers.length, MAX_CONCURRENT_STREAMS, "the refused stream's handler was not called");
  answers[0]!(ok("late"));
  await tick();
  c.frames((w) => c.request(w, next + 2, GET));
  assert.equal(answers.length, MAX_CONCURRENT_STREAMS + 1, "a settled handler gave its slot back");
  assert.equal(c.of(FRAME.RST_STREAM, next + 2).length, 0);
  assert.equal(c.of(FRAME.HEADERS, 1).length, 0, "nothing is sent on a reset stream");
});

Deno.test("a handler that reads part of its body and answers: RST_STREAM(NO_ERROR) ends the stream and its body", async () => {
  const later: { read?: Promise<unknown> } = {};
  const c = h2(async (req) => {
    await req.body!.read();
    later.read = req.body!.read().catch((e) => e);
    return ok("claimed");
  });
  c.preface();
  c.frames((w) => {
    c.request(w, 1, post(), false);
    w.data(1, new Uint8Array([1, 2, 3]), 0, 3, false);
  });
  await tick();
  await tick();
  assert.equal(c.response(1).body, "claimed");
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.NO_ERROR);
  assert.equal(c.session.openStreams, 0);
  assert.ok((await later.read) instanceof Error, "a read past the answer fails");
  c.frames((w) => w.data(1, new Uint8Array(10), 0, 10, false)); // in flight: ignored
  assert.equal(c.goaway(), undefined);
  c.advance(5000); // the idle timeout, not a stream held open
  assert.equal(c.goaway()?.errorCode, H2_ERROR.NO_ERROR);
  assert.ok(c.session.closed);
});

Deno.test("a body past maxBodyBytes: 413, then RST_STREAM(NO_ERROR), and later DATA is not taken", async () => {
  const c = h2(async (req) => ok(String((await req.body!.bytes()).length)), { maxBodyBytes: 1000 });
  c.preface();
  c.frames((w) => {
    c.request(w, 1, post(), false);
    w.data(1, new Uint8Array(1500), 0, 1500, false);
  });
  await tick();
  assert.equal(c.response(1).status, 413);
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.NO_ERROR);
  assert.equal(c.session.openStreams, 0);
  const windowUpdates = c.of(FRAME.WINDOW_UPDATE, 1).length;
  c.frames((w) => w.data(1, new Uint8Array(1000), 0, 1000, false));
  assert.equal(c.of(FRAME.WINDOW_UPDATE, 1).length, windowUpdates, "the stream's window is not reopened");
});

Deno.test("a request body that stalls while its response streams: the stream is reset after the body timeout", async () => {
  let failure: unknown = null;
  const c = h2((req) => {
    const body = req.body!;
    body.claim(); // read by the response as it streams
    return {
      status: 200,
      body: new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const chunk = await body.read();
            if (chunk === null) controller.close();
            else controller.enqueue(chunk);
          } catch (e) {
            failure = e;
            controller.error(e);
          }
        },
      }),
    };
  });
  c.preface();
  c.frames((w) => {
    c.request(w, 1, post(), false);
    w.data(1, new Uint8Array([97, 98, 99]), 0, 3, false);
  });
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(c.response(1).body, "abc", "the echo began");
  c.advance(1999);
  assert.equal(c.of(FRAME.RST_STREAM, 1).length, 0);
  c.advance(1);
  await tick();
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.CANCEL);
  assert.equal(c.stats.errors["body timeout"], 1);
  assert.equal((failure as { status?: number } | null)?.status, 408, "the reader learns why");
  assert.equal(c.session.openStreams, 0);
});

Deno.test("trailers that end a body shorter than its Content-Length reset the stream with PROTOCOL_ERROR", async () => {
  const c = h2((req) => req.body!.bytes().then((b) => ok(String(b.length)), () => ok("cut")));
  c.preface();
  c.frames((w) => {
    c.request(w, 1, post(["content-length", "10"]), false);
    w.data(1, new Uint8Array(3), 0, 3, false);
    c.request(w, 1, ["x-trailer", "1"], true);
  });
  await tick();
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.PROTOCOL_ERROR);
  assert.equal(c.of(FRAME.HEADERS, 1).length, 0, "no answer to a malformed request");
  assert.equal(c.stats.errors["h2 malformed request"], 1);
});

Deno.test("a stream whose client trickles its window does not keep the other stalled streams (and files) alive", () => {
  const closed: number[] = [];
  const c = h2((req) => {
    const fd = Number(req.head.path.slice(1));
    const file: FileBody = {
      kind: "file",
      fileFd: fd,
      offset: 0,
      length: 100_000,
      close: () => closed.push(fd),
    };
    return { status: 200, body: file };
  }, { writeTimeoutMs: 3000 });
  c.preface([[SETTING.INITIAL_WINDOW_SIZE, 0]]);
  c.frames((w) => {
    for (const id of [1, 3, 5]) {
      c.request(w, id, [":method", "GET", ":scheme", "http", ":path", `/${id}`, ":authority", "a"]);
    }
  });
  assert.equal(c.stats.filesOpen, 3);
  for (let second = 1; second <= 6; second++) {
    c.advance(1000);
    c.frames((w) => w.windowUpdate(1, 1)); // one byte a second on stream 1 only
  }
  assert.equal(c.of(FRAME.RST_STREAM, 3)[0]?.errorCode, H2_ERROR.CANCEL);
  assert.equal(c.of(FRAME.RST_STREAM, 5)[0]?.errorCode, H2_ERROR.CANCEL);
  assert.equal(c.of(FRAME.RST_STREAM, 1).length, 0, "the stream that moves is kept");
  assert.deepEqual(closed.sort(), [3, 5]);
  assert.equal(c.stats.filesOpen, 1);
  assert.equal(c.stats.errors["h2 window stalled"], 2);
  assert.equal(c.of(FRAME.DATA, 1).length, 6);
  assert.equal(c.session.closed, false);
});

Deno.test("a 16 MiB MAX_FRAME_SIZE gets 16 KiB DATA frames, and the output buffer is let go when idle", () => {
  const big = new Uint8Array(1 << 20);
  const c = h2(() => ({ status: 200, body: big }));
  c.preface([[SETTING.INITIAL_WINDOW_SIZE, 0x7fffffff], [SETTING.MAX_FRAME_SIZE, (1 << 24) - 1]]);
  c.frames((w) => w.windowUpdate(0, 0x7fffffff - 65535));
  c.get(1);
  const sizes = c.of(FRAME.DATA, 1).map((f) => f.payload.length);
  assert.equal(sizes.reduce((a, b) => a + b, 0), 1 << 20);
  assert.ok(sizes.every((n) => n <= 16384), `frames of ${Math.max(...sizes)} octets`);
  const out = (c.session as unknown as { out: { bytes: Uint8Array } }).out;
  assert.ok(out.bytes.length <= 16384, `an idle session keeps a ${out.bytes.length}-byte output buffer`);
});

Deno.test("HEADERS on a lower stream id never opened is a connection PROTOCOL_ERROR (RFC 9113 §5.1.1)", () => {
  const c = h2(() => ok("hi"));
  c.preface();
  c.get(5);
  assert.equal(c.response(5).status, 200);
  c.get(3);
  assert.equal(c.goaway()?.errorCode, H2_ERROR.PROTOCOL_ERROR);
  assert.equal(c.goaway()?.lastStreamId, 5);
});

Deno.test("HEADERS or DATA on a stream closed by both END_STREAMs is STREAM_CLOSED; the connection goes on", () => {
  const c = h2(() => ok("hi"));
  c.preface();
  c.get(1);
  c.get(3);
  assert.equal(c.response(3).status, 200);
  c.get(1);
  assert.equal(c.of(FRAME.RST_STREAM, 1)[0]?.errorCode, H2_ERROR.STREAM_CLOSED);
  c.frames((w) => w.data(3, new Uint8Array(2), 0, 2, true));
  assert.equal(c.of(FRAME.RST_STREAM, 3)[0]?.errorCode, H2_ERROR.STREAM_CLOSED);
  c.frames((w) => {
    w.windowUpdate(3, 10); // allowed on a closed stream for a while (§5.1): ignored
    w.rstStream(3, H2_ERROR.CANCEL);
  });
  assert.equal(c.goaway(), undefined);
  c.get(5);
  assert.equal(c.response(5).status, 200);
});

for (
  const [what, build] of [
    ["DATA on an even stream below the last", (w: FrameWriter) => w.data(2, new Uint8Array(1), 0, 1, false)],
    ["WINDOW_UPDATE on a skipped odd stream", (w: FrameWriter) => w.windowUpdate(3, 1)],
    ["RST_STREAM on a skipped odd stream", (w: FrameWriter) => w.rstStream(3, H2_ERROR.CANCEL)],
  ] as const
) {
  Deno.test(`${what} (never opened, so idle, not closed) is a connection PROTOCOL_ERROR`, () => {
    const c = h2(() => ok("hi"));
    c.preface();
    c.get(1);
    c.get(5);
    c.frames(build);
    assert.equal(c.goaway()?.errorCode, H2_ERROR.PROTOCOL_ERROR);
  });
}

Deno.test("after the final GOAWAY, a later connection error's GOAWAY names no higher stream", () => {
  const c = h2(() => new Promise(() => {}));
  c.preface();
  c.get(1);
  c.session.closeIfIdle();
  const ping = c.of(FRAME.PING).find((f) => f.flags === 0)!;
  c.frames((w) => w.ping(true, ping.payload, 0));
  assert.equal(c.goaway()?.lastStreamId, 1);
  c.get(3); // past the final GOAWAY: ignored
  c.frames((w) => w.data(3, new Uint8Array(1), 0, 1, true)); // its DATA too
  assert.equal(c.of(FRAME.RST_STREAM, 3).length, 0);
  assert.equal(c.session.closed, false);
  c.frames((w) => w.windowUpdate(0, 0)); // a connection error
  const last = c.goaway()!;
  assert.equal(last.errorCode, H2_ERROR.PROTOCOL_ERROR);
  assert.equal(last.lastStreamId, 1);
});

Deno.test("empty DATA frames do not defer the body timeout", async () => {
  const c = h2(async (req: HttpRequest) => ok(String((await req.body!.bytes()).length)));
  c.preface();
  c.frames((w) => {
    c.request(w, 1, post(), false);
    w.data(1, new Uint8Array([97]), 0, 1, false);
  });
  for (let t = 0; t < 4; t++) {
    c.advance(500);
    c.frames((w) => w.data(1, new Uint8Array(0), 0, 0, false));
  }
  await tick();
  assert.equal(c.response(1).status, 408);
});

Deno.test("padding-only DATA frames do not defer the body timeout, and count as empty DATA", async () => {
  const c = h2(async (req: HttpRequest) => ok(String((await req.body!.bytes()).length)));
  c.preface();
  c.frames((w) => {
    c.request(w, 1, post(), false);
    w.data(1, new Uint8Array([97]), 0, 1, false);
  });
  for (let t = 0; t < 4; t++) {
    c.advance(500);
    c.frames((w) => padded(w, 1, new Uint8Array(0), 5));
  }
  await tick();
  assert.equal(c.response(1).status, 408);

  const d = h2(() => new Promise(() => {}));
  d.preface();
  d.frames((w) => {
    d.request(w, 1, post(), false);
    for (let i = 0; i <= FLOOD_LIMITS.emptyData; i++) padded(w, 1, new Uint8Array(0), 5);
  });
  assert.equal(d.goaway()?.errorCode, H2_ERROR.ENHANCE_YOUR_CALM);
  assert.equal(d.stats.errors["h2 flood emptyData"], 1);
});

Deno.test("a SETTINGS frame repeating INITIAL_WINDOW_SIZE moves each stream's window once, to the last value", () => {
  const c = h2(() => new Promise(() => {}));
  c.preface();
  c.frames((w) => {
    for (let id = 1; id <= 5; id += 2) c.request(w, id, GET);
  });
  const streams = (c.session as unknown as { streams: Map<number, { sendWindow: number }> }).streams;
  let writes = 0;
  for (const stream of streams.values()) {
    let value = stream.sendWindow;
    Object.defineProperty(stream, "sendWindow", {
      get: () => value,
      set: (v: number) => {
        writes++;
        value = v;
      },
    });
  }
  const params: [number, number][] = [];
  for (let i = 0; i < 1000; i++) params.push([SETTING.INITIAL_WINDOW_SIZE, (i % 2) * 65535]);
  params.push([SETTING.INITIAL_WINDOW_SIZE, 1000]);
  c.frames((w) => w.settings(params));
  assert.equal(writes, 3, "one move per stream");
  assert.deepEqual([...streams.values()].map((s) => s.sendWindow), [1000, 1000, 1000]);
  assert.equal(c.goaway(), undefined);
});
