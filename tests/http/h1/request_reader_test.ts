// RequestReader over a fake Transport and a recording sink: pipelined heads, input kept across
// reads (every split offset), Content-Length and chunked bodies, the last request, pauses, errors.

import assert from "node:assert/strict";
import type { BodyReader } from "../../../http/h1/body_readers.ts";
import type { RequestHead } from "../../../http/request_head.ts";
import { READ, RequestReader, type RequestSink } from "../../../http/h1/request_reader.ts";
import { HttpError } from "../../../http/status.ts";
import { EAGAIN, FakeTransport } from "../_fake_transport.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b);

/** Records what the reader delivers, copying body spans (the buffer is shared and reused). */
class RecordingSink implements RequestSink {
  events: string[] = [];
  heads: RequestHead[] = [];
  /** paused() is true once this many heads have arrived. */
  pauseAfter = Infinity;

  onHead(head: RequestHead, body: BodyReader | null): void {
    this.heads.push(head);
    this.events.push(`head ${head.method} ${head.path}${body ? " +body" : ""}`);
  }
  onBodyData(buf: Uint8Array, start: number, end: number): void {
    this.events.push(`data ${text(buf.subarray(start, end))}`);
  }
  onBodyEnd(): void {
    this.events.push("end");
  }
  paused(): boolean {
    return this.heads.length >= this.pauseAfter;
  }
  /** The events with consecutive body data joined (how data is cut depends on the reads). */
  joined(): string[] {
    const out: string[] = [];
    for (const event of this.events) {
      const last = out.at(-1);
      if (event.startsWith("data ") && last?.startsWith("data ")) out[out.length - 1] = last + event.slice(5);
      else out.push(event);
    }
    return out;
  }
}

/** One reader, transport and sink; `read(text)` delivers text as one read and consumes it. */
function setup(maxBody = 1 << 20) {
  const reader = new RequestReader(maxBody);
  const transport = new FakeTransport();
  const sink = new RecordingSink();
  const read = (chunk: string): boolean => {
    transport.input.push(bytes(chunk));
    assert.equal(reader.fill(transport), chunk.length);
    return reader.consume(sink);
  };
  return { reader, transport, sink, read };
}

/** Feeds `input` cut at `split` (two reads) and returns the sink's joined events. */
function splitAt(input: string, split: number): string[] {
  const { sink, read } = setup();
  read(input.slice(0, split));
  read(input.slice(split));
  return sink.joined();
}

const get = (path: string, fields = "") => `GET ${path} HTTP/1.1\r\nHost: a\r\n${fields}\r\n`;

Deno.test("RequestReader gives two pipelined requests in one read two heads", () => {
  const { reader, sink, read } = setup();
  assert.equal(read(get("/a") + get("/b")), false);
  assert.deepEqual(sink.events, ["head GET /a", "head GET /b"]);
  assert.equal(sink.heads[0]!.host, "a");
  assert.notEqual(sink.heads[0], sink.heads[1], "each head is its own object");
  assert.equal(reader.hasLeftover, false);
  assert.equal(reader.state, READ.HEAD);
});

Deno.test("RequestReader keeps a head split across reads and parses it whole after the next fill(), at every split", () => {
  const input = get("/split", "X-Long: " + "v".repeat(40) + "\r\n");
  const { reader, sink, read } = setup();
  read(input.slice(0, 20));
  assert.equal(reader.hasLeftover, true);
  assert.deepEqual(sink.events, []);
  read(input.slice(20));
  assert.equal(reader.hasLeftover, false);
  assert.deepEqual(sink.events, ["head GET /split"]);
  assert.equal(sink.heads[0]!.get("x-long"), "v".repeat(40));
  for (let split = 1; split < input.length; split++) {
    assert.deepEqual(splitAt(input, split), ["head GET /split"], `split ${split}`);
  }
});

Deno.test("RequestReader passes a Content-Length body to onBodyData, then onBodyEnd, then reads the next head", () => {
  const post = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
  const { reader, sink, read } = setup();
  read(post + "hel");
  assert.equal(reader.state, READ.BODY);
  assert.equal(reader.body?.remaining, 2);
  read("lo" + get("/n"));
  assert.deepEqual(sink.events, ["head POST /p +body", "data hel", "data lo", "end", "head GET /n"]);
  assert.equal(reader.state, READ.HEAD);
  assert.equal(reader.body, null);
  const input = post + "hello" + get("/n");
  for (let split = 1; split < input.length; split++) {
    assert.deepEqual(
      splitAt(input, split),
      ["head POST /p +body", "data hello", "end", "head GET /n"],
      `split ${split}`,
    );
  }
});

Deno.test("RequestReader passes a chunked body to onBodyData, then onBodyEnd, then reads the next head", () => {
  const input = "POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
    "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" + get("/n");
  const want = ["head POST /c +body", "data hello world", "end", "head GET /n"];
  const { reader, sink, read } = setup();
  read(input);
  assert.deepEqual(sink.joined(), want);
  assert.equal(reader.state, READ.HEAD);
  for (let split = 1; split < input.length; split++) {
    assert.deepEqual(splitAt(input, split), want, `split ${split}`);
  }
});

Deno.test("RequestReader stops after a request with Connection: close; consume() says whether bytes followed it", () => {
  const closing = get("/last", "Connection: close\r\n");
  const followed = setup();
  assert.equal(followed.read(closing + get("/never")), true);
  assert.deepEqual(followed.sink.events, ["head GET /last"]);
  assert.equal(followed.reader.state, READ.DONE);
  assert.equal(followed.reader.hasLeftover, false, "what follows is not kept");

  const alone = setup();
  assert.equal(alone.read(closing), false);
  assert.equal(alone.reader.state, READ.DONE);

  const withBody = setup();
  const post = "POST /p HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok";
  assert.equal(withBody.read(post + get("/never")), true);
  assert.deepEqual(withBody.sink.events, ["head POST /p +body", "data ok", "end"]);
  assert.equal(withBody.reader.state, READ.DONE);
});

Deno.test("RequestReader keeps the rest when the sink pauses, and resume() parses it later", () => {
  const { reader, transport, sink, read } = setup();
  sink.pauseAfter = 1;
  assert.equal(read(get("/a") + get("/b") + get("/c")), false);
  assert.deepEqual(sink.events, ["head GET /a"]);
  assert.equal(reader.hasLeftover, true);
  sink.pauseAfter = 2;
  assert.equal(reader.resume(), true);
  reader.consume(sink);
  assert.deepEqual(sink.events, ["head GET /a", "head GET /b"]);
  sink.pauseAfter = Infinity;
  assert.equal(reader.resume(), true);
  reader.consume(sink);
  assert.deepEqual(sink.events, ["head GET /a", "head GET /b", "head GET /c"]);
  assert.equal(reader.hasLeftover, false);
  assert.equal(reader.resume(), false, "nothing kept");
  assert.deepEqual(transport.input, [], "resume() reads nothing");
});

Deno.test("RequestReader keeps body bytes when the sink pauses after their head, and resume() delivers them", () => {
  const { reader, sink, read } = setup();
  sink.pauseAfter = 1;
  read("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc" + get("/n"));
  assert.deepEqual(sink.events, ["head POST /p +body"]);
  assert.equal(reader.state, READ.BODY);
  sink.pauseAfter = Infinity;
  assert.equal(reader.resume(), true);
  reader.consume(sink);
  assert.deepEqual(sink.events, ["head POST /p +body", "data abc", "end", "head GET /n"]);
});

Deno.test("RequestReader's resume() returns false when the kept bytes are only an incomplete head", () => {
  const { reader, sink, read } = setup();
  sink.pauseAfter = 1;
  read(get("/a") + "GET /b HTTP/1.1\r\nHo");
  sink.pauseAfter = Infinity;
  assert.equal(reader.resume(), true, "kept at a pause: parse again");
  reader.consume(sink);
  assert.deepEqual(sink.events, ["head GET /a"]);
  assert.equal(reader.hasLeftover, true);
  assert.equal(reader.resume(), false, "kept because incomplete: it needs input, not a parse");
  assert.equal(reader.hasLeftover, true, "and stays kept");
  read("st: a\r\n\r\n");
  assert.deepEqual(sink.events, ["head GET /a", "head GET /b"]);
});

Deno.test("RequestReader throws the parser's HttpError 400 for a malformed request and stops", () => {
  const { reader, sink, read } = setup();
  assert.throws(
    () => read(get("/ok") + "GET /bad HTTP/1.1\r\nBad Name: x\r\n\r\n" + get("/after")),
    (e) => e instanceof HttpError && e.status === 400,
  );
  assert.deepEqual(sink.events, ["head GET /ok"]);
  assert.equal(reader.state, READ.DONE);
  assert.equal(reader.hasLeftover, false);
  assert.equal(reader.body, null);
  assert.equal(read(get("/later")), true, "stopped: nothing more is parsed");
  assert.deepEqual(sink.events, ["head GET /ok"]);
});

Deno.test("RequestReader throws 413 when body.limit is lowered below what arrives", () => {
  const { reader, sink, read } = setup();
  read("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + "a".repeat(10));
  assert.equal(reader.body!.limit, 1 << 20, "maxBody is the initial limit");
  reader.body!.limit = 15;
  read("b".repeat(5));
  assert.throws(() => read("c"), (e) => e instanceof HttpError && e.status === 413);
  assert.deepEqual(sink.joined(), ["head POST /p +body", "data " + "a".repeat(10) + "b".repeat(5)]);
  assert.equal(reader.state, READ.DONE);
  assert.equal(reader.body, null);
});

Deno.test("RequestReader's maxBody refuses a Content-Length body with 413 as it arrives", () => {
  const { reader, read } = setup(8);
  read("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
  assert.equal(reader.state, READ.BODY, "the declared length alone is not refused here");
  assert.throws(() => read("123456789"), (e) => e instanceof HttpError && e.status === 413);
});

Deno.test("RequestReader's fill() returns EAGAIN and EOF unchanged and keeps the leftover", () => {
  const { reader, transport, sink, read } = setup();
  read("GET /kept HTTP/1.1\r\nHo");
  assert.equal(reader.fill(transport), EAGAIN);
  assert.equal(reader.hasLeftover, true);
  assert.equal(reader.consume(sink), false);
  assert.equal(reader.hasLeftover, true, "a consume() after a failed fill() keeps it too");
  transport.eof = true;
  assert.equal(reader.fill(transport), 0);
  assert.equal(reader.hasLeftover, true);
  transport.eof = false;
  read("st: a\r\n\r\n");
  assert.deepEqual(sink.events, ["head GET /kept"], "the kept bytes were intact");
  assert.equal(reader.hasLeftover, false);
});
