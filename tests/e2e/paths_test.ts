// What a path in the root may reach, end to end: a FIFO answers 403 without blocking anyone, a path
// through a file is 404, and a listing shows nothing of links that leave the root.

import assert from "node:assert/strict";
import { exchange, get, startServer, stopOk, tempRoot } from "./_server.ts";

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
