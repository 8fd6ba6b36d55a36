// Regressions from an adversarial review: requests and clients that once froze the server, filled
// its memory or its descriptor table, or learned about files outside the root. Each test bounds
// its own wait, so a regression fails in seconds instead of hanging the suite.

import assert from "node:assert/strict";
import { bytes, cliCommand, exchange, get, sleep, startServer, stopOk, writeAll } from "./_server.ts";
import { rssKiB } from "../../scripts/measure.ts";

function tempRoot(): { root: string; remove: () => void } {
  const root = Deno.makeTempDirSync({ prefix: "rawserve-hostile-" });
  return { root, remove: () => Deno.removeSync(root, { recursive: true }) };
}

function mkfifo(path: string): void {
  const { success } = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.ok(success, `mkfifo ${path}`);
}

Deno.test("a FIFO in the root answers 403 at once and never blocks other clients", async () => {
  const { root, remove } = tempRoot();
  mkfifo(`${root}/pipe`);
  Deno.writeTextFileSync(`${root}/a.txt`, "a\n");
  Deno.symlinkSync(`${root}/pipe`, `${root}/link-to-pipe`);
  try {
    for (const extra of [[], ["--follow-symlinks"]]) {
      const server = await startServer(["--quiet", "--root", root, ...extra]);
      try {
        const started = Date.now();
        const [fifo, link, other] = await Promise.all([
          exchange(server.port, get("/pipe"), { responses: 1, timeoutMs: 2000 }),
          exchange(server.port, get("/link-to-pipe"), { responses: 1, timeoutMs: 2000 }),
          exchange(server.port, get("/a.txt"), { responses: 1, timeoutMs: 2000 }),
        ]);
        assert.equal(fifo.responses[0]?.status, 403, `${extra}: the FIFO itself`);
        assert.equal(link.responses[0]?.status, 403, `${extra}: a link to the FIFO`);
        assert.equal(other.responses[0]?.status, 200, `${extra}: another client meanwhile`);
        assert.ok(Date.now() - started < 1500, "answered without waiting for a writer");
      } finally {
        // A server stuck in open(2) ignores SIGTERM; stop() then kills it after its own bound.
        await server.stop();
      }
    }
  } finally {
    remove();
  }
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

Deno.test("a path through a file is 404, not the file", async () => {
  const { root, remove } = tempRoot();
  Deno.writeTextFileSync(`${root}/file.txt`, "x\n");
  const server = await startServer(["--quiet", "--root", root]);
  try {
    const { responses } = await exchange(server.port, get("/file.txt/") + get("/file.txt"), {
      responses: 2,
    });
    assert.deepEqual(responses.map((r) => r.status), [404, 200]);
  } finally {
    await stopOk(server);
    remove();
  }
});

Deno.test("a listing shows nothing of what links outside the root point to", async () => {
  const { root, remove } = tempRoot();
  const outside = Deno.makeTempDirSync({ prefix: "rawserve-outside-" });
  const secret = "s".repeat(123_457); // a size the listing would print as "120.6 KiB"
  Deno.writeTextFileSync(`${outside}/secret.txt`, secret);
  Deno.writeTextFileSync(`${root}/inside.txt`, "x".repeat(2048));
  Deno.symlinkSync(`${outside}/secret.txt`, `${root}/link_out`);
  Deno.symlinkSync(outside, `${root}/dir_out`);
  Deno.symlinkSync("inside.txt", `${root}/link_in`);
  Deno.symlinkSync("missing", `${root}/dangling`);
  Deno.utimeSync(`${outside}/secret.txt`, new Date("2001-02-03T04:05:00Z"), new Date("2001-02-03T04:05:00Z"));
  try {
    for (const follow of [false, true]) {
      const server = await startServer(["--quiet", "--root", root, ...(follow ? ["--follow-symlinks"] : [])]);
      try {
        const { responses } = await exchange(server.port, get("/") + get("/link_out"), { responses: 2 });
        const html = new TextDecoder().decode(responses[0]!.body);
        assert.match(
          html,
          /href="link_in">link_in<\/a><\/td><td class="size"[^>]*>2 KiB/,
          "a link inside shows its target",
        );
        assert.doesNotMatch(html, /dangling/, "a dangling link is not listed");
        if (follow) {
          assert.match(html, /link_out.*120\.6 KiB.*2001-02-03 04:05/, "followed links are listed");
          assert.equal(responses[1]!.status, 200);
        } else {
          assert.doesNotMatch(
            html,
            /link_out|dir_out|120\.6 KiB|2001-02-03/,
            "links leaving the root are hidden",
          );
          assert.equal(responses[1]!.status, 403);
        }
      } finally {
        await stopOk(server);
      }
    }
  } finally {
    remove();
    Deno.removeSync(outside, { recursive: true });
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

Deno.test("an access-log pipe nobody reads does not stop the server", async () => {
  // stdout is a pipe this test stops reading after the URL line: it fills after 64 KiB of log
  // lines, and a synchronous write of the next batch would block the only thread.
  const child = new Deno.Command(Deno.execPath(), {
    args: cliCommand(["--port", "0"]),
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  try {
    let text = "";
    while (!/:(\d+)\//.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    const port = Number(/:(\d+)\//.exec(text)![1]);
    const count = 3000; // ~200 KB of log lines
    const { responses } = await exchange(port, get("/").repeat(count), {
      responses: count,
      timeoutMs: 10_000,
    });
    assert.equal(responses.length, count);
    await sleep(400); // a batch leaves every 250 ms: the pipe is full by now
    const after = await exchange(port, get("/"), { responses: 1, timeoutMs: 2000 });
    assert.equal(after.responses[0]?.status, 200, "still serving with the log pipe full");
  } finally {
    child.kill("SIGKILL");
    await child.status;
    reader.releaseLock();
    await child.stdout.cancel();
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
