// The CLI's bound on WebSocket memory: --max-websocket-memory caps the received message bytes all
// of an --app's sockets hold together; a message past it closes its socket with 1013 (Try Again
// Later), and the server goes on serving. The client is npm's ws.

import assert from "node:assert/strict";
// A real client no one here wrote; pinned here, out of the import map users inherit.
// deno-lint-ignore no-import-prefix
import WsClient from "npm:ws@8.23.1";
import { startServer, stopOk } from "./_server.ts";

const APP = new URL("./apps/ws_echo_app.ts", import.meta.url).pathname;

/** Sends one message and resolves with the echo, or with the close code; bounded by 5 s. */
function exchange(port: number, message: Uint8Array): Promise<{ echo: number } | { closed: number }> {
  return new Promise((resolve, reject) => {
    const client = new WsClient(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    const timer = setTimeout(() => (client.terminate(), reject(new Error("no answer within 5 s"))), 5000);
    client.on("open", () => client.send(message));
    client.on("message", (data: Uint8Array) => {
      clearTimeout(timer);
      client.close();
      resolve({ echo: data.length });
    });
    client.on("close", (code: number) => {
      clearTimeout(timer);
      resolve({ closed: code });
    });
    client.on("error", (e: Error) => (clearTimeout(timer), reject(e)));
  });
}

Deno.test("--max-websocket-memory: a message past the budget closes its socket with 1013; smaller ones echo", async () => {
  const server = await startServer(["--quiet", "--app", APP, "--max-websocket-memory", "65536"]);
  try {
    assert.deepEqual(await exchange(server.port, new Uint8Array(1000).fill(7)), { echo: 1000 });
    assert.deepEqual(await exchange(server.port, new Uint8Array(200_000).fill(7)), { closed: 1013 });
    assert.deepEqual(await exchange(server.port, new Uint8Array(60_000).fill(7)), { echo: 60_000 });
  } finally {
    await stopOk(server);
  }
});
