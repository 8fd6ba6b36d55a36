// An unmodified framework's WebSockets: a Hono app from npm whose route uses `upgradeWebSocket`
// from `hono/deno` (it calls Deno.upgradeWebSocket) runs under `--app` and under serve(), with
// npm's ws as the client: open, text and binary both ways, and the app's close code. While
// rawserve serves, Deno.upgradeWebSocket upgrades rawserve's requests only (a Deno.serve in the
// same process keeps its own), and it is Deno's function again once the server stops. Over HTTPS
// (--cert/--key) the same app serves wss, with a 1 MiB message through deflate and TLS.

import assert from "node:assert/strict";
// A test-only dependency, pinned here: rawserve's deno.json maps nothing an app would inherit.
// deno-lint-ignore no-import-prefix
import WsClient from "npm:ws@8.23.1";
import { serve } from "../../mod.ts";
import { startServer, stopOk } from "./_server.ts";
import { makePki, needs } from "./_tls.ts";

const APP = new URL("./apps/hono_ws_app.ts", import.meta.url).pathname;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Fetches Hono from npm before a server starts, so a slow download is not a server that does not come up. */
async function cacheHono(): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["cache", APP],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  assert.equal(out.code, 0, `npm:hono could not be fetched: ${text(out.stderr)}`);
}

/** What npm's ws saw of one conversation with the Hono app's /ws route. */
interface Conversation {
  extensions: string;
  messages: (string | number[])[];
  code: number;
  reason: string;
}

/**
 * Opens `url` with npm's ws (permessage-deflate offered), reads the greeting, sends text and
 * binary, then "bye"; the app closes with 4000. Bounded by a 5 s deadline.
 */
function converse(url: string, options: { ca?: string; big?: Uint8Array } = {}): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const client = new WsClient(url, { perMessageDeflate: true, ...(options.ca ? { ca: options.ca } : {}) });
    const messages: (string | number[])[] = [];
    const timer = setTimeout(() => {
      client.terminate();
      reject(new Error(`no close within 5 s; got ${JSON.stringify(messages)}`));
    }, 5000);
    client.on("message", (data: Buffer, binary: boolean) => {
      // A big echo is kept as its length and a checksum, not a million numbers.
      messages.push(binary ? data.length > 64 ? [data.length, checksum(data)] : [...data] : data.toString());
      if (messages.length === 1) {
        client.send("ping me");
        client.send(new Uint8Array([0, 1, 2, 255]));
        if (options.big) client.send(options.big);
      }
      if (messages.length === (options.big ? 4 : 3)) client.send("bye");
    });
    client.on("close", (code: number, reason: Buffer) => {
      clearTimeout(timer);
      resolve({ extensions: client.extensions, messages, code, reason: reason.toString() });
    });
    client.on("error", (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** A sum of the bytes, weighted by position, to compare large payloads. */
function checksum(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum + bytes[i]! * (i % 251 + 1)) % 2_147_483_647;
  return sum;
}

const EXPECTED = {
  messages: ["hello ada", "echo: ping me", [0, 1, 2, 255]],
  code: 4000,
  reason: "as asked",
};

Deno.test("an unmodified Hono app's upgradeWebSocket (hono/deno) works under --app with npm's ws", async () => {
  await cacheHono();
  const server = await startServer(["--quiet", "--app", APP]);
  try {
    const base = `127.0.0.1:${server.port}`;
    const plain = await fetch(`http://${base}/`);
    assert.equal(await plain.text(), "Hello Hono!");
    const got = await converse(`ws://${base}/ws?name=ada`);
    assert.deepEqual({ ...got, extensions: undefined }, { ...EXPECTED, extensions: undefined });
    assert.equal(got.extensions, "permessage-deflate", "rawserve's permessage-deflate, which Deno lacks");
  } finally {
    await stopOk(server);
  }
});

Deno.test("an unmodified Hono app's upgradeWebSocket works under serve(), and Deno.upgradeWebSocket is Deno's again after", async () => {
  await cacheHono();
  const denoOwn = Deno.upgradeWebSocket;
  const { default: app } = await import(APP);
  const server = serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {}, shutdownTimeoutMs: 2000 },
    app.fetch,
  );
  try {
    assert.notEqual(Deno.upgradeWebSocket, denoOwn, "replaced while serving");
    const got = await converse(`ws://127.0.0.1:${server.addr.port}/ws?name=ada`);
    assert.deepEqual({ ...got, extensions: undefined }, { ...EXPECTED, extensions: undefined });
  } finally {
    await server.shutdown();
  }
  assert.equal(Deno.upgradeWebSocket, denoOwn, "Deno's own function is back once the server stopped");
});

Deno.test("while serve() runs, a Deno.serve in the same process still upgrades with Deno's own function", async () => {
  const denoOwn = Deno.upgradeWebSocket;
  const rawserve = serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("rawserve"),
  );
  const deno = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => socket.send(`deno: ${event.data}`);
    return response;
  });
  try {
    assert.notEqual(Deno.upgradeWebSocket, denoOwn);
    const reply = await new Promise<string>((resolve, reject) => {
      const client = new WsClient(`ws://127.0.0.1:${deno.addr.port}/`);
      const timer = setTimeout(() => reject(new Error("no answer within 5 s")), 5000);
      client.on("open", () => client.send("hi"));
      client.on("message", (data: Buffer) => {
        clearTimeout(timer);
        client.close(1000);
        resolve(data.toString());
      });
      client.on("error", reject);
    });
    assert.equal(reply, "deno: hi");
  } finally {
    await deno.shutdown();
    await rawserve.shutdown();
  }
  assert.equal(Deno.upgradeWebSocket, denoOwn);
});

Deno.test({
  ...needs(
    "wss: the Hono app under --app with --cert/--key, npm's ws verifying the certificate, a 1 MiB message echoed",
    [
      "openssl",
    ],
  ),
  fn: async () => {
    await cacheHono();
    const pki = makePki();
    try {
      const server = await startServer([
        "--quiet",
        "--app",
        APP,
        "--cert",
        pki.leaf.cert,
        "--key",
        pki.leaf.key,
      ]);
      try {
        // Half compressible text, half random bytes: deflate and TLS both take several turns.
        const big = new Uint8Array(1 << 20);
        big.set(new TextEncoder().encode("rawserve ".repeat(big.length / 18)));
        crypto.getRandomValues(big.subarray(big.length / 2, big.length / 2 + 65536));
        const got = await converse(`wss://localhost:${server.port}/ws?name=ada`, { ca: pki.caPem, big });
        assert.deepEqual(got.messages, [...EXPECTED.messages, [big.length, checksum(big)]]);
        assert.deepEqual([got.code, got.reason], [EXPECTED.code, EXPECTED.reason]);
        assert.equal(got.extensions, "permessage-deflate");
      } finally {
        await stopOk(server);
      }
    } finally {
      pki.remove();
    }
  },
});
