// Where an HTTP/1.1 message ends, end to end: malformed heads and bodies (as RFC 9112 says to
// reject them) get their status and a closed connection; mutated requests never kill, hang or leak.

import assert from "node:assert/strict";
import {
  assertFdsReturn,
  bytes,
  exchange,
  get,
  readResponses,
  settledFdCount,
  startServer,
  stopOk,
  tempRoot,
  withServer,
  writeAll,
} from "./_server.ts";

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

Deno.test("framing the RFCs say to reject gets 400 and a closed connection", async () => {
  const server = await startServer(["--quiet"]);
  const heads: [string, string][] = [
    ["userinfo in absolute-form", "GET http://user:pw@host/ HTTP/1.1\r\nHost: host\r\n\r\n"],
    ["a flood of empty lines", `${"\r\n".repeat(100)}${get("/")}`],
    ["a Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"],
  ];
  // The built-in handlers answer POST (405) from the head and drop the body; a body whose
  // framing is malformed must then end the connection, so the request behind it is never
  // answered (the old decoder read "3 3" as 3 and answered it).
  const bodies: [string, string][] = [
    ["a chunk size followed by a space and a digit", "3 3\r\nabc\r\n0\r\n\r\n"],
    ["a trailer line without a colon", "3\r\nabc\r\n0\r\nno colon\r\n\r\n"],
  ];
  try {
    for (const [name, request] of heads) {
      const { responses, closed } = await exchange(server.port, request, { timeoutMs: 3000 });
      assert.deepEqual(responses.map((r) => r.status), [400], name);
      assert.ok(closed, `${name}: connection closed`);
    }
    for (const [name, body] of bodies) {
      const request = `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}${get("/")}`;
      const { responses, closed } = await exchange(server.port, request, { timeoutMs: 3000 });
      // Sent in one write, the error is known before the 405 goes out: 400 in its place.
      assert.deepEqual(responses.map((r) => r.status), [400], `${name}: the next request is not answered`);
      assert.ok(closed, `${name}: connection closed`);
    }
  } finally {
    await stopOk(server);
  }
});

Deno.test("a malformed chunked body sent with its head gets 400 and a close, not the file or a 405", async () => {
  const { root, remove } = tempRoot();
  Deno.writeTextFileSync(`${root}/a.txt`, "a\n");
  // Each body is malformed before it ends; a request follows that must never be answered.
  const bodies: [string, string][] = [
    ["a chunk size line ended by LF alone", "3\nabc\r\n0\r\n\r\n"],
    ["a chunk size line ended by CR and a letter", "3\rXabc\r\n0\r\n\r\n"],
    ["chunk data longer than its size", "3\r\nabcd\r\n0\r\n\r\n"],
    ["chunk data ended by LF alone", "3\r\nabc\n0\r\n\r\n"],
    ["a chunk size followed by a space and a digit", "3 3\r\nabc\r\n0\r\n\r\n"],
    ["a trailer line without a colon", "3\r\nabc\r\n0\r\nno colon\r\n\r\n"],
  ];
  const server = await startServer(["--quiet", "--root", root]);
  try {
    for (const method of ["GET", "POST"]) {
      for (const [name, body] of bodies) {
        const head = `${method} /a.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n`;
        // One write, so the server reads the head and the error together.
        const { responses, closed } = await exchange(server.port, head + body + get("/a.txt"), {
          timeoutMs: 3000,
        });
        assert.deepEqual(responses.map((r) => r.status), [400], `${method}, ${name}`);
        assert.ok(closed, `${method}, ${name}: connection closed`);
      }
      // A well-formed chunked body is dropped and the requests after it are answered.
      const good = `${method} /a.txt HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n` +
        "3;x=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n";
      const { responses, closed } = await exchange(server.port, good + get("/a.txt") + good + get("/a.txt"), {
        responses: 4,
      });
      const ok = method === "GET" ? 200 : 405;
      assert.deepEqual(responses.map((r) => r.status), [ok, 200, ok, 200], `${method}: pipelined after`);
      assert.equal(new TextDecoder().decode(responses[1]!.body), "a\n");
      assert.ok(!closed, `${method}: kept alive`);
    }
  } finally {
    await stopOk(server);
    remove();
  }
});

Deno.test("mutated requests over real sockets never kill, hang or leak", async () => {
  const server = await startServer(["--quiet", "--header-timeout", "1", "--body-timeout", "1"]);
  let seed = 99;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const valid = [
    get("/"),
    "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
    get("/nope", "X: y\r\n"),
  ];
  try {
    const baseline = await settledFdCount(server);
    const tasks = Array.from({ length: 150 }, async () => {
      let text = "";
      for (let i = 0; i < 3; i++) text += valid[Math.floor(rand() * valid.length)]!;
      const data = bytes(text);
      for (let e = 0; e < 3; e++) {
        data[Math.floor(rand() * data.length)] = [0, 10, 13, 32, 58, 255][Math.floor(rand() * 6)]!;
      }
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      try {
        await writeAll(conn, data.subarray(0, Math.floor(data.length * (0.5 + rand() / 2))));
        if (rand() < 0.3) return; // abrupt close without reading
        await readResponses(conn, { timeoutMs: 3000 }); // answered and closed, or closed
      } finally {
        try {
          conn.close();
        } catch {
          // already closed by readResponses' timeout, which has thrown its own error
        }
      }
    });
    for (const r of await Promise.allSettled(tasks)) {
      if (r.status === "rejected") assert.fail(`a connection hung or failed: ${r.reason}`);
    }
    const { responses } = await exchange(server.port, get("/"), { responses: 1 });
    assert.equal(responses[0]?.status, 200, "still serving");
    await assertFdsReturn(server, baseline, 4000);
  } finally {
    await stopOk(server);
  }
});
