// Unit tests of the static handler's pure parts (path normalisation, Range parsing) and of the
// handler itself over an in-memory StaticFs.

import assert from "node:assert/strict";
import { createStaticHandler } from "../../../http/static/static_handler.ts";
import { normalizePath } from "../../../http/static/paths.ts";
import { parseRange } from "../../../http/static/conditionals.ts";
import type { FileBody, HttpResponse } from "../../../http/types.ts";
import { field, memoryFs, request } from "./_memory_fs.ts";

Deno.test("normalizePath() decodes once and never climbs above the root", () => {
  const cases: [string, string[] | null, boolean?][] = [
    ["/", [], true],
    ["/a/b.txt", ["a", "b.txt"], false],
    ["/a/./b/../c", ["a", "c"], false],
    ["/../../etc/passwd", ["etc", "passwd"], false],
    ["/%2e%2e/%2e%2e/etc/passwd", ["etc", "passwd"], false],
    ["/..%2f..%2fetc/passwd", ["etc", "passwd"], false],
    ["/%252e%252e/x", ["%2e%2e", "x"], false], // decoded once: a literal name, not ".."
    ["/a%20b", ["a b"], false],
    ["/dir/", ["dir"], true],
    ["/dir/..", [], true],
    ["/a%00b", null],
    ["/a\\..\\b", null],
    ["/a%5c..", null],
    ["/%zz", null],
    ["/%c3%28", null], // invalid UTF-8
  ];
  for (const [input, segments, trailing] of cases) {
    const got = normalizePath(input);
    if (segments === null) {
      assert.equal(got, null, input);
    } else {
      assert.deepEqual(got?.segments, segments, input);
      assert.equal(got?.trailingSlash, trailing, input);
    }
  }
});

Deno.test("parseRange() handles single, suffix and open ranges and refuses the rest", () => {
  const cases: [string, number, ReturnType<typeof parseRange>][] = [
    ["bytes=0-4", 13, [0, 4]],
    ["bytes=5-", 13, [5, 12]],
    ["bytes=-3", 13, [10, 12]],
    ["bytes=-30", 13, [0, 12]],
    ["bytes=0-100", 13, [0, 12]],
    ["bytes=12-12", 13, [12, 12]],
    ["BYTES=0-0", 13, [0, 0]],
    ["bytes=13-", 13, "unsatisfiable"],
    ["bytes=-0", 13, "unsatisfiable"],
    ["bytes=0-", 0, "unsatisfiable"],
    ["bytes=5-2", 13, null],
    ["bytes=0-1,3-4", 13, null],
    ["items=0-1", 13, null],
    ["bytes=-", 13, null],
    ["bytes=a-b", 13, null],
  ];
  for (const [header, size, expected] of cases) assert.deepEqual(parseRange(header, size), expected, header);
});

const SMALL = new TextEncoder().encode("Hello, world\n");
const BIG = new Uint8Array(200 * 1024).fill(7);

Deno.test("static handler serves, revalidates and answers conditionals without leaking fds", async () => {
  const fs = memoryFs({
    "small.txt": { data: SMALL, mtimeMs: 1_700_000_000_000, ino: 5 },
    "big.bin": { data: BIG, mtimeMs: 1_700_000_000_000, ino: 6 },
    "sub/index.html": { data: new TextEncoder().encode("<p>"), mtimeMs: 0, ino: 7 },
    ".env": { data: SMALL, mtimeMs: 0, ino: 8 },
    "secret": { data: SMALL, mtimeMs: 0, ino: 9 },
    "escape": { data: SMALL, mtimeMs: 0, ino: 10 },
  });
  const handler = createStaticHandler({ fs, listing: true, dotfiles: false, cacheControl: "no-cache" });
  const small = (await handler(request("GET", "/small.txt?x=1"))) as HttpResponse;
  assert.equal(small.status, 200);
  assert.deepEqual(small.body, SMALL);
  assert.equal(field(small, "Content-Type"), "text/plain; charset=utf-8");
  assert.equal(field(small, "Cache-Control"), "no-cache");
  const etag = field(small, "ETag")!;
  assert.match(etag, /^"d-[0-9a-f]+-5"$/);

  const notModified = await handler(request("GET", "/small.txt", ["if-none-match", `W/${etag}, "other"`]));
  assert.equal((notModified as HttpResponse).status, 304);
  const since = await handler(
    request("GET", "/small.txt", ["if-modified-since", field(small, "Last-Modified")!]),
  );
  assert.equal((since as HttpResponse).status, 304);

  const range = (await handler(request("GET", "/small.txt", ["range", "bytes=7-"]))) as HttpResponse;
  assert.equal(range.status, 206);
  assert.equal(new TextDecoder().decode(range.body as Uint8Array), "world\n");
  assert.equal(field(range, "Content-Range"), "bytes 7-12/13");
  const stale = await handler(request("GET", "/small.txt", ["range", "bytes=0-1", "if-range", '"old"']));
  assert.equal((stale as HttpResponse).status, 200);
  const unsatisfiable = (await handler(request("GET", "/small.txt", ["range", "bytes=99-"]))) as HttpResponse;
  assert.equal(unsatisfiable.status, 416);
  assert.equal(field(unsatisfiable, "Content-Range"), "bytes */13");

  const big = (await handler(request("GET", "/big.bin"))) as HttpResponse;
  const file = big.body as FileBody;
  assert.equal(file.kind, "file");
  assert.equal(file.length, BIG.length);
  assert.equal(fs.openCount, 1, "a large file stays open until the connection sends it");
  file.close();
  file.close(); // idempotent
  assert.equal(fs.openCount, 0);

  assert.equal(((await handler(request("GET", "/sub"))) as HttpResponse).status, 301);
  assert.equal(field((await handler(request("GET", "/sub?q=1"))) as HttpResponse, "Location"), "/sub/?q=1");
  assert.equal(((await handler(request("GET", "/sub/"))) as HttpResponse).status, 200);
  assert.equal(((await handler(request("GET", "/.env"))) as HttpResponse).status, 404);
  assert.equal(((await handler(request("GET", "/secret"))) as HttpResponse).status, 403);
  assert.equal(((await handler(request("GET", "/escape"))) as HttpResponse).status, 403);
  assert.equal(((await handler(request("GET", "/nope"))) as HttpResponse).status, 404);
  assert.equal(((await handler(request("GET", "/a%00"))) as HttpResponse).status, 400);
  const post = (await handler(request("POST", "/small.txt"))) as HttpResponse;
  assert.equal(post.status, 405);
  assert.equal(field(post, "Allow"), "GET, HEAD");
  assert.equal(((await handler(request("OPTIONS", "/small.txt"))) as HttpResponse).status, 204);
  const listing = (await handler(request("GET", "/"))) as HttpResponse;
  assert.equal(listing.status, 200);
  assert.match(String(listing.body), /href="small.txt"/);
  assert.doesNotMatch(String(listing.body), /\.env/);
  assert.equal(fs.openCount, 0, "every descriptor the handler opened is closed");
});

Deno.test("static handler answers a cached file from memory within the revalidation window", async () => {
  const fs = memoryFs({ "a.txt": { data: SMALL, mtimeMs: 1, ino: 1 } });
  const handler = createStaticHandler({ fs, listing: false, dotfiles: false, cacheControl: null });
  await handler(request("GET", "/a.txt"));
  const closesAfterFirst = fs.closes;
  for (let i = 0; i < 10; i++) {
    assert.equal(((await handler(request("GET", "/a.txt"))) as HttpResponse).status, 200);
  }
  assert.equal(fs.closes, closesAfterFirst, "no open/close while the entry is fresh");
  assert.equal(((await handler(request("GET", "/"))) as HttpResponse).status, 404, "--no-listing");
});
