// What a client can make the server hold, and the bounds on it: the 8 KB head limits, the
// connection limit (clients beyond it wait in the backlog; downloads' descriptors count), EMFILE
// without a busy loop, memory under a pipelining flood or stalled uploads.

import assert from "node:assert/strict";
import {
  bytes,
  exchange,
  get,
  readResponses,
  settledFdCount,
  sleep,
  startServer,
  stopOk,
  tempRoot,
  withServer,
  writeAll,
} from "./_server.ts";
import { cpuMs, rssKiB } from "../../scripts/measure.ts";

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

Deno.test("--max-connections: beyond the limit clients wait in the backlog, without CPU spin", async () => {
  const server = await startServer(["--quiet", "--max-connections", "5"]);
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await writeAll(c, bytes(get("/")));
      await readResponses(c, { responses: 1 });
      conns.push(c);
    }
    const waiting = await Deno.connect({ hostname: "127.0.0.1", port: server.port }); // kernel backlog
    await writeAll(waiting, bytes(get("/")));
    const before = cpuMs(server.pid);
    const early = readResponses(waiting, { responses: 1, timeoutMs: 3000 });
    await sleep(500);
    assert.ok(cpuMs(server.pid) - before <= 100, "no busy loop while at the limit");
    conns.pop()!.close(); // one slot frees: the waiting client is accepted and served
    const { responses } = await early;
    assert.equal(responses[0]?.status, 200);
    waiting.close();
  } finally {
    for (const c of conns) c.close();
    await stopOk(server);
  }
});

Deno.test("the connection limit counts the descriptors that downloads hold", async () => {
  const { root, remove } = tempRoot();
  Deno.writeFileSync(`${root}/big.bin`, new Uint8Array(1 << 20));
  // Under this limit the default budget is 600 - 256 = 344 descriptors, and 320 stalled
  // downloads would need 640 (a socket and a file each): more than the process may open.
  const limit = 600;
  const args = ["--access-log", "/dev/null", "--sndbuf", "4096", "--root", root];
  const server = await startServer(args, {}, { fileLimit: limit });
  const conns: Deno.Conn[] = [];
  let stderr = "";
  try {
    let peak = 0;
    for (let i = 0; i < 320; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await writeAll(conn, bytes(get("/big.bin"))); // and never read: each stalls after ~136 KiB
      conns.push(conn);
      if (i % 32 === 0) peak = Math.max(peak, server.fdCount());
    }
    await sleep(500);
    peak = Math.max(peak, server.fdCount());
    assert.ok(peak < limit - 200, `peak of ${peak} descriptors stays near the budget, under ${limit}`);
    for (const conn of conns.splice(0)) conn.close();
    const { responses } = await exchange(server.port, get("/big.bin"), { responses: 1, timeoutMs: 10_000 });
    assert.equal(responses[0]?.status, 200, "served once the downloads are gone");
  } finally {
    for (const conn of conns) conn.close();
    stderr = (await server.stop()).stderr;
    remove();
  }
  assert.doesNotMatch(stderr, /EMFILE|errno 24/, "never out of descriptors");
});

Deno.test("EMFILE from accept4 backs off instead of spinning, and recovers", async () => {
  // The descriptor budget (open-file limit - 256, at least 16) normally stops accepting before
  // the table is full. Under a limit of 40 its floor of 16 plus Deno's own ~28 descriptors
  // overshoots, so accept4 meets EMFILE after about a dozen connections.
  const server = await startServer(["--access-log", "/dev/null", "--max-connections", "100000"], {}, {
    fileLimit: 40,
  });
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 80; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await c.write(bytes("G")); // TCP_DEFER_ACCEPT hands over only connections that have spoken
      conns.push(c);
    }
    await sleep(300);
    const before = cpuMs(server.pid);
    await sleep(1000);
    const spent = cpuMs(server.pid) - before;
    assert.ok(spent <= 300, `server used ${spent} ms of CPU in 1 s while out of descriptors`);
    for (const c of conns.splice(0)) c.close();
    await sleep(300);
    const { responses } = await exchange(server.port, get("/"), { responses: 1, timeoutMs: 3000 });
    assert.equal(responses[0]?.status, 200, "served again once descriptors are free");
    const stderr = await stopOk(server);
    assert.match(stderr, /EMFILE/, "counted in the shutdown counters");
  } finally {
    for (const c of conns) c.close();
    await server.stop();
  }
});

Deno.test("a pipelining flood is read no faster than it is answered: memory stays bounded", async () => {
  const server = await startServer(["--quiet"]);
  try {
    const before = rssKiB(server.pid);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const count = 20_000;
    const writing = writeAll(conn, bytes(get("/").repeat(count)));
    await sleep(1000); // not reading: the server must stop reading too
    const grown = rssKiB(server.pid) - before;
    assert.ok(grown < 20 * 1024, `RSS grew ${grown} KiB while the client did not read`);
    const { responses } = await readResponses(conn, { responses: count, timeoutMs: 30_000 });
    await writing;
    assert.equal(responses.length, count);
    conn.close();
  } finally {
    await stopOk(server);
  }
});

Deno.test("request bodies nobody reads are not kept: 300 stalled 1 MB uploads leave RSS flat", async () => {
  const server = await startServer(["--quiet"]);
  const conns: Deno.Conn[] = [];
  try {
    await exchange(server.port, get("/"), { responses: 1 }); // warm up before measuring
    const before = rssKiB(server.pid) / 1024;
    const body = new Uint8Array(1_000_000).fill(120);
    const head = bytes("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1048576\r\n\r\n");
    await Promise.all(Array.from({ length: 300 }, async () => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      conns.push(conn);
      try {
        await writeAll(conn, head);
        await writeAll(conn, body); // then stall, 48,576 bytes short
      } catch {
        // the server answered and closed: that is allowed
      }
    }));
    await sleep(500);
    const grown = rssKiB(server.pid) / 1024 - before;
    assert.ok(grown < 40, `RSS grew ${grown.toFixed(1)} MiB for 300 MB of bodies nobody reads`);
    // A body small enough to drop keeps the connection for the next request.
    const small = `POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n${"y".repeat(5000)}${get("/")}`;
    const { responses, closed } = await exchange(server.port, small, { responses: 2 });
    assert.deepEqual(responses.map((r) => r.status), [405, 200]);
    assert.equal(closed, false);
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // closed already
      }
    }
    await stopOk(server);
  }
});

Deno.test("large files kept open count in the descriptor budget, and are closed to make room for connections", async () => {
  const { root, remove } = tempRoot();
  const files = 40; // kept open after one request each (MAX_OPEN_FILES allows 64)
  for (let i = 0; i < files; i++) Deno.writeFileSync(`${root}/f${i}.bin`, new Uint8Array(100 * 1024)); // sent with sendfile
  // A limit of 300 leaves a budget of 300 - 256 = 44 descriptors: the 40 kept files and 20
  // connections do not fit together, so the server must close kept files to take the connections.
  const budget = 44;
  const args = ["--access-log", "/dev/null", "--root", root, "--metrics", "/metrics"];
  const server = await startServer(args, {}, { fileLimit: 300 });
  const conns: Deno.Conn[] = [];
  try {
    await settledFdCount(server, get("/f0.bin", "Connection: close\r\n"));
    const baseline = server.fdCount();
    for (let i = 1; i < files; i++) {
      const { responses } = await exchange(server.port, get(`/f${i}.bin`, "Connection: close\r\n"), {
        responses: 1,
      });
      assert.equal(responses[0]?.status, 200);
    }
    await sleep(100);
    assert.ok(server.fdCount() >= baseline + files - 1, "the files stay open between requests");
    const metrics = await exchange(server.port, get("/metrics", "Connection: close\r\n"), { responses: 1 });
    assert.match(
      new TextDecoder().decode(metrics.responses[0]!.body),
      new RegExp(`^rawserve_files_kept ${files}$`, "m"),
    );
    // The metrics connection's close may trail its answer on a loaded machine: count from a
    // server that has settled, so that a descriptor on its way out is not taken for one in use.
    for (let last = -1, i = 0; i < 50 && server.fdCount() !== last; i++) {
      last = server.fdCount();
      await sleep(40);
    }
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      conns.push(conn);
      await writeAll(conn, bytes(get("/f0.bin")));
      const { responses } = await readResponses(conn, { responses: 1, timeoutMs: 3000 });
      assert.equal(responses[0]?.status, 200, `connection ${i} accepted and served`);
      peak = Math.max(peak, server.fdCount());
    }
    // The baseline holds f0.bin's kept descriptor already; connections plus kept files stay in the budget.
    assert.ok(peak - baseline + 1 <= budget, `${peak - baseline + 1} descriptors in use, budget ${budget}`);
  } finally {
    for (const conn of conns) conn.close();
    await stopOk(server);
    remove();
  }
});
