// Where rawserve listens besides a TCP port it binds, and how it leaves: a Unix socket (the CLI's
// --unix and serve({ path })), a socket inherited from systemd (systemd-socket-activate) or from
// the parent (--fd), and --drain-delay, where health says 503 while serving goes on.

import assert from "node:assert/strict";
import { denoRunArgs, spawnBanner } from "./_process.ts";
import { exchange, startServer } from "./_server.ts";
import { serve, type UnixAddr } from "../../mod.ts";

const CURL = ["curl", "-s", "-m", "5", "-o", "/dev/null", "-w", "%{http_code}"];

async function curl(args: string[]): Promise<string> {
  const out = await new Deno.Command(CURL[0]!, { args: [...CURL.slice(1), ...args], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout);
}

function toolRuns(name: string): boolean {
  try {
    return new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** A free loopback port (bound, read, released: another process could take it in between, rarely). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** A socket file that nothing listens on, as a crashed server leaves one. */
async function staleSocket(path: string): Promise<void> {
  const script = `import socket; s = socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`;
  assert.ok((await new Deno.Command("python3", { args: ["-c", script] }).output()).success);
}

Deno.test("--unix PATH serves on a Unix socket with --unix-mode, replaces a stale file, refuses a live one, removes it at shutdown", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/rawserve.sock`;
  try {
    await staleSocket(path);
    const server = await spawnBanner(Deno.execPath(), denoRunArgs(["--unix", path, "--unix-mode", "660"]));
    try {
      assert.match(server.banner[0]!, new RegExp(`listening on unix:${path}`));
      const info = await Deno.lstat(path);
      assert.ok(info.isSocket);
      assert.equal(info.mode! & 0o777, 0o660);
      assert.equal(await curl(["--unix-socket", path, "http://localhost/"]), "200");
      // A second server on the same path: the first still answers there, so it is not taken.
      const second = await new Deno.Command(Deno.execPath(), {
        args: denoRunArgs(["--unix", path]),
        stdout: "null",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      assert.equal(second.code, 1);
      assert.match(new TextDecoder().decode(second.stderr), /Cannot listen on .*rawserve\.sock.*EADDRINUSE/);
      assert.equal(await curl(["--unix-socket", path, "http://localhost/"]), "200");
    } finally {
      const { code, stdout } = await server.stop();
      assert.equal(code, 0);
      assert.match(stdout, /^unix: - - .*"GET \/ HTTP\/1.1" 200/m, "a Unix peer is logged as unix:");
    }
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound, "removed at shutdown");
    // A file that is not a socket is never removed.
    await Deno.writeTextFile(path, "mine");
    const refused = await new Deno.Command(Deno.execPath(), {
      args: denoRunArgs(["--unix", path]),
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(refused.code, 1);
    assert.equal(await Deno.readTextFile(path), "mine");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test('serve({ path }) listens on a Unix socket: onListen gets { transport: "unix", path }; the file goes at shutdown', async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/app.sock`;
  try {
    let listened: unknown = null;
    const server = serve(
      { path, mode: 0o600, onListen: (addr: UnixAddr) => void (listened = addr) },
      (request) => new Response(new URL(request.url).host),
    );
    assert.deepEqual(server.addr, { transport: "unix", path });
    const out = await new Deno.Command("curl", {
      args: ["-s", "-m", "5", "--unix-socket", path, "http://example.test/"],
      stdout: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), "example.test");
    assert.deepEqual(listened, { transport: "unix", path });
    assert.equal((await Deno.lstat(path)).mode! & 0o777, 0o600);
    await server.shutdown();
    await assert.rejects(Deno.lstat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAS_ACTIVATE = toolRuns("systemd-socket-activate");

Deno.test({
  name: HAS_ACTIVATE
    ? "socket activation: rawserve serves the socket systemd-socket-activate passes (LISTEN_FDS), the first connection included"
    : "socket activation (skipped: systemd-socket-activate is not installed)",
  ignore: !HAS_ACTIVATE,
  fn: async () => {
    const port = freePort();
    const child = new Deno.Command("systemd-socket-activate", {
      args: ["-l", `127.0.0.1:${port}`, Deno.execPath(), ...denoRunArgs([])],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    try {
      // It waits for the first connection before it starts rawserve: that one must be served.
      let first = "";
      for (let i = 0; i < 50 && first !== "200"; i++) {
        first = await curl([`http://127.0.0.1:${port}/`]);
        if (first !== "200") await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(first, "200");
      assert.equal(await curl([`http://127.0.0.1:${port}/`]), "200");
    } finally {
      child.kill("SIGTERM"); // it exec'd rawserve: the same process
      const out = await child.output();
      const stdout = new TextDecoder().decode(out.stdout);
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(stdout, new RegExp(`rawserve listening on http://127\\.0\\.0\\.1:${port}/`));
      assert.equal(stdout.match(/"GET \/ HTTP\/1.1" 200/g)?.length, 2);
    }
  },
});

/** systemd-socket-activate listening on `ports` with `--fdname=names`, exec'ing rawserve at the first connection. */
function activate(ports: number[], names: string): Deno.ChildProcess {
  return new Deno.Command("systemd-socket-activate", {
    args: [...ports.map((p) => `-l127.0.0.1:${p}`), `--fdname=${names}`, Deno.execPath(), ...denoRunArgs([])],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

Deno.test({
  name: HAS_ACTIVATE
    ? "socket activation: of several sockets rawserve serves the one named http (LISTEN_FDNAMES), else refuses naming them"
    : "socket activation with names (skipped: systemd-socket-activate is not installed)",
  ignore: !HAS_ACTIVATE,
  fn: async () => {
    const [other, http] = [freePort(), freePort()];
    const named = activate([other, http], "metrics:http");
    try {
      let first = "";
      for (let i = 0; i < 50 && first !== "200"; i++) {
        first = await curl([`http://127.0.0.1:${http}/`]);
        if (first !== "200") await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(first, "200");
    } finally {
      named.kill("SIGTERM");
      const out = await named.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      assert.match(
        new TextDecoder().decode(out.stdout),
        new RegExp(`listening on http://127\\.0\\.0\\.1:${http}/`),
      );
    }
    const port = freePort();
    const unnamed = activate([port, freePort()], "admin:web");
    // The first connection starts rawserve, which refuses and exits (the socket closes with it).
    for (let i = 0; i < 50; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const timer = setTimeout(() => unnamed.kill("SIGKILL"), 10_000);
    const out = await unnamed.output();
    clearTimeout(timer);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(
      stderr,
      /systemd passed 2 sockets \(LISTEN_FDS, named admin, web\); rawserve serves the one named http/,
    );
    // One line of rawserve's (the others are systemd-socket-activate's own).
    assert.equal(stderr.split("\n").filter((l) => l.startsWith("rawserve")).length, 1, stderr);
  },
});

Deno.test("--fd N serves a listening socket the parent passed; a descriptor that is not one is refused", async () => {
  // python3 opens the socket, lets it be inherited, and execs rawserve with --fd.
  const script = `import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16); os.set_inheritable(s.fileno(), True)
os.dup2(s.fileno(), 7); os.set_inheritable(7, True)
os.execv(sys.argv[1], [sys.argv[1]] + sys.argv[2:])`;
  const server = await spawnBanner("python3", ["-c", script, Deno.execPath(), ...denoRunArgs(["--fd", "7"])]);
  try {
    assert.ok(server.port > 0);
    assert.equal(await curl([`http://127.0.0.1:${server.port}/`]), "200");
  } finally {
    assert.equal((await server.stop()).code, 0);
  }
  const bad = await new Deno.Command(Deno.execPath(), { args: denoRunArgs(["--fd", "9"]), stderr: "piped" })
    .output();
  assert.equal(bad.code, 1);
  assert.match(new TextDecoder().decode(bad.stderr), /Cannot serve on --fd 9/);
});

for (const workers of [1, 2]) {
  Deno.test(`--drain-delay: on SIGTERM health answers 503 while requests are served, then the listener closes (--workers ${workers})`, async () => {
    const server = await startServer([
      "--health",
      "/health",
      "--drain-delay",
      "1.5",
      "--workers",
      String(workers),
    ]);
    const get = async (path: string) =>
      (await exchange(server.port, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`))
        .responses[0]
        ?.status;
    try {
      assert.equal(await get("/health"), 200);
      const signalled = Date.now();
      Deno.kill(server.pid, "SIGTERM");
      // Give the signal a moment to arrive at every worker, then: 503 on health, 200 elsewhere.
      let health = 200;
      while (health === 200 && Date.now() - signalled < 1000) health = (await get("/health"))!;
      assert.equal(health, 503);
      for (let i = 0; i < 5; i++) assert.equal(await get("/"), 200, "new connections are still served");
      assert.ok(Date.now() - signalled < 1400, "all within the delay");
      // Then the listener closes, the graceful shutdown runs, and the process exits 0.
      assert.equal((await server.exited).code, 0);
      assert.ok(Date.now() - signalled >= 1400, `exited after ${Date.now() - signalled} ms`);
      await assert.rejects(
        Deno.connect({ hostname: "127.0.0.1", port: server.port }),
        Deno.errors.ConnectionRefused,
      );
    } finally {
      await server.stop();
    }
  });
}
