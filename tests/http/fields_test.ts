// Pre-encoded fields: the lines HTTP/1.1 writes as is, and the pairs read back from them.

import assert from "node:assert/strict";
import { decodeFields, encodeFields } from "../../http/fields.ts";

Deno.test("encodeFields() writes Name: value lines that decodeFields() reads back as pairs", () => {
  const fields = ["Content-Type", "text/html; charset=utf-8", "X-Empty", "", "Caf\u00e9", "na\u00efve: yes"];
  const bytes = encodeFields(fields);
  assert.equal(
    new TextDecoder("latin1").decode(bytes),
    "Content-Type: text/html; charset=utf-8\r\nX-Empty: \r\nCaf\u00e9: na\u00efve: yes\r\n",
  );
  assert.deepEqual(decodeFields(bytes), fields);
  assert.deepEqual(decodeFields(encodeFields([])), []);
});

Deno.test("encodeFields() refuses a field that would split the response or is not Latin-1", () => {
  for (const bad of [["X", "a\r\nb"], ["X\n", "a"], ["X", "\u0000"], ["X", "\u20ac"]]) {
    assert.throws(() => encodeFields(bad), TypeError, JSON.stringify(bad));
  }
});
