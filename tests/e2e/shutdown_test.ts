// Stopping end to end: SIGTERM and SIGINT close idle connections, refuse new ones and finish the
// downloads in flight; --shutdown-timeout and a second SIGINT cut what stalls, and say so.

import assert from "node:assert/strict";
import { bigFileRoot, bytes, get, readResponses, sleep, startServer, writeAll } from "./_server.ts";

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

Deno.test("graceful shutdown: refuses new connections, closes idle ones, finishes the download", async () => {
  const size = 48 * 1024 * 1024;
  const { root, remove } = bigFileRoot(size);
  const server = await startServer(["--quiet", "--root", root]);
  try {
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(idle, bytes(get("/nope")));
    await readResponses(idle, { responses: 1 });
    const download = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(download, bytes(get("/big.bin")));
    const buf = new Uint8Array(65536);
    let received = 0;
    received += (await download.read(buf)) ?? 0; // the transfer has begun
    const stopping = server.stop("SIGTERM");
    assert.equal((await readResponses(idle, { timeoutMs: 3000 })).closed, true, "idle connection closed");
    idle.close();
    await sleep(100);
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }), "listener closed");
    for (;;) {
      const n = await download.read(buf);
      if (n === null) break;
      received += n;
    }
    download.close();
    const headBytes = 400; // the head is a few hundred bytes; the body must be whole
    assert.ok(received >= size && received < size + headBytes, `received ${received} of ${size}`);
    const { code } = await stopping;
    assert.equal(code, 0);
  } finally {
    await server.stop();
    remove();
  }
});

Deno.test("shutdown timeout and a second SIGINT cut stalled downloads and say so", async () => {
  const { root, remove } = bigFileRoot(64 * 1024 * 1024);
  try {
    for (const mode of ["timeout", "second signal"]) {
      const server = await startServer(["--quiet", "--root", root, "--shutdown-timeout", "0.5"]);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await writeAll(conn, bytes(get("/big.bin")));
      await conn.read(new Uint8Array(1024)); // started, then never read again
      const started = Date.now();
      let result;
      if (mode === "timeout") {
        result = await server.stop("SIGINT");
        assert.match(result.stderr, /shutdown timeout reached; cut 1 connection/);
      } else {
        Deno.kill(server.pid, "SIGINT");
        await sleep(100);
        result = await server.stop("SIGINT");
        assert.match(result.stderr, /forced exit; cut 1 open connection/);
      }
      assert.ok(Date.now() - started < 3000, `${mode}: exited in time`);
      conn.close();
    }
  } finally {
    remove();
  }
});
