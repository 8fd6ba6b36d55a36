// Request bodies through real sockets. Read by a handler that wants them (an echo server in this
// process): exact framing for pipelining, the size limit, the stall timeout, 100 (Continue).
// Not read by the CLI's own handlers: dropped in step, answered without waiting for them.

import assert from "node:assert/strict";
import { bytes, exchange, get, readResponses, serveInProcess, withServer, writeAll } from "./_server.ts";
import type { Handler } from "../../http/types.ts";

const echo: Handler = async (request) => ({
  status: 200,
  headers: ["Content-Type", "application/octet-stream"],
  body: request.body ? await request.body.bytes() : new Uint8Array(0),
});

Deno.test("request bodies are framed exactly so a pipelined request after them stays in sync", async () => {
  const { port, stop } = serveInProcess({ handler: echo, maxBodyBytes: 1000 });
  try {
    const fixed = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world";
    const chunked =
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
    const { responses } = await exchange(port, fixed + get("/") + chunked + get("/"), { responses: 4 });
    const text = (b: Uint8Array) => new TextDecoder().decode(b);
    assert.deepEqual(responses.map((r) => text(r.body)), ["hello world", "", "hello", ""]);
    const tooBig = await exchange(port, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n");
    assert.equal(tooBig.responses[0]?.status, 413);
    assert.equal(tooBig.closed, true);
  } finally {
    await stop();
  }
});

Deno.test("a stalled request body gets 408 after the body timeout", async () => {
  const { port, stop } = serveInProcess({ handler: echo, bodyTimeoutMs: 300 });
  try {
    const started = Date.now();
    const { responses, closed } = await exchange(
      port,
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789",
      { timeoutMs: 3000 },
    );
    assert.equal(responses[0]?.status, 408);
    assert.equal(closed, true);
    assert.ok(Date.now() - started < 2000);
  } finally {
    await stop();
  }
});

Deno.test("Expect: 100-continue gets an interim 100 before the body is sent", async () => {
  const { port, stop } = serveInProcess({ handler: echo });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await writeAll(
      conn,
      bytes("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"),
    );
    const buf = new Uint8Array(256);
    const n = await conn.read(buf);
    assert.match(new TextDecoder().decode(buf.subarray(0, n ?? 0)), /^HTTP\/1\.1 100 Continue\r\n\r\n/);
    await writeAll(conn, bytes("body"));
    const { responses } = await readResponses(conn, { responses: 1 });
    assert.equal(new TextDecoder().decode(responses[0]?.body), "body");
    conn.close();
  } finally {
    await stop();
  }
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
