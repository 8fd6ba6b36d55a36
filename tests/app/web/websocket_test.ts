// upgradeWebSocket() through serve() on real sockets: the handshake (RFC 6455 §4) checked with
// hand-built requests, then clients no one here wrote: npm's ws (with permessage-deflate and its
// parameters), Debian's python3-websockets and Deno's own WebSocket; and the bounds a hostile peer
// meets: protocol errors closed with their code, a deflate bomb (1009), a client that never reads
// (1008), graceful shutdown (1001).

import assert from "node:assert/strict";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { Buffer } from "node:buffer";
// A test-only dependency, pinned here: rawserve's deno.json maps nothing an app would inherit.
// deno-lint-ignore no-import-prefix
import WsClient from "npm:ws@8.23.1";
import { serve, type ServeOptions, upgradeWebSocket, type UpgradeWebSocketOptions } from "../../../mod.ts";
import { WebSocketSession } from "../../../http/ws/session.ts";
import { clientFrame, concat, DEC, ENC, serverFrames } from "../../http/ws/_frames.ts";

/** Runs `fn` against serve() on an ephemeral loopback port, then shuts it down. */
async function withServe(
  handler: (request: Request) => Response | Promise<Response>,
  fn: (port: number) => Promise<void>,
  options: Partial<ServeOptions> = {},
): Promise<void> {
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, shutdownTimeoutMs: 2000, ...options },
    handler,
  );
  try {
    await fn(server.addr.port);
  } finally {
    await server.shutdown();
  }
}

/** An echo app: text back as text, binary as binary; TypeErrors of upgradeWebSocket() become 400/426. */
function echoApp(options: UpgradeWebSocketOptions = {}, onSocket?: (socket: WebSocket) => void) {
  return (request: Request): Response => {
    let upgraded;
    try {
      upgraded = upgradeWebSocket(request, options);
    } catch (e) {
      assert.ok(e instanceof TypeError, String(e));
      const version = /sec-websocket-version/.test(e.message);
      return new Response(e.message, {
        status: version ? 426 : 400,
        headers: version ? { "sec-websocket-version": "13" } : {},
      });
    }
    const { socket, response } = upgraded;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => socket.send(event.data);
    onSocket?.(socket);
    return response;
  };
}

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** Sends `head` on a raw connection; returns the connection and the first bytes answered. */
async function rawHandshake(
  port: number,
  head: string,
  early: Uint8Array = new Uint8Array(0),
): Promise<{ conn: Deno.TcpConn; text: string; rest: Uint8Array }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(concat(ENC.encode(head), early)); // one write: the frames come with the head
  let got: Uint8Array = new Uint8Array(0);
  const buf = new Uint8Array(65536);
  while (!DEC.decode(got).includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) break;
    got = concat(got, buf.slice(0, n));
  }
  const end = DEC.decode(got).indexOf("\r\n\r\n") + 4;
  return { conn, text: DEC.decode(got.subarray(0, end)), rest: got.subarray(end) };
}

/** Reads until the server closes; returns everything. Bounded by a 5 s deadline. */
async function readToEnd(conn: Deno.TcpConn, first: Uint8Array = new Uint8Array(0)): Promise<Uint8Array> {
  const parts = [first];
  const buf = new Uint8Array(65536);
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return concat(...parts);
}

function upgradeHead(extra = "", key = KEY, version = "13"): string {
  return `GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: ${version}\r\n${extra}\r\n`;
}

Deno.test("§4.2.2 the 101 carries the accept value of RFC 6455's own example, and frames sent early are read", async () => {
  await withServe(echoApp(), async (port) => {
    const { conn, text, rest } = await rawHandshake(
      port,
      upgradeHead(),
      clientFrame(1, "early"),
    );
    assert.match(text, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(text, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    assert.match(text, /\r\nUpgrade: websocket\r\n/i);
    assert.doesNotMatch(text, /Sec-WebSocket-Extensions/i, "no extension unless offered");
    await conn.write(clientFrame(8, new Uint8Array([0x03, 0xe8])));
    const frames = serverFrames(await readToEnd(conn, rest));
    assert.deepEqual(frames.map((f) => [f.opcode, [...f.payload]]), [[1, [...ENC.encode("early")]], [8, [
      0x03,
      0xe8,
    ]]]);
    conn.close();
  });
});

Deno.test("§4.2.1 requests that are not valid upgrades make upgradeWebSocket() throw a TypeError", async () => {
  const cases: [string, string, number][] = [
    ["no key", upgradeHead().replace(/Sec-WebSocket-Key: .*\r\n/, ""), 400],
    ["a key of 15 bytes", upgradeHead("", "dGhlIHNhbXBsZSBub25jZQ="), 400],
    ["a key that is not base64", upgradeHead("", "dGhlIHNhbXBsZSBub25j!Q=="), 400],
    ["version 8", upgradeHead("", KEY, "8"), 426],
    ["no version", upgradeHead().replace(/Sec-WebSocket-Version: .*\r\n/, ""), 426],
    ["POST", upgradeHead().replace("GET", "POST").replace("\r\n\r\n", "\r\nContent-Length: 0\r\n\r\n"), 400],
    ["a protocol not offered", upgradeHead("Sec-WebSocket-Protocol: other\r\n"), 400],
    ["no Upgrade at all", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ];
  await withServe(echoApp({ protocol: "chat" }), async (port) => {
    for (const [what, head, status] of cases) {
      const { conn, text } = await rawHandshake(port, head.replace("Host: 127.0.0.1", "Host: x"));
      assert.match(text, new RegExp(`^HTTP/1\\.1 ${status} `), what);
      if (status === 426) assert.match(text, /\r\nsec-websocket-version: 13\r\n/i, "RFC 6455 §4.4");
      conn.close();
    }
  });
});

Deno.test("§4.2.2 a protocol the client offered is answered and seen as socket.protocol", async () => {
  let seen = "";
  await withServe(
    echoApp({ protocol: "chat" }, (s) => seen = `${s.protocol}|${s.url}|${s.extensions}`),
    async (port) => {
      const { conn, text } = await rawHandshake(port, upgradeHead("Sec-WebSocket-Protocol: json, chat\r\n"));
      assert.match(text, /\r\nSec-WebSocket-Protocol: chat\r\n/i);
      conn.close();
    },
  );
  assert.equal(seen, "chat|http://127.0.0.1/chat|");
});

Deno.test("npm ws: text and binary echo, with permessage-deflate and without", async () => {
  const seen: string[] = [];
  await withServe(
    echoApp({}, (s) => s.addEventListener("open", () => seen.push(s.extensions))),
    async (port) => {
      for (
        const perMessageDeflate of [false, true, {
          serverNoContextTakeover: true,
          clientNoContextTakeover: true,
          serverMaxWindowBits: 10,
          clientMaxWindowBits: 11,
        }]
      ) {
        const ws = new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate });
        await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
        const big = "compressible ".repeat(100_000);
        const messages: [string, boolean][] = [];
        const done = new Promise<void>((resolve) =>
          ws.on("message", (data: Buffer, binary: boolean) => {
            messages.push([
              binary ? `bin ${data.length}` : String(data).slice(0, 20) + ` ${data.length}`,
              binary,
            ]);
            if (messages.length === 3) resolve();
          })
        );
        ws.send("héllo");
        ws.send(new Uint8Array([1, 2, 3]));
        ws.send(big);
        await done;
        assert.deepEqual(messages, [["héllo 6", false], ["bin 3", true], [
          `${big.slice(0, 20)} ${big.length}`,
          false,
        ]]);
        const closed = new Promise<[number, string]>((resolve) =>
          ws.once("close", (code: number, reason: Buffer) => resolve([code, String(reason)]))
        );
        ws.close(4000, "bye");
        assert.deepEqual(await closed, [4000, ""]);
      }
    },
  );
  assert.deepEqual(seen, [
    "",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11",
  ]);
});

Deno.test("npm ws: with context takeover asked by the app, both sides keep their context", async () => {
  await withServe(echoApp({ compression: { contextTakeover: true } }), async (port) => {
    const ws = new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: true });
    await new Promise((resolve) => ws.once("open", resolve));
    assert.equal(ws.extensions, "permessage-deflate");
    const got: string[] = [];
    const done = new Promise<void>((resolve) =>
      ws.on("message", (d: Buffer) => (got.push(String(d)), got.length === 20 && resolve()))
    );
    for (let i = 0; i < 20; i++) ws.send(`message ${i} `.repeat(200));
    await done;
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `message ${i} `.repeat(200)));
    ws.close();
    await new Promise((resolve) => ws.once("close", resolve));
  });
});

Deno.test("the server's close(code, reason) reaches npm ws; bad arguments throw as the standard says", async () => {
  const errors: string[] = [];
  await withServe(
    echoApp({}, (socket) => {
      assert.ok(socket instanceof WebSocket, "instanceof WebSocket, as Deno's");
      assert.throws(() => socket.send("x"), (e: DOMException) => (errors.push(e.name), true));
      socket.onopen = () => {
        for (const [code, reason] of [[1001, ""], [2999, ""], [5000, ""], [1000, "é".repeat(62)]] as const) {
          try {
            socket.close(code, reason);
          } catch (e) {
            errors.push((e as DOMException).name);
          }
        }
        socket.close(3001, "server done");
      };
    }),
    async (port) => {
      const ws = new WsClient(`ws://127.0.0.1:${port}/`);
      const [code, reason] = await new Promise<[number, string]>((resolve) =>
        ws.once("close", (c: number, r: Buffer) => resolve([c, String(r)]))
      );
      assert.deepEqual([code, reason], [3001, "server done"]);
    },
  );
  assert.deepEqual(errors, [
    "InvalidStateError",
    "InvalidAccessError",
    "InvalidAccessError",
    "InvalidAccessError",
    "SyntaxError",
  ]);
});

Deno.test("Deno's WebSocket client: echo, binaryType on both sides, bufferedAmount back to 0", async () => {
  let serverSide: WebSocket | null = null;
  await withServe(echoApp({}, (s) => serverSide = s), async (port) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.binaryType = "arraybuffer";
    await new Promise((resolve) => ws.onopen = resolve);
    const got: unknown[] = [];
    const done = new Promise<void>((resolve) =>
      ws.onmessage = (e) => (got.push(e.data), got.length === 3 && resolve())
    );
    ws.send("text ✓");
    ws.send(new Uint8Array([9, 8, 7]));
    ws.send(new Blob([new Uint8Array([5, 5])]));
    await done;
    assert.equal(got[0], "text ✓");
    assert.deepEqual([...new Uint8Array(got[1] as ArrayBuffer)], [9, 8, 7]);
    assert.deepEqual([...new Uint8Array(got[2] as ArrayBuffer)], [5, 5]);
    assert.equal(serverSide!.bufferedAmount, 0);
    const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
    ws.close(1000, "client done");
    const event = await closed;
    assert.deepEqual([event.code, event.wasClean], [1000, true]);
  });
});

Deno.test("binaryType starts as arraybuffer, as on Deno.upgradeWebSocket's sockets; blob gives Blobs", async () => {
  /** The server socket's first binaryType and the type of each binary message, under `upgrade`. */
  async function observe(kind: "rawserve" | "deno"): Promise<string[]> {
    const seen: string[] = [];
    const handler = (request: Request) => {
      const { socket, response } = kind === "rawserve"
        ? upgradeWebSocket(request)
        : Deno.upgradeWebSocket(request);
      seen.push(socket.binaryType);
      socket.onmessage = (e) => {
        seen.push(Object.prototype.toString.call(e.data));
        if (seen.length === 2) socket.binaryType = "blob";
        else socket.close(1000);
      };
      return response;
    };
    const options = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
    const server = kind === "rawserve" ? serve(options, handler) : Deno.serve(options, handler);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
      const closed = new Promise((resolve) => ws.onclose = resolve);
      ws.onopen = () => (ws.send(new Uint8Array([1])), ws.send(new Uint8Array([2])));
      await closed;
    } finally {
      await server.shutdown();
    }
    return seen;
  }
  const expected = ["arraybuffer", "[object ArrayBuffer]", "[object Blob]"];
  assert.deepEqual(await observe("deno"), expected, "Deno's own sockets");
  assert.deepEqual(await observe("rawserve"), expected);
});

Deno.test("Debian's python3-websockets: echo with permessage-deflate, then a clean close", async () => {
  const python = "/usr/bin/python3";
  try {
    Deno.statSync("/usr/lib/python3/dist-packages/websockets");
  } catch {
    throw new Error("python3-websockets is missing: apt-get install -y python3-websockets");
  }
  await withServe(echoApp(), async (port) => {
    const script = `
import asyncio, websockets
async def main():
    async with websockets.connect("ws://127.0.0.1:${port}/", compression="deflate") as ws:
        print(ws.response_headers.get("Sec-WebSocket-Extensions"))
        await ws.send("hello " * 1000)
        print(len(await ws.recv()))
        await ws.send(bytes(range(256)) * 10)
        r = await ws.recv()
        print(type(r).__name__, len(r))
        await ws.close(code=1000, reason="py done")
        print(ws.close_code)
asyncio.run(asyncio.wait_for(main(), 10))
`;
    const out = await new Deno.Command(python, { args: ["-c", script], stdout: "piped", stderr: "piped" })
      .output();
    assert.equal(out.code, 0, DEC.decode(out.stderr));
    assert.deepEqual(DEC.decode(out.stdout).trim().split("\n"), [
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
      "6000",
      "bytes 2560",
      "1000",
    ]);
  });
});

Deno.test("§7.1.7 a protocol error from a real socket gets a close frame with 1002, then the TCP close", async () => {
  const closes: [number, boolean][] = [];
  await withServe(echoApp({}, (s) => s.onclose = (e) => closes.push([e.code, e.wasClean])), async (port) => {
    const { conn, rest } = await rawHandshake(port, upgradeHead());
    await conn.write(clientFrame(1, "unmasked", { mask: null }));
    const frames = serverFrames(await readToEnd(conn, rest));
    assert.deepEqual(frames.map((f) => [f.opcode, (f.payload[0]! << 8) | f.payload[1]!]), [[8, 1002]]);
    conn.close();
  });
  assert.deepEqual(closes, [[1002, false]]);
});

Deno.test("RFC 7692 a deflate bomb is refused with 1009 at maxMessageSize", async () => {
  await withServe(echoApp({ maxMessageSize: 1 << 20 }), async (port) => {
    const { conn, text, rest } = await rawHandshake(
      port,
      upgradeHead("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    );
    assert.match(text, /permessage-deflate/);
    const bomb = new Uint8Array(deflateRawSync(new Uint8Array(32 << 20), { level: 9, finishFlush: 2 }))
      .subarray(0, -4);
    await conn.write(clientFrame(2, bomb, { rsv: 0x40 }));
    const frames = serverFrames(await readToEnd(conn, rest));
    assert.deepEqual(frames.map((f) => [f.opcode, (f.payload[0]! << 8) | f.payload[1]!]), [[8, 1009]]);
    conn.close();
  });
});

Deno.test("a client that never reads while the app sends is closed with 1008 once its queue passes the bound", async () => {
  let sent = 0;
  const closed = Promise.withResolvers<[number, number]>();
  await withServe(
    echoApp({ maxQueuedBytes: 1 << 20 }, (socket) => {
      socket.onopen = () => {
        const chunk = new Uint8Array(64 * 1024);
        const timer = setInterval(() => {
          for (let i = 0; i < 16 && socket.readyState === WebSocket.OPEN; i++, sent += chunk.length) {
            socket.send(chunk);
          }
        }, 1);
        socket.onclose = (e) => (clearInterval(timer), closed.resolve([e.code, socket.bufferedAmount]));
      };
    }),
    async (port) => {
      const { conn } = await rawHandshake(port, upgradeHead());
      const timeout = setTimeout(() => closed.reject(new Error("not closed within 10 s")), 10_000);
      const [code] = await closed.promise.finally(() => clearTimeout(timeout)); // the client reads nothing
      assert.equal(code, 1008);
      assert.ok(sent < 64 << 20, `closed after ${sent >> 20} MiB, kernel buffers plus the 1 MiB bound`);
      conn.close();
    },
  );
});

Deno.test("graceful shutdown closes open sockets with 1001 and waits for the handshake", async () => {
  const server = serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, echoApp());
  const ws = new WsClient(`ws://127.0.0.1:${server.addr.port}/`);
  await new Promise((resolve) => ws.once("open", resolve));
  const closed = new Promise<number>((resolve) => ws.once("close", resolve));
  const t0 = performance.now();
  await server.shutdown();
  assert.equal(await closed, 1001);
  assert.ok(performance.now() - t0 < 2000, "the handshake ended it, not the shutdown timeout");
});

Deno.test("returning another response than the upgrade's fails the socket (error, then close 1006)", async () => {
  const events: string[] = [];
  await withServe((request) => {
    const { socket } = upgradeWebSocket(request);
    socket.onerror = () => events.push("error");
    socket.onclose = (e) => events.push(`close ${e.code} ${e.wasClean}`);
    return new Response("no", { status: 403 });
  }, async (port) => {
    const { conn, text } = await rawHandshake(port, upgradeHead());
    assert.match(text, /^HTTP\/1\.1 403 /);
    conn.close();
  });
  assert.deepEqual(events, ["error", "close 1006 false"]);
});

/** The close frames' codes and the data frames' payloads of a raw connection's whole output. */
function closeCodes(frames: ReturnType<typeof serverFrames>): number[] {
  return frames.filter((f) => f.opcode === 8).map((f) => (f.payload[0]! << 8) | f.payload[1]!);
}

Deno.test("§10.4 heads claiming 60 MiB from 8 clients reserve nothing until the bytes arrive", async () => {
  await withServe(echoApp({ maxMessageSize: 64 << 20 }), async (port) => {
    const before = Deno.memoryUsage().external;
    const conns: Deno.TcpConn[] = [];
    for (let i = 0; i < 8; i++) {
      const { conn } = await rawHandshake(port, upgradeHead());
      await conn.write(clientFrame(2, new Uint8Array(100), { claimedLength: 60 << 20 }));
      conns.push(conn);
    }
    // A round trip on another socket: the server has read the 8 heads by the time it answers.
    const ws = new WsClient(`ws://127.0.0.1:${port}/`);
    await new Promise((resolve) => ws.once("open", () => (ws.send("ping"), ws.once("message", resolve))));
    const grown = Deno.memoryUsage().external - before;
    assert.ok(grown < 64 << 20, `external memory grew ${grown >> 20} MiB for 800 bytes received`);
    ws.close();
    for (const conn of conns) conn.close();
  });
});

Deno.test("maxMessageSize past 1 GiB is refused by upgradeWebSocket(); at 1 GiB a 2^40 claim is 1009", async () => {
  await withServe((request) => {
    try {
      const max = Number(new URL(request.url).searchParams.get("max"));
      const { socket, response } = upgradeWebSocket(request, { maxMessageSize: max });
      socket.onmessage = () => {};
      return response;
    } catch (e) {
      return new Response((e as Error).name, { status: 500 });
    }
  }, async (port) => {
    for (const max of ["Infinity", String(2 ** 40), "-1"]) {
      const { conn, text } = await rawHandshake(port, upgradeHead().replace("/chat", `/?max=${max}`));
      assert.match(text, /^HTTP\/1\.1 500 /, max);
      conn.close();
    }
    const { conn, rest } = await rawHandshake(port, upgradeHead().replace("/chat", `/?max=${2 ** 30}`));
    await conn.write(clientFrame(2, new Uint8Array(4), { claimedLength: 2 ** 40 }));
    assert.deepEqual(closeCodes(serverFrames(await readToEnd(conn, rest))), [1009]);
    conn.close();
    const alive = await fetch(`http://127.0.0.1:${port}/`);
    await alive.body?.cancel();
  });
});

Deno.test("§7.1.2 a client's close during the app's compressing close still gets the message, then the close", async () => {
  const big = "x".repeat(2_000_000);
  await withServe(
    echoApp({}, (socket) => {
      socket.onmessage = () => {
        socket.send(big);
        socket.close(1000, "done");
      };
    }),
    async (port) => {
      const { conn, text, rest } = await rawHandshake(
        port,
        upgradeHead("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
      );
      assert.match(text, /permessage-deflate/);
      await conn.write(concat(clientFrame(1, "go"), clientFrame(8, new Uint8Array([0x03, 0xe8]))));
      const frames = serverFrames(await readToEnd(conn, rest));
      const data = frames.filter((f) => f.opcode !== 8);
      const inflated = inflateRawSync(
        concat(...data.map((f) => f.payload), new Uint8Array([0, 0, 0xff, 0xff])),
        {
          finishFlush: 2,
        },
      );
      assert.equal(inflated.length, big.length, "the whole message");
      assert.deepEqual(closeCodes(frames), [1000]);
      assert.equal(frames.at(-1)!.opcode, 8, "the close frame last");
      conn.close();
    },
  );
});

Deno.test("npm ws: a legal 17 MiB message is echoed, though larger than maxQueuedBytes (16 MiB)", async () => {
  await withServe(echoApp(), async (port) => {
    const ws = new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    await new Promise((resolve) => ws.once("open", resolve));
    const data = new Uint8Array(17 << 20).map((_, i) => i & 0xff);
    const echoed = new Promise<Buffer | number>((resolve) => {
      ws.once("message", (m: Buffer) => resolve(m));
      ws.once("close", (code: number) => resolve(code));
    });
    ws.send(data);
    const got = await echoed;
    assert.ok(got instanceof Uint8Array, `closed with ${got} instead of echoing`);
    assert.equal(got.length, data.length);
    assert.ok(Buffer.compare(got, data) === 0);
    ws.close();
    await new Promise((resolve) => ws.once("close", resolve));
  });
});

Deno.test("RFC 7692 §7.2.3.4 messages ending in a BFINAL=1 block are read, under context takeover too", async () => {
  const hello = new Uint8Array([0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]); // the RFC's example
  await withServe(echoApp({ compression: { contextTakeover: true } }), async (port) => {
    const { conn, text, rest } = await rawHandshake(
      port,
      upgradeHead("Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    );
    assert.match(text, /permessage-deflate/);
    await conn.write(concat(
      clientFrame(1, hello, { rsv: 0x40 }),
      clientFrame(1, hello, { rsv: 0x40 }),
      clientFrame(8, new Uint8Array([0x03, 0xe8])),
    ));
    const frames = serverFrames(await readToEnd(conn, rest));
    assert.deepEqual(frames.map((f) => f.opcode === 1 ? DEC.decode(f.payload) : f.opcode), [
      "Hello",
      "Hello",
      8,
    ]);
    assert.deepEqual(closeCodes(frames), [1000]);
    conn.close();
  });
});

Deno.test("WHATWG text and close reasons are UTF-8 decoded without BOM: a leading U+FEFF is kept", async () => {
  const seen: string[] = [];
  await withServe(
    echoApp({}, (socket) => {
      socket.onmessage = (e) => (seen.push(e.data), socket.send(e.data));
      socket.onclose = (e) => seen.push(e.reason);
    }),
    async (port) => {
      const ws = new WsClient(`ws://127.0.0.1:${port}/`);
      await new Promise((resolve) => ws.once("open", resolve));
      ws.send("\uFEFFhi");
      const echo = await new Promise<string>((resolve) =>
        ws.once("message", (m: Buffer) => resolve(String(m)))
      );
      assert.equal(echo, "\uFEFFhi");
      ws.close(1000, "\uFEFFbye");
      await new Promise((resolve) => ws.once("close", resolve));
    },
  );
  assert.deepEqual(seen, ["\uFEFFhi", "\uFEFFbye"]);
});

Deno.test("an upgrade that throws after open fails the app's socket (close 1006) and the server goes on", async () => {
  const start = WebSocketSession.prototype.start;
  const events: string[] = [];
  const closed = Promise.withResolvers<void>();
  WebSocketSession.prototype.start = function () {
    throw new Error("a defect in start()");
  };
  const error = console.error;
  console.error = () => {};
  try {
    await withServe(
      echoApp({}, (socket) => {
        socket.onopen = () => events.push("open");
        socket.onerror = () => events.push("error");
        socket.onclose = (e) => (events.push(`close ${e.code} ${e.wasClean}`), closed.resolve());
      }),
      async (port) => {
        const { conn, rest } = await rawHandshake(port, upgradeHead());
        await readToEnd(conn, rest);
        conn.close();
        const timer = setTimeout(() => closed.reject(new Error("no close event within 2 s")), 2000);
        await closed.promise.finally(() => clearTimeout(timer));
        WebSocketSession.prototype.start = start;
        const alive = await fetch(`http://127.0.0.1:${port}/`);
        await alive.body?.cancel();
      },
    );
  } finally {
    WebSocketSession.prototype.start = start;
    console.error = error;
  }
  assert.deepEqual(events, ["open", "error", "close 1006 false"]);
});

Deno.test("WebIDL [Clamp]: close(66536), close(-64536) and close(1000.7) throw InvalidAccessError", async () => {
  const errors: string[] = [];
  await withServe(
    echoApp({}, (socket) => {
      socket.onopen = () => {
        for (const code of [66536, -64536, 1000.7, 4999.7, Infinity, NaN]) {
          try {
            socket.close(code);
            errors.push(`accepted ${code}`);
          } catch (e) {
            errors.push((e as DOMException).name);
          }
        }
        socket.close(1000.5); // ties to even: 1000
      };
    }),
    async (port) => {
      const ws = new WsClient(`ws://127.0.0.1:${port}/`);
      const code = await new Promise<number>((resolve) => ws.once("close", resolve));
      assert.equal(code, 1000);
    },
  );
  assert.deepEqual(errors, Array(6).fill("InvalidAccessError"));
});

Deno.test("maxWebSocketMemoryBytes: messages in progress on all sockets share it; past it, 1013", async () => {
  const codes: number[] = [];
  await withServe(
    echoApp({}, (socket) => socket.onclose = (e) => codes.push(e.code)),
    async (port) => {
      const frame = clientFrame(2, new Uint8Array(200_000));
      const first = await rawHandshake(port, upgradeHead());
      await first.conn.write(frame.subarray(0, 150_000));
      // Once the server holds the first socket's bytes, the second cannot fit beside them.
      const ws = new WsClient(`ws://127.0.0.1:${port}/`);
      await new Promise((resolve) => ws.once("open", () => (ws.send("sync"), ws.once("message", resolve))));
      const second = await rawHandshake(port, upgradeHead());
      await second.conn.write(frame.subarray(0, 150_000));
      assert.deepEqual(closeCodes(serverFrames(await readToEnd(second.conn, second.rest))), [1013]);
      // The first goes on: its message is whole and echoed, and the budget is free again.
      await first.conn.write(frame.subarray(150_000));
      await first.conn.write(clientFrame(8, new Uint8Array([0x03, 0xe8])));
      const frames = serverFrames(await readToEnd(first.conn, first.rest));
      assert.deepEqual(frames.map((f) => [f.opcode, f.payload.length]), [[2, 200_000], [8, 2]]);
      ws.send(new Uint8Array(250_000));
      const echoed = await new Promise<Buffer>((resolve) => ws.once("message", resolve));
      assert.equal(echoed.length, 250_000);
      ws.close();
      await new Promise((resolve) => ws.once("close", resolve));
      first.conn.close();
      second.conn.close();
    },
    { maxWebSocketMemoryBytes: 300_000 },
  );
  assert.ok(codes.includes(1013), `${codes}`);
});

Deno.test("HTML event handler attributes: a listener from the first set, a new function in its place, null removes it", async () => {
  const seen: string[] = [];
  const done = Promise.withResolvers<void>();
  await withServe((request) => {
    const { socket, response } = upgradeWebSocket(request);
    socket.addEventListener("message", () => seen.push("first listener"));
    socket.onmessage = () => seen.push("old handler");
    socket.addEventListener("message", () => seen.push("last listener"));
    socket.onmessage = function (this: WebSocket, e: MessageEvent) {
      seen.push(`handler, this ${this === socket}, currentTarget ${e.currentTarget === socket}`);
    };
    let n = 0;
    socket.addEventListener("message", () => {
      n++;
      if (n === 1) socket.onmessage = null; // the next messages reach the listeners only
      if (n === 2) socket.onmessage = () => seen.push("new handler"); // registered again: last
      if (n === 3) done.resolve();
    });
    return response;
  }, async (port) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    await new Promise((resolve) => ws.onopen = resolve);
    for (const text of ["1", "2", "3"]) ws.send(text);
    await done.promise;
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.close();
    await closed;
  });
  assert.deepEqual(seen, [
    "first listener",
    "handler, this true, currentTarget true",
    "last listener",
    "first listener",
    "last listener",
    "first listener",
    "last listener",
    "new handler",
  ]);
});
