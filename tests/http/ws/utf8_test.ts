// Utf8Validator against the platform's strict decoder, on random and edge-case bytes, at every split.

import assert from "node:assert/strict";
import { isUtf8, Utf8Validator } from "../../../http/ws/utf8.ts";

const STRICT = new TextDecoder("utf-8", { fatal: true });

function strictlyValid(bytes: Uint8Array): boolean {
  try {
    STRICT.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

Deno.test("Utf8Validator agrees with a strict decoder on 20,000 random byte strings, cut at a random point", () => {
  const next = random(20);
  const interesting = [
    0x00,
    0x7f,
    0x80,
    0xbf,
    0xc0,
    0xc1,
    0xc2,
    0xdf,
    0xe0,
    0xed,
    0xef,
    0xf0,
    0xf4,
    0xf5,
    0xff,
    0x9f,
    0xa0,
    0x8f,
    0x90,
  ];
  let valid = 0;
  for (let n = 0; n < 20000; n++) {
    const bytes = Uint8Array.from(
      { length: 1 + Math.floor(next() * 8) },
      () => next() < 0.7 ? interesting[Math.floor(next() * interesting.length)]! : Math.floor(next() * 256),
    );
    const expected = strictlyValid(bytes);
    if (expected) valid++;
    assert.equal(isUtf8(bytes), expected, `${[...bytes].map((b) => b.toString(16))}`);
    const cut = Math.floor(next() * bytes.length);
    const v = new Utf8Validator();
    assert.equal(v.push(bytes, 0, cut) && v.push(bytes, cut, bytes.length) && v.complete, expected);
  }
  assert.ok(valid > 500, `enough valid cases (${valid})`);
});

Deno.test("Utf8Validator accepts the edges of every range and rejects just past them", () => {
  for (
    const ok of [
      "\u0000",
      "\u007f",
      "\u0080",
      "\u07ff",
      "\u0800",
      "\ud7ff",
      "\ue000",
      "\uffff",
      "\u{10000}",
      "\u{10ffff}",
    ]
  ) {
    assert.ok(isUtf8(new TextEncoder().encode(ok)), JSON.stringify(ok));
  }
  for (
    const bad of [
      [0xc0, 0xaf],
      [0xe0, 0x80, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xed, 0xbf, 0xbf],
      [0xf0, 0x80, 0x80, 0xaf],
      [0xf4, 0x90, 0x80, 0x80],
      [0xf5, 0x80, 0x80, 0x80],
      [0xe2, 0x82],
    ]
  ) {
    assert.ok(!isUtf8(new Uint8Array(bad)), `${bad}`);
  }
});
