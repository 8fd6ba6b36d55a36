// permessage-deflate costs that decide its defaults: CPU per 4 KiB message with and without
// context takeover, zlib memory per connection that keeps its context, the longest single
// compression call (one 64 KiB slice), and the time to inflate a bomb up to the message limit.
// Run: deno run -A scripts/ws_deflate_cost.ts

import { Z, ZRUN, ZStream } from "../ffi/zlib.ts";

/** This process's resident set size in bytes (/proc/self/statm, pages of 4 KiB). */
function readRss(): number {
  return Number(Deno.readTextFileSync("/proc/self/statm").split(" ")[1]) * 4096;
}

const ENC = new TextEncoder();
/** A 4 KiB chat-like JSON message: repetitive keys, varying values. */
function message(i: number): Uint8Array {
  const items = [];
  for (let k = 0; items.join(",").length < 4000; k++) {
    items.push(
      JSON.stringify({
        user: `user${(i * 7 + k) % 97}`,
        text: `message ${i}-${k} about topic ${k % 13}`,
        at: 1700000000000 + i * 1000 + k,
      }),
    );
  }
  return ENC.encode(`[${items.join(",")}]`.slice(0, 4096));
}

function perMessage(
  level: number,
  takeover: boolean,
  memLevel = 8,
  bits = 15,
): { us: number; ratio: number } {
  const messages = Array.from({ length: 200 }, (_, i) => message(i));
  const stream = ZStream.deflater(bits, level, memLevel);
  let inBytes = 0, outBytes = 0;
  const rounds = 3000;
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) {
    const out: Uint8Array[] = [];
    const m = messages[i % messages.length]!;
    outBytes += stream.run(m, Z.SYNC_FLUSH, out) - 4;
    inBytes += m.length;
    if (!takeover) stream.reset();
  }
  const us = (performance.now() - t0) * 1000 / rounds;
  stream.end();
  return { us, ratio: outBytes / inBytes };
}

for (const level of [1, 6]) {
  for (const takeover of [false, true]) {
    const { us, ratio } = perMessage(level, takeover);
    console.log(
      `level ${level} ${takeover ? "with" : "without"} context takeover: ${
        us.toFixed(1)
      } µs per 4 KiB message, ${(ratio * 100).toFixed(1)}% of its size`,
    );
  }
}

// Memory: 1,000 connections that keep their context (a deflater and an inflater each, used once).
{
  const before = readRss();
  const streams: ZStream[] = [];
  for (let i = 0; i < 1000; i++) {
    const d = ZStream.deflater(15, 1, 8);
    const inflater = ZStream.inflater(15);
    const out: Uint8Array[] = [];
    d.run(message(i), Z.SYNC_FLUSH, out);
    inflater.run(out[0]!, Z.SYNC_FLUSH, []);
    streams.push(d, inflater);
  }
  const after = readRss();
  console.log(
    `context takeover: +${
      ((after - before) / 1000 / 1024).toFixed(0)
    } KiB RSS per connection (deflater 15/8 + inflater 15)`,
  );
  for (const s of streams) s.end();
}

// The longest single call: one 64 KiB slice of text, and of random bytes.
for (const level of [1, 6]) {
  const text = ENC.encode(
    Array.from({ length: 800 }, (_, i) => new TextDecoder().decode(message(i)).slice(0, 82)).join(""),
  );
  const random = crypto.getRandomValues(new Uint8Array(65536));
  const stream = ZStream.deflater(15, level, 8);
  let worst = 0;
  for (let i = 0; i < 50; i++) {
    for (const input of [text.subarray(0, 65536), random]) {
      const t0 = performance.now();
      stream.run(input, Z.SYNC_FLUSH, []);
      worst = Math.max(worst, performance.now() - t0);
    }
  }
  stream.end();
  console.log(`level ${level}: longest deflate of one 64 KiB slice ${(worst * 1000).toFixed(0)} µs`);
}

// A deflate bomb: zeros inflated until the 64 MiB limit refuses them.
{
  const zeros = ZStream.deflater(15, 9, 9);
  const bomb: Uint8Array[] = [];
  zeros.run(new Uint8Array(80 << 20), Z.SYNC_FLUSH, bomb);
  zeros.end();
  const compressed = bomb.reduce((n, b) => n + b.length, 0);
  const joined = new Uint8Array(compressed);
  let at = 0;
  for (const b of bomb) (joined.set(b, at), at += b.length);
  const inflater = ZStream.inflater(15);
  const t0 = performance.now();
  const n = inflater.run(joined, Z.SYNC_FLUSH, [], 64 << 20);
  console.log(
    `bomb: ${compressed} bytes inflate toward 80 MiB; refused at 64 MiB (${n === ZRUN.TOO_BIG}) after ${
      (performance.now() - t0).toFixed(1)
    } ms`,
  );
  inflater.end();
}
