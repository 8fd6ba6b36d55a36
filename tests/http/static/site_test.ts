// The static handler serving a site, over an in-memory StaticFs: compressed copies made once per
// file version, precompressed sidecars, ETags and 304s per coding, ranges, 406, --spa, 404.html,
// HTML error pages, Cache-Control presets and JSON listings.

import assert from "node:assert/strict";
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync, zstdCompressSync } from "node:zlib";
import { createStaticHandler } from "../../../http/static/static_handler.ts";
import type { Compressor, StaticOptions } from "../../../http/static/types.ts";
import { ALL_CODINGS, type Coding } from "../../../http/negotiation.ts";
import { batchEnd, batchStart } from "../../../http/clock.ts";
import { CACHE_REVALIDATE_MS } from "../../../http/static/file_cache.ts";
import { globToRegExp, IMMUTABLE } from "../../../http/static/cache_policy.ts";
import type { FileBody, HttpResponse } from "../../../http/types.ts";
import { field, fields, type MemFile, memoryFs, request } from "./_memory_fs.ts";

const encoder = new TextEncoder();
const text = (s: string) => encoder.encode(s);

/** Text that compresses well, `n` bytes long. */
function page(n: number, seed = "page"): Uint8Array {
  let s = `<!doctype html><title>${seed}</title>\n`;
  for (let i = 0; s.length < n; i++) s += `<p class="row">${seed} line ${i} of the page</p>\n`;
  return text(s.slice(0, n));
}

/** A compressor on node:zlib in this thread that counts its calls (and can be told to fail). */
function countingCompressor(): Compressor & { calls: string[]; fail: boolean } {
  const state = { calls: [] as string[], fail: false };
  return Object.assign(state, {
    codings: ALL_CODINGS,
    compress(coding: Coding, data: Uint8Array): Promise<Uint8Array> {
      state.calls.push(coding);
      if (state.fail) return Promise.reject(new Error("worker gone"));
      const out = coding === "br"
        ? brotliCompressSync(data)
        : coding === "zstd"
        ? zstdCompressSync(data)
        : gzipSync(data);
      return Promise.resolve(new Uint8Array(out));
    },
  });
}

const MTIME = 1_700_000_000_000;
function file(data: Uint8Array, ino: number, mtimeMs = MTIME): MemFile {
  return { data, mtimeMs, ino };
}

/** A handler over `files`, and a call that answers a request (awaiting a copy being made). */
function site(files: Record<string, MemFile>, options: Partial<StaticOptions> = {}) {
  const fs = memoryFs(files);
  const compressor = countingCompressor();
  const errors: string[] = [];
  const handler = createStaticHandler({
    fs,
    listing: true,
    dotfiles: false,
    compressor,
    logError: (m) => errors.push(m),
    ...options,
  });
  const get = async (path: string, headers: string[] = [], method = "GET") =>
    (await handler(request(method, path, headers))) as HttpResponse;
  return { fs, compressor, errors, handler, get };
}

function bytesOf(response: HttpResponse): Uint8Array {
  const body = response.body;
  assert.ok(body instanceof Uint8Array, "the body is in memory");
  return body;
}

const HTML = page(4000);
const JS = page(3000, "script");

Deno.test("a compressible file is compressed once per version, for every path that leads to it", async () => {
  const { get, handler, compressor, fs } = site({ "index.html": file(HTML, 1), "app.js": file(JS, 2) });
  const first = handler(request("GET", "/app.js", ["accept-encoding", "gzip, deflate, br, zstd"]));
  assert.ok(first instanceof Promise, "the first br answer waits for its copy");
  const br = await first as HttpResponse;
  assert.equal(br.status, 200);
  assert.equal(field(br, "Content-Encoding"), "br");
  assert.equal(field(br, "Content-Type"), "text/javascript; charset=utf-8");
  assert.deepEqual(fields(br, "Vary"), ["Accept-Encoding"]);
  assert.match(field(br, "ETag")!, /^"bb8-[0-9a-f]+-2-br"$/);
  assert.deepEqual(new Uint8Array(brotliDecompressSync(bytesOf(br))), JS);

  for (const path of ["/app.js", "//app.js", "/x/../app.js", "/app.js?v=2", "/%61pp.js"]) {
    const again = handler(request("GET", path, ["accept-encoding", "br"]));
    assert.ok(!(again instanceof Promise) || path !== "/app.js", `${path} is answered at once`);
    assert.deepEqual(bytesOf(await again as HttpResponse), bytesOf(br), path);
  }
  assert.deepEqual(compressor.calls, ["br"], "one compression for all of them");

  const identity = await get("/app.js");
  assert.deepEqual(bytesOf(identity), JS);
  assert.equal(field(identity, "Content-Encoding"), undefined);
  assert.deepEqual(fields(identity, "Vary"), ["Accept-Encoding"], "identity answers vary too");
  assert.match(field(identity, "ETag")!, /^"bb8-[0-9a-f]+-2"$/);

  const gzip = await get("/app.js", ["accept-encoding", "gzip"]);
  assert.equal(field(gzip, "Content-Encoding"), "gzip");
  assert.deepEqual(new Uint8Array(gunzipSync(bytesOf(gzip))), JS);
  const head = await get("/app.js", ["accept-encoding", "gzip"], "HEAD");
  assert.equal(field(head, "Content-Encoding"), "gzip");
  assert.equal(field(head, "ETag"), field(gzip, "ETag"));
  assert.deepEqual(compressor.calls, ["br", "gzip"]);
  assert.equal(fs.openCount, 0, "every descriptor is closed");
});

Deno.test("If-None-Match works per coding, and a Range gets the file itself", async () => {
  const { get } = site({ "app.js": file(JS, 2) });
  const br = await get("/app.js", ["accept-encoding", "br"]);
  const identity = await get("/app.js");
  const brTag = field(br, "ETag")!, idTag = field(identity, "ETag")!;
  assert.notEqual(brTag, idTag);

  const notModified = await get("/app.js", ["accept-encoding", "br", "if-none-match", brTag]);
  assert.equal(notModified.status, 304);
  assert.equal(field(notModified, "ETag"), brTag);
  assert.deepEqual(fields(notModified, "Vary"), ["Accept-Encoding"]);
  assert.equal(field(notModified, "Cache-Control"), "no-cache");
  assert.equal((await get("/app.js", ["if-none-match", brTag])).status, 200, "identity's tag differs");
  assert.equal((await get("/app.js", ["if-none-match", idTag])).status, 304);
  assert.equal((await get("/app.js", ["accept-encoding", "br", "if-none-match", idTag])).status, 200);

  const range = await get("/app.js", ["accept-encoding", "br", "range", "bytes=0-9"]);
  assert.equal(range.status, 206);
  assert.equal(field(range, "Content-Encoding"), undefined, "ranges come from the file itself");
  assert.equal(field(range, "Content-Range"), `bytes 0-9/${JS.length}`);
  assert.deepEqual(fields(range, "Vary"), ["Accept-Encoding"]);
  assert.deepEqual(bytesOf(range), JS.subarray(0, 10));
  const refused = await get("/app.js", ["accept-encoding", "br, identity;q=0", "range", "bytes=0-9"]);
  assert.equal(refused.status, 200, "identity refused: the copy, whole");
  assert.equal(field(refused, "Content-Encoding"), "br");
});

Deno.test("identity;q=0 gets 406 when nothing fits; small and incompressible files never vary", async () => {
  const png = new Uint8Array(5000).fill(9);
  const { get } = site({
    "app.js": file(JS, 2),
    "tiny.css": file(text("a{b:c}\n"), 3),
    "logo.png": file(png, 4),
  });
  const refused = await get("/app.js", ["accept-encoding", "identity;q=0"]);
  assert.equal(refused.status, 406);
  assert.deepEqual(fields(refused, "Vary"), ["Accept-Encoding", "Accept"]);
  for (const path of ["/tiny.css", "/logo.png"]) {
    const answer = await get(path, ["accept-encoding", "br, gzip, identity;q=0"]);
    assert.equal(answer.status, 200, path);
    assert.equal(field(answer, "Content-Encoding"), undefined, path);
    assert.deepEqual(fields(answer, "Vary"), [], path);
  }
  const garbage = await get("/app.js", ["accept-encoding", "br;q=2"]);
  assert.equal(field(garbage, "Content-Encoding"), undefined, "a value that does not parse gets identity");
});

Deno.test("a copy that fails or does not pay is not sent, and the failure is logged", async () => {
  const { get, compressor, errors } = site({ "app.js": file(JS, 2) });
  compressor.fail = true;
  const failed = await get("/app.js", ["accept-encoding", "br"]);
  assert.equal(failed.status, 200);
  assert.equal(field(failed, "Content-Encoding"), undefined);
  assert.deepEqual(bytesOf(failed), JS);
  assert.match(errors.join("\n"), /Cannot compress \/app\.js \(br\): worker gone/);
  compressor.fail = false;
  await get("/app.js", ["accept-encoding", "br"]);
  assert.deepEqual(compressor.calls, ["br"], "not tried again for this version");

  const throwing = site({ "app.js": file(JS, 2) }, {
    compressor: {
      codings: ALL_CODINGS,
      compress: () => {
        throw new Error("no worker");
      },
    },
  });
  const answer = await throwing.get("/app.js", ["accept-encoding", "gzip"]);
  assert.equal(answer.status, 200);
  assert.equal(field(answer, "Content-Encoding"), undefined);
  assert.match(throwing.errors.join("\n"), /no worker/);

  const noise = crypto.getRandomValues(new Uint8Array(2000));
  const random = site({ "noise.txt": file(noise, 5) });
  const noisy = await random.get("/noise.txt", ["accept-encoding", "gzip"]);
  assert.equal(field(noisy, "Content-Encoding"), undefined, "random bytes do not shrink");
  assert.deepEqual(fields(noisy, "Vary"), ["Accept-Encoding"]);
});

Deno.test("a changed file is described and compressed again; a sidecar appearing is seen within a second", async () => {
  const files = { "app.js": file(JS, 2) };
  const { get, compressor } = site(files);
  try {
    batchStart(1_000_000, Date.now());
    await get("/app.js", ["accept-encoding", "gzip"]);
    const changed = page(3500, "v2");
    files["app.js"] = file(changed, 2, MTIME + 1000);
    batchStart(1_000_000 + CACHE_REVALIDATE_MS, Date.now());
    const v2 = await get("/app.js", ["accept-encoding", "gzip"]);
    assert.deepEqual(new Uint8Array(gunzipSync(bytesOf(v2))), changed);
    assert.deepEqual(compressor.calls, ["gzip", "gzip"]);

    const sidecar = gzipSync(changed, { level: 9 });
    Object.assign(files, { "app.js.gz": file(new Uint8Array(sidecar), 9, MTIME + 2000) });
    assert.equal(
      field(await get("/app.js", ["accept-encoding", "gzip"]), "ETag"),
      field(v2, "ETag"),
      "fresh",
    );
    batchStart(1_000_000 + 2 * CACHE_REVALIDATE_MS, Date.now());
    const fromSidecar = await get("/app.js", ["accept-encoding", "gzip"]);
    assert.deepEqual(bytesOf(fromSidecar), new Uint8Array(sidecar));
    assert.match(field(fromSidecar, "ETag")!, /^"[0-9a-f]+-[0-9a-f]+-9-gzip"$/);
  } finally {
    batchEnd();
  }
});

Deno.test("precompressed sidecars are sent as they are, with the file's type, and ranges of their bytes", async () => {
  const big = page(200_000, "bundle");
  const bigBr = new Uint8Array(brotliCompressSync(big));
  const bigBrPadded = new Uint8Array(70_000); // a sidecar larger than the memory cache's limit
  bigBrPadded.set(bigBr);
  const jsGz = new Uint8Array(gzipSync(JS, { level: 9 }));
  const { get, compressor, fs } = site({
    "app.js": file(JS, 2),
    "app.js.gz": file(jsGz, 3),
    "old.js": file(JS, 4, MTIME + 5000),
    "old.js.gz": file(jsGz, 5), // older than its file: a leftover of an earlier build
    "bundle.js": file(big, 6),
    "bundle.js.br": file(bigBrPadded, 7),
  });
  const gz = await get("/app.js", ["accept-encoding", "gzip, deflate, br, zstd"]);
  assert.equal(field(gz, "Content-Encoding"), "gzip", "a sidecar wins a tie against a copy");
  assert.equal(field(gz, "Content-Type"), "text/javascript; charset=utf-8");
  assert.deepEqual(bytesOf(gz), jsGz);
  assert.equal(field(gz, "Content-Length"), undefined);
  assert.deepEqual(compressor.calls, []);
  const br = await get("/app.js", ["accept-encoding", "gzip;q=0.5, br"]);
  assert.equal(field(br, "Content-Encoding"), "br", "a copy in a coding the client prefers");

  const range = await get("/app.js", ["accept-encoding", "gzip", "range", "bytes=2-5"]);
  assert.equal(range.status, 206);
  assert.equal(field(range, "Content-Encoding"), "gzip");
  assert.equal(field(range, "Content-Range"), `bytes 2-5/${jsGz.length}`);
  assert.deepEqual(bytesOf(range), jsGz.subarray(2, 6));

  const direct = await get("/app.js.gz", ["accept-encoding", "gzip"]);
  assert.equal(field(direct, "Content-Type"), "application/gzip", "the sidecar under its own name");
  assert.equal(field(direct, "Content-Encoding"), undefined);

  const stale = await get("/old.js", ["accept-encoding", "gzip"]);
  assert.deepEqual(new Uint8Array(gunzipSync(bytesOf(stale))), JS, "a copy, not the stale sidecar");
  assert.notDeepEqual(bytesOf(stale), jsGz);

  const fromDisk = await get("/bundle.js", ["accept-encoding", "br"]);
  const body = fromDisk.body as FileBody;
  assert.equal(body.kind, "file");
  assert.equal(body.length, bigBrPadded.length);
  assert.equal(field(fromDisk, "Content-Encoding"), "br");
  assert.equal(fs.openCount, 1, "the sidecar is open for sendfile");
  body.close();
  const head = await get("/bundle.js", ["accept-encoding", "br"], "HEAD");
  (head.body as FileBody).close();
  assert.equal(field(head, "ETag"), field(fromDisk, "ETag"));
  assert.equal(fs.openCount, 0);
});

Deno.test("--spa answers index.html for routes, and assets stay 404", async () => {
  const { get } = site({ "index.html": file(HTML, 1), "assets/app.js": file(JS, 2) }, { spa: true });
  for (const path of ["/about", "/users/42/", "/deep/route?x=1"]) {
    const answer = await get(path);
    assert.equal(answer.status, 200, path);
    assert.deepEqual(bytesOf(answer), HTML, path);
    assert.equal(field(answer, "Cache-Control"), "no-cache", path);
    assert.equal(field(answer, "Content-Type"), "text/html; charset=utf-8");
  }
  const etag = field(await get("/about"), "ETag")!;
  assert.equal((await get("/other", ["if-none-match", etag])).status, 304);
  assert.equal((await get("/missing.js")).status, 404);
  assert.equal((await get("/assets/missing.css")).status, 404);
  assert.equal((await get("/assets/app.js")).status, 200);
  const without = site({ "a.txt": file(text("a"), 1) }, { spa: true });
  assert.equal((await without.get("/about")).status, 404, "no index.html: 404");
});

Deno.test("404.html answers every 404, compressed like any page; errors are HTML for browsers", async () => {
  const notFound = page(2000, "not found");
  const { get, fs } = site({
    "404.html": file(notFound, 1),
    "a.txt": file(text("a"), 2),
    ".env": file(text("x"), 3),
  });
  for (const path of ["/nope", "/a.txt/", "/.env", "/dir/nope.js"]) {
    const answer = await get(path);
    assert.equal(answer.status, 404, path);
    assert.equal(field(answer, "Content-Type"), "text/html; charset=utf-8");
    assert.deepEqual(bytesOf(answer), notFound, path);
    assert.equal(field(answer, "ETag"), undefined);
  }
  const refused = await get("/nope", ["accept-encoding", "identity;q=0"]);
  assert.equal(refused.status, 404, "a 404 stays a 404 when the client refuses identity");
  assert.deepEqual(bytesOf(refused), notFound);
  const br = await get("/nope", ["accept-encoding", "br"]);
  assert.equal(br.status, 404);
  assert.equal(field(br, "Content-Encoding"), "br");
  assert.deepEqual(new Uint8Array(brotliDecompressSync(bytesOf(br))), notFound);
  assert.equal(fs.openCount, 0);

  const plain = site({ "a.txt": file(text("a"), 2) });
  const text404 = await plain.get("/nope", ["accept", "*/*"]);
  assert.equal(field(text404, "Content-Type"), "text/plain; charset=utf-8");
  assert.equal(text404.body, "404 Not Found\n");
  assert.deepEqual(fields(text404, "Vary"), ["Accept"]);
  const browser = await plain.get("/nope", ["accept", "text/html,application/xhtml+xml,*/*;q=0.8"]);
  assert.equal(field(browser, "Content-Type"), "text/html; charset=utf-8");
  assert.match(String(browser.body), /<title>404 Not Found<\/title>/);
  assert.deepEqual(fields(browser, "Vary"), ["Accept"]);
  const post = await plain.get("/a.txt", ["accept", "text/html"], "POST");
  assert.equal(post.status, 405);
  assert.equal(field(post, "Allow"), "GET, HEAD");
  assert.match(String(post.body), /<h1>405 Method Not Allowed<\/h1>/);
});

Deno.test("Cache-Control: HTML revalidates, --immutable globs, --cache-control for the rest", async () => {
  const files = {
    "index.html": file(HTML, 1),
    "assets/app.1f3a.js": file(JS, 2),
    "assets/deep/font.woff2": file(text("w"), 3),
    "assets/frame.html": file(HTML, 4),
    "robots.txt": file(text("r"), 5),
  };
  const cc = async (s: ReturnType<typeof site>, path: string) => field(await s.get(path), "Cache-Control");
  const presets = site(files, { immutable: ["/assets/*"] });
  assert.equal(await cc(presets, "/"), "no-cache");
  assert.equal(await cc(presets, "/assets/app.1f3a.js"), IMMUTABLE);
  assert.equal(await cc(presets, "/assets/deep/font.woff2"), IMMUTABLE);
  assert.equal(await cc(presets, "/assets/frame.html"), "no-cache", "HTML is never immutable");
  assert.equal(await cc(presets, "/robots.txt"), "no-cache");
  const r304 = await presets.get("/assets/app.1f3a.js", ["if-none-match", "*"]);
  assert.equal(field(r304, "Cache-Control"), IMMUTABLE);

  const explicit = site(files, { immutable: ["*.js"], cacheControl: "public, max-age=60" });
  assert.equal(await cc(explicit, "/"), "public, max-age=60");
  assert.equal(await cc(explicit, "/robots.txt"), "public, max-age=60");
  assert.equal(await cc(explicit, "/assets/app.1f3a.js"), IMMUTABLE);
  const none = site(files, { cacheControl: null });
  assert.equal(await cc(none, "/"), undefined);
});

Deno.test("globToRegExp(): * crosses slashes, ? does not, a bare name matches in any directory", () => {
  const cases: [string, string, boolean][] = [
    ["/assets/*", "/assets/a.js", true],
    ["/assets/*", "/assets/x/y.js", true],
    ["/assets/*", "/assetsx/a.js", false],
    ["*.woff2", "/fonts/a.woff2", true],
    ["*.woff2", "/fonts/a.woff", false],
    ["app.*.js", "/js/app.1f3a.js", true],
    ["app.*.js", "/js/myapp.1f3a.js", false],
    ["/a?.js", "/ab.js", true],
    ["/a?.js", "/a/.js", false],
    ["/x.(y)+", "/x.(y)+", true],
  ];
  for (const [glob, path, expected] of cases) {
    assert.equal(globToRegExp(glob).test(path), expected, `${glob} ${path}`);
  }
});

Deno.test("a directory lists as JSON for Accept: application/json, directories first", async () => {
  const { get } = site({
    "b.txt": file(text("bb"), 1, Date.UTC(2026, 0, 2)),
    "a.txt": file(text("a"), 2, Date.UTC(2026, 0, 1)),
    "z/inner.txt": file(text("i"), 3),
    ".hidden": file(text("h"), 4),
  });
  const json = await get("/", ["accept", "application/json"]);
  assert.equal(json.status, 200);
  assert.equal(field(json, "Content-Type"), "application/json");
  assert.deepEqual(fields(json, "Vary"), ["Accept"]);
  assert.deepEqual(JSON.parse(String(json.body)), [
    { name: "z", type: "directory", size: null, mtime: new Date(0).toISOString() },
    { name: "a.txt", type: "file", size: 1, mtime: "2026-01-01T00:00:00.000Z" },
    { name: "b.txt", type: "file", size: 2, mtime: "2026-01-02T00:00:00.000Z" },
  ]);
  const html = await get("/", ["accept", "text/html,*/*;q=0.8"]);
  assert.equal(field(html, "Content-Type"), "text/html; charset=utf-8");
  assert.deepEqual(fields(html, "Vary"), ["Accept"]);
});

Deno.test("files waiting for copies are bounded: past 32 MiB, answers go out as identity at once", async () => {
  const big = new Uint8Array(7 * 1024 * 1024);
  const line = text("export const value = compute(42);\n");
  for (let i = 0; i + line.length <= big.length; i += line.length) big.set(line, i);
  const files: Record<string, MemFile> = {};
  for (let i = 0; i < 5; i++) files[`f${i}.js`] = file(big, 10 + i);
  const waiting: (() => void)[] = [];
  const compressor: Compressor = {
    codings: ALL_CODINGS,
    compress: (_coding, data) =>
      new Promise((resolve) => waiting.push(() => resolve(new Uint8Array(gzipSync(data.subarray(0, 1000)))))),
  };
  const handler = createStaticHandler({ fs: memoryFs(files), listing: false, dotfiles: false, compressor });
  const answers = [0, 1, 2, 3, 4].map((i) =>
    handler(request("GET", `/f${i}.js`, ["accept-encoding", "gzip"]))
  );
  assert.deepEqual(
    answers.map((a) => a instanceof Promise),
    [true, true, true, true, false],
    "28 MiB wait, 35 would not",
  );
  assert.equal(waiting.length, 4);
  assert.equal(field(answers[4] as HttpResponse, "Content-Encoding"), undefined);
  assert.equal(
    ((answers[4] as HttpResponse).body as FileBody).length,
    big.length,
    "the file itself, at once",
  );
  ((answers[4] as HttpResponse).body as FileBody).close();
  for (const resolve of waiting.splice(0)) resolve();
  for (const answer of answers.slice(0, 4)) assert.equal(field(await answer, "Content-Encoding"), "gzip");
  const later = handler(request("GET", "/f4.js", ["accept-encoding", "gzip"]));
  assert.ok(later instanceof Promise, "with room again, the fifth copy is made");
  for (const resolve of waiting.splice(0)) resolve();
  assert.equal(field(await later, "Content-Encoding"), "gzip");
});
