// HTTP/1.1 connections on the real CLI, raw bytes in and out: the answer's fields, keep-alive and
// close, HTTP/1.0, pipelining in order, byte-at-a-time delivery, HEAD, half-close, a slow reader.

import assert from "node:assert/strict";
import { bytes, concat, exchange, get, readResponses, sleep, withServer, writeAll } from "./_server.ts";
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

Deno.test("200 concurrent connections are all served", async () => {
  await withServer([], async ({ port }) => {
    const results = await Promise.all(
      Array.from({ length: 200 }, () => exchange(port, get("/"), { responses: 1, timeoutMs: 10_000 })),
    );
    assert.ok(results.every((r) => r.responses[0]?.status === 200));
  });
});
