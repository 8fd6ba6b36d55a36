// End-to-end: WebSocket with a real browser. Headless Chromium (Debian's, driven by playwright-core,
// launched as tests/e2e/listing_browser_test.ts does) loads a page from serve() that opens sockets,
// exchanges text and binary (small, and large enough to be compressed: Chromium offers
// permessage-deflate and rawserve accepts it) and closes: once the page closing (3000), once the
// server (4001). Both sides' messages, close codes and reasons are checked. Skipped, with the reason
// in its name, when Chromium cannot be had.

/// <reference lib="dom" />

import assert from "node:assert/strict";
import { serve, upgradeWebSocket } from "../../mod.ts";
import { loadScreenshots } from "./_chromium.ts";

type Screenshots = typeof import("../../scripts/screenshots.ts");

const { shots, skip } = await loadScreenshots();

/** What the server saw of one socket. */
interface ServerSide {
  extensions: string;
  messages: (string | number[])[];
  close: { code: number; reason: string; wasClean: boolean } | null;
}

/** A message as compared: text, small binary as its bytes, large as [length, first, last]. */
function shape(data: string | ArrayBuffer): string | number[] {
  if (typeof data === "string") {
    return data.length > 64 ? `${data.length} chars of ${data.slice(0, 9)}` : data;
  }
  const bytes = new Uint8Array(data);
  return bytes.length > 64 ? [bytes.length, bytes[0]!, bytes.at(-1)!] : [...bytes];
}

/**
 * The echo app: /ws echoes text as "echo: ..." and binary reversed; "close please" makes the
 * server close with 4001. Every socket's side is recorded in `sides`.
 */
function app(sides: ServerSide[]) {
  return (request: Request): Response => {
    if (new URL(request.url).pathname !== "/ws") {
      return new Response("<!doctype html><title>ws</title><p>ws test", {
        headers: { "content-type": "text/html" },
      });
    }
    const { socket, response } = upgradeWebSocket(request);
    const side: ServerSide = { extensions: "", messages: [], close: null };
    sides.push(side);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => side.extensions = socket.extensions;
    socket.onmessage = (event) => {
      side.messages.push(shape(event.data));
      if (event.data === "close please") return socket.close(4001, "server done");
      if (typeof event.data === "string") socket.send(`echo: ${event.data}`);
      else socket.send(new Uint8Array(event.data).reverse());
    };
    socket.onclose = (event) =>
      side.close = { code: event.code, reason: event.reason, wasClean: event.wasClean };
    return response;
  };
}

/** Runs in the page: one socket, its messages, and how it closed (the page closes it unless `serverCloses`). */
function pageConversation(serverCloses: boolean) {
  return new Promise<{
    extensions: string;
    messages: (string | number[])[];
    close: { code: number; reason: string; wasClean: boolean };
  }>((resolve, reject) => {
    const socket = new WebSocket(`ws://${location.host}/ws`);
    socket.binaryType = "arraybuffer";
    const messages: (string | number[])[] = [];
    const shape = (data: string | ArrayBuffer) => {
      if (typeof data === "string") {
        return data.length > 64 ? `${data.length} chars of ${data.slice(0, 9)}` : data;
      }
      const bytes = new Uint8Array(data);
      return bytes.length > 64 ? [bytes.length, bytes[0]!, bytes.at(-1)!] : [...bytes];
    };
    setTimeout(() => reject(new Error(`no close within 5 s: ${JSON.stringify(messages)}`)), 5000);
    socket.onopen = () => {
      socket.send("hello from chromium");
      socket.send(new Uint8Array([1, 2, 3, 250]));
      socket.send("chromium ".repeat(2000)); // 18,000 bytes: compressed both ways
      const big = new Uint8Array(100_000);
      big[0] = 7;
      big[big.length - 1] = 9;
      socket.send(big);
    };
    socket.onmessage = (event) => {
      messages.push(shape(event.data));
      if (messages.length < 4) return;
      if (serverCloses) socket.send("close please");
      else socket.close(3000, "page done");
    };
    socket.onclose = (event) =>
      resolve({
        extensions: socket.extensions,
        messages,
        close: { code: event.code, reason: event.reason, wasClean: event.wasClean },
      });
  });
}

const SENT = ["hello from chromium", [1, 2, 3, 250], "18000 chars of chromium ", [100_000, 7, 9]];
const ECHOED = ["echo: hello from chromium", [250, 3, 2, 1], "18006 chars of echo: chr", [100_000, 9, 7]];

Deno.test({
  name: skip
    ? `WebSocket in headless Chromium (skipped: ${skip})`
    : "WebSocket in headless Chromium: text and binary both ways with permessage-deflate, closed by either side",
  ignore: skip !== null,
  // playwright-core keeps a pipe to the browser and timers of its own until close() settles them.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const sides: ServerSide[] = [];
    const server = serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {}, shutdownTimeoutMs: 2000 },
      app(sides),
    );
    const browser = await shots!.launchBrowser().catch(async (e) => {
      await server.shutdown();
      throw e;
    });
    try {
      const page = await browser.context.newPage();
      await page.goto(`http://127.0.0.1:${server.addr.port}/`);

      const pageCloses = await page.evaluate(pageConversation, false);
      assert.match(pageCloses.extensions, /^permessage-deflate/, "Chromium offered it and rawserve accepted");
      assert.deepEqual(pageCloses.messages, ECHOED);
      // The server's answering close echoes the code (RFC 6455 §5.5.1), not the reason.
      assert.deepEqual(pageCloses.close, { code: 3000, reason: "", wasClean: true });

      const serverCloses = await page.evaluate(pageConversation, true);
      assert.deepEqual(serverCloses.messages, ECHOED);
      assert.deepEqual(serverCloses.close, { code: 4001, reason: "server done", wasClean: true });

      // The server's side of each socket (its close event may follow the page's by a turn).
      for (let i = 0; i < 50 && sides.some((s) => s.close === null); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(sides.length, 2);
      assert.equal(sides[0]!.extensions, pageCloses.extensions);
      assert.deepEqual(sides[0]!.messages, SENT);
      assert.deepEqual(sides[0]!.close, { code: 3000, reason: "page done", wasClean: true });
      assert.deepEqual(sides[1]!.messages, [...SENT, "close please"]);
      assert.deepEqual(sides[1]!.close, { code: 4001, reason: "server done", wasClean: true });
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});
