// The command line: help, version, one-line errors with exit code 2 for usage and 1 for
// start-up failures, IPv6, workers, and the compiled binary (skipped where it cannot be built).

import assert from "node:assert/strict";
import { cliCommand, exchange, get, runCli, startServer } from "./_server.ts";
import { VERSION } from "../../app/cli/usage.ts";
import { childPids, processAlive } from "../../scripts/measure.ts";

Deno.test("--help and --version exit 0", async () => {
  const help = await runCli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: deno run .*main\.ts \[options\] \[DIR\]$/m, "the command as it was run");
  assert.match(help.stdout, /--header-timeout/);
  assert.match(help.stdout, /--spa/);
  const version = await runCli(["--version"]);
  assert.equal(version.code, 0);
  assert.equal(version.stdout.trim(), `rawserve ${VERSION}`);
});

Deno.test("usage errors print one line and exit 2", async () => {
  for (
    const args of [
      ["--nope"],
      ["--port", "abc"],
      ["--port", "70000"],
      ["--port"],
      ["--header-timeout", "-1"],
      ["--workers", "zero"],
      ["--no-delay", "maybe"],
      ["a", "b"],
      ["--header", "X-A: 1\r\nSet-Cookie: a=b", "."],
      ["--cors", "example.com", "."],
    ]
  ) {
    const { code, stderr } = await runCli(args);
    assert.equal(code, 2, args.join(" "));
    const lines = stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line for ${args.join(" ")}: ${stderr}`);
    assert.match(lines[0]!, /^rawserve: [A-Z-]/);
  }
});

Deno.test("--cache-control refuses at start what --header refuses in a field value", async () => {
  // RFC 9110 §5.5: a value of Latin-1 field-vchar, SP and HTAB. Before, U+2713 started and then
  // made every file a 500, and \x01 was written into every answer.
  const root = Deno.makeTempDirSync({ prefix: "rawserve-cc-" });
  try {
    for (const value of ["max-age=60 \u2713", "max-age=60\x01", "no-cache\x7f", "a\nb"]) {
      for (const flag of [["--cache-control", value], ["--header", `X-Test: ${value}`]]) {
        const { code, stderr } = await runCli([...flag, root]);
        assert.equal(code, 2, `${flag.join(" ")}: ${stderr}`);
        const lines = stderr.trim().split("\n");
        assert.equal(lines.length, 1, `one line for ${JSON.stringify(flag)}: ${stderr}`);
        assert.match(lines[0]!, /^rawserve: .*beyond Latin-1/);
      }
    }
    Deno.writeTextFileSync(`${root}/a.txt`, "a\n");
    // Tabs and Latin-1 letters are field-vchar; the spaces around the value are not part of it.
    const server = await startServer(["--quiet", "--cache-control", " max-age=60,\tx=\u00e9 ", root]);
    try {
      const { responses } = await exchange(server.port, get("/a.txt"), { responses: 1 });
      assert.equal(responses[0]!.status, 200);
      assert.equal(responses[0]!.headers.get("cache-control"), "max-age=60,\tx=\u00e9");
    } finally {
      await server.stop();
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("start-up failures print one line and exit 1", async () => {
  const server = await startServer(["--quiet"]);
  try {
    const inUse = await runCli(["--port", String(server.port)]);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr.trim(), /^rawserve: Cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE.*--port$/);
    assert.equal(inUse.stderr.trim().split("\n").length, 1);
  } finally {
    await server.stop();
  }
  const badHost = await runCli(["--host", "nonsense", "--port", "0"]);
  assert.equal(badHost.code, 1);
  assert.match(badHost.stderr, /^rawserve: Cannot listen on nonsense: .*--host/);
  const missing = await runCli(["--port", "0", "/definitely/not/here"]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr.trim(),
    /^rawserve: Cannot serve \/definitely\/not\/here: no such file or directory \(ENOENT\)/,
  );
  const workersMissing = await runCli(["--workers", "2", "--port", "0", "/definitely/not/here"]);
  assert.equal(workersMissing.code, 1, "the supervisor checks the root once instead of restarting workers");
  assert.equal(workersMissing.stderr.trim().split("\n").length, 1);
  const file = await runCli(["--port", "0", "--root", new URL(import.meta.url).pathname]);
  assert.equal(file.code, 1);
  assert.match(file.stderr, /not a directory/);
});

Deno.test("--host ::1 listens on IPv6 and prints a bracketed URL", async () => {
  let server;
  try {
    server = await startServer(["--host", "::1", "--quiet"]);
  } catch (e) {
    if (/EADDRNOTAVAIL|EAFNOSUPPORT/.test(String(e))) return; // no IPv6 loopback on this machine
    throw e;
  }
  const conn = await Deno.connect({ hostname: "::1", port: server.port });
  conn.close();
  await server.stop();
});

Deno.test("--workers 2 serves from two processes and stops both on SIGTERM", async () => {
  const server = await startServer(["--workers", "2", "--quiet"]);
  try {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => exchange(server.port, get("/", "Connection: close\r\n"))),
    );
    assert.ok(results.every((r) => r.responses[0]?.status === 200));
    const children = childPids(server.pid);
    assert.equal(children.length, 2);
    const { code } = await server.stop();
    assert.equal(code, 0);
    for (const pid of children) assert.equal(processAlive(pid), false, `worker ${pid} exited`);
  } finally {
    await server.stop();
  }
});

Deno.test("a second --workers group on a taken port exits 1 instead of joining it", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String((probe.addr as Deno.NetAddr).port);
  probe.close();
  const other = Deno.makeTempDirSync({ prefix: "rawserve-other-" });
  const first = await startServer(["--workers", "2", "--quiet", "--port", port]);
  try {
    for (const args of [["--workers", "2"], ["--workers", "3", other], []]) {
      const second = await runCli([...args, "--quiet", "--port", port]);
      assert.equal(second.code, 1, `${args.join(" ")}: ${second.stderr}`);
      assert.match(second.stderr.trim(), /^rawserve: Cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
      assert.equal(second.stderr.trim().split("\n").length, 1);
    }
  } finally {
    await first.stop();
  }
  // Two groups started together: the probe cannot see a group whose workers do not listen yet,
  // the lock can. Exactly one of them serves.
  const together = await Promise.allSettled([
    startServer(["--workers", "2", "--quiet", "--port", port]),
    startServer(["--workers", "2", "--quiet", "--port", port]),
  ]);
  const up = together.filter((r) => r.status === "fulfilled");
  for (const r of up) await r.value.stop();
  assert.equal(up.length, 1, "one group listens, the other exits");
  const failed = together.find((r) => r.status === "rejected");
  assert.match(String(failed?.reason), /EADDRINUSE/);
  Deno.removeSync(other);
});

// Root passes every permission check through CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; without
// them in its bounding set (setpriv drops them at exec) it is checked like any owner.
const IS_ROOT = Deno.uid() === 0;
const HAS_SETPRIV = new Deno.Command("sh", { args: ["-c", "command -v setpriv"] }).outputSync().success;
const AS_UNPRIVILEGED = IS_ROOT ? ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] : [];

Deno.test({
  name: IS_ROOT && !HAS_SETPRIV
    ? "an unreadable root fails at start (skipped: running as root and setpriv is missing)"
    : "an unreadable root fails at start with one line and exit 1",
  ignore: IS_ROOT && !HAS_SETPRIV,
  async fn() {
    const base = Deno.makeTempDirSync({ prefix: "rawserve-perm-" });
    Deno.mkdirSync(`${base}/none`);
    Deno.mkdirSync(`${base}/search-only`);
    Deno.writeTextFileSync(`${base}/search-only/a.txt`, "a\n");
    Deno.chmodSync(`${base}/none`, 0o000);
    Deno.chmodSync(`${base}/search-only`, 0o100);
    const [program, ...prefix] = [...AS_UNPRIVILEGED, Deno.execPath()];
    const start = (args: string[]) =>
      new Deno.Command(program!, {
        args: [...prefix, ...cliCommand(["--port", "0", "--quiet", ...args])],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).spawn();
    try {
      for (const [dir, hint] of [["none", /needs x/], ["search-only", /--no-listing/]] as const) {
        const out = await start([`${base}/${dir}`]).output();
        const stderr = new TextDecoder().decode(out.stderr).trim();
        assert.equal(out.code, 1, `${dir}: ${stderr}`);
        assert.equal(stderr.split("\n").length, 1, stderr);
        assert.match(stderr, /^rawserve: Cannot serve .*: permission denied \(EACCES\)/);
        assert.match(stderr, hint);
      }
      // A directory that can be searched but not read still serves files without listings.
      const child = start(["--no-listing", `${base}/search-only`]);
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const first = await reader.read();
      const port = Number(/:(\d+)\//.exec(first.value ?? "")?.[1]);
      assert.ok(port > 0, `started: ${first.value}`);
      const { responses } = await exchange(port, get("/a.txt"), { responses: 1 });
      assert.equal(responses[0]?.status, 200);
      child.kill("SIGTERM");
      await reader.cancel();
      await child.stderr.cancel();
      await child.status;
    } finally {
      Deno.chmodSync(`${base}/none`, 0o700);
      Deno.chmodSync(`${base}/search-only`, 0o700);
      Deno.removeSync(base, { recursive: true });
    }
  },
});

// deno compile downloads its runtime base (denort) unless DENORT_BIN names one. Find out once
// whether it can work here; where it cannot, the test is reported as ignored with the reason.
const COMPILE_OUT = Deno.makeTempDirSync({ prefix: "rawserve-compile-" });
const compile = await new Deno.Command(Deno.execPath(), {
  args: [
    "compile",
    "--allow-ffi",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-run",
    "--include", // the compression worker is loaded by URL, which deno compile does not follow
    new URL("../../app/site/compress_worker.ts", import.meta.url).pathname,
    "--output",
    `${COMPILE_OUT}/rawserve`,
    new URL("../../main.ts", import.meta.url).pathname,
  ],
  stdout: "null",
  stderr: "piped",
  signal: AbortSignal.timeout(120_000),
}).output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
const compileError = new TextDecoder().decode(compile.stderr);
const runtimeMissing = !compile.success &&
  /denort|dl\.deno\.land|dns error|error sending request/i.test(compileError);
if (!compile.success && !runtimeMissing) Deno.removeSync(COMPILE_OUT, { recursive: true });

Deno.test({
  name: runtimeMissing
    ? "compiled binary serves the embedded page (skipped: deno compile cannot download its runtime base denort here; set DENORT_BIN)"
    : "compiled binary serves the embedded page",
  ignore: runtimeMissing,
  fn: async () => {
    try {
      assert.ok(compile.success, `deno compile failed: ${compileError}`);
      const child = new Deno.Command(`${COMPILE_OUT}/rawserve`, {
        args: ["--port", "0", "--quiet"],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      const { value } = await reader.read();
      const port = Number(/:(\d+)\//.exec(value ?? "")?.[1]);
      const { responses } = await exchange(port, get("/"), { responses: 1 });
      assert.equal(responses[0]?.status, 200);
      child.kill("SIGTERM");
      assert.equal((await child.status).code, 0);
      await reader.cancel();
    } finally {
      Deno.removeSync(COMPILE_OUT, { recursive: true });
    }
  },
});

if (runtimeMissing) Deno.removeSync(COMPILE_OUT, { recursive: true });

Deno.test("--stats-interval prints counters with human units, and they print at shutdown", async () => {
  const server = await startServer(["--stats-interval", "0.2", "--access-log", "/dev/null"]);
  const { responses } = await exchange(server.port, get("/", "Connection: close\r\n"));
  assert.equal(responses[0]?.status, 200);
  await new Promise((r) => setTimeout(r, 500));
  const { code, stderr } = await server.stop();
  assert.equal(code, 0);
  const lines = stderr.trim().split("\n");
  assert.ok(lines.length >= 2, stderr);
  assert.match(
    stderr,
    /connections \d+ accepted, \d+ open; requests \d+ \([\d.]+k? req\/s\); received [\d.]+ (B|KiB)/,
  );
  assert.match(
    lines.at(-1)!,
    /^connections 1 accepted, 0 open; requests 1; received \d+ B; sent \d+ B; errors none$/,
  );
  assert.ok(!stderr.includes("\x1b["), "no colours when not on a terminal");
});

Deno.test("an access log that cannot be written stops logging, not serving", async () => {
  // Every write to /dev/full fails with ENOSPC; Deno grants device files only with --allow-all.
  const server = await startServer(["--access-log", "/dev/full"], {}, { permissions: ["--allow-all"] });
  for (let i = 0; i < 3; i++) {
    const { responses } = await exchange(server.port, get("/", "Connection: close\r\n"));
    assert.equal(responses[0]?.status, 200);
    await new Promise((r) => setTimeout(r, 300)); // past a log batch
  }
  const { code, stderr } = await server.stop();
  assert.equal(code, 0);
  assert.equal(stderr.match(/Cannot write the access log/g)?.length, 1, stderr);
});
