// The kernel's view of a socket through our FFI: TCP_INFO on a listener and on a connection,
// the queues from SIOCINQ/SIOCOUTQ, and the peer's address, over real loopback sockets.

import assert from "node:assert/strict";
import { acceptConnection, listenTcp, OwnedFd, writeFd } from "../../ffi/socket.ts";
import { makeSocketPair } from "../../ffi/unix_socket.ts";
import { listenQueue, peerEndpoint, queuedBytes, readTcpInfo } from "../../ffi/socket_info.ts";

function fdCount(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("TCP_INFO on a listener reports its accept queue and backlog", async () => {
  const baseline = fdCount();
  {
    using listener = listenTcp({ host: "127.0.0.1", port: 0, backlog: 7 });
    assert.deepEqual(listenQueue(listener.fd), { queued: 0, backlog: 7 });
    const clients: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
        // TCP_DEFER_ACCEPT keeps a silent connection out of the accept queue: send a byte.
        await conn.write(new Uint8Array([65]));
        clients.push(conn);
      }
      await until(() => listenQueue(listener.fd)?.queued === 3, "three queued connections");
      using accepted = new OwnedFd(acceptConnection(listener.fd));
      assert.ok(accepted.fd >= 0);
      assert.equal(listenQueue(listener.fd)?.queued, 2);
      assert.equal(listenQueue(accepted.fd), null, "a connected socket is not a listener");
    } finally {
      for (const c of clients) c.close();
    }
  }
  assert.equal(fdCount(), baseline);
});

Deno.test("TCP_INFO, SIOCINQ and SIOCOUTQ on a connection are present and plausible", async () => {
  const baseline = fdCount();
  {
    using listener = listenTcp({ host: "127.0.0.1", port: 0 });
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
    try {
      await client.write(new TextEncoder().encode("hello"));
      let fd = -1;
      await until(() => (fd = acceptConnection(listener.fd)) >= 0, "accept");
      using conn = new OwnedFd(fd);
      assert.equal(peerEndpoint(conn.fd), `127.0.0.1:${(client.localAddr as Deno.NetAddr).port}`);
      assert.deepEqual(queuedBytes(conn.fd), { in: 5, out: 0 });
      const info = readTcpInfo(conn.fd)!;
      assert.equal(info.state, "ESTABLISHED");
      assert.ok(info.rttUs > 0, `rtt ${info.rttUs} µs`);
      assert.ok(info.cwnd > 0, `cwnd ${info.cwnd}`);
      assert.ok(info.mss > 0 && info.pmtu >= info.mss, `mss ${info.mss}, pmtu ${info.pmtu}`);
      assert.ok(info.rcvSpace > 0);
      assert.equal(info.totalRetrans, 0);
      assert.equal(info.bytesReceived, 5);
      // The client never reads: what we write piles up in our send queue, unacknowledged or
      // acknowledged into the client's receive buffer; SIOCOUTQ counts the former.
      const chunk = new Uint8Array(65536);
      let wrote = 0;
      for (let i = 0; i < 200; i++) {
        const n = writeFd(conn.fd, chunk, chunk.length);
        if (n <= 0) break;
        wrote += n;
      }
      assert.ok(wrote > 0);
      const queued = queuedBytes(conn.fd);
      assert.ok(queued.out! > 0, `SIOCOUTQ ${queued.out} after writing ${wrote} unread bytes`);
      assert.ok(queued.out! <= wrote);
      assert.ok((readTcpInfo(conn.fd)!.notsentBytes ?? 0) <= queued.out!);
    } finally {
      client.close();
    }
  }
  assert.equal(fdCount(), baseline);
});

Deno.test("the socket queries answer null or '-' where there is no TCP socket", () => {
  const [a, b] = makeSocketPair();
  using _a = a;
  using _b = b;
  assert.equal(readTcpInfo(a.fd), null);
  assert.equal(listenQueue(a.fd), null);
  assert.equal(readTcpInfo(-1), null);
  assert.deepEqual(queuedBytes(-1), { in: null, out: null });
  assert.equal(peerEndpoint(-1), "-");
});
