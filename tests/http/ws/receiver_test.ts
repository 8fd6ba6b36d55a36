// Receiver (RFC 6455 §5, §7.4, §8.1, §10.4), by section: each case whole, split at every byte
// offset, and read from inside a larger buffer with garbage past its end.

import assert from "node:assert/strict";
import {
  DEFAULT_MAX_MESSAGE,
  INFLATE_STEP,
  MAX_MESSAGE_LIMIT,
  type MessageBudget,
  type MessageInflater,
  Receiver,
} from "../../../http/ws/receiver.ts";
import { CLOSE_CODE, OPCODE } from "../../../http/ws/frame.ts";
import { clientFrame, concat, ENC, type Event, RecordingSink } from "./_frames.ts";

const { TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG } = OPCODE;

/** Events for `input` pushed whole, then at every split into two pushes, then inside a larger buffer. */
function receive(input: Uint8Array, options: ConstructorParameters<typeof Receiver>[1] = {}): Event[] {
  const whole = new RecordingSink();
  new Receiver(whole, options).push(input);
  for (let cut = 1; cut < input.length && input.length < 3000; cut++) {
    const sink = new RecordingSink();
    const receiver = new Receiver(sink, options);
    receiver.push(input.subarray(0, cut));
    receiver.push(input.subarray(cut));
    assert.deepEqual(sink.events, whole.events, `split at ${cut}`);
  }
  const framed = concat(new Uint8Array([0xee, 0xee]), input, new Uint8Array([0x81, 0x85, 1, 2, 3]));
  const sink = new RecordingSink();
  new Receiver(sink, options).push(framed, 2, 2 + input.length);
  assert.deepEqual(sink.events, whole.events, "view inside a larger buffer");
  return whole.events;
}

Deno.test("§5.2 a masked text frame and a masked binary frame are read as messages", () => {
  const events = receive(
    concat(clientFrame(TEXT, "Hello"), clientFrame(BINARY, new Uint8Array([0, 1, 255]))),
  );
  assert.deepEqual(events, [{ message: "text", data: "Hello" }, { message: "binary", data: [0, 1, 255] }]);
});

Deno.test("§5.2 payload lengths in the 7-, 16- and 64-bit forms, minimal or not, are all read", () => {
  for (
    const [size, form] of [[0, 7], [125, 7], [126, 16], [65535, 16], [65536, 64], [5, 16], [5, 64]] as const
  ) {
    const data = new Uint8Array(size).map((_, i) => i * 7);
    const sink = new RecordingSink();
    new Receiver(sink).push(clientFrame(BINARY, data, { lengthForm: form }));
    assert.deepEqual(sink.events, [{ message: "binary", data: [...data] }], `${size} bytes, ${form}-bit`);
  }
  assert.deepEqual(receive(clientFrame(BINARY, new Uint8Array(300), { lengthForm: 64 })).length, 1);
});

Deno.test("§5.3 payloads are unmasked exactly at every length, mask phase, buffer alignment and read size", () => {
  // Long runs are copied and unmasked 32 bits at a time from the message buffer's 4-byte
  // boundaries, short ones byte by byte: fragments of odd lengths put each frame's mask phase 0
  // at every alignment of the message buffer, and pushes of odd sizes from odd offsets start
  // runs anywhere in a frame.
  const mask = [0x9b, 0x01, 0xff, 0x5c];
  for (const length of [1, 3, 4, 5, 63, 64, 65, 66, 67, 127, 128, 131, 1000, 4099]) {
    const data = new Uint8Array(length).map((_, i) => (i * 31 + 7) & 0xff);
    for (const fragment of [length, 1, 3, 65, 130]) {
      const frames: Uint8Array[] = [];
      for (let at = 0; at < length; at += fragment) {
        const last = at + fragment >= length;
        frames.push(
          clientFrame(at === 0 ? BINARY : CONTINUATION, data.subarray(at, Math.min(length, at + fragment)), {
            fin: last,
            mask,
          }),
        );
      }
      const input = concat(...frames);
      for (const [offset, piece] of [[0, input.length], [1, 1], [3, 5], [2, 67], [1, 257]] as const) {
        const buffer = concat(new Uint8Array(offset).fill(0xee), input, new Uint8Array([0xee, 0xee, 0xee]));
        const sink = new RecordingSink();
        const receiver = new Receiver(sink);
        for (let at = offset; at < offset + input.length; at += piece) {
          receiver.push(buffer, at, Math.min(offset + input.length, at + piece));
        }
        assert.deepEqual(
          sink.events,
          [{ message: "binary", data: [...data] }],
          `${length} bytes in fragments of ${fragment}, pushed ${piece} at a time from offset ${offset}`,
        );
      }
    }
  }
  // Text: UTF-8 is validated on the unmasked bytes, characters straddling words and pushes.
  const text = "héllo wörld ✓ 𝄞 ".repeat(20);
  assert.deepEqual(
    receive(
      concat(
        clientFrame(TEXT, text.slice(0, 101), { fin: false }),
        clientFrame(CONTINUATION, text.slice(101)),
      ),
    ),
    [{ message: "text", data: text }],
  );
});

Deno.test("§5.2 a 64-bit length with its most significant bit set is a protocol error (1002)", () => {
  const frame = clientFrame(BINARY, "", { lengthForm: 64, claimedLength: 0 });
  frame[2] = 0x80;
  assert.deepEqual(receive(frame), [{ fail: CLOSE_CODE.PROTOCOL_ERROR }]);
});

Deno.test("§5.1 an unmasked frame from a client is a protocol error (1002)", () => {
  assert.deepEqual(receive(clientFrame(TEXT, "Hello", { mask: null })), [{ fail: 1002 }]);
});

Deno.test("§5.2 RSV1, RSV2 and RSV3 without a negotiated extension are a protocol error (1002)", () => {
  for (const rsv of [0x40, 0x20, 0x10]) {
    assert.deepEqual(receive(concat(clientFrame(TEXT, "a", { rsv }), clientFrame(TEXT, "b"))), [{
      fail: 1002,
    }]);
  }
});

Deno.test("§5.2 reserved opcodes 3-7 and 0xB-0xF are a protocol error (1002)", () => {
  for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    assert.deepEqual(receive(clientFrame(opcode, "x")), [{ fail: 1002 }], `opcode ${opcode}`);
  }
});

Deno.test("§5.4 a fragmented message with pings and pongs between its fragments", () => {
  const input = concat(
    clientFrame(TEXT, "Hel", { fin: false }),
    clientFrame(PING, "p1"),
    clientFrame(CONTINUATION, "", { fin: false }),
    clientFrame(PONG, "p2"),
    clientFrame(CONTINUATION, "lo"),
    clientFrame(BINARY, new Uint8Array([9]), { fin: false }),
    clientFrame(CONTINUATION, new Uint8Array([8])),
  );
  assert.deepEqual(receive(input), [
    { ping: [...ENC.encode("p1")] },
    { pong: [...ENC.encode("p2")] },
    { message: "text", data: "Hello" },
    { message: "binary", data: [9, 8] },
  ]);
});

Deno.test("§5.4 a continuation without a message, or a new message inside one, is a protocol error", () => {
  assert.deepEqual(receive(clientFrame(CONTINUATION, "x")), [{ fail: 1002 }]);
  assert.deepEqual(receive(concat(clientFrame(TEXT, "a", { fin: false }), clientFrame(TEXT, "b"))), [{
    fail: 1002,
  }]);
  assert.deepEqual(receive(concat(clientFrame(BINARY, "a", { fin: false }), clientFrame(TEXT, "b"))), [{
    fail: 1002,
  }]);
});

Deno.test("§5.5 control frames: over 125 bytes or fragmented is a protocol error; 125 is fine", () => {
  assert.deepEqual(receive(clientFrame(PING, new Uint8Array(126))), [{ fail: 1002 }]);
  assert.deepEqual(receive(clientFrame(PING, new Uint8Array(5), { lengthForm: 16 })), [{ fail: 1002 }]);
  assert.deepEqual(receive(clientFrame(PING, "x", { fin: false })), [{ fail: 1002 }]);
  assert.deepEqual(receive(clientFrame(CLOSE, "", { fin: false })), [{ fail: 1002 }]);
  assert.deepEqual(receive(clientFrame(PONG, new Uint8Array(125).fill(1))), [{
    pong: new Array(125).fill(1),
  }]);
  assert.deepEqual(receive(clientFrame(PING, "")), [{ ping: [] }]);
});

Deno.test("§5.5.1 close bodies: none is 1005; a code and UTF-8 reason are read; nothing after is", () => {
  assert.deepEqual(receive(concat(clientFrame(CLOSE), clientFrame(TEXT, "late"))), [{
    close: 1005,
    reason: "",
  }]);
  const body = concat(new Uint8Array([0x03, 0xe8]), ENC.encode("bye ✓"));
  assert.deepEqual(receive(clientFrame(CLOSE, body)), [{ close: 1000, reason: "bye ✓" }]);
});

Deno.test("§7.4 close codes a peer may send are accepted, and the others are a protocol error", () => {
  const valid = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    3999,
    4000,
    4999,
  ];
  const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
  for (const code of valid) {
    assert.deepEqual(receive(clientFrame(CLOSE, new Uint8Array([code >> 8, code & 255]))), [{
      close: code,
      reason: "",
    }]);
  }
  for (const code of invalid) {
    assert.deepEqual(
      receive(clientFrame(CLOSE, new Uint8Array([code >> 8, code & 255]))),
      [{ fail: 1002 }],
      `${code}`,
    );
  }
  assert.deepEqual(receive(clientFrame(CLOSE, new Uint8Array([3]))), [{ fail: 1002 }], "1-byte body");
  assert.deepEqual(
    receive(clientFrame(CLOSE, new Uint8Array([3, 0xe8, 0xff]))),
    [{ fail: 1007 }],
    "bad reason",
  );
});

Deno.test("§8.1 text that is not UTF-8 fails (1007) as soon as the bad byte arrives, before the message ends", () => {
  for (
    const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xff], [0x80], [
      0xe0,
      0x9f,
      0x80,
    ]]
  ) {
    const sink = new RecordingSink();
    const receiver = new Receiver(sink);
    receiver.push(clientFrame(TEXT, concat(ENC.encode("ok"), new Uint8Array(bad)), { fin: false }));
    assert.deepEqual(sink.events, [{ fail: 1007 }], `${bad}: no final fragment needed`);
  }
  // A character cut between fragments is fine; one left unfinished at the end is not.
  const euro = ENC.encode("€"); // E2 82 AC
  const split = concat(
    clientFrame(TEXT, euro.subarray(0, 1), { fin: false }),
    clientFrame(CONTINUATION, euro.subarray(1)),
  );
  assert.deepEqual(receive(split), [{ message: "text", data: "€" }]);
  assert.deepEqual(receive(clientFrame(TEXT, euro.subarray(0, 2))), [{ fail: 1007 }]);
  // Binary messages are not text.
  assert.deepEqual(receive(clientFrame(BINARY, new Uint8Array([0xff]))), [{
    message: "binary",
    data: [0xff],
  }]);
});

Deno.test("§10.4 a message over the limit fails (1009) from the frame head, before its payload arrives", () => {
  const sink = new RecordingSink();
  const receiver = new Receiver(sink, { maxMessageSize: 100 });
  const head = clientFrame(BINARY, "", { claimedLength: 101 });
  receiver.push(head.subarray(0, 4)); // head of a 16-bit length: 2 + 2 bytes, mask not yet sent
  assert.deepEqual(sink.events, [{ fail: 1009 }]);
  assert.equal(receiver.heldBytes, 0, "nothing allocated for the refused message");
  // Across fragments: 60 + 41 > 100, refused at the second head.
  const fragments = concat(
    clientFrame(BINARY, new Uint8Array(60), { fin: false }),
    clientFrame(CONTINUATION, new Uint8Array(41)),
  );
  assert.deepEqual(receive(fragments, { maxMessageSize: 100 }), [{ fail: 1009 }]);
  assert.deepEqual(receive(clientFrame(BINARY, new Uint8Array(100)), { maxMessageSize: 100 }).length, 1);
  // A 2^53-byte claim against the default limit.
  const huge = clientFrame(BINARY, "", { lengthForm: 64, claimedLength: 2 ** 40 });
  assert.deepEqual(receive(huge), [{ fail: 1009 }]);
  assert.equal(DEFAULT_MAX_MESSAGE, 64 * 1024 * 1024);
});

Deno.test("§10.4 one-byte fragments cost constant memory each: the message grows by doubling", () => {
  const parts: Uint8Array[] = [clientFrame(BINARY, new Uint8Array([1]), { fin: false })];
  for (let i = 0; i < 5000; i++) parts.push(clientFrame(CONTINUATION, new Uint8Array([1]), { fin: false }));
  const sink = new RecordingSink();
  const receiver = new Receiver(sink);
  receiver.push(concat(...parts));
  assert.ok(receiver.heldBytes <= 8192, `held ${receiver.heldBytes} bytes for 5001`);
  receiver.push(clientFrame(CONTINUATION, new Uint8Array([1])));
  assert.equal((sink.events[0] as { data: number[] }).data.length, 5002);
});

/** An inflater that answers each message with `answer(data)` after `steps` steps. */
function fakeInflater(
  answer: (data: Uint8Array) => Uint8Array | number,
  steps = 1,
): MessageInflater & { calls: number } {
  let data: Uint8Array = new Uint8Array(0);
  let left = 0;
  return {
    calls: 0,
    held: 0,
    begin(d) {
      data = d;
      left = steps;
    },
    step() {
      this.calls++;
      return --left > 0 ? null : answer(data);
    },
  };
}

Deno.test("RFC 7692 §6 RSV1 marks a compressed message only when the extension is negotiated", () => {
  const inflater = fakeInflater((data) =>
    data.length > 3 ? CLOSE_CODE.MESSAGE_TOO_BIG : Uint8Array.from([...data].reverse())
  );
  const events = receive(
    concat(
      clientFrame(TEXT, "abc", { rsv: 0x40 }),
      clientFrame(TEXT, "xyz"),
      clientFrame(TEXT, "abcd", { rsv: 0x40 }),
    ),
    { inflater },
  );
  assert.deepEqual(events, [{ message: "text", data: "cba" }, { message: "text", data: "xyz" }, {
    fail: 1009,
  }]);
  // RSV1 on a continuation or a control frame is a protocol error even then.
  const continuation = concat(
    clientFrame(TEXT, "a", { fin: false, rsv: 0x40 }),
    clientFrame(CONTINUATION, "b", { rsv: 0x40 }),
  );
  assert.deepEqual(receive(continuation, { inflater }), [{ fail: 1002 }]);
  assert.deepEqual(receive(clientFrame(PING, "a", { rsv: 0x40 }), { inflater }), [{ fail: 1002 }]);
  // Inflated text is validated too.
  const bad = fakeInflater(() => new Uint8Array([0xff]));
  assert.deepEqual(receive(clientFrame(TEXT, "a", { rsv: 0x40 }), { inflater: bad }), [{ fail: 1007 }]);
});

Deno.test("RFC 7692 a message that inflates in several steps holds later input until resume()", () => {
  const inflater = fakeInflater((data) => data, 3);
  const sink = new RecordingSink();
  const receiver = new Receiver(sink, { inflater });
  const first = clientFrame(BINARY, new Uint8Array([1, 2]), { rsv: 0x40 });
  const input = concat(first, clientFrame(BINARY, new Uint8Array([3])));
  const consumed = receiver.push(input);
  assert.equal(consumed, first.length, "stops after the compressed message");
  assert.ok(receiver.busy);
  assert.deepEqual(sink.events, []);
  receiver.resume();
  assert.ok(receiver.busy, "second step of three");
  receiver.resume();
  assert.ok(!receiver.busy);
  assert.equal(receiver.push(input, consumed), input.length - consumed);
  assert.deepEqual(sink.events, [{ message: "binary", data: [1, 2] }, { message: "binary", data: [3] }]);
  assert.equal(inflater.calls, 3);
});

Deno.test("§10.4 a head claiming a huge frame reserves only the bytes that arrive, not the claim", () => {
  const sink = new RecordingSink();
  const receiver = new Receiver(sink, { maxMessageSize: 2 ** 30 });
  // A head claiming 1 GiB, then 10 bytes of payload: memory follows the 10 bytes.
  receiver.push(clientFrame(BINARY, new Uint8Array(10), { claimedLength: 2 ** 30 }));
  assert.deepEqual(sink.events, []);
  assert.ok(receiver.heldBytes <= 64 * 1024, `held ${receiver.heldBytes} bytes for 10 received`);
  // A continuation's claim does not reserve either.
  const second = new Receiver(sink, { maxMessageSize: 2 ** 30 });
  second.push(clientFrame(BINARY, new Uint8Array(10), { fin: false }));
  second.push(clientFrame(CONTINUATION, new Uint8Array(10), { claimedLength: 2 ** 29 }));
  assert.ok(second.heldBytes <= 64 * 1024, `held ${second.heldBytes} bytes for 20 received`);
});

Deno.test("§10.4 a message arriving in pieces grows to its exact size and is delivered whole", () => {
  const data = new Uint8Array(300_000).map((_, i) => i * 31);
  const frame = clientFrame(BINARY, data);
  const sink = new RecordingSink();
  const receiver = new Receiver(sink);
  for (let at = 0; at < frame.length; at += 7000) receiver.push(frame.subarray(at, at + 7000));
  assert.equal(sink.events.length, 1);
  assert.deepEqual((sink.events[0] as { data: number[] }).data, [...data]);
});

Deno.test("maxMessageSize must be an integer up to MAX_MESSAGE_LIMIT (1 GiB)", () => {
  for (const bad of [Infinity, 2 ** 30 + 1, 2 ** 40, -1, 1.5, NaN]) {
    assert.throws(() => new Receiver(new RecordingSink(), { maxMessageSize: bad }), RangeError, String(bad));
  }
  assert.equal(MAX_MESSAGE_LIMIT, 2 ** 30);
  new Receiver(new RecordingSink(), { maxMessageSize: MAX_MESSAGE_LIMIT });
});

Deno.test("§5.2 a 64-bit length of 2^63-1 (top bit clear) is too big (1009), not a protocol error", () => {
  const head = [0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4];
  assert.deepEqual(receive(Uint8Array.from(head)), [{ fail: CLOSE_CODE.MESSAGE_TOO_BIG }]);
  head[2] = 0x80; // 2^63: the top bit set
  head.splice(3, 7, 0, 0, 0, 0, 0, 0, 0);
  assert.deepEqual(receive(Uint8Array.from(head)), [{ fail: CLOSE_CODE.PROTOCOL_ERROR }]);
});

Deno.test("messages being assembled are charged to a budget all receivers share; past it, 1013", () => {
  const budget: MessageBudget = { used: 0, limit: 90_000 };
  const a = new RecordingSink(), b = new RecordingSink();
  const ra = new Receiver(a, { budget }), rb = new Receiver(b, { budget });
  const big = clientFrame(BINARY, new Uint8Array(60_000));
  ra.push(big.subarray(0, 50_000));
  assert.ok(budget.used >= 49_992 && budget.used <= 60_000, `used ${budget.used}`);
  rb.push(big.subarray(0, 50_000));
  assert.deepEqual(b.events, [{ fail: CLOSE_CODE.TRY_AGAIN_LATER }]);
  ra.push(big.subarray(50_000));
  assert.equal(a.events.length, 1);
  assert.equal(budget.used, 0, "a delivered message is no longer charged");
  // A receiver stopped in the middle of a message gives its bytes back.
  const rc = new Receiver(new RecordingSink(), { budget });
  rc.push(big.subarray(0, 30_000));
  assert.ok(budget.used > 0);
  rc.stop();
  assert.equal(budget.used, 0);
});

Deno.test("a compressed message's inflated bytes are charged to the budget as they come out", () => {
  const budget: MessageBudget = { used: 0, limit: 3 * INFLATE_STEP };
  let held = 0;
  const inflater: MessageInflater = {
    get held() {
      return held;
    },
    begin() {
      held = 0;
    },
    step(stepBudget) {
      held += stepBudget; // a bomb: each step makes a full budget's worth, never done
      return null;
    },
  };
  const sink = new RecordingSink();
  const receiver = new Receiver(sink, { inflater, budget });
  receiver.push(clientFrame(BINARY, new Uint8Array(10), { rsv: 0x40 }));
  for (let i = 0; i < 10 && receiver.busy; i++) receiver.resume();
  assert.deepEqual(sink.events, [{ fail: CLOSE_CODE.TRY_AGAIN_LATER }]);
  assert.equal(budget.used, 0);
});

Deno.test("an inflater that cannot begin (zlib out of memory, no libz) fails with 1011", () => {
  const inflater: MessageInflater = {
    held: 0,
    begin() {
      throw new Error("inflateInit2 failed (-4)");
    },
    step: () => null,
  };
  const sink = new RecordingSink();
  new Receiver(sink, { inflater }).push(clientFrame(TEXT, "abc", { rsv: 0x40 }));
  assert.deepEqual(sink.events, [{ fail: CLOSE_CODE.INTERNAL_ERROR }]);
});
