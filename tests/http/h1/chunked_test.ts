// ChunkedReader (RFC 9112 §7.1): extensions, trailers, every split, and its limits.

import assert from "node:assert/strict";
import { ChunkedReader } from "../../../http/h1/chunked.ts";
import { HttpError } from "../../../http/status.ts";

const bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const text = (b: Uint8Array) => String.fromCharCode(...b);

/** Feeds `input` in pieces cut at `splits`; returns consumed bytes and the body, or the status. */
function decode(
  input: string,
  splits: number[] = [],
  maxBody = 1 << 20,
): { used: number; body: string } | number {
  const data = bytes(input);
  const decoder = new ChunkedReader(maxBody);
  const received: number[] = [];
  const sink = {
    onBodyData: (buf: Uint8Array, s: number, e: number) => received.push(...buf.subarray(s, e)),
  };
  let p = 0;
  try {
    for (const end of [...splits, data.length]) {
      while (p < end && !decoder.done) p += decoder.feed(data, p, end, sink);
    }
  } catch (e) {
    if (e instanceof HttpError) return e.status;
    throw e;
  }
  return decoder.done ? { used: p, body: text(Uint8Array.from(received)) } : -1;
}

Deno.test("ChunkedReader decodes extensions, trailers and upper-case hex, at every split", () => {
  const input = "5;name=value\r\nhello\r\nA \t; x\r\n0123456789\r\n0 \r\nTrailer: yes\r\nX:1\t\r\n\r\n";
  const whole = decode(input + "GET / HTTP/1.1");
  assert.deepEqual(
    whole,
    { used: input.length, body: "hello0123456789" },
    "stops where the next request starts",
  );
  for (let split = 0; split <= input.length; split++) {
    assert.deepEqual(
      decode(input, [split]),
      { used: input.length, body: "hello0123456789" },
      `split ${split}`,
    );
  }
  const oneByOne = Array.from({ length: input.length }, (_, i) => i);
  assert.deepEqual(decode(input, oneByOne), { used: input.length, body: "hello0123456789" });
});

Deno.test("ChunkedReader refuses malformed framing and enforces its limits", () => {
  const cases: [string, number, number?][] = [
    ["5\r\nhelloX\r\n0\r\n\r\n", 400], // no CRLF after the data
    ["g\r\n", 400], // not hex
    ["\r\n", 400], // empty size
    ["5\nhello\r\n0\r\n\r\n", 400], // bare LF
    ["1;a\0b\r\nx\r\n0\r\n\r\n", 400], // control character in an extension
    ["10000000000000\r\n", 413], // 14 hex digits
    ["400\r\n", 413, 1000], // 1024 bytes against a 1000-byte limit
    [`0\r\nX: ${"t".repeat(9000)}\r\n\r\n`, 431], // trailer section beyond the head limit
    ["3 3\r\nabc\r\n0\r\n\r\n", 400], // whitespace after a size must lead to ";" (RFC 9112 §7.1.1)
    ["3\t4\r\nabc\r\n0\r\n\r\n", 400],
    ["0\r\nno colon here\r\n\r\n", 400], // a trailer line is a field line (RFC 9112 §7.1.2)
    ["0\r\n: empty name\r\n\r\n", 400],
    ["0\r\nX : space before colon\r\n\r\n", 400],
    ["0\r\nX: a\x01b\r\n\r\n", 400], // control character in a trailer value
  ];
  for (const [input, status, maxBody] of cases) {
    assert.equal(decode(input, [], maxBody), status, JSON.stringify(input.slice(0, 40)));
  }
});

Deno.test("ChunkedReader passes small chunks of one feed on as one span, large ones as their own, in order", () => {
  const big = "x".repeat(5000);
  const input = `${"1\r\na\r\n".repeat(3000)}${big.length.toString(16)}\r\n${big}\r\n${
    "2\r\nbc\r\n".repeat(10)
  }0\r\n\r\n`;
  const decoder = new ChunkedReader(1 << 20);
  const spans: string[] = [];
  const sink = {
    onBodyData: (buf: Uint8Array, s: number, e: number) => spans.push(text(buf.subarray(s, e))),
  };
  const data = bytes(input);
  assert.equal(decoder.feed(data, 0, data.length, sink), data.length);
  assert.equal(decoder.done, true);
  assert.deepEqual(spans, ["a".repeat(3000), big, "bc".repeat(10)], "three spans, not 3011");
});
