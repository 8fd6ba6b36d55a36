// HTTP/2 over cleartext by prior knowledge (RFC 9113 §3.3): a connection that opens with the
// client preface speaks h2, anything else HTTP/1.1 on the same port. Real clients no one here
// wrote: curl (--http2-prior-knowledge) and node:http2.

import assert from "node:assert/strict";
import http2 from "node:http2";
import { startServer } from "./_server.ts";
import { request } from "./_h2.ts";
import type { StatusSnapshot } from "../../app/operator/server_status.ts";

function h2Test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, fn });
}

async function site(): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/index.html`, "hello h2\n");
  await Deno.writeFile(`${dir}/big.bin`, new Uint8Array(300_000).map((_, i) => i * 7));
  return dir;
}

h2Test("curl --http2-prior-knowledge gets a static file over h2c, HEAD without a body", async () => {
  const dir = await site();
  const server = await startServer(["--quiet", dir]);
  try {
    const out = await new Deno.Command("curl", {
      args: [
        "-s",
        "--http2-prior-knowledge",
        "-w",
        "\n%{http_version} %{http_code}",
        `http://127.0.0.1:${server.port}/`,
      ],
      signal: AbortSignal.timeout(10_000),
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), "hello h2\n\n2 200");
    const head = await new Deno.Command("curl", {
      args: ["-s", "-I", "--http2-prior-knowledge", `http://127.0.0.1:${server.port}/big.bin`],
      signal: AbortSignal.timeout(10_000),
    }).output();
    const text = new TextDecoder().decode(head.stdout);
    assert.match(text, /^HTTP\/2 200/);
    assert.match(text, /content-length: 300000/);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

h2Test("node:http2 multiplexes thirty requests on one connection, files byte-exact", async () => {
  const dir = await site();
  const server = await startServer(["--quiet", dir]);
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  try {
    const want = await Deno.readFile(`${dir}/big.bin`);
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => request(session, { ":path": i % 3 ? "/" : "/big.bin" })),
    );
    answers.forEach((a, i) => {
      assert.equal(a.status, 200);
      if (i % 3 === 0) assert.deepEqual(a.body, want);
      else assert.equal(new TextDecoder().decode(a.body), "hello h2\n");
    });
    const range = await request(session, { ":path": "/big.bin", range: "bytes=10-19" });
    assert.equal(range.status, 206);
    assert.deepEqual(range.body, want.subarray(10, 20));
  } finally {
    session.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

h2Test("an app's streamed bodies go both ways over h2c, through flow control", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/app.ts`,
    `export default { fetch: (req: Request) => new Response(req.body) };\n`,
  );
  const server = await startServer(["--quiet", "--max-body", "10000000", "--app", `${dir}/app.ts`]);
  const session = http2.connect(`http://127.0.0.1:${server.port}`);
  try {
    const body = new Uint8Array(3_000_000).map((_, i) => i);
    const echoed = await request(session, { ":path": "/", ":method": "POST" }, body);
    assert.equal(echoed.status, 200);
    assert.deepEqual(echoed.body, body);
  } finally {
    session.close();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

h2Test(
  "the status page lists h2 connections with streams and windows; metrics count requests by protocol",
  async () => {
    const dir = await site();
    const server = await startServer(["--quiet", "--status", "/status", "--metrics", "/metrics", dir]);
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request(session, { ":path": "/" })).status, 200);
      const h1 = await fetch(`http://127.0.0.1:${server.port}/`);
      assert.equal(await h1.text(), "hello h2\n");
      const status = await request(session, { ":path": "/status", accept: "application/json" });
      assert.equal(status.status, 200);
      const snapshot = JSON.parse(new TextDecoder().decode(status.body)) as StatusSnapshot;
      const rows = snapshot.connections.rows;
      const h2Row = rows.find((r) => r.protocol === "h2");
      assert.ok(h2Row, "the h2 connection has a row");
      assert.equal(h2Row.requests, 4, "three files and this page, each a stream");
      assert.equal(h2Row.streams!.open, 1, "this page's own stream is open");
      assert.ok(h2Row.streams!.sendWindow > 0 && h2Row.streams!.receiveWindow > 0);
      assert.ok(
        rows.some((r) => r.protocol === "h1" && r.streams === null),
        "fetch's HTTP/1.1 connection too",
      );
      assert.deepEqual(snapshot.counters.requestsByProtocol, { h1: 1, h2: 3 });
      const metrics = new TextDecoder().decode((await request(session, { ":path": "/metrics" })).body);
      assert.match(metrics, /^rawserve_requests_by_protocol_total\{protocol="h1"\} 1$/m);
      assert.match(
        metrics,
        /^rawserve_requests_by_protocol_total\{protocol="h2"\} 4$/m,
        "the status page's too",
      );
    } finally {
      session.close();
      await server.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
