// SIGHUP through the real CLI, without HTTPS: it never stops a server or a supervisor (its
// default action would kill without draining), a download in flight finishes whole, and an
// access-log file is reopened, which is what log rotation needs.

import assert from "node:assert/strict";
import {
  bytes,
  get,
  readResponses,
  type RunningServer,
  sleep,
  startServer,
  stopOk,
  writeAll,
} from "./_server.ts";
import { childPids, processAlive } from "../../scripts/measure.ts";

/** Large enough that the answer waits in the server while the client holds back (loopback buffers a few MiB). */
const SIZE = 16 * 1024 * 1024;

/** A temp root holding big.bin (SIZE bytes). */
function bigRoot(): string {
  const root = Deno.makeTempDirSync({ prefix: "rawserve-hup-" });
  Deno.writeFileSync(`${root}/big.bin`, new Uint8Array(SIZE).fill(97));
  return root;
}

/**
 * Starts a download, reads its first bytes, sends SIGHUP to `pid` while the rest waits in the
 * server, then reads the rest.
 * @returns the body length received
 */
async function downloadAcrossHangup(server: RunningServer, pid: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await writeAll(conn, bytes(get("/big.bin", "Connection: close\r\n")));
    const buf = new Uint8Array(64 * 1024);
    const n = await conn.read(buf);
    assert.ok(n !== null && n > 0, "the download began");
    Deno.kill(pid, "SIGHUP");
    await sleep(300); // the signal is handled (or kills) while the client reads nothing
    const rest = await readResponses(conn, { prefix: buf.slice(0, n), timeoutMs: 15_000 });
    assert.equal(rest.responses[0]?.status, 200);
    return rest.responses[0]?.body.length ?? 0;
  } finally {
    conn.close();
  }
}

Deno.test("SIGHUP without --cert: a download in flight completes whole and the server says it has nothing to reload", async () => {
  const root = bigRoot();
  const server = await startServer(["--quiet", "--root", root]);
  try {
    assert.equal(await downloadAcrossHangup(server, server.pid), SIZE, "the whole file");
    assert.ok(processAlive(server.pid), "the server is still running");
    const stderr = await stopOk(server);
    assert.equal(stderr.match(/^rawserve: SIGHUP: nothing to reload$/gm)?.length, 1, stderr);
  } finally {
    await server.stop();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("SIGHUP without --cert under --workers 2: the supervisor and both workers stay up, a download completes", async () => {
  const root = bigRoot();
  const server = await startServer(["--quiet", "--workers", "2", "--root", root]);
  try {
    const workers = childPids(server.pid);
    assert.equal(workers.length, 2, "two workers");
    assert.equal(await downloadAcrossHangup(server, server.pid), SIZE, "the whole file");
    assert.ok(processAlive(server.pid), "the supervisor is still running");
    assert.deepEqual(childPids(server.pid), workers, "the same workers, none restarted");
    assert.ok(workers.every(processAlive));
    const stderr = await stopOk(server);
    assert.equal(
      stderr.match(/^rawserve: SIGHUP: nothing to reload$/gm)?.length,
      2,
      `each worker: ${stderr}`,
    );
    assert.doesNotMatch(stderr, /exited with/);
  } finally {
    await server.stop();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("SIGHUP reopens an --access-log file that log rotation renamed; later lines go to the new file", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-hup-log-" });
  const log = `${dir}/access.log`;
  const server = await startServer(["--access-log", log]);
  const request = async (path: string) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await writeAll(conn, bytes(get(path, "Connection: close\r\n")));
    await readResponses(conn);
    conn.close();
  };
  const waitForLine = async (file: string, path: string) => {
    for (let i = 0; i < 100; i++) {
      try {
        if (Deno.readTextFileSync(file).includes(`GET ${path} `)) return;
      } catch {
        // not created yet
      }
      await sleep(20);
    }
    throw new Error(`no line for ${path} in ${file}`);
  };
  try {
    await request("/before");
    await waitForLine(log, "/before");
    Deno.renameSync(log, `${log}.1`); // what logrotate does before it signals
    Deno.kill(server.pid, "SIGHUP");
    await sleep(200);
    await request("/after");
    await waitForLine(log, "/after");
    const rotated = Deno.readTextFileSync(`${log}.1`);
    assert.ok(!rotated.includes("GET /after "), "nothing new in the rotated file");
    assert.ok(!Deno.readTextFileSync(log).includes("GET /before "));
    const stderr = await stopOk(server);
    assert.match(stderr, /^rawserve: SIGHUP: reopened --access-log .*access\.log$/m);
    assert.doesNotMatch(stderr, /nothing to reload/);
  } finally {
    await server.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});
