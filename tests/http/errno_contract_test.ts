// http/ imports nothing below it, so the errno numbers its contracts carry (what a Transport and a
// StaticFs return as -errno) are written there again: they must be Linux's, as ffi/ has them.

import assert from "node:assert/strict";
import * as ERRNO from "../../ffi/errno_numbers.ts";
import { IO } from "../../http/types.ts";
import { FS_ERRNO } from "../../http/static/types.ts";

Deno.test("the errno numbers of http/'s contracts are Linux's, as ffi/errno_numbers.ts has them", () => {
  const linux = ERRNO as Record<string, number>;
  for (const [name, value] of Object.entries(IO)) assert.equal(value, -linux[name]!, `IO.${name}`);
  for (const [name, value] of Object.entries(FS_ERRNO)) assert.equal(value, linux[name], `FS_ERRNO.${name}`);
  assert.ok(Object.keys(IO).length >= 3 && Object.keys(FS_ERRNO).length >= 9, "the tables were read");
});
