// The access log and the counters tell what happened (issue 23 items 8 and 9): a download cut
// short logs the bytes that left and the time it took, the operator's paths stay out unless
// asked, three formats; a handler that fails counts as an error, a client that leaves does not;
// with --workers each shutdown line names its worker; a log pipe nobody reads never stops serving.

import assert from "node:assert/strict";
import { cliCommand, exchange, get, sleep, startServer, stopOk } from "./_server.ts";
import { makePki, needs } from "./_tls.ts";

const APPS = new URL("./apps/", import.meta.url).pathname;
/** Far larger than any socket buffer, and sparse: no disk is spent on it. */
const BIG = 256 * 1024 * 1024;

/** A folder with a small file and a big sparse one. */
function tree(): { dir: string; [Symbol.dispose](): void } {
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-log-" });
  Deno.writeTextFileSync(`${dir}/small.txt`, "small file\n");
  using big = Deno.openSync(`${dir}/big.bin`, { write: true, create: true });
  big.truncateSync(BIG);
  return { dir, [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }) };
}

/** A temporary log file's path. */
function logFile(): { path: string; lines(): string[]; [Symbol.dispose](): void } {
  const path = Deno.makeTempFileSync({ prefix: "rawserve-access-" });
  return {
    path,
    lines: () => Deno.readTextFileSync(path).trim().split("\n").filter(Boolean),
    [Symbol.dispose]: () => Deno.removeSync(path),
  };
}

/** Starts a download of /big.bin, reads `keep` bytes of it, then resets the connection. */
async function abortedDownload(port: number, keep: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(get("/big.bin")));
  const buf = new Uint8Array(64 * 1024);
  let got = 0;
  while (got < keep) {
    const n = await conn.read(buf);
    if (n === null) break;
    got += n;
  }
  await new Promise((r) => setTimeout(r, 100)); // the kernel's buffers fill: the server blocks
  conn.close(); // unread bytes: the kernel sends RST
  return got;
}

/** Waits until `check` holds (the server logs in batches, and notices a reset when it writes). */
async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

const CLF = /^127\.0\.0\.1 - - \[[^\]]+\] "([^"]*)" (\d{3}) (\d+|-) (\d+\.\d{3})$/;

Deno.test("a download cut short logs the bytes that really left and its time, not the file's size", async () => {
  using site = tree();
  using log = logFile();
  const server = await startServer(["--root", site.dir, "--access-log", log.path]);
  let got = 0;
  try {
    got = await abortedDownload(server.port, 1024 * 1024);
    await exchange(server.port, get("/small.txt"), { responses: 1 });
    await until(() => log.lines().length >= 2);
  } finally {
    const stderr = await stopOk(server);
    // A client leaving is not the server's failure (item 9).
    assert.match(stderr, /; clients left 1 \((ECONNRESET|EPIPE) 1\); errors none\n$/, stderr);
  }
  const lines = log.lines().map((l) => CLF.exec(l)?.slice(1));
  const big = lines.find((l) => l?.[0] === "GET /big.bin HTTP/1.1")!;
  assert.ok(big, log.lines().join("\n"));
  assert.equal(big[1], "200", "the status that was sent");
  const sent = Number(big[2]);
  assert.ok(sent >= got && sent < BIG / 4, `bytes that left: ${sent} of ${BIG}, ${got} read`);
  assert.ok(Number(big[3]) >= 0.1, `the time it took: ${big[3]} s`);
  assert.deepEqual(lines.find((l) => l?.[0] === "GET /small.txt HTTP/1.1")?.slice(1, 3), ["200", "11"]);
});

Deno.test("the operator's paths stay out of the access log unless --log-operator-paths", async () => {
  using site = tree();
  for (const logOperator of [false, true]) {
    using log = logFile();
    const flags = ["--status", "/status", "--metrics", "/metrics", "--health", "/healthz"];
    const server = await startServer([
      "--root",
      site.dir,
      "--access-log",
      log.path,
      ...flags,
      ...(logOperator ? ["--log-operator-paths"] : []),
    ]);
    try {
      for (const path of ["/healthz", "/metrics", "/status?x=1", "/small.txt", "/statusx"]) {
        await exchange(server.port, get(path), { responses: 1 });
      }
    } finally {
      await stopOk(server);
    }
    const targets = log.lines().map((l) => CLF.exec(l)?.[1]);
    assert.deepEqual(
      targets,
      logOperator
        ? [
          "GET /healthz HTTP/1.1",
          "GET /metrics HTTP/1.1",
          "GET /status?x=1 HTTP/1.1",
          "GET /small.txt HTTP/1.1",
          "GET /statusx HTTP/1.1",
        ]
        : ["GET /small.txt HTTP/1.1", "GET /statusx HTTP/1.1"],
    );
  }
});

Deno.test("--log-format combined adds Referer and User-Agent; json is one object a line", async () => {
  using site = tree();
  const agent = 'User-Agent: test "agent"\r\nReferer: http://127.0.0.1/from\r\n';
  using combined = logFile();
  let server = await startServer([
    "--root",
    site.dir,
    "--access-log",
    combined.path,
    "--log-format",
    "combined",
  ]);
  await exchange(server.port, get("/small.txt", agent), { responses: 1 });
  await stopOk(server);
  assert.match(
    combined.lines()[0]!,
    /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/small\.txt HTTP\/1\.1" 200 11 "http:\/\/127\.0\.0\.1\/from" "test \\x22agent\\x22" \d+\.\d{3}$/,
  );
  using json = logFile();
  server = await startServer(["--root", site.dir, "--access-log", json.path, "--log-format", "json"]);
  await exchange(server.port, get("/small.txt", agent), { responses: 1 });
  const got = await abortedDownload(server.port, 256 * 1024);
  await until(() => json.lines().length >= 2);
  await stopOk(server);
  const [small, big] = json.lines().map((l) => JSON.parse(l));
  assert.deepEqual({ ...small, time: "", ms: 0 }, {
    time: "",
    remote: "127.0.0.1",
    method: "GET",
    target: "/small.txt",
    protocol: "HTTP/1.1",
    status: 200,
    bytes: 11,
    ms: 0,
    complete: true,
    user: null, // no --auth-file
    referer: "http://127.0.0.1/from",
    userAgent: 'test "agent"',
  });
  assert.ok(!Number.isNaN(Date.parse(small.time)));
  assert.equal(big.complete, false, "cut short, and says so");
  assert.ok(big.bytes >= got && big.bytes < BIG, `${big.bytes}`);
});

Deno.test("--log-format takes common, combined or json", async () => {
  const { runCli } = await import("./_server.ts");
  const { code, stderr } = await runCli(["--log-format", "apache"]);
  assert.equal(code, 2);
  assert.equal(stderr, 'rawserve: --log-format takes common, combined, json, not "apache"\n');
});

Deno.test("an --app handler that throws, and a 5xx it answers, count as errors", async () => {
  const server = await startServer(["--access-log", "/dev/null", "--app", `${APPS}throwing_app.ts`]);
  let stderr = "";
  try {
    for (const path of ["/boom", "/busy", "/fine"]) await exchange(server.port, get(path), { responses: 1 });
  } finally {
    stderr = await stopOk(server);
  }
  assert.match(stderr, /Handler failed: Error: the handler failed/);
  assert.match(stderr.trim().split("\n").at(-1)!, /; errors http 500 1, http 503 1$/);
});

Deno.test("with --workers, each worker's shutdown line names it", async () => {
  const server = await startServer(["--workers", "2", "--access-log", "/dev/null"]);
  const stderr = await stopOk(server);
  const lines = stderr.trim().split("\n").filter((l) => l.includes("connections"));
  assert.equal(lines.length, 2, stderr);
  assert.deepEqual(
    lines.map((l) => /^rawserve worker (\d): connections /.exec(l)?.[1]).sort(),
    ["0", "1"],
    stderr,
  );
});

Deno.test({
  ...needs("HTTPS: a client that leaves before its TLS handshake is a client that left, not an error", [
    "openssl",
  ]),
  fn: async () => {
    const pki = makePki();
    try {
      const server = await startServer([
        "--access-log",
        "/dev/null",
        "--cert",
        pki.leaf.cert,
        "--key",
        pki.leaf.key,
      ]);
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      conn.close(); // a FIN before any ClientHello
      await new Promise((r) => setTimeout(r, 200));
      const stderr = await stopOk(server);
      assert.match(
        stderr.trim().split("\n").at(-1)!,
        /; clients left 1 \(tls handshake: peer closed 1\); errors none$/,
      );
    } finally {
      pki.remove();
    }
  },
});

Deno.test("over HTTP/2 (h2c, curl) the access log has each response once, at its end, with its bytes", async () => {
  using site = tree();
  using log = logFile();
  const server = await startServer(["--root", site.dir, "--access-log", log.path]);
  try {
    // One curl per request: a second request on curl 7.88's reused h2c connection fails (exit
    // 16) against main as well; see the report.
    for (const path of ["/small.txt", "/nope"]) {
      const out = await new Deno.Command("curl", {
        args: ["-s", "--http2-prior-knowledge", "-o", "/dev/null", `http://127.0.0.1:${server.port}${path}`],
        signal: AbortSignal.timeout(10_000),
      }).output();
      assert.equal(out.code, 0);
    }
    await until(() => log.lines().length >= 2);
  } finally {
    await stopOk(server);
  }
  const fields = log.lines().map((l) => CLF.exec(l)?.slice(0, 3));
  assert.deepEqual(fields.map((f) => f?.slice(1)), [["GET /small.txt HTTP/2.0", "200"], [
    "GET /nope HTTP/2.0",
    "404",
  ]]);
  assert.match(log.lines()[0]!, /" 200 11 \d+\.\d{3}$/);
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
