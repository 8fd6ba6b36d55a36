// The seam where HTTP/1.1 hands a connection to another protocol (RFC 9110 §7.8, §15.2.2): a
// 101 to a request that asked to upgrade gives the transport, and the bytes that came after the
// request, to the protocol that takes over; anything else stays HTTP/1.1.

import assert from "node:assert/strict";
import type { Connection } from "../../../http/h1/connection.ts";
import type { Handler, HttpResponse, Session, Transport } from "../../../http/types.ts";
import { connect as connectWith } from "./_connect.ts";

function connect(handler: Handler) {
  const upgrades: [Connection, Session][] = [];
  const c = connectWith(handler, { onUpgrade: (conn, session) => upgrades.push([conn, session]) });
  const output = () => String.fromCharCode(...c.t.output);
  return { ...c, output, upgrades };
}

/** A protocol that takes over and remembers what it was given. */
class Taker implements Session {
  closed = false;
  constructor(readonly transport: Transport, readonly buffered: Uint8Array) {}
  onReadable(): void {}
  onWritable(): void {}
  closeIfIdle(): boolean {
    this.close();
    return true;
  }
  close(): void {
    this.closed = true;
    this.transport.close();
  }
}

const UPGRADE = "GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: Echo/1\r\n\r\n";

function switching(taken: Taker[]): HttpResponse {
  return {
    status: 101,
    headers: ["Connection", "Upgrade", "Upgrade", "echo/1"],
    upgrade: (transport, buffered) => {
      const taker = new Taker(transport, buffered);
      taken.push(taker);
      return taker;
    },
  };
}

for (const split of [false, true]) {
  Deno.test(`a 101 hands over the transport with the bytes read after the request${split ? " (arriving later)" : ""}`, () => {
    const taken: Taker[] = [];
    let asked = "";
    const { t, conn, send, output, upgrades } = connect((request) => {
      asked = request.head.upgrade;
      return switching(taken);
    });
    if (split) {
      send(UPGRADE + "fir");
    } else send(UPGRADE + "first frames, not HTTP\r\n\r\n");
    assert.equal(asked, "echo/1", "the request says what it asks to switch to");
    const head = output();
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(head, /\r\nConnection: Upgrade\r\nUpgrade: echo\/1\r\n/);
    assert.doesNotMatch(head, /Content-Length|Transfer-Encoding|Connection: close/i);
    assert.equal(taken.length, 1);
    assert.equal(
      new TextDecoder().decode(taken[0]!.buffered),
      split ? "fir" : "first frames, not HTTP\r\n\r\n",
      "the bytes after the request belong to the new protocol, not parsed as HTTP",
    );
    assert.equal(taken[0]!.transport, t);
    assert.deepEqual(upgrades, [[conn, taken[0]]]);
    assert.ok(conn.closed, "the HTTP/1.1 connection lets go");
    assert.equal(t.closes, 0, "but the socket is the new protocol's");
    conn.onReadable(); // a late event for the old session does nothing
    assert.equal(t.closes, 0);
  });
}

Deno.test("an upgrade request answered without 101 stays HTTP/1.1: pipelined requests are served after it", async () => {
  let n = 0;
  const { send, output, upgrades } = connect(async (request) => {
    await null;
    return { status: 200, body: `${++n} ${request.head.path}` };
  });
  send(UPGRADE + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
  await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setTimeout(r, 0));
  const text = output();
  assert.match(text, /1 \/chat/);
  assert.match(text, /2 \/next/);
  assert.deepEqual(upgrades, []);
});

Deno.test("a 101 without a protocol to take over, or to a request that did not ask, is a 500", () => {
  const taken: Taker[] = [];
  for (
    const [request, response] of [
      ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", switching(taken)],
      [UPGRADE, { status: 101, headers: ["Upgrade", "echo/1"] } as HttpResponse],
      // Upgrade without Connection: upgrade is not a request to upgrade (RFC 9110 §7.8).
      ["GET / HTTP/1.1\r\nHost: a\r\nUpgrade: echo/1\r\n\r\n", switching(taken)],
    ] as const
  ) {
    const errors = console.error;
    console.error = () => {};
    try {
      const { send, output } = connect(() => response);
      send(request);
      assert.match(output(), /^HTTP\/1\.1 500 /, request);
      assert.equal(taken.length, 0);
    } finally {
      console.error = errors;
    }
  }
});
