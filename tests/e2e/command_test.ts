// rawserve as a newcomer meets it (issue 23): the platform check, the licence, installing it as
// a command and running it from another folder, `deno task start` from elsewhere, the flag
// habits of other servers (`--`, -p, -H, -h, -V), the banner, and Ctrl-C with a download on.

import assert from "node:assert/strict";
import { exchange, get, runCli } from "./_server.ts";
import { cleanEnv, denoRunArgs, REPO, spawnBanner } from "./_process.ts";
import { RUN_PERMISSIONS } from "../../app/cli/supervisor.ts";
import { unsupportedPlatform } from "../../ffi/platform.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A folder with one file, for serving from "another directory". */
function site(): { dir: string; [Symbol.dispose](): void } {
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-newcomer-" });
  Deno.mkdirSync(`${dir}/docs`);
  Deno.writeTextFileSync(`${dir}/docs/hello.txt`, "hello from docs\n");
  return { dir, [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }) };
}

/** A module run with --preload before main.ts or mod.ts: Deno.build says another platform. */
function fakePlatform(os: string, arch: string): { path: string; [Symbol.dispose](): void } {
  const path = Deno.makeTempFileSync({ prefix: "rawserve-platform-", suffix: ".ts" });
  Deno.writeTextFileSync(
    path,
    `Object.defineProperty(Deno, "build", { value: { ...Deno.build, os: ${JSON.stringify(os)}, arch: ${
      JSON.stringify(arch)
    } } });\n`,
  );
  return { path, [Symbol.dispose]: () => Deno.removeSync(path) };
}

Deno.test("unsupportedPlatform() accepts only Linux x86-64 and names what it found", () => {
  assert.equal(unsupportedPlatform({ os: "linux", arch: "x86_64" }), null);
  assert.match(unsupportedPlatform({ os: "linux", arch: "aarch64" })!, /Linux x86-64 only.*linux aarch64$/);
  assert.match(unsupportedPlatform({ os: "darwin", arch: "aarch64" })!, /darwin aarch64$/);
  assert.match(unsupportedPlatform({ os: "windows", arch: "x86_64" })!, /windows x86_64$/);
});

for (const [os, arch] of [["darwin", "aarch64"], ["linux", "aarch64"], ["windows", "x86_64"]]) {
  Deno.test(`on ${os} ${arch} the command refuses in one line and loads no library (run without --allow-ffi)`, async () => {
    using fake = fakePlatform(os!, arch!);
    // Without --allow-ffi, any Deno.dlopen would fail with a permission error and a stack trace.
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--allow-env", "--preload", fake.path, `${REPO}main.ts`, "--port", "0"],
      env: { NO_COLOR: "1" },
      stdin: "null",
      signal: AbortSignal.timeout(20_000),
    }).output();
    assert.equal(out.code, 1, text(out.stderr));
    assert.equal(text(out.stdout), "");
    assert.equal(
      text(out.stderr),
      `rawserve: rawserve runs on Linux x86-64 only (its system calls use that platform's struct layouts); this is ${os} ${arch}\n`,
    );
  });
}

Deno.test("on another platform the library imports, and serve() throws a clear Error", async () => {
  using fake = fakePlatform("darwin", "aarch64");
  const script = `import { serve } from "${REPO}mod.ts";\n` +
    `try { serve({ port: 0 }, () => new Response("x")); console.log("served"); }\n` +
    `catch (e) { console.log(e.constructor.name + ": " + e.message); }\n`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", "--preload", fake.path, script],
    env: { NO_COLOR: "1" },
    stdin: "null",
    signal: AbortSignal.timeout(20_000),
  }).output();
  assert.equal(out.code, 0, text(out.stderr));
  assert.match(
    text(out.stdout),
    /^Error: serve\(\): rawserve runs on Linux x86-64 only .*this is darwin aarch64\n$/,
  );
});

Deno.test("the repository carries the MIT licence, and deno.json says so", () => {
  const licence = Deno.readTextFileSync(`${REPO}LICENSE`);
  assert.match(licence, /^MIT License\n\nCopyright \(c\) 2026 the rawserve authors\n/);
  assert.match(licence, /THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND/);
  assert.equal(JSON.parse(Deno.readTextFileSync(`${REPO}deno.json`)).license, "MIT");
});

Deno.test("`deno install -g` makes a rawserve command that serves a folder from where it is run", async () => {
  using s = site();
  const root = Deno.makeTempDirSync({ prefix: "rawserve-install-" });
  try {
    const install = await new Deno.Command(Deno.execPath(), {
      args: ["install", "-g", "--root", root, "-n", "rawserve", ...RUN_PERMISSIONS, `${REPO}main.ts`],
      cwd: REPO,
      env: cleanEnv(),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    assert.equal(install.code, 0, text(install.stderr));
    const command = `${root}/bin/rawserve`;
    // `rawserve -p 0 docs` in the folder that holds docs/.
    const server = await spawnBanner(command, ["-p", "0", "docs"], {
      cwd: s.dir,
      env: cleanEnv(),
      clearEnv: true,
    });
    try {
      assert.match(server.banner[0]!, new RegExp(`\\(serving ${s.dir}/docs\\)$`), "the absolute root");
      const { responses } = await exchange(server.port, get("/hello.txt"), { responses: 1 });
      assert.equal(responses[0]?.status, 200);
      assert.equal(text(responses[0]!.body), "hello from docs\n");
    } finally {
      assert.equal((await server.stop("SIGINT")).code, 0);
    }
    const help = await new Deno.Command(command, {
      args: ["--help"],
      cwd: s.dir,
      env: cleanEnv(),
      clearEnv: true,
      stdout: "piped",
    }).output();
    assert.match(text(help.stdout), /^Usage: rawserve \[options\] \[DIR\]$/m, "named as it was run");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("`deno task start` from another folder serves that folder's DIR (INIT_CWD), named as run", async () => {
  using s = site();
  const task = ["task", "--config", `${REPO}deno.json`, "start"];
  const server = await spawnBanner(Deno.execPath(), [...task, "--port", "0", "docs"], {
    cwd: s.dir,
    env: cleanEnv(),
    clearEnv: true,
  });
  try {
    assert.match(server.banner[0]!, new RegExp(`\\(serving ${s.dir}/docs\\)$`));
    const { responses } = await exchange(server.port, get("/hello.txt"), { responses: 1 });
    assert.equal(text(responses[0]!.body), "hello from docs\n");
  } finally {
    await server.stop("SIGINT");
  }
  // `start .` is the user's folder, not rawserve's source tree.
  const dot = await spawnBanner(Deno.execPath(), [...task, "--port", "0", "."], {
    cwd: s.dir,
    env: cleanEnv(),
    clearEnv: true,
  });
  await dot.stop("SIGINT");
  assert.match(dot.banner[0]!, new RegExp(`\\(serving ${s.dir}\\)$`));
  const help = await new Deno.Command(Deno.execPath(), {
    args: [...task, "--help"],
    cwd: s.dir,
    env: cleanEnv(),
    clearEnv: true,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.match(text(help.stdout), /^Usage: deno task start \[options\] \[DIR\]$/m);
});

Deno.test("a leading -- and the short flags -p, -H, -h, -V work as in other servers", async () => {
  using s = site();
  // `deno task start -- --port 8084` passes the `--` on.
  const server = await spawnBanner(
    Deno.execPath(),
    denoRunArgs(["--", "-p", "0", "-H", "127.0.0.1", "--quiet", "docs"]),
    { cwd: s.dir },
  );
  try {
    assert.match(server.banner[0]!, /^rawserve listening on http:\/\/127\.0\.0\.1:\d+\//);
    const { responses } = await exchange(server.port, get("/hello.txt"), { responses: 1 });
    assert.equal(responses[0]?.status, 200);
  } finally {
    await server.stop();
  }
  const help = await runCli(["-h"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /-p, --port N/);
  assert.match(help.stdout, /^Usage: deno run .*main\.ts \[options\] \[DIR\]$/m, "named as it was run");
  const dashed = await runCli(["--", "--port", "0", "--help"]);
  assert.equal(dashed.code, 0);
  assert.match(dashed.stdout, /^Usage: /m);
  const version = await runCli(["-V"]);
  assert.match(version.stdout, /^rawserve \d+\.\d+\.\d+\n$/);
  const bad = await runCli(["-p", "http"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'rawserve: --port takes a whole number from 0 to 65535, not "http"\n');
});

Deno.test("the banner names the operator pages' URLs (which answer) and how to stop", async () => {
  const server = await spawnBanner(
    Deno.execPath(),
    denoRunArgs([
      "--port",
      "0",
      "--quiet",
      "--status",
      "/status",
      "--metrics",
      "/metrics",
      "--health",
      "/healthz",
    ]),
  );
  try {
    const { banner, port } = server;
    assert.deepEqual(banner.slice(1), [
      `  status  http://127.0.0.1:${port}/status`,
      `  metrics http://127.0.0.1:${port}/metrics`,
      `  health  http://127.0.0.1:${port}/healthz`,
      "Ctrl-C to stop",
    ]);
    const health = await fetch(banner[3]!.trim().split(/\s+/)[1]!);
    assert.equal(await health.text(), "ok\n");
  } finally {
    await server.stop();
  }
  const plain = await spawnBanner(Deno.execPath(), denoRunArgs(["--port", "0", "--quiet"]));
  await plain.stop();
  assert.equal(plain.banner.length, 2, "without pages: the URL line and the hint");
  assert.equal(plain.banner[1], "Ctrl-C to stop");
});

/** Whether `unshare -rn` gives this test a network namespace of its own (no real network in it). */
const PRIVATE_NETWORK = (() => {
  try {
    return new Deno.Command("unshare", { args: ["-rn", "true"], stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: `--host 0.0.0.0 and :: list this machine's addresses in the banner${
    PRIVATE_NETWORK ? "" : " (skipped: unshare -rn is not permitted here)"
  }`,
  ignore: !PRIVATE_NETWORK,
  async fn() {
    // In a network namespace of its own (unshare -rn), whose only interface is a loopback given
    // two extra addresses: listening on every address there reaches no real network.
    for (const [host, expected] of [["0.0.0.0", "http://10.9.8.7:"], ["::", "http://[fd12::7]:"]] as const) {
      const setup =
        "ip link set lo up && ip addr add 10.9.8.7/32 dev lo && ip -6 addr add fd12::7/128 dev lo";
      const server = await spawnBanner("unshare", [
        "-rn",
        "sh",
        "-c",
        `${setup} && exec "$0" "$@"`,
        Deno.execPath(),
        ...denoRunArgs(["--host", host, "--port", "0", "--quiet"]),
      ]);
      const { code } = await server.stop("SIGINT");
      assert.equal(code, 0);
      const network = server.banner.find((l) => l.startsWith("  on your network: "));
      assert.ok(network, server.banner.join("\n"));
      assert.ok(network.includes(expected), network);
      assert.ok(!/127\.0\.0\.1|\[::1\]/.test(network), "loopback is not the network");
    }
  },
});

Deno.test("Ctrl-C with a download in flight says at once what it waits for; a second one stops now", async () => {
  using s = site();
  using big = await Deno.open(`${s.dir}/docs/big.bin`, { write: true, create: true });
  await big.truncate(256 * 1024 * 1024); // sparse: no disk, far more than socket buffers hold
  const server = await spawnBanner(Deno.execPath(), denoRunArgs(["--port", "0", "--quiet", "docs"]), {
    cwd: s.dir,
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(new TextEncoder().encode(get("/big.bin")));
    await conn.read(new Uint8Array(64 * 1024)); // the download has begun; then the client stops reading
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.port }); // no response owed
    const before = Date.now();
    server.signal("SIGINT");
    const said = await server.waitForStderr(/stopping/, 3000);
    assert.ok(Date.now() - before < 3000, "at once, not after the 10 s");
    assert.equal(
      said.trim(),
      "rawserve: stopping: waiting up to 10 s for 1 response (Ctrl-C again to stop now)",
    );
    idle.close();
    const { code, stderr } = await server.stop("SIGINT");
    assert.equal(code, 130);
    assert.match(stderr, /forced exit; cut 1 open connection/);
  } finally {
    conn.close();
  }
});
