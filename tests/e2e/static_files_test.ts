// End-to-end: --root over a temporary tree. Types, index and listing, redirect, validators,
// every range form, traversal attempts, symlinks, dotfiles, HEAD, 405, a 64 MiB file read by a
// slow client, clients that leave mid-file, the access log, and fd counts back to baseline.

import assert from "node:assert/strict";
import {
  bytes,
  concat,
  exchange,
  get,
  type RunningServer,
  startServer,
  withServer,
  writeAll,
} from "./_server.ts";

const BIG_BYTES = 64 * 1024 * 1024;

/** Builds the served tree and a secret file outside it. */
function makeTree(): { root: string; outside: string; big: Uint8Array; cleanup: () => void } {
  const base = Deno.makeTempDirSync({ prefix: "rawserve-static-" });
  const root = `${base}/site`;
  const outside = `${base}/outside`;
  Deno.mkdirSync(`${root}/sub`, { recursive: true });
  Deno.mkdirSync(`${root}/withindex`);
  Deno.mkdirSync(`${root}/.git`);
  Deno.mkdirSync(outside);
  const write = (path: string, text: string) => Deno.writeTextFileSync(`${root}/${path}`, text);
  write("index.html", "<h1>home</h1>\n");
  write("small.txt", "Hello, world\n");
  write("style.css", "body{}\n");
  write("app.js", "1\n");
  write("data.json", "{}\n");
  write("unknown.xyz", "?\n");
  write("noext", "?\n");
  write("empty.txt", "");
  write("sub/a <b>&c.txt", "x\n");
  write("withindex/index.html", "<p>inner</p>\n");
  write(".env", "SECRET=1\n");
  write(".git/config", "[core]\n");
  Deno.writeTextFileSync(`${outside}/secret.txt`, "root:x:0:0\n");
  Deno.symlinkSync("small.txt", `${root}/link-inside.txt`);
  Deno.symlinkSync(`${outside}/secret.txt`, `${root}/link-outside.txt`);
  Deno.symlinkSync(outside, `${root}/dir-outside`);
  const block = new Uint8Array(1024 * 1024);
  crypto.getRandomValues(block.subarray(0, 65536));
  for (let i = 65536; i < block.length; i++) block[i] = block[i % 65536]! ^ (i >> 16);
  const big = new Uint8Array(BIG_BYTES);
  for (let off = 0; off < BIG_BYTES; off += block.length) big.set(block.map((b) => b ^ (off >> 20)), off);
  Deno.writeFileSync(`${root}/big.bin`, big);
  return { root, outside, big, cleanup: () => Deno.removeSync(base, { recursive: true }) };
}

const TREE = makeTree();
globalThis.addEventListener("unload", () => TREE.cleanup());

function withTree(args: string[], fn: (s: RunningServer) => Promise<void>): Promise<void> {
  return withServer(["--root", TREE.root, ...args], fn);
}

async function one(port: number, request: string, method = "GET") {
  const { responses } = await exchange(port, request, { responses: 1, methods: [method] });
  assert.ok(responses[0], `no response to ${JSON.stringify(request)}`);
  return responses[0]!;
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

Deno.test("files get their media type, nosniff, validators and the default Cache-Control", async () => {
  await withTree([], async ({ port }) => {
    const types: [string, string][] = [
      ["/small.txt", "text/plain; charset=utf-8"],
      ["/style.css", "text/css; charset=utf-8"],
      ["/app.js", "text/javascript; charset=utf-8"],
      ["/data.json", "application/json; charset=utf-8"],
      ["/index.html", "text/html; charset=utf-8"],
      ["/unknown.xyz", "application/octet-stream"],
      ["/noext", "application/octet-stream"],
      ["/big.bin", "application/octet-stream"],
    ];
    for (const [path, type] of types) {
      const res = await one(port, get(path), path === "/big.bin" ? "HEAD" : "GET");
      if (path === "/big.bin") continue;
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get("content-type"), type, path);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.equal(res.headers.get("accept-ranges"), "bytes");
      assert.equal(res.headers.get("cache-control"), "no-cache");
      assert.match(res.headers.get("etag")!, /^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
      assert.ok(!Number.isNaN(Date.parse(res.headers.get("last-modified")!)));
    }
    const small = await one(port, get("/small.txt?cache=bust"));
    assert.equal(text(small.body), "Hello, world\n", "query strings are ignored");
    const empty = await one(port, get("/empty.txt"));
    assert.equal(empty.status, 200);
    assert.equal(empty.headers.get("content-length"), "0");
  });
});

Deno.test("directories: index.html, redirect to the slash, an escaped listing, --no-listing", async () => {
  await withTree([], async ({ port }) => {
    assert.equal(text((await one(port, get("/"))).body), "<h1>home</h1>\n");
    const redirect = await one(port, get("/sub?x=1"));
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.get("location"), "/sub/?x=1");
    assert.equal(text((await one(port, get("/withindex/"))).body), "<p>inner</p>\n");
    const listing = await one(port, get("/sub/"));
    assert.equal(listing.status, 200);
    assert.equal(listing.headers.get("content-type"), "text/html; charset=utf-8");
    const html = text(listing.body);
    assert.match(html, /href="a%20%3Cb%3E%26c\.txt"/);
    assert.match(html, /a &#60;b&#62;&#38;c\.txt/);
    assert.doesNotMatch(html, /<b>/);
    assert.match(html, /href="\.\.\/"/);
  });
  await withTree(["--no-listing"], async ({ port }) => {
    assert.equal((await one(port, get("/sub/"))).status, 404);
    assert.equal((await one(port, get("/withindex/"))).status, 200);
  });
});

Deno.test("a directory of 10,050 files lists the 10,000 first in the order asked, not in disk order", async () => {
  const root = Deno.makeTempDirSync({ prefix: "rawserve-many-" });
  try {
    const n = 10_050;
    // Sizes all differ (file i holds i bytes), so the cut can be named exactly.
    const block = new Uint8Array(n);
    for (let i = 0; i < n; i++) Deno.writeFileSync(`${root}/f-${i}`, block.subarray(0, i));
    await withServer(["--root", root], async ({ port }) => {
      const json = (path: string) => one(port, get(path, "Accept: application/json\r\n"));
      const bySize = await json("/?sort=size&order=desc");
      assert.equal(bySize.status, 200);
      assert.equal(bySize.headers.get("listing-truncated"), "true");
      const sizes = (JSON.parse(text(bySize.body)) as { size: number }[]).map((e) => e.size);
      assert.equal(sizes.length, 10_000);
      assert.deepEqual(sizes.slice(0, 3), [n - 1, n - 2, n - 3], "the biggest files first");
      assert.equal(sizes.at(-1), 50, "the 50 smallest are the ones cut");
      const byName = await json("/");
      const names = (JSON.parse(text(byName.body)) as { name: string }[]).map((e) => e.name);
      assert.deepEqual(names.slice(0, 3), ["f-0", "f-1", "f-2"], "natural order");
      assert.equal(names.at(-1), "f-9999");
      const page = await one(port, get("/?sort=date&order=asc"));
      assert.match(text(page.body), /showing the first 10,000 of 10,050 entries in this order/);
      assert.equal((await one(port, get("/?sort=random"))).status, 400);
    });
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("conditional requests answer 304 without a body", async () => {
  await withTree(["--cache-control", "max-age=60"], async ({ port }) => {
    const first = await one(port, get("/small.txt"));
    assert.equal(first.headers.get("cache-control"), "max-age=60");
    const etag = first.headers.get("etag")!;
    const lastModified = first.headers.get("last-modified")!;
    for (const inm of [etag, `"x", ${etag}`, `W/${etag}`, "*"]) {
      const res = await one(port, get("/small.txt", `If-None-Match: ${inm}\r\n`));
      assert.equal(res.status, 304, inm);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers.get("etag"), etag);
    }
    assert.equal((await one(port, get("/small.txt", `If-None-Match: "other"\r\n`))).status, 200);
    assert.equal((await one(port, get("/small.txt", `If-Modified-Since: ${lastModified}\r\n`))).status, 304);
    const earlier = new Date(Date.parse(lastModified) - 60_000).toUTCString();
    assert.equal((await one(port, get("/small.txt", `If-Modified-Since: ${earlier}\r\n`))).status, 200);
  });
  await withTree(["--cache-control", ""], async ({ port }) => {
    assert.equal((await one(port, get("/small.txt"))).headers.get("cache-control"), undefined);
  });
});

Deno.test("byte ranges: single, open, suffix, clamped, unsatisfiable, several, If-Range", async () => {
  await withTree([], async ({ port }) => {
    const cases: [string, number, string, string?][] = [
      ["bytes=0-4", 206, "Hello", "bytes 0-4/13"],
      ["bytes=7-", 206, "world\n", "bytes 7-12/13"],
      ["bytes=-3", 206, "ld\n", "bytes 10-12/13"],
      ["bytes=0-0", 206, "H", "bytes 0-0/13"],
      ["bytes=5-999", 206, ", world\n", "bytes 5-12/13"],
      ["bytes=0-1,4-5", 200, "Hello, world\n"],
      ["bytes=x-y", 200, "Hello, world\n"],
    ];
    for (const [range, status, body, contentRange] of cases) {
      const res = await one(port, get("/small.txt", `Range: ${range}\r\n`));
      assert.equal(res.status, status, range);
      assert.equal(text(res.body), body, range);
      assert.equal(res.headers.get("content-range"), contentRange, range);
    }
    const unsatisfiable = await one(port, get("/small.txt", "Range: bytes=20-\r\n"));
    assert.equal(unsatisfiable.status, 416);
    assert.equal(unsatisfiable.headers.get("content-range"), "bytes */13");
    const etag = (await one(port, get("/small.txt"))).headers.get("etag")!;
    assert.equal(
      (await one(port, get("/small.txt", `Range: bytes=0-1\r\nIf-Range: ${etag}\r\n`))).status,
      206,
    );
    assert.equal(
      (await one(port, get("/small.txt", `Range: bytes=0-1\r\nIf-Range: "stale"\r\n`))).status,
      200,
    );
    const mid = await one(port, get("/big.bin", "Range: bytes=1000000-1000999\r\n"));
    assert.equal(mid.status, 206);
    assert.deepEqual(mid.body, TREE.big.subarray(1_000_000, 1_001_000));
    const tail = await one(port, get("/big.bin", "Range: bytes=-10\r\n"));
    assert.deepEqual(tail.body, TREE.big.subarray(BIG_BYTES - 10));
  });
});

Deno.test("HEAD, 405 with Allow, OPTIONS 204", async () => {
  await withTree([], async ({ port }) => {
    const request = "HEAD /small.txt HTTP/1.1\r\nHost: a\r\n\r\n" + get("/small.txt");
    const { responses } = await exchange(port, request, { responses: 2, methods: ["HEAD", "GET"] });
    assert.equal(responses[0]!.headers.get("content-length"), "13");
    assert.equal(responses[0]!.body.length, 0);
    assert.equal(text(responses[1]!.body), "Hello, world\n");
    const bigHead = await one(port, "HEAD /big.bin HTTP/1.1\r\nHost: a\r\n\r\n", "HEAD");
    assert.equal(bigHead.headers.get("content-length"), String(BIG_BYTES));
    for (const method of ["POST", "PUT", "DELETE"]) {
      const res = await one(port, `${method} /small.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n`);
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get("allow"), "GET, HEAD");
    }
    const options = await one(port, "OPTIONS /small.txt HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal(options.status, 204);
    assert.equal(options.headers.get("allow"), "GET, HEAD");
  });
});

Deno.test("traversal attempts never reach a file outside the root", async () => {
  const attempts: [string, number][] = [
    ["/../../etc/passwd", 404],
    ["/%2e%2e/%2e%2e/etc/passwd", 404],
    ["/..%2f..%2fetc%2fpasswd", 404],
    ["/%252e%252e/%252e%252e/etc/passwd", 404],
    ["/..\\..\\etc\\passwd", 400],
    ["/%5c..%5c..%5cetc/passwd", 400],
    ["/small.txt%00.html", 400],
    ["/%c0%ae%c0%ae/etc/passwd", 400],
    ["/../outside/secret.txt", 404],
    ["/link-outside.txt", 403],
    ["/dir-outside/secret.txt", 403],
  ];
  await withTree([], async ({ port }) => {
    for (const [path, status] of attempts) {
      const res = await one(port, `GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.equal(res.status, status, path);
      assert.doesNotMatch(text(res.body), /root:/, path);
    }
    assert.equal(text((await one(port, get("/sub/../small.txt"))).body), "Hello, world\n");
    assert.equal(text((await one(port, get("/link-inside.txt"))).body), "Hello, world\n");
  });
  await withTree(["--follow-symlinks"], async ({ port }) => {
    assert.equal(text((await one(port, get("/link-outside.txt"))).body), "root:x:0:0\n");
  });
});

Deno.test("dotfiles are hidden unless --dotfiles", async () => {
  await withTree([], async ({ port }) => {
    assert.equal((await one(port, get("/.env"))).status, 404);
    assert.equal((await one(port, get("/.git/config"))).status, 404);
    assert.doesNotMatch(text((await one(port, get("/withindex/../sub/"))).body), /\.env/);
  });
  await withTree(["--dotfiles"], async ({ port }) => {
    assert.equal(text((await one(port, get("/.env"))).body), "SECRET=1\n");
  });
});

async function sha256(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("a 64 MiB file arrives intact: fetched, read slowly, and by 8 clients at once", async () => {
  const expected = await sha256(TREE.big);
  await withTree([], async ({ port }) => {
    using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    const fetched = new Uint8Array(
      await (await fetch(`http://127.0.0.1:${port}/big.bin`, { client })).arrayBuffer(),
    );
    assert.equal(await sha256(fetched), expected);

    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(conn, bytes(get("/big.bin", "Connection: close\r\n")));
    const chunks: Uint8Array[] = [];
    const small = new Uint8Array(4096);
    let received = 0;
    for (let i = 0; received < 2 * 1024 * 1024; i++) { // slowly: small reads with pauses
      const n = await conn.read(small);
      if (n === null) break;
      chunks.push(small.slice(0, n));
      received += n;
      if (i % 32 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const big = new Uint8Array(1 << 20);
    for (;;) {
      const n = await conn.read(big);
      if (n === null) break;
      chunks.push(big.slice(0, n));
    }
    conn.close();
    const all = concat(chunks);
    const headEnd = text(all.subarray(0, 1024)).indexOf("\r\n\r\n") + 4;
    assert.equal(all.length - headEnd, BIG_BYTES);
    assert.equal(await sha256(all.subarray(headEnd)), expected);

    const many = await Promise.all(Array.from({ length: 8 }, async () => {
      const res = await fetch(`http://127.0.0.1:${port}/big.bin`, { client });
      return sha256(new Uint8Array(await res.arrayBuffer()));
    }));
    assert.ok(many.every((h) => h === expected));
  });
});

Deno.test("clients that leave mid-file release the file and the server keeps serving", async () => {
  await withTree([], async ({ port }) => {
    for (let i = 0; i < 5; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      await writeAll(conn, bytes(get("/big.bin")));
      const buf = new Uint8Array(1 << 20);
      let got = 0;
      while (got < 1 << 20) {
        const n = await conn.read(buf);
        if (n === null) break;
        got += n;
      }
      conn.close();
    }
    assert.equal((await one(port, get("/small.txt"))).status, 200);
  });
});

Deno.test("--access-log writes Common Log Format lines, the request time after them", async () => {
  const log = Deno.makeTempFileSync({ prefix: "rawserve-access-" });
  try {
    const server = await startServer(["--root", TREE.root, "--access-log", log]);
    await one(server.port, get("/small.txt"));
    await one(server.port, get("/nope"));
    assert.equal((await server.stop()).code, 0);
    const lines = Deno.readTextFileSync(log).trim().split("\n");
    assert.match(
      lines[0]!,
      /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/small\.txt HTTP\/1\.1" 200 13 \d+\.\d{3}$/,
    );
    assert.match(lines[1]!, /"GET \/nope HTTP\/1\.1" 404 14 \d+\.\d{3}$/);
  } finally {
    Deno.removeSync(log);
  }
});

Deno.test("a quote or backslash in a target is escaped in the access log, so no line can be forged", async () => {
  const log = Deno.makeTempFileSync({ prefix: "rawserve-access-" });
  try {
    const server = await startServer(["--root", TREE.root, "--access-log", log]);
    // The target is answered as any other path (RFC 3986 leaves `"` out, but clients send it
    // raw; see TARGET_CHAR): only the log must not take it as the end of the request field.
    const forged = '/x"_200_5_"-"_"forged';
    assert.equal((await one(server.port, get(forged))).status, 404);
    assert.equal((await one(server.port, get("/small.txt?a=\\%22"))).status, 200);
    assert.equal((await server.stop()).code, 0);
    const lines = Deno.readTextFileSync(log).trim().split("\n");
    assert.equal(lines.length, 2, "one line per request");
    const clf = /^127\.0\.0\.1 - - \[[^\]]+\] "((?:[^"\\]|\\x[0-9A-F]{2})*)" (\d{3}) (\d+|-) \d+\.\d{3}$/;
    const fields = lines.map((line) => clf.exec(line)?.slice(1));
    assert.deepEqual(fields, [
      ["GET /x\\x22_200_5_\\x22-\\x22_\\x22forged HTTP/1.1", "404", "14"],
      ["GET /small.txt?a=\\x5C%22 HTTP/1.1", "200", "13"],
    ]);
  } finally {
    Deno.removeSync(log);
  }
});
