// The file cache's bounds: bytes of bodies and copies (oldest entries out first, with the routes
// to them), and the number and length of the request paths it remembers.

import assert from "node:assert/strict";
import {
  CACHE_REVALIDATE_MS,
  CACHE_TOTAL_MAX_BYTES,
  type CachedFile,
  describeRepresentation,
  FileCache,
  newEntry,
} from "../../../http/static/file_cache.ts";

function entry(key: string, bytes: number): CachedFile {
  const info = { size: bytes, mtimeMs: 1, ino: 1, isFile: true, isDirectory: false };
  const identity = describeRepresentation(
    { coding: null, info, size: bytes, body: new Uint8Array(bytes), name: key },
    () => ({ ok: [], notModified: [] }),
  );
  const described = newEntry(key, "text/plain", [], { sidecars: 0, copies: 0 });
  described.identity = identity;
  return described;
}

Deno.test("FileCache keeps its bytes under the bound, dropping the oldest entries and their routes", () => {
  const cache = new FileCache();
  const size = 4 * 1024 * 1024;
  const entries = Array.from({ length: 10 }, (_, i) => entry(`f${i}`, size));
  for (const [i, e] of entries.entries()) {
    cache.remember(e);
    cache.route(`/f${i}`, e);
    cache.route(`//f${i}`, e);
  }
  assert.ok(cache.bytes <= CACHE_TOTAL_MAX_BYTES, `${cache.bytes} bytes`);
  assert.equal(cache.get("f0"), undefined, "the oldest went first");
  assert.equal(entries[0]!.live, false);
  assert.equal(cache.fresh("/f0", 0), undefined, "and its routes with it");
  assert.equal(cache.fresh("//f9", 0), entries[9], "the newest stays, by every route");
  assert.equal(cache.fresh("/f9", CACHE_REVALIDATE_MS), undefined, "until it must be checked again");

  const before = cache.bytes;
  cache.charge(entries[9]!, 1000);
  assert.equal(cache.bytes, before + 1000, "a copy is charged to its entry");
  cache.charge(entries[0]!, 1000);
  assert.equal(cache.bytes, before + 1000, "a dropped entry's copy is not");
  cache.charge(entries[9]!, CACHE_TOTAL_MAX_BYTES);
  assert.ok(cache.bytes <= CACHE_TOTAL_MAX_BYTES);
  assert.equal(cache.get("f9"), undefined, "an entry grown past the bound goes too");
});

Deno.test("FileCache remembers a bounded number of short routes", () => {
  const cache = new FileCache();
  const e = entry("a", 10);
  cache.remember(e);
  cache.route("/" + "x".repeat(2000), e);
  assert.equal(e.routes.size, 0, "a long path is not remembered");
  for (let i = 0; i < 5000; i++) cache.route(`/a?${i}`, e);
  assert.equal(e.routes.size, 4096);
  assert.equal(cache.fresh("/a?0", 0), undefined, "the oldest routes are forgotten");
  assert.equal(cache.fresh("/a?4999", 0), e);
  cache.forgetRoute("/a?4999");
  assert.equal(cache.fresh("/a?4999", 0), undefined);
  assert.equal(e.routes.size, 4095);
});
