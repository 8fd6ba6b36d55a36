// The accept value (RFC 6455 §4.2.2) and the SHA-1 under it: RFC 6455's own example, RFC 3174's
// test vectors, and node:crypto's digest for every length from 0 to 300 bytes (padding edges at
// 55, 56, 63 and 64 included).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { acceptValue, sha1 } from "../../../http/ws/accept.ts";

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("§1.3 the accept value of RFC 6455's example key", () => {
  assert.equal(acceptValue("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("sha1() gives RFC 3174's test vectors", () => {
  const text = (s: string) => new TextEncoder().encode(s);
  assert.equal(hex(sha1(text("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  assert.equal(
    hex(sha1(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
    "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
  );
  assert.equal(hex(sha1(new Uint8Array(0))), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
});

Deno.test("sha1() agrees with node:crypto for every length from 0 to 300 bytes", () => {
  const data = new Uint8Array(300);
  crypto.getRandomValues(data);
  for (let n = 0; n <= data.length; n++) {
    const input = data.subarray(0, n);
    assert.equal(hex(sha1(input)), createHash("sha1").update(input).digest("hex"), `${n} bytes`);
  }
});
