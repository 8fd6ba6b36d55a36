// Timeouts end to end: a stalled head (408) or an idle keep-alive connection, a client that stops
// reading (--write-timeout), a dropped body that stalls (--body-timeout). A body a handler reads
// and that stalls is in bodies_test.ts.

import assert from "node:assert/strict";
import {
  assertFdsReturn,
  bigFileRoot,
  bytes,
  exchange,
  get,
  readResponses,
  settledFdCount,
  sleep,
  startServer,
  stopOk,
  withServer,
  writeAll,
} from "./_server.ts";

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

Deno.test("a client that stops reading is cut by --write-timeout and its file released", async () => {
  const { root, remove } = bigFileRoot(32 * 1024 * 1024);
  const server = await startServer(["--quiet", "--root", root, "--write-timeout", "0.5"]);
  try {
    const baseline = await settledFdCount(server);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, bytes(get("/big.bin")));
    await sleep(300);
    assert.ok(server.heldFdCount() > baseline, "socket open while sending");
    await assertFdsReturn(server, baseline, 4000); // closed by the write timeout
    conn.close();
  } finally {
    await stopOk(server);
    remove();
  }
});

Deno.test("a dropped request body that stalls is closed after --body-timeout", async () => {
  const server = await startServer(["--quiet", "--body-timeout", "0.3"]);
  try {
    const started = Date.now();
    const { responses, closed } = await exchange(
      server.port,
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789",
      { timeoutMs: 3000 },
    );
    assert.deepEqual(responses.map((r) => r.status), [405], "answered at once, and only once");
    assert.equal(closed, true);
    assert.ok(Date.now() - started < 2000);
  } finally {
    await stopOk(server);
  }
});
