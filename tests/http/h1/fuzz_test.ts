// Seeded fuzzing of the parsers: random bytes and mutations of valid requests. Every verdict is
// complete, incomplete or an HttpError with a 4xx/5xx status, and feeding a prefix never
// contradicts the verdict on the whole input. Bounded in CI; RAWSERVE_FUZZ_SECONDS runs longer.

import assert from "node:assert/strict";
import { INCOMPLETE, parseRequestHead } from "../../../http/h1/parser.ts";
import { RequestHead } from "../../../http/request_head.ts";
import { ChunkedReader } from "../../../http/h1/chunked.ts";
import { HttpError } from "../../../http/status.ts";

const SECONDS = Number(Deno.env.get("RAWSERVE_FUZZ_SECONDS") ?? 1.5);
const SEED = Number(Deno.env.get("RAWSERVE_FUZZ_SEED") ?? 20261124);

/** mulberry32: small, fast, seeded. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CORPUS = [
  "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
  "POST /p?q=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
  "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
  "GET http://h:1/p HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nUser-Agent: fuzz\r\n\r\n",
  "OPTIONS * HTTP/1.0\r\n\r\n",
  "\r\nHEAD /a%20b HTTP/1.1\r\nhost: a\r\nX-Long: " + "v".repeat(300) + "\r\n\r\n",
].map((s) => Uint8Array.from(s, (c) => c.charCodeAt(0)));
const INTERESTING = [0, 9, 10, 13, 32, 58, 0x7f, 0x80, 0xff, 44, 47];

function mutate(rand: () => number, input: Uint8Array): Uint8Array {
  const bytes = [...input];
  const edits = 1 + Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (bytes.length + 1));
    const pick = INTERESTING[Math.floor(rand() * INTERESTING.length)]!;
    switch (Math.floor(rand() * 6)) {
      case 0:
        bytes[at] = pick;
        break;
      case 1:
        bytes.splice(at, 0, pick);
        break;
      case 2:
        bytes.splice(at, 1 + Math.floor(rand() * 8));
        break;
      case 3: { // duplicate a line
        const text = String.fromCharCode(...bytes);
        const lines = text.split("\r\n");
        const i = Math.floor(rand() * lines.length);
        lines.splice(i, 0, lines[i] ?? "");
        return Uint8Array.from(lines.join("\r\n"), (c) => c.charCodeAt(0) & 0xff);
      }
      case 4:
        bytes[at] = (bytes[at] ?? 65) ^ 0x20; // flip case
        break;
      default:
        bytes.length = Math.min(bytes.length, at); // truncate
    }
  }
  return Uint8Array.from(bytes);
}

type Verdict = number | { status: number };

function verdict(input: Uint8Array, end = input.length): Verdict {
  try {
    const n = parseRequestHead(input, 0, end, new RequestHead());
    assert.ok(n === INCOMPLETE || (n > 0 && n <= end), `consumed ${n} of ${end}`);
    return n;
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    assert.ok(e.status >= 400 && e.status <= 599, `status ${e.status}`);
    return { status: e.status };
  }
}

function checkPrefixes(input: Uint8Array, whole: Verdict): void {
  const step = Math.max(1, Math.floor(input.length / 40));
  for (let end = 0; end < input.length; end += step) {
    const v = verdict(input, end);
    if (v === INCOMPLETE) continue;
    if (typeof whole === "number" && typeof v === "number") assert.equal(v, whole, `prefix of ${end}`);
    else assert.deepEqual(v, whole, `prefix of ${end} decided differently from the whole`);
  }
}

Deno.test(`parseRequestHead() survives random and mutated input (seed ${SEED})`, () => {
  const rand = prng(SEED);
  const stop = performance.now() + SECONDS * 1000;
  let cases = 0;
  while (performance.now() < stop) {
    const input = rand() < 0.2
      ? Uint8Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256))
      : mutate(rand, CORPUS[Math.floor(rand() * CORPUS.length)]!);
    try {
      checkPrefixes(input, verdict(input));
    } catch (e) {
      throw new Error(`seed ${SEED}, case ${cases}, input ${JSON.stringify(String.fromCharCode(...input))}`, {
        cause: e,
      });
    }
    cases++;
  }
  assert.ok(cases > 100, `only ${cases} cases ran`);
});

function decode(body: Uint8Array, splits: number[]): string | number {
  const decoder = new ChunkedReader(1 << 16);
  let data = "";
  const sink = {
    onBodyData: (buf: Uint8Array, s: number, e: number) => data += String.fromCharCode(...buf.subarray(s, e)),
  };
  let p = 0;
  try {
    for (const end of [...splits, body.length]) {
      while (p < end && !decoder.done) p += decoder.feed(body, p, end, sink);
      if (decoder.done) break;
    }
    return decoder.done ? `${p}:${data}` : "incomplete";
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    return e.status;
  }
}

Deno.test(`ChunkedReader gives the same verdict however the input is split (seed ${SEED})`, () => {
  const rand = prng(SEED + 1);
  const base = Uint8Array.from(
    "5;a=b\r\nhello\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\nNEXT",
    (c) => c.charCodeAt(0),
  );
  const stop = performance.now() + SECONDS * 500;
  let cases = 0;
  while (performance.now() < stop) {
    const input = rand() < 0.5 ? base : mutate(rand, base);
    const whole = decode(input, []);
    const splits = Array.from({ length: 3 }, () => Math.floor(rand() * input.length)).sort((a, b) => a - b);
    assert.equal(
      decode(input, splits),
      whole,
      `splits ${splits} of ${JSON.stringify(String.fromCharCode(...input))}`,
    );
    cases++;
  }
  assert.equal(decode(base, []), `${base.length - 4}:hello0123456789`, "stops before the next request");
  assert.ok(cases > 100);
});
