// The compression worker: each coding's copy decompresses to the input, a failure rejects
// without ending the process, and disposing stops the worker (no thread is left running).

import assert from "node:assert/strict";
import { brotliDecompressSync, gunzipSync, zstdDecompressSync } from "node:zlib";
import { WorkerCompressor } from "../../../app/site/compressor.ts";
import { ALL_CODINGS } from "../../../http/negotiation.ts";

const INPUT = new TextEncoder().encode(
  Array.from({ length: 2000 }, (_, i) => `<li class="item">entry ${i}, ${i % 7 ? "odd" : "even"}</li>\n`)
    .join(""),
);

Deno.test("WorkerCompressor makes br, zstd and gzip copies that decompress to the input", async () => {
  using compressor = new WorkerCompressor();
  assert.equal(compressor.codings, ALL_CODINGS, "offers every coding, zstd included");
  const [br, zstd, gzip] = await Promise.all([
    compressor.compress("br", INPUT, true),
    compressor.compress("zstd", INPUT, true),
    compressor.compress("gzip", INPUT, false),
  ]);
  assert.deepEqual(new Uint8Array(brotliDecompressSync(br!)), INPUT);
  assert.deepEqual(new Uint8Array(zstdDecompressSync(zstd!)), INPUT);
  assert.deepEqual(new Uint8Array(gunzipSync(gzip!)), INPUT);
  for (const copy of [br!, zstd!, gzip!]) assert.ok(copy.length < INPUT.length / 4, `${copy.length} bytes`);
  assert.equal(compressor.pending, 0);
});

Deno.test("WorkerCompressor rejects a request it cannot do, and works on afterwards", async () => {
  using compressor = new WorkerCompressor();
  await assert.rejects(compressor.compress("deflate" as "gzip", INPUT, false));
  const gzip = await compressor.compress("gzip", INPUT, false);
  assert.deepEqual(new Uint8Array(gunzipSync(gzip!)), INPUT);
});

Deno.test("WorkerCompressor skips a queued file nobody wants any more, asking just before it starts", async () => {
  using compressor = new WorkerCompressor();
  const asked: string[] = [];
  let leftA = false;
  const first = compressor.compress("gzip", INPUT, false, () => (asked.push("first"), true));
  assert.deepEqual(asked, ["first"], "the worker is free: asked at once");
  const a = compressor.compress("br", INPUT, true, () => (asked.push("a"), !leftA));
  const b = compressor.compress("zstd", INPUT, true, () => (asked.push("b"), true));
  assert.equal(compressor.pending, 3);
  leftA = true; // a's client leaves while a waits behind the first
  assert.ok(await first instanceof Uint8Array);
  assert.equal(await a, null, "skipped");
  assert.deepEqual(new Uint8Array(zstdDecompressSync((await b)!)), INPUT);
  assert.deepEqual(asked, ["first", "a", "b"]);
  assert.deepEqual(compressor.counts, { started: 2, skipped: 1 });
  assert.equal(compressor.pending, 0);
});

Deno.test("disposing a WorkerCompressor rejects what is pending and stops its worker", async () => {
  const compressor = new WorkerCompressor();
  const pending = compressor.compress("br", INPUT, true);
  compressor[Symbol.dispose]();
  await assert.rejects(pending, /closed/);
  assert.equal(compressor.pending, 0);
});
