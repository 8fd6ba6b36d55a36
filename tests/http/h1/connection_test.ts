// The connection state machine over a fake Transport: ordering of async responses, partial
// writes and back-pressure, handler failures, files and streams, closing exactly once.

import assert from "node:assert/strict";
import { DISCARD_MAX_BYTES, PIECE_OVERHEAD_BYTES } from "../../../http/request_body.ts";
import type { FileBody, Handler, HttpResponse } from "../../../http/types.ts";
import { connect } from "./_connect.ts";

const ok = (body: string): HttpResponse => ({ status: 200, headers: ["Content-Type", "text/plain"], body });
const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`;
const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test("responses leave in request order when async handlers finish out of order", async () => {
  const resolvers = new Map<string, (r: HttpResponse) => void>();
  const { t, send } = connect((req) => new Promise((resolve) => resolvers.set(req.head.path, resolve)));
  send(get("/1") + get("/2") + get("/3"));
  resolvers.get("/3")!(ok("three"));
  resolvers.get("/2")!(ok("two"));
  await tick();
  assert.equal(t.output.length, 0, "nothing may overtake the first response");
  resolvers.get("/1")!(ok("one"));
  await tick();
  const bodies = [...t.text().matchAll(/\r\n\r\n(one|two|three)/g)].map((m) => m[1]);
  assert.deepEqual(bodies, ["one", "two", "three"]);
  assert.equal(t.writes, 1, "the three ready responses leave in one write");
});

Deno.test("answers still promises are counted until they settle, fulfilled or rejected", async () => {
  const settle = new Map<string, [(r: HttpResponse) => void, (e: Error) => void]>();
  const { t, send, stats } = connect((req) =>
    req.head.path === "/now"
      ? ok("now")
      : new Promise((resolve, reject) => settle.set(req.head.path, [resolve, reject]))
  );
  send(get("/1") + get("/now") + get("/2"));
  assert.equal(stats.answersAwaited, 2, "the synchronous answer is not awaited");
  settle.get("/2")![1](new Error("handler failed"));
  await tick();
  assert.equal(stats.answersAwaited, 1);
  settle.get("/1")![0](ok("one"));
  await tick();
  assert.equal(stats.answersAwaited, 0);
  assert.deepEqual(t.statuses(), [200, 200, 500]);
});

Deno.test("pipelined synchronous responses are batched into one write", () => {
  const { t, send } = connect(() => ok("x"));
  send(get("/a").repeat(50));
  assert.deepEqual(t.statuses(), new Array(50).fill(200));
  assert.equal(t.writes, 1);
});

Deno.test("partial writes keep the rest, stop reading, and resume on writable", () => {
  const { t, conn, send } = connect(() => ok("y".repeat(3000)));
  t.window = 7;
  send(get("/a") + get("/b"));
  assert.equal(t.output.length, 7);
  assert.deepEqual(t.interest, { readable: false, writable: true }, "back-pressure while output is blocked");
  let rounds = 0;
  while (t.interest.writable && rounds++ < 10_000) {
    t.window = 7;
    conn.onWritable();
  }
  assert.deepEqual(t.statuses(), [200, 200]);
  assert.equal((t.text().match(/y{3000}/g) ?? []).length, 2, "both bodies whole");
  assert.deepEqual(t.interest, { readable: true, writable: false });
});

Deno.test("a handler that throws gets a 500 for that request only", () => {
  const { t, stats, send } = connect((req) => {
    if (req.head.path === "/boom") throw new Error("handler bug (expected by this test)");
    return ok("fine");
  });
  const error = console.error;
  console.error = () => {};
  try {
    send(get("/boom") + get("/ok"));
  } finally {
    console.error = error;
  }
  assert.deepEqual(t.statuses(), [500, 200]);
  assert.equal(t.closes, 0, "the connection keeps serving");
  assert.equal(stats.errors["http 500"], 1, "counted as the 500 it became");
});

Deno.test("a header value that would split the response becomes a 500", () => {
  const { t, send } = connect(() => ({ status: 200, headers: ["X-Evil", "a\r\nSet-Cookie: x=1"], body: "" }));
  const error = console.error;
  console.error = () => {};
  try {
    send(get("/"));
  } finally {
    console.error = error;
  }
  assert.deepEqual(t.statuses(), [500]);
  assert.doesNotMatch(t.text(), /Set-Cookie/);
});

Deno.test("file bodies go out with sendfile and are closed exactly once, also when cut short", () => {
  let closes = 0;
  const file = (): FileBody => ({
    kind: "file",
    fileFd: 42,
    offset: 10,
    length: 5000,
    close: () => closes++,
  });
  const { t, conn, send } = connect(() => ({ status: 200, body: file() }));
  send(get("/f"));
  assert.equal(t.sendfiles[0]?.[1], 10);
  assert.equal(closes, 1);
  assert.equal((t.text().match(/x/g) ?? []).length, 5000);
  t.window = 100;
  send(get("/g"));
  conn.close();
  conn.close();
  assert.equal(closes, 2, "closed when the connection closes mid-file");
  assert.equal(t.closes, 1, "the socket is closed exactly once");
});

Deno.test("a file whose head cannot be written (EPIPE) is still closed, and its observer hears false", () => {
  let closes = 0;
  const heard: boolean[] = [];
  const { t, send, stats } = connect((req) => {
    req.observer = { responseDone: (ok) => heard.push(ok) };
    return {
      status: 200,
      body: { kind: "file", fileFd: 42, offset: 0, length: 5000, close: () => closes++ },
    };
  });
  t.write = () => -32; // EPIPE: the client reset the connection
  send(get("/f"));
  assert.equal(t.closes, 1);
  assert.equal(closes, 1, "the file is closed, not leaked");
  assert.equal(stats.filesOpen, 0);
  assert.deepEqual(heard, [false]);
});

Deno.test("a stream body is sent chunked and terminated", async () => {
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("hello "));
      c.enqueue(new TextEncoder().encode("world"));
      c.close();
    },
  });
  const { t, send } = connect(() => ({ status: 200, body: stream }));
  send(get("/s"));
  for (let i = 0; i < 10; i++) await tick();
  assert.match(t.text(), /Transfer-Encoding: chunked\r\n/);
  assert.match(t.text(), /\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n$/);
});

Deno.test("HEAD gets Content-Length without a body; Connection: close ends after the response", () => {
  const { t, send } = connect(() => ok("12345"));
  send("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
  assert.match(t.text(), /Content-Length: 5\r\n\r\n$/);
  send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  assert.match(t.text(), /Connection: close\r\n\r\n12345$/);
  assert.equal(t.closes, 1);
});

Deno.test("the header timeout answers 408 to a partial head", () => {
  const { t, heap, send } = connect(() => ok("x"));
  send("GET / HTTP/1.1\r\nHo");
  heap.runDue(performance.now() + 5000);
  assert.deepEqual(t.statuses(), [408]);
  assert.equal(t.shutdowns, 1, "lingering close after an error");
});

Deno.test("pipelined file requests hold one open file at a time", () => {
  let open = 0, peak = 0;
  const { t, conn, send } = connect(() => {
    peak = Math.max(peak, ++open);
    return { status: 200, body: { kind: "file", fileFd: 7, offset: 0, length: 1000, close: () => open-- } };
  });
  t.window = 300;
  send(get("/a").repeat(5));
  for (let i = 0; i < 100 && (t.statuses().length < 5 || t.interest.writable); i++) {
    t.window = 300;
    conn.onWritable();
  }
  assert.deepEqual(t.statuses(), [200, 200, 200, 200, 200]);
  assert.equal(peak, 1, "the next request is read only after the file before it is sent");
  assert.equal(open, 0);
});

Deno.test("reading stops once maxPipelined responses are owed", () => {
  const { t, send } = connect(() => new Promise<HttpResponse>(() => {}), { maxPipelined: 4 });
  send(get("/a").repeat(10));
  assert.equal(t.interest.readable, false, "no more requests are read while four are unanswered");
  assert.equal(t.output.length, 0);
});

Deno.test("a handler that does not read bodies answers at once; the body is dropped, not kept", () => {
  const seen: string[] = [];
  const handler: Handler = (r) => {
    seen.push(`${r.head.method} ${r.body?.length ?? "none"}`);
    return ok("x");
  };
  const { t, conn, send } = connect(handler, { maxBodyBytes: 10 });
  send("POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 300\r\n\r\n" + "b".repeat(100));
  assert.deepEqual(seen, ["POST 300"], "answered from the head, before the body arrived");
  assert.deepEqual(t.statuses(), [200]);
  send("b".repeat(200) + "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
  send("0\r\n\r\n" + get("/d"));
  assert.deepEqual(
    seen,
    ["POST 300", "POST -1", "GET none"],
    "the body above maxBodyBytes was no 413: it was dropped",
  );
  assert.deepEqual(t.statuses(), [200, 200, 200]);
  assert.equal(conn.closed, false, "kept alive");
});

Deno.test("an unread body too long to drop, or malformed, ends the connection after the one answer", () => {
  for (
    const [tail, status] of [
      [`Content-Length: ${DISCARD_MAX_BYTES + 1}\r\n\r\nxyz`, 200],
      // Malformed, and known before the answer went out: 400 in the handler's place.
      ["Transfer-Encoding: chunked\r\n\r\n3 3\r\nabc\r\n0\r\n\r\n", 400],
      ["Content-Length: 5\r\nExpect: 100-continue\r\n\r\n", 200],
    ] as const
  ) {
    const { t, conn, send } = connect(() => ok("x"));
    send(`POST / HTTP/1.1\r\nHost: a\r\n${tail}` + get("/next"));
    assert.deepEqual(t.statuses(), [status], tail);
    assert.match(t.text(), /Connection: close/, tail);
    assert.ok(!t.text().includes("100 Continue"), tail);
    assert.ok(t.shutdowns === 1 || conn.closed, `${tail}: closing`);
  }
});

Deno.test("a malformed body found after its answer went out leaves the answer; the connection closes", () => {
  const { t, conn, send } = connect(() => ok("x"));
  send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab");
  assert.deepEqual(t.statuses(), [200], "answered from the head, before the error");
  send("cX\r\n0\r\n\r\n" + get("/next"));
  assert.deepEqual(t.statuses(), [200], "nothing more: the answer was written, the next request never read");
  assert.ok(t.shutdowns === 1 || conn.closed, "closing");
});

Deno.test("bodies held across connections are bounded by one budget: 503 beyond it, given back after", async () => {
  // a's body in two pieces: 800 bytes, then room as large for the 100 that follow.
  const bodyBudget = { used: 0, limit: 1600 + 2 * PIECE_OVERHEAD_BYTES };
  const seen: number[] = [];
  const handler: Handler = async (r) => {
    seen.push((await r.body!.bytes()).length);
    return ok("x");
  };
  const a = connect(handler, { bodyBudget });
  const b = connect(handler, { bodyBudget });
  a.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\n" + "a".repeat(800));
  assert.equal(bodyBudget.used, 800 + PIECE_OVERHEAD_BYTES, "charged as it arrives, not from the header");
  b.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\n" + "b".repeat(900));
  await tick();
  assert.deepEqual(b.t.statuses(), [503]);
  assert.match(b.t.text(), /Retry-After: 1/);
  assert.equal(bodyBudget.used, 800 + PIECE_OVERHEAD_BYTES, "the refused body gave its bytes back");
  a.send("a".repeat(100));
  await tick();
  assert.deepEqual(seen, [900]);
  assert.equal(bodyBudget.used, 0, "a complete body belongs to the handler");
  const c = connect(handler, { bodyBudget });
  c.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n" + "c".repeat(100));
  assert.equal(bodyBudget.used, 100 + PIECE_OVERHEAD_BYTES);
  c.conn.close();
  assert.equal(bodyBudget.used, 0, "closing gives it back too");
});

Deno.test("a handler that reads its body after awaiting something else still gets all of it", async () => {
  const { t, send } = connect(async (r) => {
    await new Promise((resolve) => setTimeout(resolve, 2)); // the body has arrived whole meanwhile
    return ok(new TextDecoder().decode(await r.body!.bytes()));
  });
  send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(t.statuses(), [200]);
  assert.match(t.text(), /\r\n\r\nhello$/);
});

Deno.test("a half-closed client gets the answers that are ready; one the application still makes is cut", async () => {
  const done: boolean[] = [];
  const observe = (req: Parameters<Handler>[0]) => {
    req.observer = { responseDone: (ok: boolean) => done.push(ok) };
  };
  // Ready before the FIN (a synchronous answer): written although the client half-closed.
  const ready = connect((req) => {
    observe(req);
    return ok("ready");
  });
  ready.t.window = 0; // the socket is full, so the answer is still queued at the FIN
  ready.send(get("/"));
  ready.t.eof = true;
  ready.conn.onReadable();
  assert.equal(ready.t.closes, 0);
  ready.t.window = Infinity;
  ready.conn.onWritable();
  assert.match(ready.t.text(), /\r\n\r\nready$/);
  assert.equal(ready.t.closes, 1);
  assert.deepEqual(done.splice(0), [true]);

  // A handler still working at the FIN: the connection closes and the request hears it.
  const pending = connect((req) => {
    observe(req);
    return new Promise<HttpResponse>(() => {});
  });
  pending.send(get("/slow"));
  pending.t.eof = true;
  pending.conn.onReadable();
  assert.equal(pending.t.closes, 1);
  assert.deepEqual(done.splice(0), [false]);
  assert.equal(pending.stats.clientsLeft["closed early"], 1);
  assert.equal(pending.stats.errors["client left"], undefined, "a client leaving is not an error");

  // A stream between chunks at the FIN: cut too, and the stream is cancelled.
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("first"));
    },
    cancel() {
      cancelled = true;
    },
  });
  const streaming = connect(() => ({ status: 200, body: stream }));
  streaming.send(get("/events"));
  for (let i = 0; i < 5; i++) await tick();
  assert.match(streaming.t.text(), /5\r\nfirst\r\n$/);
  streaming.t.eof = true;
  streaming.conn.onReadable();
  await tick();
  assert.equal(streaming.t.closes, 1);
  assert.equal(cancelled, true);
});
/** A clock the test moves by hand, and every completion the connection reports. */
function timed(handler: Handler) {
  const clock = { now: 1000 };
  const completions: [number, number][] = [];
  /** Every end reported: [status, body bytes that left, complete]. */
  const ends: [number, number, boolean][] = [];
  const c = connect(handler, {
    now: () => clock.now,
    onComplete: (_conn, done) => {
      if (done.complete) completions.push([done.status, done.ms]);
      ends.push([done.status, done.bytes, done.complete]);
    },
  });
  return { ...c, clock, completions, ends };
}

Deno.test("each response is timed once, from its head's arrival to its last byte in the kernel", () => {
  const { t, conn, send, clock, completions } = timed((req) =>
    req.head.path === "/big" ? ok("z".repeat(5000)) : statusOnly(404)
  );
  send(get("/small") + get("/small"));
  assert.deepEqual(completions, [[404, 0], [404, 0]], "written at once: done in the batch they arrived");
  t.window = 100;
  send(get("/big"));
  assert.equal(completions.length, 2, "not complete while the kernel has not taken every byte");
  clock.now += 250;
  while (t.interest.writable) {
    t.window = 1000;
    conn.onWritable();
  }
  assert.deepEqual(completions[2], [200, 250]);
  assert.equal(completions.length, 3);
});

Deno.test("a response cut short by the client is never reported complete, and reports the body bytes that left", () => {
  const { t, conn, send, completions, ends } = timed(() => ok("z".repeat(5000)));
  t.window = 400;
  send(get("/a"));
  const head = t.text().indexOf("\r\n\r\n") + 4;
  assert.ok(head > 4 && head < 400, "the head left whole, part of the body after it");
  assert.equal(ends.length, 0, "not ended while bytes wait");
  conn.close();
  assert.deepEqual(completions, []);
  assert.deepEqual(ends, [[200, 400 - head, false]], "the body bytes the kernel took, not its length");
});

Deno.test("each response ends with its own body bytes: pipelined, copied, large and streamed", async () => {
  const big = "b".repeat(40_000);
  const { t, conn, send, ends } = timed((req) =>
    req.head.path === "/big" ? ok(big) : req.head.path === "/stream"
      ? {
        status: 200,
        body: new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode("abc"));
            c.close();
          },
        }),
      }
      : req.head.path === "/head"
      ? ok("not sent")
      : ok("small")
  );
  send(get("/a") + get("/big") + "HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n" + get("/a"));
  assert.deepEqual(ends, [[200, 5, true], [200, 40_000, true], [200, 0, true], [200, 5, true]]);
  ends.length = 0;
  send(get("/stream"));
  for (let i = 0; i < 5 && ends.length === 0; i++) await tick();
  assert.deepEqual(ends, [[200, "3\r\nabc\r\n0\r\n\r\n".length, true]], "chunk framing included");
  assert.equal(t.closes, 0);
  conn.close();
});

Deno.test("an async handler's response is timed from its head, pipelined ones in order", async () => {
  let resolve: (r: HttpResponse) => void = () => {};
  const { send, clock, completions } = timed((req) =>
    req.head.path === "/slow" ? new Promise((r) => (resolve = r)) : ok("fast")
  );
  send(get("/slow") + get("/fast"));
  clock.now += 40;
  resolve(ok("slow"));
  await tick();
  assert.deepEqual(completions, [[200, 40], [200, 40]], "the fast one waited behind the slow one");
});

Deno.test("a connection tells its phase, age, requests, pending output and peer to whoever asks", () => {
  let seen = "";
  const { t, conn, send, clock } = timed((req) => {
    seen = req.peer.remoteAddress();
    return ok("w".repeat(4000));
  });
  assert.equal(conn.openedAt, 1000);
  assert.equal(conn.phase, "head");
  assert.equal(conn.requests, 0);
  t.window = 1000;
  clock.now += 5;
  send(get("/a"));
  assert.equal(seen, "127.0.0.1");
  assert.equal(conn.requests, 1);
  assert.equal(conn.phase, "writing");
  assert.ok(conn.pendingBytes > 3000 && conn.pendingBytes < 4100, `pending ${conn.pendingBytes}`);
  t.window = Infinity;
  conn.onWritable();
  assert.equal(conn.pendingBytes, 0);
  assert.equal(conn.phase, "idle");
  assert.equal(conn.transport, t);
});

function statusOnly(status: number): HttpResponse {
  return { status, body: null };
}
Deno.test("a 100 (Continue) the transport cannot take at once is kept and leaves before the response", async () => {
  // A TLS transport that blocks mid-record has taken the bytes into the record: they must be
  // offered again, so the interim response goes through the output queue like any other.
  const { t, conn, send } = connect(async (r) => ok(`got ${(await r.body!.bytes()).length}`));
  t.window = 0;
  send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  await tick();
  assert.equal(t.output.length, 0);
  assert.equal(t.interest.writable, true, "waits for the socket to take it");
  t.window = Infinity;
  conn.onWritable();
  assert.equal(t.text(), "HTTP/1.1 100 Continue\r\n\r\n");
  send("hello");
  await tick();
  assert.deepEqual(t.statuses(), [100, 200]);
  assert.match(t.text(), /got 5$/);
});

Deno.test("string bodies: repeated, alternating and non-ASCII texts all go out exactly", () => {
  const texts = ["hello", "hello", "héllo", "hello", "world", "world", ""];
  let i = 0;
  const { t, send } = connect(() => ({ status: 200, body: texts[i++]! }));
  send(get("/").repeat(texts.length));
  const bytes = new Uint8Array(t.output);
  const bodies: string[] = [];
  const text = new TextDecoder().decode(bytes);
  for (const m of text.matchAll(/Content-Length: (\d+)\r\n(?:[^\r\n]+\r\n)*\r\n/g)) {
    const start = new TextEncoder().encode(text.slice(0, m.index! + m[0].length)).length;
    bodies.push(new TextDecoder().decode(bytes.subarray(start, start + Number(m[1]))));
  }
  assert.deepEqual(bodies, texts);
});
