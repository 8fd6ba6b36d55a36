// SIGHUP end to end, through the real CLI: a certificate reload must never touch what a waiting
// connection still needs (its TLS context), and a SIGHUP with nothing to reload never kills.
// Every test stops its servers and leaves no process behind.

import assert from "node:assert/strict";
import { bytes, get, readResponses, type RunningServer, sleep, startServer, writeAll } from "./_server.ts";
import { processAlive } from "../../scripts/measure.ts";
import { makePki, needs, type TestPki } from "./_tls.ts";

/** Silent connections per round: each is accepted before the reload and handshakes after it. */
const SILENT = 20;
/** Rounds per server: one reload that freed a context in use crashed in 1 or 2 of 3 tries. */
const ROUNDS = 4;

/** Whether a TLS handshake with the server succeeds for a client that trusts `caPem`. */
async function handshakes(port: number, caPem: string): Promise<boolean> {
  try {
    const conn = await Deno.connectTls({ hostname: "localhost", port, caCerts: [caPem] });
    try {
      await conn.handshake();
      return true;
    } finally {
      conn.close();
    }
  } catch {
    return false;
  }
}

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * How many of the connections from `clientPorts` the server has accepted: the server's side of
 * each is in /proc/net/tcp from the handshake on, but has an inode only once accept(2) gave it a
 * descriptor (TCP_DEFER_ACCEPT holds a silent one back for a few seconds).
 */
function acceptedCount(serverPort: number, clientPorts: Set<number>): number {
  let count = 0;
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = parseInt(f[1]!.split(":")[1]!, 16), remote = parseInt(f[2]!.split(":")[1]!, 16);
    if (local === serverPort && clientPorts.has(remote) && f[9] !== "0") count++;
  }
  return count;
}

/** Installs `pair` under the paths the server reloads from. */
function install(pki: TestPki, pair: { cert: string; key: string }) {
  Deno.copyFileSync(pair.cert, `${pki.dir}/live.pem`);
  Deno.copyFileSync(pair.key, `${pki.dir}/live.key`);
}

/**
 * One round: SILENT connections accepted and silent, a reload to `next` (signed by `nextCa`),
 * then a handshake and a request on each of them.
 */
async function reloadUnderSilentConnections(
  server: RunningServer,
  pki: TestPki,
  next: { cert: string; key: string },
  nextCa: string,
): Promise<void> {
  const silent = await Promise.all(
    Array.from({ length: SILENT }, () => Deno.connect({ hostname: "127.0.0.1", port: server.port })),
  );
  try {
    const ports = new Set(silent.map((tcp) => (tcp.localAddr as Deno.NetAddr).port));
    await waitFor("accepted", () => acceptedCount(server.port, ports) === SILENT, 10_000);
    install(pki, next);
    Deno.kill(server.pid, "SIGHUP");
    // A new connection that gets the new certificate proves the reload is done.
    await waitFor("reloaded", () => handshakes(server.port, nextCa));
    const results = await Promise.allSettled(silent.map(async (tcp) => {
      // Either certificate is fine: the one from accept time or the new one.
      const tls = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [pki.caPem, pki.ca2Pem] });
      try {
        await tls.handshake();
        await writeAll(tls, bytes(get("/", "Connection: close\r\n")));
        return (await readResponses(tls, { responses: 1, timeoutMs: 5000 })).responses[0]?.status;
      } finally {
        tls.close();
      }
    }));
    assert.ok(processAlive(server.pid), "the server survived the reload");
    const failed = results.filter((r) => r.status !== "fulfilled" || r.value !== 200);
    assert.equal(failed.length, 0, `late handshakes that failed: ${JSON.stringify(failed.slice(0, 3))}`);
  } catch (e) {
    for (const tcp of silent) {
      try {
        tcp.close();
      } catch {
        // closed by its TLS wrapper already
      }
    }
    throw e;
  }
}

Deno.test({
  ...needs(
    "HTTPS: connections accepted before a SIGHUP reload complete their handshakes after it, and the server stays up",
    ["openssl"],
  ),
  fn: async () => {
    const pki = makePki();
    install(pki, pki.leaf);
    const server = await startServer([
      "--quiet",
      "--cert",
      `${pki.dir}/live.pem`,
      "--key",
      `${pki.dir}/live.key`,
    ]);
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate the pairs, so each reload is visible to a new connection.
        const [next, nextCa] = round % 2 === 0 ? [pki.leaf2, pki.ca2Pem] : [pki.leaf, pki.caPem];
        await reloadUnderSilentConnections(server, pki, next, nextCa);
      }
      const tls = await Deno.connectTls({
        hostname: "localhost",
        port: server.port,
        caCerts: [pki.caPem, pki.ca2Pem],
      });
      await writeAll(tls, bytes(get("/", "Connection: close\r\n")));
      assert.equal((await readResponses(tls, { responses: 1 })).responses[0]?.status, 200);
      tls.close();
      const { code, stderr } = await server.stop();
      assert.equal(code, 0, stderr);
      assert.equal(stderr.match(/SIGHUP: reloaded/g)?.length, ROUNDS, stderr);
    } finally {
      await server.stop();
      pki.remove();
    }
  },
});
