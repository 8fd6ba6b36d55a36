// The descriptors of large files kept open between responses (http/static/open_files.ts): one open
// for many requests, a replaced file sent from its new descriptor, a bound, descriptors given back
// under pressure (EMFILE, the server's budget) and closed only after their last response.

import assert from "node:assert/strict";
import { createStaticHandler } from "../../../http/static/static_handler.ts";
import { MAX_OPEN_FILES, OpenFiles } from "../../../http/static/open_files.ts";
import { CACHE_REVALIDATE_MS } from "../../../http/static/file_cache.ts";
import { batchEnd, batchStart } from "../../../http/clock.ts";
import type { FileBody, HttpResponse } from "../../../http/types.ts";
import { field, type MemFile, memoryFs, request } from "./_memory_fs.ts";

const BIG = new Uint8Array(200 * 1024).fill(7);
const T0 = 1_700_000_000_000;

/** A handler over `files` keeping large files open, and a GET returning the file it sends. */
function site(files: Record<string, MemFile>) {
  const fs = memoryFs(files);
  const openFiles = new OpenFiles(fs.close);
  const handler = createStaticHandler({ fs, listing: false, dotfiles: false, openFiles });
  const get = async (path: string, headers: string[] = []) => {
    const response = (await handler(request("GET", path, headers))) as HttpResponse;
    return { response, file: response.body as FileBody };
  };
  return { fs, openFiles, get };
}

Deno.test("many requests for one large file open it once, and its descriptor closes after the last response", async () => {
  const { fs, openFiles, get } = site({ "big.bin": { data: BIG, mtimeMs: T0, ino: 6 } });
  batchStart(1_000_000, Date.now());
  try {
    const sent: FileBody[] = [];
    for (let i = 0; i < 100; i++) sent.push((await get("/big.bin")).file);
    assert.equal(fs.openCount + fs.closes, 1, "one open for 100 requests");
    assert.ok(sent.every((f) => f.fileFd === sent[0]!.fileFd && f.length === BIG.length));
    assert.equal(openFiles.held, 1);
    for (const f of sent) f.close();
    assert.equal(fs.openCount, 1, "kept open once no response sends it");
    const again = (await get("/big.bin")).file;
    assert.equal(fs.openCount + fs.closes, 1, "still the same open");
    openFiles[Symbol.dispose](); // shutdown: let go, but a response still sends it
    assert.equal(openFiles.held, 0);
    assert.equal(fs.openCount, 1, "not closed under the response that sends it");
    again.close();
    assert.equal(fs.openCount, 0, "closed with its last response");
  } finally {
    batchEnd();
  }
});

Deno.test("a large file replaced on disk is sent from a new descriptor once revalidated; the old one closes", async () => {
  const files = { "big.bin": { data: BIG, mtimeMs: T0, ino: 6 } };
  const { fs, openFiles, get } = site(files);
  batchStart(1_000_000, Date.now());
  try {
    const old = await get("/big.bin");
    old.file.close();
    files["big.bin"] = { data: new Uint8Array(300 * 1024), mtimeMs: T0 + 1000, ino: 7 }; // renamed over it
    batchStart(1_000_000 + CACHE_REVALIDATE_MS, Date.now());
    const fresh = await get("/big.bin");
    assert.notEqual(field(fresh.response, "ETag"), field(old.response, "ETag"));
    assert.equal(fresh.file.length, 300 * 1024);
    assert.notEqual(fresh.file.fileFd, old.file.fileFd, "a new descriptor");
    assert.equal(fs.closes, 1, "the old version's descriptor is closed");
    assert.equal(openFiles.held, 1);
    // Revalidated again with no change: the new open is closed, the kept descriptor sent.
    batchStart(1_000_000 + 2 * CACHE_REVALIDATE_MS, Date.now());
    const same = await get("/big.bin");
    assert.equal(same.file.fileFd, fresh.file.fileFd);
    assert.equal(fs.closes, 2);
    fresh.file.close();
    same.file.close();
    openFiles[Symbol.dispose]();
    assert.equal(fs.openCount, 0);
  } finally {
    batchEnd();
  }
});

Deno.test("kept descriptors are bounded by MAX_OPEN_FILES, and 304s and ranges give theirs back", async () => {
  const files: Record<string, MemFile> = {};
  for (let i = 0; i <= MAX_OPEN_FILES; i++) files[`f${i}.bin`] = { data: BIG, mtimeMs: T0, ino: 100 + i };
  const { fs, openFiles, get } = site(files);
  for (let i = 0; i <= MAX_OPEN_FILES; i++) (await get(`/f${i}.bin`)).file.close();
  assert.equal(openFiles.held, MAX_OPEN_FILES);
  assert.equal(fs.openCount, MAX_OPEN_FILES, "the oldest was closed");
  const { response } = await get(`/f${MAX_OPEN_FILES}.bin`);
  const etag = field(response, "ETag")!;
  (response.body as FileBody).close();
  assert.equal((await get(`/f${MAX_OPEN_FILES}.bin`, ["if-none-match", etag])).response.status, 304);
  const range = await get(`/f${MAX_OPEN_FILES}.bin`, ["range", "bytes=0-9"]);
  assert.equal(range.response.status, 206);
  range.file.close();
  assert.equal((await get(`/f${MAX_OPEN_FILES}.bin`, ["range", "bytes=999999-"])).response.status, 416);
  assert.equal(fs.openCount, MAX_OPEN_FILES, "nothing leaked by 304, 206 or 416");
  openFiles[Symbol.dispose]();
  assert.equal(fs.openCount, 0);
});

Deno.test("out of descriptors (EMFILE), the handler closes the kept ones and opens again", async () => {
  const files = { "a.bin": { data: BIG, mtimeMs: T0, ino: 1 }, "b.bin": { data: BIG, mtimeMs: T0, ino: 2 } };
  const { fs, openFiles, get } = site(files);
  (await get("/a.bin")).file.close();
  assert.equal(openFiles.held, 1);
  const open = fs.open;
  let refusals = 0;
  fs.open = (rel) => fs.openCount >= 1 ? (refusals++, -24) : open(rel); // EMFILE while one is open
  const b = await get("/b.bin");
  assert.equal(b.response.status, 200, "served once the kept descriptor is closed");
  assert.equal(refusals, 1);
  assert.equal(fs.closes, 1, "a.bin's kept descriptor was closed");
  b.file.close();
  fs.open = open;
  assert.equal(openFiles.shed(1), 1, "the server's budget can take b.bin's back");
  assert.equal(openFiles.held, 0);
  assert.equal(fs.openCount, 0);
});
