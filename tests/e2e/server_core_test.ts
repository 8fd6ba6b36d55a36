// End-to-end: the real CLI on an ephemeral port, raw bytes in and out. Keep-alive, pipelining,
// byte-at-a-time delivery, the 8 KB limits, malformed requests, bodies, half-close, a slow
// reader, timeouts and shutdown; every test checks the server's fd count returns to baseline.

import assert from "node:assert/strict";
import {
  bytes,
  concat,
  exchange,
  get,
  readResponses,
  sleep,
  startServer,
  withServer,
  writeAll,
} from "./_server.ts";
import { EMBEDDED_PAGE } from "../../app/site/embedded_page.ts";

Deno.test("GET / answers the embedded page with Date, Server and Content-Length", async () => {
  await withServer([], async ({ port }) => {
    using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 }); // no pooled connection left open
    const res = await fetch(`http://127.0.0.1:${port}/`, { client });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(res.headers.get("server"), "rawserve");
    assert.match(
      res.headers.get("date")!,
      /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/,
    );
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), EMBEDDED_PAGE);
    assert.equal(Number(res.headers.get("content-length")), EMBEDDED_PAGE.length);
  });
});

Deno.test("keep-alive: three requests on one connection, and it stays open", async () => {
  await withServer([], async ({ port }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    for (let i = 0; i < 3; i++) {
      await writeAll(conn, bytes(get("/")));
      const { responses, closed } = await readResponses(conn, { responses: 1 });
      assert.equal(responses[0]?.status, 200);
      assert.equal(closed, false);
      assert.equal(responses[0]?.headers.get("connection"), undefined);
    }
    conn.close();
  });
});

Deno.test("HTTP/1.0 closes unless keep-alive is asked, and then says so", async () => {
  await withServer([], async ({ port }) => {
    const plain = await exchange(port, "GET / HTTP/1.0\r\n\r\n");
    assert.equal(plain.responses.length, 1);
    assert.equal(plain.closed, true);
    assert.equal(plain.responses[0]!.headers.get("connection"), "close");
    const kept = await exchange(port, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", { responses: 1 });
    assert.equal(kept.responses[0]!.headers.get("connection"), "keep-alive");
    assert.equal(kept.closed, false);
  });
});

Deno.test("Connection: close is honoured and nothing after it is answered", async () => {
  await withServer([], async ({ port }) => {
    const { responses, closed } = await exchange(port, get("/", "Connection: close\r\n") + get("/"));
    assert.equal(responses.length, 1);
    assert.equal(responses[0]!.headers.get("connection"), "close");
    assert.equal(closed, true);
  });
});

Deno.test("100 pipelined requests get 100 responses in request order", async () => {
  await withServer([], async ({ port }) => {
    const paths = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? "/nope" : "/"));
    const { responses } = await exchange(port, paths.map((p) => get(p)).join(""), { responses: 100 });
    assert.deepEqual(responses.map((r) => r.status), paths.map((p) => (p === "/" ? 200 : 404)));
  });
});

Deno.test("a request delivered one byte at a time is answered", async () => {
  await withServer([], async ({ port }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const request = bytes(get("/", "User-Agent: slow\r\n"));
    for (let i = 0; i < request.length; i++) {
      await writeAll(conn, request.subarray(i, i + 1));
      if (i % 8 === 0) await sleep(1);
    }
    const { responses } = await readResponses(conn, { responses: 1 });
    assert.equal(responses[0]?.status, 200);
    assert.deepEqual(responses[0]?.body, EMBEDDED_PAGE);
    conn.close();
  });
});

Deno.test("8 KB limits: a long request line gets 414, large fields 431, readable before the close", async () => {
  await withServer([], async ({ port }) => {
    const longLine = await exchange(port, `GET /${"a".repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.equal(longLine.responses[0]?.status, 414);
    assert.equal(longLine.closed, true);
    const bigFields = await exchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(8200)}\r\n\r\n`);
    assert.equal(bigFields.responses[0]?.status, 431);
    assert.equal(bigFields.closed, true);
    const unfinished = await exchange(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"b".repeat(9000)}`);
    assert.equal(unfinished.responses[0]?.status, 431, "no need to wait for the end of an oversized head");
    const fits = await exchange(port, get("/", `X-Fits: ${"c".repeat(7000)}\r\n`), { responses: 1 });
    assert.equal(fits.responses[0]?.status, 200);
  });
});

Deno.test("malformed requests get the right status and the connection is closed", async () => {
  const cases: [string, number][] = [
    ["GET / HTTP/1.1\r\n\r\n", 400], // no Host
    ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n", 400],
    ["GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400],
    ["GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400],
    ["GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
    ["GET /\r\n\r\n", 400],
    ["BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 501],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3\r\n\r\nabc", 400],
    ["POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400],
    ["GET / HTTP/1.1\nHost: a\n\n", 400],
  ];
  await withServer([], async ({ port }) => {
    for (const [request, status] of cases) {
      const { responses, closed } = await exchange(port, request);
      assert.equal(responses[0]?.status, status, JSON.stringify(request));
      assert.equal(responses[0]?.headers.get("connection"), "close", JSON.stringify(request));
      assert.equal(closed, true, JSON.stringify(request));
    }
  });
});

Deno.test("bodies the handler does not read are dropped in step, so pipelined requests stay in sync", async () => {
  await withServer(["--max-body", "1000"], async ({ port }) => {
    const fixed = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
    const chunked =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
    const { responses } = await exchange(port, fixed + get("/") + chunked + get("/nope"), { responses: 4 });
    assert.deepEqual(responses.map((r) => r.status), [405, 200, 405, 404]);
    assert.equal(responses[0]!.headers.get("allow"), "GET, HEAD");
    // The answer does not wait for a body it will not read (nor does --max-body apply to it).
    const early = await exchange(port, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", {
      responses: 1,
    });
    assert.equal(early.responses[0]?.status, 405);
  });
});

Deno.test("Expect: 100-continue to a handler that reads no body gets the final answer, no 100", async () => {
  await withServer([], async ({ port }) => {
    const request = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n";
    const { responses, closed, raw } = await exchange(port, request, { timeoutMs: 3000 });
    assert.deepEqual(responses.map((r) => r.status), [405]);
    assert.doesNotMatch(new TextDecoder().decode(raw), /100 Continue/);
    assert.ok(closed, "closed: whether the body will still come is unknown (RFC 9110 §10.1.1)");
  });
});

Deno.test("HEAD has the GET's Content-Length and no body", async () => {
  await withServer([], async ({ port }) => {
    const request = "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" + get("/");
    const { responses } = await exchange(port, request, { responses: 2, methods: ["HEAD", "GET"] });
    assert.equal(responses[0]!.headers.get("content-length"), String(EMBEDDED_PAGE.length));
    assert.equal(responses[0]!.body.length, 0);
    assert.deepEqual(responses[1]!.body, EMBEDDED_PAGE);
  });
});

Deno.test("a client that half-closes after its request still gets the whole answer", async () => {
  await withServer([], async ({ port }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(conn, bytes(get("/") + get("/nope")));
    await conn.closeWrite();
    const { responses, closed } = await readResponses(conn);
    assert.deepEqual(responses.map((r) => r.status), [200, 404]);
    assert.equal(closed, true);
    conn.close();
  });
});

Deno.test("a slow reader gets 3,000 pipelined responses intact while others are served", async () => {
  await withServer([], async ({ port }) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const count = 3000;
    const writing = writeAll(conn, bytes(get("/").repeat(count)));
    await sleep(300); // the server's output blocks: it must stop reading, not buffer everything
    const other = await exchange(port, get("/"), { responses: 1 });
    assert.equal(other.responses[0]?.status, 200, "another client is served meanwhile");
    const buf = new Uint8Array(512);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) { // read slowly at first
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      await sleep(2);
    }
    // Keep reading while the rest of the requests is still being written: the server only
    // reads more requests once its output drains.
    const { responses } = await readResponses(conn, {
      responses: count,
      prefix: concat(chunks),
      timeoutMs: 20_000,
    });
    await writing;
    assert.equal(responses.length, count);
    assert.ok(responses.every((r) => r.status === 200 && r.body.length === EMBEDDED_PAGE.length));
    conn.close();
  });
});

Deno.test("header and idle timeouts close stalled connections (408 for a partial head)", async () => {
  await withServer(["--header-timeout", "0.3", "--idle-timeout", "0.3"], async ({ port }) => {
    const started = Date.now();
    const partial = await exchange(port, "GET / HTTP/1.1\r\nHost:", { timeoutMs: 3000 });
    assert.equal(partial.responses[0]?.status, 408);
    assert.equal(partial.closed, true);
    assert.ok(Date.now() - started < 2000);
    const afterComplete = await exchange(port, get("/") + "GET / HTTP/1.1\r\nHo", { timeoutMs: 3000 });
    assert.deepEqual(
      afterComplete.responses.map((r) => r.status),
      [200, 408],
      "partial after a complete one",
    );
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(conn, bytes(get("/")));
    const idle = await readResponses(conn, { timeoutMs: 3000 });
    assert.equal(idle.responses[0]?.status, 200);
    assert.equal(idle.closed, true, "idle keep-alive connection closed by the server");
    conn.close();
  });
});

Deno.test("200 concurrent connections are all served", async () => {
  await withServer([], async ({ port }) => {
    const results = await Promise.all(
      Array.from({ length: 200 }, () => exchange(port, get("/"), { responses: 1, timeoutMs: 10_000 })),
    );
    assert.ok(results.every((r) => r.responses[0]?.status === 200));
  });
});

Deno.test("SIGTERM closes idle keep-alive connections, refuses new ones and exits 0", async () => {
  const server = await startServer(["--quiet"]);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await writeAll(conn, bytes(get("/")));
  await readResponses(conn, { responses: 1 });
  const stopping = server.stop("SIGTERM");
  const { closed } = await readResponses(conn, { timeoutMs: 3000 });
  assert.equal(closed, true);
  conn.close();
  const { code } = await stopping;
  assert.equal(code, 0);
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
});
