// Close bodies the server sends (RFC 6455 §5.5.1) and the application's close() arguments (WHATWG).

import assert from "node:assert/strict";
import { checkAppClose, CLOSE_REFUSAL, encodeCloseBody, parseCloseBody } from "../../../http/ws/close.ts";
import { encodeFrame, writeFrameHead } from "../../../http/ws/frame.ts";

Deno.test("§5.5.1 a close body the server sends reads back as the same code and reason", () => {
  assert.deepEqual(parseCloseBody(encodeCloseBody(1001, "going ✓")), { code: 1001, reason: "going ✓" });
  assert.deepEqual([...encodeCloseBody(1005)], [], "1005 means no body");
});

Deno.test("§5.5 a close reason is cut to 123 bytes at a character boundary", () => {
  const body = encodeCloseBody(1000, "€".repeat(50)); // 150 bytes as UTF-8
  assert.equal(body.length, 2 + 123);
  assert.deepEqual(parseCloseBody(body), { code: 1000, reason: "€".repeat(41) });
});

Deno.test("close(code, reason) allows 1000 and 3000-4999, and reasons up to 123 bytes", () => {
  assert.equal(checkAppClose(undefined, undefined), null);
  assert.equal(checkAppClose(1000, "x".repeat(123)), null);
  assert.equal(checkAppClose(3000, ""), null);
  assert.equal(checkAppClose(4999, ""), null);
  for (const code of [999, 1001, 1005, 1011, 2999, 5000]) {
    assert.equal(checkAppClose(code, ""), CLOSE_REFUSAL.CODE);
  }
  assert.equal(checkAppClose(1000, "x".repeat(124)), CLOSE_REFUSAL.REASON);
  assert.equal(checkAppClose(1000, "é".repeat(62)), CLOSE_REFUSAL.REASON, "124 bytes as UTF-8");
});

Deno.test("§5.2 server frame heads use the minimal length form and no mask", () => {
  const head = new Uint8Array(10);
  assert.deepEqual([...head.subarray(0, writeFrameHead(head, 0, 0x82, 125))], [0x82, 125]);
  assert.deepEqual([...head.subarray(0, writeFrameHead(head, 0, 0x82, 126))], [0x82, 126, 0, 126]);
  assert.deepEqual([...head.subarray(0, writeFrameHead(head, 0, 0x82, 65535))], [0x82, 126, 255, 255]);
  assert.deepEqual([...head.subarray(0, writeFrameHead(head, 0, 0x82, 65536))], [
    0x82,
    127,
    0,
    0,
    0,
    0,
    0,
    1,
    0,
    0,
  ]);
  assert.deepEqual(
    [...head.subarray(0, writeFrameHead(head, 0, 0x02, 2 ** 40 + 5))],
    [0x02, 127, 0, 0, 1, 0, 0, 0, 0, 5],
  );
  assert.deepEqual([...encodeFrame(0x89, new Uint8Array([7, 8]))], [0x89, 2, 7, 8]);
});

Deno.test("WHATWG a close reason is UTF-8 decoded without BOM: a leading U+FEFF is kept", () => {
  assert.deepEqual(parseCloseBody(encodeCloseBody(1000, "\uFEFFbye")), { code: 1000, reason: "\uFEFFbye" });
});
