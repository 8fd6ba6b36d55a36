// WebSocketSession over an in-memory Transport: echo, ping/pong, the close handshake from either
// side, failing the peer with a close frame before the TCP close, timeouts, bounded memory
// (read pause, slow reader closed with 1008), exact bufferedAmount, and compression in slices.

import assert from "node:assert/strict";
import { inflateRawSync } from "node:zlib";
import { EAGAIN, FakeTransport } from "../_fake_transport.ts";
import { WebSocketSession } from "../../../http/ws/session.ts";
import { DEFLATE_SLICE, type SessionOptions, WS_STATE } from "../../../http/ws/session_options.ts";
import { CodecPool, PerMessageDeflate } from "../../../http/ws/permessage_deflate.ts";
import { ZStream } from "../../../ffi/zlib.ts";
import { OPCODE } from "../../../http/ws/frame.ts";
import type { Deadline, DeadlineTarget } from "../../../http/types.ts";
import { clientFrame, concat, DEC, ENC, serverFrames } from "./_frames.ts";

const { TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION } = OPCODE;

/** A deadline fired by hand. */
class FakeDeadline implements Deadline {
  armedMs: number | null = null;
  disposed = false;
  constructor(readonly target: (() => void) | DeadlineTarget) {}
  arm(ms: number): void {
    this.armedMs = ms;
  }
  disarm(): void {
    this.armedMs = null;
  }
  dispose(): void {
    this.disposed = true;
    this.armedMs = null;
  }
  fire(): void {
    assert.ok(this.armedMs !== null, "the deadline is armed");
    this.armedMs = null;
    if (typeof this.target === "function") this.target();
    else this.target.onTimer();
  }
}

interface Harness {
  transport: FakeTransport;
  session: WebSocketSession;
  timer: () => FakeDeadline;
  messages: { text: boolean; data: Uint8Array }[];
  closed: [number, string, boolean][];
  /** The frames written so far, consumed. */
  frames: () => ReturnType<typeof serverFrames>;
}

function open(
  options: Partial<SessionOptions> = {},
  head: Uint8Array = new Uint8Array(0),
  echo = false,
): Harness {
  const transport = new FakeTransport();
  let deadline: FakeDeadline | null = null;
  const messages: Harness["messages"] = [];
  const closed: Harness["closed"] = [];
  let seen = 0;
  const session: WebSocketSession = new WebSocketSession(transport, head, {
    message: (text, data) => {
      messages.push({ text, data });
      if (echo) session.send(text, data);
    },
    closed: (code, reason, clean) => closed.push([code, reason, clean]),
  }, { deadline: (cb) => (deadline = new FakeDeadline(cb)), ...options });
  session.start();
  return {
    transport,
    session,
    timer: () => deadline!,
    messages,
    closed,
    frames: () => {
      const out = serverFrames(transport.output.slice(seen));
      seen = transport.output.length;
      return out;
    },
  };
}

/** Queues the frames as the peer's input and reads while the session reads (64 KiB per read). */
function feed(h: Harness, ...frames: Uint8Array[]): void {
  h.transport.input.push(concat(...frames));
  for (let i = 0; i < 1000 && h.transport.input.length > 0 && h.transport.interest.readable; i++) {
    h.session.onReadable();
  }
}

Deno.test("a text and a binary message are echoed in unmasked frames; the head's bytes come first", () => {
  const h = open({}, clientFrame(TEXT, "first"), true);
  assert.deepEqual(
    h.messages.map((m) => DEC.decode(m.data)),
    ["first"],
    "bytes after the 101 read at start()",
  );
  feed(h, clientFrame(TEXT, "héllo"), clientFrame(BINARY, new Uint8Array([1, 2, 3])));
  const frames = h.frames();
  assert.deepEqual(frames.map((f) => [f.fin, f.opcode, [...f.payload]]), [
    [true, TEXT, [...ENC.encode("first")]],
    [true, TEXT, [...ENC.encode("héllo")]],
    [true, BINARY, [1, 2, 3]],
  ]);
  assert.equal(h.session.bufferedAmount, 0);
});

Deno.test("§5.5.2 a ping is answered with a pong carrying the same payload", () => {
  const h = open();
  feed(h, clientFrame(PING, "are you there?"));
  assert.deepEqual(h.frames().map((f) => [f.opcode, DEC.decode(f.payload)]), [[PONG, "are you there?"]]);
});

Deno.test("§7.1.2 the peer's close is answered with its code, then the server closes TCP first", () => {
  const h = open();
  feed(h, clientFrame(CLOSE, concat(new Uint8Array([0x03, 0xe8]), ENC.encode("bye"))));
  assert.deepEqual(h.frames().map((f) => [f.opcode, [...f.payload]]), [[CLOSE, [0x03, 0xe8]]]);
  assert.equal(h.transport.closes, 1);
  assert.deepEqual(h.closed, [[1000, "bye", true]]);
  assert.equal(h.session.state, WS_STATE.CLOSED);
  assert.ok(h.timer().disposed);
});

Deno.test("§7.1.7 a protocol error sends a close frame with the code, FIN, then closes at the peer's FIN", () => {
  const h = open();
  feed(h, clientFrame(TEXT, "unmasked", { mask: null }));
  assert.deepEqual(h.frames().map((f) => [f.opcode, (f.payload[0]! << 8) | f.payload[1]!]), [[CLOSE, 1002]]);
  assert.equal(h.transport.shutdowns, 1, "FIN after the close frame");
  assert.equal(h.transport.closes, 0, "reads until the peer's FIN so no RST destroys the close");
  feed(h, clientFrame(TEXT, "more ignored"));
  h.transport.eof = true;
  h.session.onReadable();
  assert.equal(h.transport.closes, 1);
  assert.deepEqual(h.closed.map(([c, , clean]) => [c, clean]), [[1002, false]]);
});

Deno.test("§7.1.7 a failed peer that never sends FIN is closed after the close timeout", () => {
  const h = open({ closeTimeoutMs: 1234 });
  feed(h, clientFrame(TEXT, new Uint8Array([0xff])));
  assert.equal(h.timer().armedMs, 1234);
  h.timer().fire();
  assert.equal(h.transport.closes, 1);
  assert.deepEqual(h.closed.map(([c]) => c), [1007]);
});

Deno.test("§7.1.2 the application's close waits for the peer's; messages after it are not delivered", () => {
  const h = open();
  h.session.beginClose(4000, "done");
  assert.equal(h.session.state, WS_STATE.CLOSING);
  assert.deepEqual(
    h.frames().map((
      f,
    ) => [f.opcode, (f.payload[0]! << 8) | f.payload[1]!, DEC.decode(f.payload.subarray(2))]),
    [[CLOSE, 4000, "done"]],
  );
  feed(
    h,
    clientFrame(TEXT, "late"),
    clientFrame(PING, "p"),
    clientFrame(CLOSE, new Uint8Array([0x0f, 0xa0])),
  );
  assert.equal(h.messages.length, 0);
  assert.deepEqual(h.frames(), [], "no pong and no second close after ours");
  assert.deepEqual(h.closed, [[4000, "", true]]);
  assert.equal(h.transport.closes, 1);
});

Deno.test("the close handshake times out as 1006 when the peer never answers", () => {
  const h = open({ closeTimeoutMs: 500 });
  assert.equal(h.session.closeIfIdle(), false, "the handshake takes a while");
  assert.deepEqual(
    h.frames().map((f) => (f.payload[0]! << 8) | f.payload[1]!),
    [1001],
    "graceful shutdown says 1001",
  );
  assert.equal(h.timer().armedMs, 500);
  h.timer().fire();
  assert.deepEqual(h.closed, [[1006, "", false]], "§7.1.5: no close frame received");
  assert.equal(h.transport.closes, 1);
  assert.ok(h.session.closed);
  h.session.close();
  assert.equal(h.transport.closes, 1, "closing twice closes the transport once");
});

Deno.test("the peer's FIN without a close frame is 1006; a write error too", () => {
  const h = open();
  h.transport.eof = true;
  h.session.onReadable();
  assert.deepEqual(h.closed, [[1006, "", false]]);
  const w = open();
  w.transport.writeResult = -32; // EPIPE
  w.session.send(true, ENC.encode("x"));
  assert.deepEqual(w.closed, [[1006, "", false]]);
  assert.equal(w.transport.closes, 1);
});

Deno.test("idle timeout: silence brings a ping; an answer keeps the socket, more silence closes it (1001)", () => {
  let now = 0;
  const h = open({ idleTimeoutMs: 1000, now: () => now });
  assert.equal(h.timer().armedMs, 1000);
  now = 400;
  feed(h, clientFrame(TEXT, "input moves the deadline"));
  now = 1000;
  h.timer().fire();
  assert.deepEqual(h.frames(), [], "not silent for 1000 ms yet");
  assert.equal(h.timer().armedMs, 400, "the rest of the period since the last input");
  now = 1400;
  h.timer().fire();
  assert.deepEqual(h.frames().map((f) => f.opcode), [PING]);
  assert.equal(h.timer().armedMs, 1000, "waits as long again for an answer");
  feed(h, clientFrame(PONG));
  now = 2400;
  h.timer().fire(); // idle again: another ping, not a close
  assert.deepEqual(h.frames().map((f) => f.opcode), [PING]);
  assert.equal(h.closed.length, 0);
  now = 3400;
  h.timer().fire(); // no answer
  assert.deepEqual(h.frames().map((f) => [f.opcode, (f.payload[0]! << 8) | f.payload[1]!]), [[CLOSE, 1001]]);
  assert.deepEqual(h.closed, [[1001, "No response from ping frame.", false]]);
  assert.equal(h.transport.closes, 1);
});

Deno.test("bufferedAmount is exact and falls as the kernel takes bytes", () => {
  const h = open();
  h.transport.window = 0;
  const data = new Uint8Array(10000);
  h.session.send(false, data);
  assert.equal(h.session.bufferedAmount, 10000);
  assert.deepEqual(h.transport.interest, { readable: true, writable: true });
  h.transport.window = 4 + 5000; // the head and half the payload
  h.session.onWritable();
  assert.equal(h.session.bufferedAmount, 5000);
  h.transport.window = Infinity;
  h.session.onWritable();
  assert.equal(h.session.bufferedAmount, 0);
  assert.deepEqual(h.transport.interest, { readable: true, writable: false });
});

Deno.test("a peer that sends but does not read stops being read once 1 MiB is queued (TCP pushes back)", () => {
  const h = open({}, new Uint8Array(0), true);
  h.transport.window = 0;
  const big = clientFrame(BINARY, new Uint8Array(600 * 1024));
  feed(h, big);
  assert.equal(h.transport.interest.readable, true, "600 KiB queued: still reading");
  feed(h, big);
  assert.deepEqual(
    h.transport.interest,
    { readable: false, writable: true },
    "1.2 MiB queued: reading stops",
  );
  h.transport.window = Infinity;
  h.session.onWritable();
  assert.deepEqual(h.transport.interest, { readable: true, writable: false });
});

Deno.test("a peer that does not read while the application sends is closed with 1008 past the bound", () => {
  const h = open({ maxQueuedBytes: 100_000 });
  h.transport.window = 0;
  for (let i = 0; i < 9; i++) h.session.send(false, new Uint8Array(10_000));
  assert.equal(h.closed.length, 0);
  h.session.send(false, new Uint8Array(20_000));
  assert.deepEqual(h.closed, [[1008, "Client does not read", false]]);
  assert.equal(h.transport.closes, 1);
  assert.equal(h.session.bufferedAmount, 0);
});

Deno.test("a write that makes no progress for writeTimeoutMs closes the socket", () => {
  const h = open({ writeTimeoutMs: 700 });
  h.transport.window = 0;
  h.session.send(false, new Uint8Array(10));
  assert.equal(h.timer().armedMs, 700);
  h.timer().fire();
  assert.deepEqual(h.closed, [[1006, "Write timeout", false]]);
});

function deflateOptions(pool: CodecPool) {
  return new PerMessageDeflate(
    {
      serverNoContextTakeover: true,
      clientNoContextTakeover: true,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    },
    pool,
  );
}
const FACTORY = {
  deflater: (b: number) => ZStream.deflater(b, 1, 8),
  inflater: (b: number) => ZStream.inflater(b),
};

Deno.test("RFC 7692 a large message is compressed one slice per turn, as fragments, and the close follows it", () => {
  const pool = new CodecPool(FACTORY);
  const h = open({ deflate: deflateOptions(pool) });
  // Words in a pseudo-random order: compressible, yet zlib emits blocks before the end.
  let seed = 7;
  const words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"];
  const text = Array.from({ length: 40000 }, () => words[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % 10])
    .join(" ");
  const bytes = ENC.encode(text);
  h.session.send(true, bytes);
  h.session.send(true, ENC.encode("small, after"));
  h.session.beginClose(1000, "");
  assert.equal(h.session.bufferedAmount > 0, true);
  let turns = 1;
  while (h.transport.interest.writable) {
    h.session.onWritable();
    turns++;
  }
  // One slice per call: the two send()s and close() took one each, every turn one more.
  assert.ok(turns + 2 >= Math.ceil(bytes.length / DEFLATE_SLICE), `${turns} turns for ${bytes.length} bytes`);
  const frames = h.frames();
  const data = frames.slice(0, -2);
  assert.ok(data.length > 1, "fragments");
  assert.ok(data[0]!.rsv1 && data[0]!.opcode === TEXT, "RSV1 and the opcode on the first frame");
  assert.ok(data.slice(1).every((f) => !f.rsv1 && f.opcode === CONTINUATION), "continuations without RSV1");
  assert.ok(data.at(-1)!.fin && data.slice(0, -1).every((f) => !f.fin));
  const inflated = inflateRawSync(concat(...data.map((f) => f.payload), new Uint8Array([0, 0, 0xff, 0xff])), {
    finishFlush: 2,
  });
  assert.equal(DEC.decode(inflated), text);
  assert.deepEqual(
    [frames.at(-2)!.opcode, DEC.decode(frames.at(-2)!.payload)],
    [TEXT, "small, after"],
    "order kept",
  );
  assert.equal(frames.at(-1)!.opcode, CLOSE, "the close frame after what was sent");
  assert.equal(h.session.bufferedAmount, 0);
  h.session.close();
  pool.close();
});

Deno.test("RFC 7692 a compressed bomb inflates a step per turn; input behind it waits, then is read", () => {
  const pool = new CodecPool(FACTORY);
  const h = open({ deflate: deflateOptions(pool), maxMessageSize: 8 << 20 });
  const d = ZStream.deflater(15, 9, 9);
  const out: Uint8Array[] = [];
  d.run(new Uint8Array(6 << 20), 2, out);
  d.end();
  const compressed = concat(...out).subarray(0, -4);
  feed(h, clientFrame(BINARY, compressed, { rsv: 0x40 }), clientFrame(TEXT, "after"));
  assert.deepEqual(
    h.transport.interest,
    { readable: false, writable: true },
    "asks for a turn, reads nothing",
  );
  let turns = 0;
  while (h.messages.length < 2 && turns < 100) {
    h.session.onWritable();
    turns++;
  }
  assert.ok(turns >= 3, `${turns} turns`);
  assert.deepEqual(h.messages.map((m) => m.data.length), [6 << 20, 5]);
  assert.deepEqual(h.transport.interest, { readable: true, writable: false });
  h.session.close();
  pool.close();
});

Deno.test("EAGAIN on read changes nothing", () => {
  const h = open();
  h.session.onReadable();
  assert.equal(h.closed.length, 0);
  assert.equal(EAGAIN, -11);
});

Deno.test("a readable event takes one read however much the peer has queued: the rest waits for the next turn", () => {
  // A peer with a continuous backlog is served a bounded bite per turn (one read, at most 64 KiB,
  // its echoes in one write); the reactor's other sockets get their turn between bites.
  const h = open({}, new Uint8Array(0), true);
  const frame = clientFrame(BINARY, new Uint8Array(64)); // 70 bytes
  const backlog = concat(...Array.from({ length: 4000 }, () => frame)); // 280,000 bytes in the kernel
  h.transport.input.push(backlog);
  h.session.onReadable();
  const bite = Math.floor(64 * 1024 / frame.length); // whole frames in the 64 KiB read
  assert.equal(h.messages.length, bite);
  assert.equal(h.transport.writes, 1);
  assert.equal(h.transport.input[0]!.length, backlog.length - 64 * 1024);
  h.session.onReadable();
  assert.equal(h.messages.length, Math.floor(2 * 64 * 1024 / frame.length));
  assert.equal(h.transport.writes, 2);
});

Deno.test("frames sent from message handlers leave in one write after the read that delivered them", () => {
  const h = open({}, new Uint8Array(0), true);
  feed(h, clientFrame(TEXT, "a"), clientFrame(TEXT, "b"), clientFrame(BINARY, new Uint8Array(100)));
  assert.equal(h.transport.writes, 1);
  assert.deepEqual(h.frames().map((f) => f.payload.length), [1, 1, 100]);
  h.transport.window = 3; // the kernel takes part of the gathered bytes
  h.session.send(true, ENC.encode("xyz"));
  h.session.send(true, ENC.encode("uvw"));
  assert.equal(h.session.bufferedAmount, 5, "the 3 bytes taken were a 2-byte head and one payload byte");
  h.transport.window = Infinity;
  h.session.onWritable();
  assert.deepEqual(h.frames().map((f) => DEC.decode(f.payload)), ["xyz", "uvw"]);
  assert.equal(h.session.bufferedAmount, 0);
});

Deno.test("frames left unwritten survive other sessions' writes through the shared write buffer", () => {
  // Small frames are encoded in a buffer every session shares; what the kernel does not take,
  // and what another session's send finds there, must be kept apart first.
  const a = open({}, new Uint8Array(0), true);
  const b = open({}, new Uint8Array(0), true);
  const payload = (tag: number, n: number) => new Uint8Array(n).map((_, i) => (tag + i * 7) & 0xff);
  a.transport.window = 3; // A's kernel takes a 2-byte head and one byte, then is full
  feed(a, clientFrame(BINARY, payload(1, 100)), clientFrame(BINARY, payload(2, 4096)));
  feed(b, clientFrame(BINARY, payload(3, 4096)), clientFrame(TEXT, "b"));
  assert.deepEqual(b.frames().map((f) => [...f.payload]), [[...payload(3, 4096)], [...ENC.encode("b")]]);
  // B sends from A's message handler, after A's echo is queued and before A writes it.
  const relay = new WebSocketSession(new FakeTransport(), new Uint8Array(0), {
    message: (text, data) => {
      relay.send(text, data);
      b.session.send(true, ENC.encode("relayed"));
    },
    closed: () => {},
  }, { deadline: (cb) => new FakeDeadline(cb) });
  relay.start();
  const relayTransport = relay.transport as FakeTransport;
  relayTransport.input.push(clientFrame(BINARY, payload(4, 300)));
  relay.onReadable();
  assert.deepEqual(serverFrames(relayTransport.output).map((f) => [...f.payload]), [[...payload(4, 300)]]);
  assert.deepEqual(b.frames().map((f) => DEC.decode(f.payload)), ["relayed"]);
  a.transport.window = Infinity;
  a.session.onWritable();
  assert.deepEqual(a.frames().map((f) => [...f.payload]), [[...payload(1, 100)], [...payload(2, 4096)]]);
  assert.equal(a.session.bufferedAmount, 0);
});

/** A session whose application answers every message with `reply(session)`. */
function replying(options: Partial<SessionOptions>, reply: (session: WebSocketSession) => void) {
  const transport = new FakeTransport();
  const closed: [number, string, boolean][] = [];
  const session: WebSocketSession = new WebSocketSession(transport, new Uint8Array(0), {
    message: () => reply(session),
    closed: (code, reason, clean) => closed.push([code, reason, clean]),
  }, { deadline: (cb) => new FakeDeadline(cb), ...options });
  session.start();
  return { transport, session, closed };
}

Deno.test("§7.1.2 the peer's close during the application's close still sends what was compressing, then our close", () => {
  const pool = new CodecPool(FACTORY);
  const big = ENC.encode("all work and no play ".repeat(20_000)); // 420 KB: many slices
  const h = replying({ deflate: deflateOptions(pool) }, (session) => {
    session.send(true, big);
    session.beginClose(1000, "done");
  });
  // The request and the peer's close arrive in one read: our close is still behind the message.
  h.transport.input.push(concat(clientFrame(TEXT, "go"), clientFrame(CLOSE, new Uint8Array([0x03, 0xe8]))));
  h.session.onReadable();
  for (let i = 0; i < 1000 && h.closed.length === 0 && h.transport.interest.writable; i++) {
    h.session.onWritable();
  }
  const frames = serverFrames(h.transport.output);
  const data = frames.filter((f) => f.opcode !== CLOSE);
  assert.ok(data.length > 0, "the message's frames are sent");
  const inflated = inflateRawSync(concat(...data.map((f) => f.payload), new Uint8Array([0, 0, 0xff, 0xff])), {
    finishFlush: 2,
  });
  assert.equal(inflated.length, big.length, "the whole message");
  assert.equal(frames.at(-1)!.opcode, CLOSE, "our close frame last");
  assert.deepEqual([...frames.at(-1)!.payload.subarray(0, 2)], [0x03, 0xe8]);
  assert.deepEqual(h.closed, [[1000, "", true]]);
  assert.equal(h.transport.closes, 1);
  pool.close();
});

Deno.test("one message larger than maxQueuedBytes is accepted alone; the bound holds behind it", () => {
  const h = open({ maxQueuedBytes: 100_000 });
  h.transport.window = 0;
  h.session.send(false, new Uint8Array(150_000)); // an echo of a legal message larger than the bound
  assert.deepEqual(h.closed, []);
  assert.equal(h.session.bufferedAmount, 150_000);
  h.transport.window = Infinity;
  h.session.onWritable();
  assert.equal(h.session.bufferedAmount, 0);
  assert.equal(h.frames()[0]!.payload.length, 150_000);
  h.transport.window = 0;
  h.session.send(false, new Uint8Array(150_000));
  h.session.send(false, new Uint8Array(10));
  assert.deepEqual(h.closed, [[1008, "Client does not read", false]]);
});

Deno.test("an exception while receiving fails that socket with 1011 instead of reaching the reactor", () => {
  const h = replying({}, () => {
    throw new Error("a defect");
  });
  const error = console.error;
  console.error = () => {};
  try {
    h.transport.input.push(clientFrame(TEXT, "boom"));
    h.session.onReadable();
  } finally {
    console.error = error;
  }
  const frames = serverFrames(h.transport.output);
  assert.deepEqual([frames[0]!.opcode, frames[0]!.payload[0]! << 8 | frames[0]!.payload[1]!], [CLOSE, 1011]);
  assert.equal(h.transport.shutdowns, 1, "our FIN follows the close");
});

Deno.test("RFC 7692 a zlib stream that cannot be made (inflateInit2 out of memory) fails the socket with 1011", () => {
  const pool = new CodecPool({
    deflater: FACTORY.deflater,
    inflater: () => {
      throw new Error("inflateInit2 failed (-4)");
    },
  });
  const h = open({ deflate: deflateOptions(pool) });
  feed(h, clientFrame(TEXT, new Uint8Array([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), { rsv: 0x40 }));
  const frames = h.frames();
  assert.deepEqual([frames[0]!.opcode, frames[0]!.payload[0]! << 8 | frames[0]!.payload[1]!], [CLOSE, 1011]);
  h.transport.eof = true; // the peer's FIN after our close
  h.session.onReadable();
  assert.deepEqual(h.closed, [[1011, "Cannot inflate", false]]);
});

Deno.test("queuedBytes counts frames and uncompressed pending bytes as slices are compressed", () => {
  const pool = new CodecPool(FACTORY);
  const h = open({ deflate: deflateOptions(pool) });
  h.transport.window = 0;
  const big = new Uint8Array(5 * DEFLATE_SLICE).fill(97);
  h.session.send(false, big);
  h.session.send(false, new Uint8Array(10));
  // Each send() took a turn: two slices are in zlib (their output held back), the rest waits.
  assert.equal(h.session.queuedBytes, big.length + 10 - 2 * DEFLATE_SLICE);
  h.session.onWritable(); // one more slice, nothing written
  assert.equal(h.session.queuedBytes, big.length + 10 - 3 * DEFLATE_SLICE);
  h.transport.window = Infinity;
  for (let i = 0; i < 100 && h.session.queuedBytes > 0; i++) h.session.onWritable();
  assert.equal(h.session.queuedBytes, 0);
  h.session.close();
  pool.close();
});
