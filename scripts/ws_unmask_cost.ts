// The receiving cost of one masked binary frame: Receiver.push() of a 64-byte and a 4 KiB frame
// read from an odd offset, message delivered (its buffer allocated), in µs per frame.
// Run: deno run scripts/ws_unmask_cost.ts   (a few seconds; pin it with taskset -c 0 for steadier figures)

import { Receiver } from "../http/ws/receiver.ts";

const MASK = [0x37, 0xfa, 0x21, 0x3d];
const ROUNDS = 300_000;

/** A masked binary frame of `length` bytes starting at offset 3 of the returned buffer. */
function frameAtOddOffset(length: number): Uint8Array {
  const head = length < 126 ? [0x82, 0x80 | length] : [0x82, 0x80 | 126, length >>> 8, length & 0xff];
  const buffer = new Uint8Array(3 + head.length + 4 + length);
  buffer.set([...head, ...MASK], 3);
  const at = 3 + head.length + 4;
  for (let i = 0; i < length; i++) buffer[at + i] = ((i * 13) & 0xff) ^ MASK[i & 3]!;
  return buffer;
}

for (const length of (Deno.args.length ? Deno.args.map(Number) : [64, 4096])) {
  const buffer = frameAtOddOffset(length);
  let last: Uint8Array = new Uint8Array(0);
  const receiver = new Receiver({
    message: (_text, data) => last = data,
    ping() {},
    pong() {},
    close() {},
    fail: (code, reason) => {
      throw new Error(`${code} ${reason}`);
    },
  });
  for (let i = 0; i < ROUNDS / 10; i++) receiver.push(buffer, 3); // warm up: optimized code
  const t0 = performance.now();
  for (let i = 0; i < ROUNDS; i++) receiver.push(buffer, 3);
  const us = (performance.now() - t0) * 1000 / ROUNDS;
  for (let i = 0; i < length; i++) if (last[i] !== ((i * 13) & 0xff)) throw new Error(`byte ${i} is wrong`);
  console.log(`${length} bytes: ${us.toFixed(2)} µs per frame`);
}
