// End-to-end: a built site served with --spa, --cors, --header and --immutable through real
// sockets. Compressed answers are decompressed and compared with the files, every field is
// checked; sidecars go out through sendfile, copies from memory; 304s per coding, ranges, HEAD,
// the 404 page, HTML errors, preflights, JSON listings, --compress off, and fds back to baseline.

import assert from "node:assert/strict";
import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  gunzipSync,
  gzipSync,
  zstdDecompressSync,
} from "node:zlib";
import {
  exchange,
  get,
  type ParsedResponse,
  readResponses,
  type RunningServer,
  sleep,
  startServer,
  stopOk,
  withServer,
  writeAll,
} from "./_server.ts";
import { IMMUTABLE } from "../../http/static/cache_policy.ts";

const encoder = new TextEncoder();

/** Deterministic text that looks like a minified bundle: identifiers from a seeded generator. */
function bundle(bytes: number, seed: number): Uint8Array {
  let x = seed;
  const next = () => (x = (x * 1103515245 + 12345) & 0x7fffffff);
  const words = Array.from({ length: 400 }, () => next().toString(36));
  let s = "";
  while (s.length < bytes) {
    const a = words[next() % words.length], b = words[next() % words.length];
    s += `function ${a}(e,t){return t.${b}(e,"${next().toString(36)}")}var ${b}=${a}(${next() % 997});`;
  }
  return encoder.encode(s.slice(0, bytes));
}

/** The served tree: pages, a 404 page, a bundle with a br sidecar, a copy-made script, a CSS gz sidecar. */
function makeSite() {
  const root = Deno.makeTempDirSync({ prefix: "rawserve-site-" });
  const files: Record<string, Uint8Array> = {
    "index.html": encoder.encode(
      `<!doctype html><title>home</title>${"<p>Welcome to the site.</p>\n".repeat(40)}`,
    ),
    "404.html": encoder.encode(`<!doctype html><title>lost</title>${"<p>Nothing here.</p>\n".repeat(40)}`),
    "app.js": bundle(20_000, 1),
    "assets/bundle.1f3a.js": bundle(600_000, 2),
    "style.css": encoder.encode("body{margin:0;font:16px/1.5 system-ui}\n".repeat(30)),
    "logo.png": crypto.getRandomValues(new Uint8Array(3000)),
    "docs/b.txt": encoder.encode("bb\n"),
    "docs/a.txt": encoder.encode("a\n"),
  };
  files["assets/bundle.1f3a.js.br"] = new Uint8Array(
    brotliCompressSync(files["assets/bundle.1f3a.js"]!, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } }),
  );
  files["style.css.gz"] = new Uint8Array(gzipSync(files["style.css"]!, { level: 9 }));
  Deno.mkdirSync(`${root}/assets`);
  Deno.mkdirSync(`${root}/docs/sub`, { recursive: true });
  for (const [name, data] of Object.entries(files)) Deno.writeFileSync(`${root}/${name}`, data);
  // Sidecars as a build writes them: after their files.
  const later = new Date(Date.now() + 1000);
  for (const name of ["assets/bundle.1f3a.js.br", "style.css.gz"]) {
    Deno.utimeSync(`${root}/${name}`, later, later);
  }
  return { root, files, cleanup: () => Deno.removeSync(root, { recursive: true }) };
}

const SITE = makeSite();
globalThis.addEventListener("unload", () => SITE.cleanup());

const FLAGS = [
  "--root",
  SITE.root,
  "--spa",
  "--cors",
  "https://app.example",
  "--header",
  "X-Frame-Options: DENY",
  "--header",
  "Referrer-Policy: no-referrer",
  "--immutable",
  "/assets/*",
];

/**
 * Runs `fn` against a server of the site. The warm-up asks for a compressed answer, so the
 * compression worker (started at the first copy, with descriptors of its own) is counted in the
 * baseline that every test's descriptors must return to.
 */
function withSite(fn: (server: RunningServer) => Promise<void>, flags = FLAGS): Promise<void> {
  return withServer(
    flags,
    fn,
    "GET /index.html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\nConnection: close\r\n\r\n",
  );
}

async function one(port: number, request: string, method = "GET"): Promise<ParsedResponse> {
  const { responses } = await exchange(port, request, { responses: 1, methods: [method] });
  assert.ok(responses[0], `no answer to ${JSON.stringify(request)}`);
  return responses[0]!;
}

/** Every value of a field, in order (the parsed map keeps only the last line of a name). */
function values(response: ParsedResponse, name: string): string[] {
  return response.headText.split("\r\n").slice(1)
    .filter((line) => line.toLowerCase().startsWith(name.toLowerCase() + ":"))
    .map((line) => line.slice(name.length + 1).trim());
}

/** The field names of a response, in order (to check nothing unexpected is sent). */
function names(response: ParsedResponse): string[] {
  return response.headText.split("\r\n").slice(1).map((line) => line.slice(0, line.indexOf(":")));
}

const DECODE: Record<string, (b: Uint8Array) => Uint8Array> = {
  br: (b) => new Uint8Array(brotliDecompressSync(b)),
  zstd: (b) => new Uint8Array(zstdDecompressSync(b)),
  gzip: (b) => new Uint8Array(gunzipSync(b)),
};

Deno.test("copies: br, zstd and gzip decompress to the file, with every field, once made", async () => {
  await withSite(async ({ port }) => {
    const file = SITE.files["app.js"]!;
    for (const coding of ["br", "zstd", "gzip"]) {
      const res = await one(
        port,
        get("/app.js", `Accept-Encoding: ${coding}\r\nOrigin: https://app.example\r\n`),
      );
      assert.equal(res.status, 200, coding);
      assert.deepEqual(names(res), [
        "Date",
        "Server",
        "Content-Type",
        "Content-Encoding",
        "Last-Modified",
        "ETag",
        "Accept-Ranges",
        "Vary",
        "X-Content-Type-Options",
        "Cache-Control",
        "Access-Control-Allow-Origin",
        "Access-Control-Expose-Headers",
        "Vary",
        "X-Frame-Options",
        "Referrer-Policy",
        "Content-Length",
      ]);
      assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
      assert.equal(res.headers.get("content-encoding"), coding);
      assert.match(res.headers.get("etag")!, new RegExp(`^"4e20-[0-9a-f]+-[0-9a-f]+-${coding}"$`));
      assert.deepEqual(values(res, "Vary"), ["Accept-Encoding", "Origin"]);
      assert.equal(res.headers.get("cache-control"), "no-cache");
      assert.equal(res.headers.get("access-control-allow-origin"), "https://app.example");
      assert.equal(res.headers.get("x-frame-options"), "DENY");
      assert.equal(Number(res.headers.get("content-length")), res.body.length);
      assert.ok(res.body.length < file.length / 2, `${coding}: ${res.body.length} bytes`);
      assert.deepEqual(DECODE[coding]!(res.body), file, coding);
    }
    // On one keep-alive connection, pipelined: each answer in its own coding, in order.
    const pipelined = get("/app.js", "Accept-Encoding: gzip, deflate, br, zstd\r\n") +
      get("/app.js", "Accept-Encoding: gzip;q=1, br;q=0.5\r\n") + get("/app.js") +
      get("/app.js", "Accept-Encoding: br, identity;q=0\r\nRange: bytes=0-9\r\n");
    const { responses } = await exchange(port, pipelined, { responses: 4 });
    assert.deepEqual(responses.map((r) => r.headers.get("content-encoding")), [
      "br",
      "gzip",
      undefined,
      "br",
    ]);
    assert.deepEqual(responses[2]!.body, file);
    assert.deepEqual(values(responses[2]!, "Vary"), ["Accept-Encoding", "Origin"], "identity varies too");
    assert.deepEqual(DECODE.br!(responses[3]!.body), file, "identity refused: the copy whole, not a range");
  });
});

Deno.test("validators per coding: 304 for each ETag, ranges from the file itself", async () => {
  await withSite(async ({ port }) => {
    const file = SITE.files["app.js"]!;
    const br = await one(port, get("/app.js", "Accept-Encoding: br\r\n"));
    const plain = await one(port, get("/app.js"));
    const brTag = br.headers.get("etag")!, plainTag = plain.headers.get("etag")!;
    assert.notEqual(brTag, plainTag);
    const notModified = await one(port, get("/app.js", `Accept-Encoding: br\r\nIf-None-Match: ${brTag}\r\n`));
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    assert.equal(notModified.headers.get("etag"), brTag);
    assert.deepEqual(values(notModified, "Vary"), ["Accept-Encoding", "Origin"]);
    assert.equal(notModified.headers.get("last-modified"), br.headers.get("last-modified"));
    assert.equal((await one(port, get("/app.js", `If-None-Match: ${plainTag}\r\n`))).status, 304);
    assert.equal(
      (await one(port, get("/app.js", `Accept-Encoding: br\r\nIf-None-Match: ${plainTag}\r\n`))).status,
      200,
    );
    const since = await one(
      port,
      get("/app.js", `If-Modified-Since: ${plain.headers.get("last-modified")}\r\n`),
    );
    assert.equal(since.status, 304);

    const range = await one(port, get("/app.js", "Accept-Encoding: br\r\nRange: bytes=100-199\r\n"));
    assert.equal(range.status, 206);
    assert.equal(range.headers.get("content-encoding"), undefined);
    assert.equal(range.headers.get("content-range"), `bytes 100-199/${file.length}`);
    assert.equal(range.headers.get("etag"), plainTag);
    assert.deepEqual(range.body, file.subarray(100, 200));
    const unsatisfiable = await one(port, get("/app.js", "Accept-Encoding: br\r\nRange: bytes=99999-\r\n"));
    assert.equal(unsatisfiable.status, 416);
    assert.equal(unsatisfiable.headers.get("content-range"), `bytes */${file.length}`);
  });
});

Deno.test("sidecars: sent as they are (sendfile past 64 KiB), with the file's type; ranges, HEAD, 304", async () => {
  await withSite(async ({ port }) => {
    const original = SITE.files["assets/bundle.1f3a.js"]!;
    const sidecar = SITE.files["assets/bundle.1f3a.js.br"]!;
    assert.ok(sidecar.length > 64 * 1024, `the sidecar (${sidecar.length} B) is sent from disk`);
    const res = await one(
      port,
      get("/assets/bundle.1f3a.js", "Accept-Encoding: gzip, deflate, br, zstd\r\n"),
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal(res.headers.get("content-encoding"), "br");
    assert.equal(res.headers.get("cache-control"), IMMUTABLE);
    assert.deepEqual(res.body, sidecar, "the sidecar's own bytes");
    assert.deepEqual(DECODE.br!(res.body), original);
    const modified = new Date(Deno.statSync(`${SITE.root}/assets/bundle.1f3a.js.br`).mtime!);
    assert.equal(
      res.headers.get("last-modified"),
      new Date(Math.floor(modified.getTime() / 1000) * 1000).toUTCString(),
    );

    const range = await one(
      port,
      get("/assets/bundle.1f3a.js", "Accept-Encoding: br\r\nRange: bytes=70000-70099\r\n"),
    );
    assert.equal(range.status, 206);
    assert.equal(range.headers.get("content-encoding"), "br");
    assert.equal(range.headers.get("content-range"), `bytes 70000-70099/${sidecar.length}`);
    assert.deepEqual(range.body, sidecar.subarray(70000, 70100));
    const head = await one(
      port,
      `HEAD /assets/bundle.1f3a.js HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n`,
      "HEAD",
    );
    assert.equal(head.headers.get("content-length"), String(sidecar.length));
    assert.equal(head.headers.get("etag"), res.headers.get("etag"));
    assert.equal(head.body.length, 0);
    const etag = res.headers.get("etag")!;
    assert.equal(
      (await one(port, get("/assets/bundle.1f3a.js", `Accept-Encoding: br\r\nIf-None-Match: ${etag}\r\n`)))
        .status,
      304,
    );

    const identity = await one(port, get("/assets/bundle.1f3a.js"));
    assert.deepEqual(identity.body, original, "identity through sendfile");
    const gzip = await one(port, get("/assets/bundle.1f3a.js", "Accept-Encoding: gzip\r\n"));
    assert.equal(gzip.headers.get("content-encoding"), "gzip", "no gz sidecar: a copy");
    assert.deepEqual(DECODE.gzip!(gzip.body), original);
    const css = await one(port, get("/style.css", "Accept-Encoding: gzip, br\r\n"));
    assert.equal(css.headers.get("content-encoding"), "gzip", "a sidecar wins the tie");
    assert.deepEqual(css.body, SITE.files["style.css.gz"]);
    const direct = await one(port, get("/style.css.gz", "Accept-Encoding: gzip\r\n"));
    assert.equal(direct.headers.get("content-type"), "application/gzip");
    assert.equal(direct.headers.get("content-encoding"), undefined);
    assert.deepEqual(direct.body, SITE.files["style.css.gz"]);
    const png = await one(port, get("/logo.png", "Accept-Encoding: gzip, br\r\n"));
    assert.equal(png.headers.get("content-encoding"), undefined);
    assert.deepEqual(values(png, "Vary"), ["Origin"], "an image never varies with Accept-Encoding");
  });
});

Deno.test("--spa routes get index.html, other misses the 404 page; errors are HTML for browsers", async () => {
  await withSite(async ({ port }) => {
    for (const path of ["/about", "/users/42/", "/a/b/c?tab=2"]) {
      const res = await one(port, get(path));
      assert.equal(res.status, 200, path);
      assert.deepEqual(res.body, SITE.files["index.html"], path);
      assert.equal(res.headers.get("cache-control"), "no-cache");
      assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    }
    const missing = await one(port, get("/missing.js", "Accept-Encoding: br\r\n"));
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(missing.headers.get("content-encoding"), "br");
    assert.deepEqual(DECODE.br!(missing.body), SITE.files["404.html"]);
    assert.equal(missing.headers.get("etag"), undefined);
    assert.equal(missing.headers.get("x-frame-options"), "DENY");

    const browser = await one(
      port,
      `POST /app.js HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\nContent-Length: 0\r\n\r\n`,
    );
    assert.equal(browser.status, 405);
    assert.equal(browser.headers.get("content-type"), "text/html; charset=utf-8");
    assert.match(new TextDecoder().decode(browser.body), /<h1>405 Method Not Allowed<\/h1>/);
    assert.equal(browser.headers.get("allow"), "GET, HEAD");
    const curl = await one(
      port,
      `POST /app.js HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nContent-Length: 0\r\n\r\n`,
    );
    assert.equal(new TextDecoder().decode(curl.body), "405 Method Not Allowed\n");
    assert.deepEqual(values(curl, "Vary"), ["Accept", "Origin"]);
  });
});

Deno.test("--header is on the HTTP layer's own errors too; Host and CONNECT are checked", async () => {
  await withSite(async ({ port }) => {
    for (
      const [request, status] of [
        ["GARBAGE\r\n\r\n", 400],
        ["GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400],
        ["GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400],
        ["GET / HTTP/1.1\r\nHost: a:99999\r\n\r\n", 400],
        ["GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200],
        ["CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405],
        ["GET example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400],
      ] as const
    ) {
      const res = await one(port, request);
      assert.equal(res.status, status, request);
      assert.equal(res.headers.get("x-frame-options"), "DENY", request);
      assert.equal(res.headers.get("referrer-policy"), "no-referrer", request);
    }
  });
});

Deno.test("CORS: the allowed origin is echoed, preflights answered, other origins get nothing", async () => {
  await withSite(async ({ port }) => {
    const preflight = await one(
      port,
      "OPTIONS /app.js HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example\r\n" +
        "Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: range\r\n\r\n",
    );
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
    assert.equal(preflight.headers.get("access-control-allow-methods"), "GET, HEAD");
    assert.equal(preflight.headers.get("access-control-allow-headers"), "range");
    assert.equal(preflight.headers.get("access-control-max-age"), "86400");
    assert.deepEqual(values(preflight, "Vary"), ["Origin"]);
    const other = await one(
      port,
      "OPTIONS /app.js HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n\r\n",
    );
    assert.equal(other.status, 204);
    assert.equal(other.headers.get("access-control-allow-origin"), undefined);
    const otherGet = await one(port, get("/app.js", "Origin: https://evil.example\r\n"));
    assert.equal(otherGet.status, 200);
    assert.equal(otherGet.headers.get("access-control-allow-origin"), undefined);
    assert.deepEqual(values(otherGet, "Vary"), ["Accept-Encoding", "Origin"]);
  });
});

Deno.test("directories list as JSON for Accept: application/json", async () => {
  await withSite(async ({ port }) => {
    const res = await one(port, get("/docs/", "Accept: application/json\r\n"));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.deepEqual(values(res, "Vary"), ["Accept", "Origin"]);
    const list = JSON.parse(new TextDecoder().decode(res.body));
    const mtime = (name: string) => Deno.statSync(`${SITE.root}/docs/${name}`).mtime!.toISOString();
    assert.deepEqual(list, [
      { name: "sub", type: "directory", size: null, mtime: mtime("sub") },
      { name: "a.txt", type: "file", size: 2, mtime: mtime("a.txt") },
      { name: "b.txt", type: "file", size: 3, mtime: mtime("b.txt") },
    ]);
    const html = await one(port, get("/docs/", "Accept: text/html\r\n"));
    assert.equal(html.headers.get("content-type"), "text/html; charset=utf-8");
  });
});

Deno.test("--compress off sends every file as it is, and nothing varies", async () => {
  await withSite(async ({ port }) => {
    for (const path of ["/app.js", "/assets/bundle.1f3a.js", "/style.css"]) {
      const res = await one(port, get(path, "Accept-Encoding: gzip, deflate, br, zstd\r\n"));
      assert.equal(res.headers.get("content-encoding"), undefined, path);
      assert.equal(res.headers.get("vary"), undefined, path);
      assert.deepEqual(res.body, SITE.files[path.slice(1)], path);
    }
  }, ["--root", SITE.root, "--compress", "off"]);
});

Deno.test("clients that leave while their copy is being made cost nothing; the copy serves the next", async () => {
  await withSite(async ({ port }) => {
    const request = get("/assets/bundle.1f3a.js", "Accept-Encoding: zstd\r\n");
    for (let i = 0; i < 5; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await conn.write(encoder.encode(request));
      conn.close(); // before the answer: the zstd copy of 600 KB is still being made
    }
    const res = await one(port, request);
    assert.equal(res.headers.get("content-encoding"), "zstd");
    assert.deepEqual(DECODE.zstd!(res.body), SITE.files["assets/bundle.1f3a.js"]);
  });
});

/** Text files of `bytes` each, named t0.html, t1.html, …, in a fresh root. */
function textRoot(count: number, bytes: number): { root: string; files: Uint8Array[]; remove: () => void } {
  const root = Deno.makeTempDirSync({ prefix: "rawserve-compress-" });
  const files = Array.from({ length: count }, (_, i) => bundle(bytes, 100 + i));
  files.forEach((data, i) => Deno.writeFileSync(`${root}/t${i}.html`, data));
  return { root, files, remove: () => Deno.removeSync(root, { recursive: true }) };
}

/** The compression worker's thread (Deno names a Worker's thread `worker-N`), if it was started. */
function compressionThreads(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/task`)]
    .filter((task) => /^worker-/.test(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/comm`)))
    .length;
}

const ACCEPT_ALL = "Accept-Encoding: gzip, deflate, br, zstd\r\n";

Deno.test("HEAD never starts a compression: identity until a GET has made the copy, then the copy", async () => {
  const { root, files, remove } = textRoot(8, 1024 * 1024);
  // Not withServer(): its warm-up and descriptor baseline would start the compression worker.
  const server = await startServer(["--quiet", "--root", root]);
  const { port, pid } = server;
  try {
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < files.length; i++) {
        const head = await one(port, `HEAD /t${i}.html HTTP/1.1\r\nHost: a\r\n${ACCEPT_ALL}\r\n`, "HEAD");
        assert.equal(head.status, 200);
        assert.equal(head.headers.get("content-encoding"), undefined, `round ${round}, t${i}: identity`);
        assert.equal(head.headers.get("content-length"), String(files[i]!.length));
        assert.equal(head.headers.get("vary"), "Accept-Encoding");
      }
    }
    assert.equal(compressionThreads(pid), 0, "the compression worker was never started");
    const got = await one(port, get("/t0.html", ACCEPT_ALL));
    assert.equal(got.headers.get("content-encoding"), "br", "a GET still gets the copy");
    assert.deepEqual(DECODE.br!(got.body), files[0]);
    assert.equal(compressionThreads(pid), 1);
    const head = await one(port, `HEAD /t0.html HTTP/1.1\r\nHost: a\r\n${ACCEPT_ALL}\r\n`, "HEAD");
    assert.equal(head.headers.get("content-encoding"), "br", "once made, HEAD gets the copy's fields");
    assert.equal(head.headers.get("etag"), got.headers.get("etag"));
    assert.equal(head.headers.get("content-length"), String(got.body.length));
  } finally {
    await stopOk(server);
    remove();
  }
});

Deno.test("a copy whose clients all left before it started is not made", async () => {
  // t0 (8 MiB, ~130 ms of br) keeps the compressor busy while clients ask for t1-t3 and leave
  // at once; when t0 is done, nobody waits for the others, so they are skipped, not made.
  const { root, files, remove } = textRoot(4, 2 * 1024 * 1024);
  Deno.writeFileSync(`${root}/t0.html`, bundle(8 * 1024 * 1024, 7));
  Deno.writeFileSync(`${root}/warm.html`, bundle(4096, 8));
  const warmUp = "GET /warm.html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\nConnection: close\r\n\r\n";
  try {
    await withServer(["--root", root], async ({ port }) => {
      const busy = await Deno.connect({ hostname: "127.0.0.1", port });
      try {
        await writeAll(busy, encoder.encode(get("/t0.html", "Accept-Encoding: br\r\n")));
        await sleep(30); // t0 reaches the compressor first
        for (let i = 1; i < files.length; i++) {
          const leaving = await Deno.connect({ hostname: "127.0.0.1", port });
          await writeAll(leaving, encoder.encode(get(`/t${i}.html`, "Accept-Encoding: br\r\n")));
          leaving.close();
        }
        const { responses } = await readResponses(busy, { responses: 1, timeoutMs: 10_000 });
        assert.equal(
          responses[0]!.headers.get("content-encoding"),
          "br",
          "the client that stayed gets t0's copy",
        );
      } finally {
        busy.close();
      }
      await sleep(50); // the skipped copies settle as soon as t0's is done
      for (let i = 1; i < files.length; i++) {
        const head = await one(
          port,
          `HEAD /t${i}.html HTTP/1.1\r\nHost: a\r\nAccept-Encoding: br\r\n\r\n`,
          "HEAD",
        );
        assert.equal(head.headers.get("content-encoding"), undefined, `t${i}: no copy was made for nobody`);
      }
      const got = await one(port, get("/t1.html", "Accept-Encoding: br\r\n"));
      assert.equal(got.headers.get("content-encoding"), "br", "the next GET makes it");
      assert.deepEqual(DECODE.br!(got.body), files[1]);
    }, warmUp);
  } finally {
    remove();
  }
});
