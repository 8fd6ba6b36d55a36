// OutputQueue over a fake Transport: immediate writes, copies of what the kernel did not take,
// order across bytes, files and streams, the chunked coding, failures, and releasing on close.

import assert from "node:assert/strict";
import { DRAIN, OutputQueue, STREAM_TURN_BYTES, STREAM_TURN_CHUNKS } from "../../../http/h1/output_queue.ts";
import type { FileBody } from "../../../http/types.ts";
import { FakeTransport } from "../_fake_transport.ts";

const EPIPE = -32;

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const tick = () => new Promise((r) => setTimeout(r, 0));

function setup(onFileDone: (file: FileBody, t: FakeTransport) => void = () => {}) {
  const t = new FakeTransport();
  const released: FileBody[] = [];
  let ready = 0;
  let turns = 0;
  const q = new OutputQueue(t, {
    fileDone: (file) => {
      released.push(file);
      onFileDone(file, t);
    },
    streamReady: () => ready++,
    nextTurn: () => turns++,
  });
  return { t, q, released, ready: () => ready, turns: () => turns };
}

function file(fileFd: number, offset: number, length: number): FileBody {
  return {
    kind: "file",
    fileFd,
    offset,
    length,
    close: () => assert.fail("the queue hands files to fileDone"),
  };
}

/** A stream whose chunks the test enqueues by hand; records whether it was cancelled. */
function manualStream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const cancels: unknown[] = [];
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    cancel(reason) {
      cancels.push(reason);
    },
  });
  return { controller, cancels, reader: stream.getReader() };
}

Deno.test("write() on an empty queue writes at once and returns DONE", () => {
  const { t, q } = setup();
  assert.equal(q.write(bytes("hello world"), 5), DRAIN.DONE);
  assert.equal(t.text(), "hello", "only buf[0, length)");
  assert.equal(t.writes, 1);
  assert.equal(q.empty, true);
  assert.equal(q.sent, 5);
});

Deno.test("write() keeps a copy of what the kernel did not take; drain() finishes it", () => {
  const { t, q } = setup();
  const buf = bytes("abcdefgh");
  t.window = 3;
  assert.equal(q.write(buf, buf.length), DRAIN.BLOCKED);
  buf.fill(63); // the caller reuses its buffer at once
  assert.equal(t.text(), "abc");
  assert.equal(q.empty, false);
  assert.equal(q.drain(), DRAIN.BLOCKED, "EAGAIN: still blocked");
  t.window = 2;
  assert.equal(q.drain(), DRAIN.BLOCKED);
  assert.equal(t.text(), "abcde");
  t.window = Infinity;
  assert.equal(q.drain(), DRAIN.DONE);
  assert.equal(t.text(), "abcdefgh", "the original bytes, not the caller's reused buffer");
  assert.equal(q.empty, true);
  assert.equal(q.sent, 8);
});

Deno.test("write() on EAGAIN keeps a copy of it all", () => {
  const { t, q } = setup();
  const buf = bytes("xyz");
  t.window = 0;
  assert.equal(q.write(buf, 3), DRAIN.BLOCKED);
  buf.fill(0);
  t.window = Infinity;
  assert.equal(q.drain(), DRAIN.DONE);
  assert.equal(t.text(), "xyz");
  assert.equal(q.sent, 3);
});

Deno.test("drain() keeps order across bytes, a file and the bytes after it; the file is released once, after its last byte", () => {
  let outputAtRelease = -1;
  const { t, q, released } = setup((_, t) => outputAtRelease = t.output.length);
  const f = file(9, 100, 10);
  t.window = 3;
  assert.equal(q.write(bytes("HEAD:"), 5), DRAIN.BLOCKED);
  q.pushFile(f);
  const writes = t.writes;
  assert.equal(q.write(bytes(":TAIL"), 5), DRAIN.BLOCKED, "queued behind the file");
  assert.equal(t.writes, writes, "nothing written past queued output");
  let rounds = 0;
  let result: number = DRAIN.BLOCKED;
  while (result === DRAIN.BLOCKED && rounds++ < 20) {
    t.window = 4;
    result = q.drain();
  }
  assert.equal(result, DRAIN.DONE);
  assert.equal(t.text(), "HEAD:" + "x".repeat(10) + ":TAIL");
  assert.deepEqual(
    t.sendfiles,
    [[9, 100, 2], [9, 102, 4], [9, 106, 4]],
    "offsets continue where the last call ended",
  );
  assert.deepEqual(released, [f]);
  assert.equal(outputAtRelease, 15, "released right after its last byte, before the bytes behind it");
  assert.equal(q.drain(), DRAIN.DONE);
  assert.deepEqual(released, [f], "exactly once");
  assert.equal(q.sent, 20);
});

Deno.test("a zero-length file is done at once and released without a sendfile", () => {
  const { t, q, released } = setup();
  const f = file(5, 0, 0);
  q.pushFile(f);
  assert.equal(q.drain(), DRAIN.DONE);
  assert.deepEqual(released, [f]);
  assert.deepEqual(t.sendfiles, []);
  assert.equal(q.empty, true);
});

Deno.test("a write error fails write() and drain() with the errno as failure", () => {
  const first = setup();
  first.t.writeResult = EPIPE;
  assert.equal(first.q.write(bytes("abc"), 3), DRAIN.FAILED);
  assert.equal(first.q.failure, EPIPE);

  const later = setup();
  later.t.window = 1;
  assert.equal(later.q.write(bytes("abc"), 3), DRAIN.BLOCKED);
  assert.equal(later.q.failure, null);
  later.t.writeResult = EPIPE;
  assert.equal(later.q.drain(), DRAIN.FAILED);
  assert.equal(later.q.failure, EPIPE);
  assert.equal(later.q.sent, 1);
});

Deno.test("sendfile() errors fail the drain: 0 (the file shrank) with failure 0, -errno with the errno", () => {
  for (const result of [0, -104]) {
    const { t, q, released } = setup();
    const f = file(3, 0, 10);
    q.pushFile(f);
    t.sendfileResult = result;
    assert.equal(q.drain(), DRAIN.FAILED, `sendfile ${result}`);
    assert.equal(q.failure, result);
    assert.deepEqual(released, [], "not released by the failure itself");
    q.close();
    assert.deepEqual(released, [f], "released by close()");
  }
});

Deno.test("a chunked stream waits for each chunk, frames it, and ends with the last chunk, in order with bytes around it", async () => {
  const { t, q, ready } = setup();
  const { controller, reader } = manualStream();
  q.pushBytes(bytes("<"));
  q.pushStream(reader, true);
  q.pushBytes(bytes(">"));
  assert.equal(q.drain(), DRAIN.WAITING);
  assert.equal(t.text(), "<");
  await tick();
  assert.equal(ready(), 0, "no chunk yet");
  controller.enqueue(bytes("hello"));
  await tick();
  assert.equal(ready(), 1);
  assert.equal(q.drain(), DRAIN.WAITING, "written; the next chunk is asked for");
  assert.equal(t.text(), "<5\r\nhello\r\n");
  controller.enqueue(bytes("0123456789abcdefX")); // 17 bytes: the size is hex
  await tick();
  assert.equal(ready(), 2);
  assert.equal(q.drain(), DRAIN.WAITING);
  controller.close();
  await tick();
  assert.equal(ready(), 3);
  assert.equal(q.drain(), DRAIN.DONE);
  assert.equal(t.text(), "<5\r\nhello\r\n11\r\n0123456789abcdefX\r\n0\r\n\r\n>");
  assert.equal(q.empty, true);
  assert.equal(q.sent, t.output.length);
});

Deno.test("a stream with chunked=false is written raw", async () => {
  const { t, q } = setup();
  const { controller, reader } = manualStream();
  q.pushStream(reader, false);
  controller.enqueue(bytes("hello "));
  controller.enqueue(bytes("world"));
  controller.close();
  let rounds = 0;
  while (q.drain() === DRAIN.WAITING && rounds++ < 10) await tick();
  assert.equal(q.empty, true);
  assert.equal(t.text(), "hello world");
});

Deno.test("a blocked stream chunk is finished by the next drain before more is read", async () => {
  const { t, q, ready } = setup();
  const { controller, reader } = manualStream();
  q.pushStream(reader, true);
  assert.equal(q.drain(), DRAIN.WAITING);
  controller.enqueue(bytes("abcdef"));
  await tick();
  t.window = 5;
  assert.equal(q.drain(), DRAIN.BLOCKED);
  assert.equal(t.text(), "6\r\nab");
  t.window = Infinity;
  assert.equal(q.drain(), DRAIN.WAITING);
  assert.equal(t.text(), "6\r\nabcdef\r\n");
  assert.equal(ready(), 1);
});

/**
 * Drains as a connection does, on microtasks only (the reactor never gets a turn), until the
 * queue is done, fails, or waits for something other than the stream's next chunk.
 */
async function pump(q: OutputQueue): Promise<number> {
  for (let rounds = 0; rounds < 10_000; rounds++) {
    const result = q.drain();
    if (result !== DRAIN.WAITING || !q.waitingOnStream) return result;
    await null;
  }
  throw new Error("The stream never stopped");
}

Deno.test("a stream whose chunks are always ready stops after a turn's allowance of chunks and asks for the next turn", async () => {
  const { t, q, turns } = setup();
  const { controller, reader } = manualStream();
  q.pushStream(reader, false);
  for (let i = 0; i < STREAM_TURN_CHUNKS * 3; i++) controller.enqueue(bytes("x"));
  await pump(q);
  assert.equal(t.output.length, STREAM_TURN_CHUNKS, "one allowance of chunks in this turn");
  assert.equal(turns(), 1, "the next turn was asked for once");
  assert.equal(q.drain(), DRAIN.WAITING, "draining again in the same turn writes nothing more");
  assert.equal(turns(), 1);
  q.resumeTurn();
  await pump(q);
  assert.equal(t.output.length, 2 * STREAM_TURN_CHUNKS, "the next turn brings the next allowance");
  assert.equal(turns(), 2);
});

Deno.test("a stream of large chunks stops after a turn's allowance of bytes", async () => {
  const { t, q, turns } = setup();
  const { controller, reader } = manualStream();
  q.pushStream(reader, false);
  const chunk = new Uint8Array(64 * 1024);
  for (let i = 0; i < 16; i++) controller.enqueue(chunk);
  await pump(q);
  assert.equal(t.output.length, STREAM_TURN_BYTES);
  assert.equal(turns(), 1);
});

for (
  const [name, chunk] of [
    ["a string", "text"],
    ["an ArrayBuffer", new Uint8Array([65, 66]).buffer],
    ["a Uint16Array", new Uint16Array([0x4141, 0x4242])],
    ["a DataView", new DataView(new ArrayBuffer(2))],
    ["a number", 7],
  ] as [string, unknown][]
) {
  Deno.test(`a stream chunk that is ${name} fails the response after what went before, never written`, async () => {
    for (const chunked of [true, false]) {
      const { t, q } = setup();
      const { controller, reader } = manualStream();
      q.pushStream(reader, chunked);
      controller.enqueue(bytes("ok"));
      controller.enqueue(chunk as Uint8Array);
      assert.equal(await pump(q), DRAIN.FAILED);
      assert.ok(q.failure instanceof TypeError, `failure: ${q.failure}`);
      assert.match(String(q.failure), /must be a Uint8Array/);
      assert.equal(t.text(), chunked ? "2\r\nok\r\n" : "ok", "nothing of the bad chunk, and no last chunk");
      q.close();
    }
  });
}

Deno.test("a stream that errors fails the drain with its error as failure", async () => {
  const { q, ready } = setup();
  const { controller, reader } = manualStream();
  q.pushStream(reader, true);
  assert.equal(q.drain(), DRAIN.WAITING);
  const error = new Error("source failed (expected by this test)");
  controller.error(error);
  await tick();
  assert.equal(ready(), 1, "the failure wakes the connection");
  assert.equal(q.drain(), DRAIN.FAILED);
  assert.equal(q.failure, error);
});

Deno.test("close() releases queued files and cancels queued streams", async () => {
  const { t, q, released, ready } = setup();
  const a = file(1, 0, 100), b = file(2, 0, 100);
  const queued = manualStream();
  t.window = 0;
  assert.equal(q.write(bytes("head"), 4), DRAIN.BLOCKED);
  q.pushFile(a);
  q.pushStream(queued.reader, true);
  q.pushFile(b);
  q.close();
  await tick();
  assert.deepEqual(released, [a, b]);
  assert.equal(queued.cancels.length, 1, "a stream never read from is cancelled");
  assert.equal(q.empty, true);
  t.window = Infinity;
  assert.equal(q.drain(), DRAIN.DONE);
  assert.equal(t.output.length, 0, "nothing queued is written after close()");
  assert.equal(ready(), 0);
});

Deno.test("close() during a stream's read cancels the stream and wakes nobody", async () => {
  const { t, q, ready } = setup();
  const { controller, cancels, reader } = manualStream();
  q.pushStream(reader, true);
  assert.equal(q.drain(), DRAIN.WAITING);
  q.close();
  await tick();
  assert.equal(cancels.length, 1);
  assert.throws(() => controller.enqueue(bytes("late")), TypeError, "the stream is closed for its source");
  await tick();
  assert.equal(ready(), 0);
  assert.equal(q.drain(), DRAIN.DONE);
  assert.equal(t.output.length, 0);
});

Deno.test("sent counts the bytes the kernel accepted, framing included, EAGAIN adding nothing", async () => {
  const { t, q } = setup();
  t.window = 2;
  q.write(bytes("abcd"), 4);
  assert.equal(q.sent, 2);
  q.sent = 0; // the connection takes the count
  t.window = 0;
  q.drain();
  assert.equal(q.sent, 0);
  const { controller, reader } = manualStream();
  q.pushFile(file(4, 0, 3));
  q.pushStream(reader, true);
  t.window = Infinity;
  assert.equal(q.drain(), DRAIN.WAITING);
  assert.equal(q.sent, 2 + 3);
  controller.enqueue(bytes("hi"));
  controller.close();
  let rounds = 0;
  while (q.drain() === DRAIN.WAITING && rounds++ < 10) await tick();
  assert.equal(q.sent, 2 + 3 + "2\r\nhi\r\n0\r\n\r\n".length);
  assert.equal(t.output.length, 2 + q.sent);
});
