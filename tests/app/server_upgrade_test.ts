// The upgrade seam through real sockets: the server's HTTP/1.1 connection answers 101, and the
// protocol that takes over owns the socket, the bytes the client sent early included; the
// server counts it open until that protocol closes it, and drains it on shutdown.

import assert from "node:assert/strict";
import type { Session, Transport } from "../../http/types.ts";
import { serveInProcess } from "../e2e/_server.ts";

/** A protocol that echoes every byte, from the bytes handed over on. */
class Echo implements Session {
  closed = false;
  #transport: Transport;
  #buf = new Uint8Array(4096);
  constructor(transport: Transport, buffered: Uint8Array) {
    this.#transport = transport;
    transport.setInterest(true, false);
    if (buffered.length > 0) transport.write(buffered, buffered.length);
  }
  onReadable(): void {
    for (;;) {
      const n = this.#transport.read(this.#buf, this.#buf.length);
      if (n === 0 || (n < 0 && n !== -11)) return this.close();
      if (n < 0) return;
      this.#transport.write(this.#buf, n);
    }
  }
  onWritable(): void {}
  closeIfIdle(): boolean {
    this.close();
    return true;
  }
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#transport.close();
  }
}

async function readUntil(conn: Deno.Conn, pattern: RegExp): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + 5000;
  while (!pattern.test(text)) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${pattern} in ${JSON.stringify(text)}`);
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("a 101 hands the socket to the protocol that takes over, bytes sent early included", async () => {
  const server = serveInProcess({
    handler: (request) =>
      request.head.upgrade === "echo"
        ? {
          status: 101,
          headers: ["Connection", "Upgrade", "Upgrade", "echo"],
          upgrade: (transport, buffered) => new Echo(transport, buffered),
        }
        : { status: 200, body: "plain" },
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await conn.write(
      new TextEncoder().encode(
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly bytes|",
      ),
    );
    const first = await readUntil(conn, /early bytes\|$/);
    assert.match(first, /^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\nearly bytes\|$/);
    await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"));
    assert.equal(await readUntil(conn, /\r\n\r\n$/), "GET / HTTP/1.1\r\n\r\n", "no longer HTTP: echoed");
    assert.equal(server.server.stats.open, 1);
    assert.equal(server.server.connectionCount, 1);
    conn.close();
    const deadline = Date.now() + 5000;
    while (server.server.stats.open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(server.server.stats.open, 0, "the server hears the new protocol close the socket");
    assert.equal(server.server.connectionCount, 0);
  } finally {
    await server.stop();
  }
});

Deno.test("shutdown closes a session that took over, through closeIfIdle", async () => {
  const server = serveInProcess({
    handler: () => ({
      status: 101,
      headers: ["Connection", "Upgrade", "Upgrade", "echo"],
      upgrade: (transport, buffered) => new Echo(transport, buffered),
    }),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n"),
    );
    await readUntil(conn, /\r\n\r\n$/);
    const started = Date.now();
    await server.stop();
    assert.ok(Date.now() - started < 1500, "no wait for the shutdown timeout");
    assert.equal(await conn.read(new Uint8Array(16)), null, "the socket was closed");
  } finally {
    conn.close();
  }
});
