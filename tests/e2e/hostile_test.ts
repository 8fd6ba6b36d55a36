// Regressions from an adversarial review: requests and clients that once froze the server, filled
// its memory or its descriptor table, or learned about files outside the root. Each test bounds
// its own wait, so a regression fails in seconds instead of hanging the suite.

import assert from "node:assert/strict";
import { exchange, get, type RunningServer, startServer } from "./_server.ts";

function tempRoot(): { root: string; remove: () => void } {
  const root = Deno.makeTempDirSync({ prefix: "rawserve-hostile-" });
  return { root, remove: () => Deno.removeSync(root, { recursive: true }) };
}

function mkfifo(path: string): void {
  const { success } = new Deno.Command("mkfifo", { args: [path] }).outputSync();
  assert.ok(success, `mkfifo ${path}`);
}

async function stopOk(server: RunningServer): Promise<string> {
  const { code, stderr } = await server.stop();
  assert.equal(code, 0, stderr);
  return stderr;
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
  const cases: [string, string][] = [
    ["userinfo in absolute-form", "GET http://user:pw@host/ HTTP/1.1\r\nHost: host\r\n\r\n"],
    ["a chunk size followed by a space and a digit", post("3 3\r\nabc\r\n0\r\n\r\n")],
    ["a trailer line without a colon", post("3\r\nabc\r\n0\r\nno colon\r\n\r\n")],
    ["a flood of empty lines", `${"\r\n".repeat(100)}${get("/")}`],
    ["a Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"],
  ];
  try {
    for (const [name, request] of cases) {
      const { responses, closed } = await exchange(server.port, request, { timeoutMs: 3000 });
      assert.equal(responses[0]?.status, 400, name);
      assert.equal(responses.length, 1, `${name}: nothing after the error`);
      assert.ok(closed, `${name}: connection closed`);
    }
  } finally {
    await stopOk(server);
  }

  function post(body: string): string {
    return `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}${get("/")}`;
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
