// permessage-deflate (RFC 7692) over zlib through FFI: negotiation (§5, §7.1), compression and
// inflation with and without context takeover (§7.2), fragmented compressed messages, interop with
// node:zlib, and the deflate bomb refused in bounded steps.

import assert from "node:assert/strict";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { ZStream } from "../../../ffi/zlib.ts";
import {
  type CodecFactory,
  CodecPool,
  type DeflatePolicy,
  negotiateDeflate,
  parseExtensions,
  PerMessageDeflate,
} from "../../../http/ws/permessage_deflate.ts";
import { INFLATE_STEP, Receiver } from "../../../http/ws/receiver.ts";
import { OPCODE } from "../../../http/ws/frame.ts";
import { clientFrame, concat, DEC, ENC, RecordingSink } from "./_frames.ts";

const FACTORY: CodecFactory = {
  deflater: (bits) => ZStream.deflater(bits, 1, 8),
  inflater: (bits) => ZStream.inflater(bits),
};
const RESET: DeflatePolicy = { serverContextTakeover: false, clientContextTakeover: false };
const KEEP: DeflatePolicy = { serverContextTakeover: true, clientContextTakeover: true };

function answer(header: string, policy = KEEP): string | null {
  const offers = parseExtensions(header);
  return offers && (negotiateDeflate(offers, policy)?.answer ?? null);
}

Deno.test("§7.1 the answer accepts the first acceptable offer and is valid for it", () => {
  const cases: [string, string | null][] = [
    ["permessage-deflate", "permessage-deflate"],
    ["permessage-deflate; client_max_window_bits", "permessage-deflate"],
    ["permessage-deflate; client_max_window_bits=10", "permessage-deflate; client_max_window_bits=10"],
    ["permessage-deflate; server_max_window_bits=12", "permessage-deflate; server_max_window_bits=12"],
    [
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    ],
    ['permessage-deflate; server_max_window_bits="11"', "permessage-deflate; server_max_window_bits=11"],
    // Declined offers: unknown, repeated or invalid parameters; an 8-bit server window zlib cannot make.
    ["permessage-deflate; foo", null],
    ["permessage-deflate; server_no_context_takeover; server_no_context_takeover", null],
    ["permessage-deflate; server_max_window_bits=16", null],
    ["permessage-deflate; server_max_window_bits=09", null],
    ["permessage-deflate; server_max_window_bits", null],
    ["permessage-deflate; client_no_context_takeover=1", null],
    ["permessage-deflate; server_max_window_bits=8", null],
    // ... the next offer is tried.
    [
      "permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9",
      "permessage-deflate; server_max_window_bits=9",
    ],
    ["x-webkit-deflate-frame, permessage-deflate; client_max_window_bits", "permessage-deflate"],
    ["x-other", null],
  ];
  for (const [offer, expected] of cases) assert.equal(answer(offer), expected, offer);
});

Deno.test("§7.1.1 a server policy without context takeover answers both no_context_takeover parameters", () => {
  assert.equal(
    answer("permessage-deflate; client_max_window_bits", RESET),
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
  );
});

Deno.test("RFC 6455 §9.1 a malformed Sec-WebSocket-Extensions field is refused whole", () => {
  for (
    const bad of [
      "permessage-deflate; =1",
      "perm essage",
      'permessage-deflate; a="1',
      "a; b=c d",
      'a; b="x y"',
    ]
  ) {
    assert.equal(parseExtensions(bad), null, bad);
  }
  assert.deepEqual(parseExtensions('a, , b ;c="d"'), [{ name: "a", params: [] }, {
    name: "b",
    params: [["c", "d"]],
  }]);
});

function connection(params: Partial<ReturnType<typeof negotiate>> = {}, pool = new CodecPool(FACTORY)) {
  return new PerMessageDeflate({ ...negotiate(), ...params }, pool);
}
function negotiate() {
  return {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  };
}

/** Inflates the way a peer does: appends the tail, raw inflate (node:zlib). */
function peerInflate(data: Uint8Array): string {
  return DEC.decode(inflateRawSync(concat(data, new Uint8Array([0, 0, 0xff, 0xff])), { finishFlush: 2 }));
}

Deno.test("§7.2.1 compressed messages end without the 00 00 FF FF tail and inflate with it, in both modes", () => {
  const text = "hello permessage-deflate ".repeat(40);
  for (const serverNoContextTakeover of [true, false]) {
    const pmd = connection({ serverNoContextTakeover });
    const first = pmd.deflate(ENC.encode(text), true);
    assert.equal(peerInflate(first), text);
    const second = pmd.deflate(ENC.encode(text), true);
    if (serverNoContextTakeover) assert.deepEqual(second, first, "each message starts afresh");
    else assert.ok(second.length < first.length / 2, `context makes the repeat cheap (${second.length})`);
    pmd.close();
  }
});

Deno.test("§7.2.1 a message compressed in slices is one DEFLATE stream the peer reads whole", () => {
  const pmd = connection({ serverNoContextTakeover: true });
  const text = "slice ".repeat(30000);
  const bytes = ENC.encode(text);
  const parts = [pmd.deflate(bytes.subarray(0, 70000), false), pmd.deflate(bytes.subarray(70000), true)];
  assert.ok(pmd.holdsMemory === false, "the pooled stream went back after the last slice");
  assert.equal(peerInflate(concat(...parts)), text);
});

Deno.test("§7.2.2 a fragmented compressed message (RSV1 on the first frame only) inflates whole", () => {
  const text = "fragmented and compressed ".repeat(100);
  const compressed = new Uint8Array(deflateRawSync(ENC.encode(text), { finishFlush: 2 })).subarray(0, -4);
  const sink = new RecordingSink();
  const receiver = new Receiver(sink, { inflater: connection() });
  const a = compressed.length >> 2;
  receiver.push(concat(
    clientFrame(OPCODE.TEXT, compressed.subarray(0, a), { fin: false, rsv: 0x40 }),
    clientFrame(OPCODE.PING, "between"),
    clientFrame(OPCODE.CONTINUATION, compressed.subarray(a, 2 * a), { fin: false }),
    clientFrame(OPCODE.CONTINUATION, compressed.subarray(2 * a)),
    clientFrame(OPCODE.BINARY, new Uint8Array([1, 2])), // uncompressed on the same connection
  ));
  assert.deepEqual(sink.events, [
    { ping: [...ENC.encode("between")] },
    { message: "text", data: text },
    { message: "binary", data: [1, 2] },
  ]);
});

Deno.test("§7.2.2 with client context takeover, a message may refer to the previous one", () => {
  // One raw deflate stream, sync-flushed per message, as a peer keeping its context sends.
  const peer = ZStream.deflater(15, 6, 8);
  const messages = ["context takeover works", "context takeover works again"];
  const pmd = connection();
  const sink = new RecordingSink();
  const receiver = new Receiver(sink, { inflater: pmd });
  for (const m of messages) {
    const out: Uint8Array[] = [];
    peer.run(ENC.encode(m), 2, out);
    receiver.push(clientFrame(OPCODE.TEXT, concat(...out).subarray(0, -4), { rsv: 0x40 }));
  }
  peer.end();
  pmd.close();
  assert.deepEqual(sink.events, messages.map((data) => ({ message: "text", data })));
});

Deno.test("§8.1 a compressed message that is not DEFLATE data fails with 1007", () => {
  const sink = new RecordingSink();
  new Receiver(sink, { inflater: connection() }).push(
    clientFrame(OPCODE.BINARY, new Uint8Array([0xff, 0xff, 0xff]), { rsv: 0x40 }),
  );
  assert.deepEqual(sink.events, [{ fail: 1007 }]);
});

Deno.test("a deflate bomb is refused with 1009 at the limit, inflated a bounded step per turn", () => {
  const bomb = new Uint8Array(deflateRawSync(new Uint8Array(20 << 20), { level: 9, finishFlush: 2 }))
    .subarray(0, -4);
  assert.ok(bomb.length < 30000, `${bomb.length} bytes inflate to 20 MiB`);
  const pool = new CodecPool(FACTORY);
  const pmd = connection({ clientNoContextTakeover: true }, pool);
  const sink = new RecordingSink();
  const receiver = new Receiver(sink, { inflater: pmd, maxMessageSize: 16 << 20 });
  receiver.push(clientFrame(OPCODE.BINARY, bomb, { rsv: 0x40 }));
  let steps = 1;
  let longest = 0;
  while (receiver.busy) {
    const t0 = performance.now();
    receiver.resume();
    longest = Math.max(longest, performance.now() - t0);
    steps++;
  }
  assert.deepEqual(sink.events, [{ fail: 1009 }]);
  assert.ok(steps >= (16 << 20) / (2 * INFLATE_STEP), `${steps} steps of at most ~2 MiB`);
  assert.ok(!pmd.holdsMemory, "the pooled inflater went back");
  console.log(`  bomb: ${steps} steps, longest ${longest.toFixed(1)} ms`);
  pool.close();
});

Deno.test("an inflated message is its own buffer of its exact size, even when another inflates between its steps", () => {
  // Output starts in a buffer every connection shares, lent for one step: a message done in it is
  // copied out at its size (the application gets the whole ArrayBuffer); one that takes several
  // steps moves to its own buffer before another connection's step reuses the shared one.
  const pool = new CodecPool(FACTORY);
  const [a, b] = [0, 1].map(() => connection({ clientNoContextTakeover: true }, pool));
  const large = new Uint8Array(300_000).map((_, i) => (i * 131) >>> 5);
  const small = ENC.encode("small message, inflated between the steps of a large one ".repeat(30));
  a!.begin(new Uint8Array(deflateRawSync(large, { finishFlush: 2 })).subarray(0, -4), 1 << 20);
  let steps = 0;
  let result: Uint8Array | null | number = null;
  while ((result = a!.step(20_000)) === null) {
    steps++;
    b!.begin(new Uint8Array(deflateRawSync(small, { finishFlush: 2 })).subarray(0, -4), 1 << 20);
    const other = b!.step(1 << 20);
    assert.ok(other instanceof Uint8Array);
    assert.equal(DEC.decode(other), DEC.decode(small));
    assert.equal(other.byteOffset, 0);
    assert.equal(other.buffer.byteLength, small.length, "a buffer of the message's size");
  }
  assert.ok(steps > 3, `${steps} steps`);
  assert.ok(result instanceof Uint8Array);
  assert.ok(
    result.length === large.length && result.every((x, i) => x === large[i]),
    "the large message intact",
  );
  a!.close();
  b!.close();
  pool.close();
});

Deno.test("without context takeover one pooled stream serves many connections, idle ones hold no zlib memory", () => {
  const pool = new CodecPool(FACTORY);
  const connections = Array.from(
    { length: 100 },
    () => connection({ serverNoContextTakeover: true, clientNoContextTakeover: true }, pool),
  );
  for (const pmd of connections) {
    const compressed = pmd.deflate(ENC.encode("x".repeat(5000)), true);
    pmd.begin(compressed, 1 << 20);
    const back = pmd.step(1 << 20);
    assert.ok(back instanceof Uint8Array && back.length === 5000);
    assert.ok(!pmd.holdsMemory);
  }
  assert.equal(pool.made, 2, "one deflater and one inflater in all");
  for (const pmd of connections) pmd.close();
  pool.close();
});

Deno.test("§7.2.3.4 a message ending its DEFLATE stream with BFINAL=1 is read, and the next one too", () => {
  // The RFC's example: "Hello" in a final block, then 0x00 (an empty stored block's header).
  const rfc = new Uint8Array([0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]);
  // node:zlib's deflateRawSync ends with a final block and no 0x00 after it.
  const final = new Uint8Array(deflateRawSync(ENC.encode("final block ".repeat(20))));
  for (const clientNoContextTakeover of [false, true]) {
    const sink = new RecordingSink();
    const pmd = connection({ clientNoContextTakeover });
    const receiver = new Receiver(sink, { inflater: pmd });
    for (const payload of [rfc, final, rfc]) receiver.push(clientFrame(OPCODE.TEXT, payload, { rsv: 0x40 }));
    // Under context takeover the stream was reset after the final block: a sync-flushed message reads.
    const flushed = new Uint8Array(deflateRawSync(ENC.encode("after"), { finishFlush: 2 })).subarray(0, -4);
    receiver.push(clientFrame(OPCODE.TEXT, flushed, { rsv: 0x40 }));
    assert.deepEqual(sink.events, [
      { message: "text", data: "Hello" },
      { message: "text", data: "final block ".repeat(20) },
      { message: "text", data: "Hello" },
      { message: "text", data: "after" },
    ], `clientNoContextTakeover ${clientNoContextTakeover}`);
    pmd.close();
  }
});
