// The output buffers HTTP/2 sessions borrow while they send bodies: the pool's bounds, and
// sessions that give theirs back when a burst is written, so the next burst (theirs or another
// connection's) writes from the same memory instead of a newly allocated buffer.

import assert from "node:assert/strict";
import { BufferPool } from "../../../http/h2/buffer_pool.ts";
import { FRAME, type FrameWriter } from "../../../http/h2/frames.ts";
import { LENT_OUTPUT_BYTES, LENT_OUTPUT_KEEP } from "../../../http/h2/options.ts";
import { OUTPUT_BUFFERS } from "../../../http/h2/session_output.ts";
import { h2 } from "./_client.ts";

Deno.test("BufferPool lends a given-back buffer again, keeps at most `keep`, and drops others", () => {
  const pool = new BufferPool(64, 2);
  const a = pool.take(), b = pool.take(), c = pool.take();
  assert.equal(a.length, 64);
  assert.notEqual(a, b);
  pool.give(a);
  pool.give(a); // twice: still lent once
  assert.equal(pool.idle, 1);
  assert.equal(pool.take(), a);
  assert.notEqual(pool.take(), a);
  pool.give(a);
  pool.give(b);
  pool.give(c); // past keep
  assert.equal(pool.idle, 2);
  pool.give(new Uint8Array(128)); // another size (a buffer that grew)
  pool.give(new Uint8Array(128).subarray(64)); // a view
  assert.equal(pool.idle, 2);
  assert.deepEqual(new Set([pool.take(), pool.take()]), new Set([a, b]));
});

Deno.test("the sessions' pool lends buffers of LENT_OUTPUT_BYTES and keeps LENT_OUTPUT_KEEP", () => {
  assert.equal(OUTPUT_BUFFERS.size, LENT_OUTPUT_BYTES);
  assert.equal(OUTPUT_BUFFERS.keep, LENT_OUTPUT_KEEP);
});

/** The capacity of a session's output buffer (a protected member: what an idle connection holds). */
function outCapacity(session: unknown): number {
  return (session as { out: FrameWriter }).out.bytes.length;
}

/** A session answering `body`, whose transport records the memory each write came from. */
function bodyServer(body: Uint8Array) {
  const c = h2(() => ({ status: 200, body }));
  const from: ArrayBufferLike[] = [];
  const write = c.t.write.bind(c.t);
  c.t.write = (buf, length) => {
    from.push(buf.buffer);
    return write(buf, length);
  };
  c.preface();
  return { c, from };
}

Deno.test("bursts of body frames, on one connection or the next, are written from one lent buffer", () => {
  const body = new Uint8Array(40_000).map((_, i) => i % 251);
  const a = bodyServer(body), b = bodyServer(body);
  const idle = OUTPUT_BUFFERS.idle;
  a.c.get(1);
  const first = a.from.at(-1)!;
  assert.ok(first.byteLength >= LENT_OUTPUT_BYTES);
  assert.equal(OUTPUT_BUFFERS.idle, Math.max(idle, 1)); // given back once written
  a.c.get(3); // stalls on the connection's window (65,535 bytes): waits without the buffer
  assert.equal(a.c.session.phase, "writing");
  assert.equal(OUTPUT_BUFFERS.idle, Math.max(idle, 1));
  b.c.get(1);
  a.c.frames((w) => w.windowUpdate(0, 1 << 20));
  assert.equal(a.from.at(-1), first);
  assert.equal(b.from.at(-1), first);
  for (const [c, id] of [[a.c, 1], [a.c, 3], [b.c, 1]] as const) {
    const data = c.of(FRAME.DATA, id).map((f) => [...f.payload]).flat();
    assert.deepEqual(new Uint8Array(data), body); // what the buffer held before is not sent
    assert.ok(c.response(id).ended);
  }
  assert.ok(
    outCapacity(a.c.session) < 4096 && outCapacity(b.c.session) < 4096,
    "idle, each keeps a small one",
  );
});

Deno.test("a session the socket blocks keeps its lent buffer, and closing gives it back", () => {
  const { c } = bodyServer(new Uint8Array(40_000));
  c.frames((w) => w.windowUpdate(0, 1 << 20));
  const idle = OUTPUT_BUFFERS.idle;
  c.t.window = 1000;
  c.get(1);
  assert.equal(c.session.phase, "writing");
  assert.equal(OUTPUT_BUFFERS.idle, Math.max(0, idle - 1));
  c.session.close();
  assert.equal(OUTPUT_BUFFERS.idle, Math.max(idle, 1));
});
