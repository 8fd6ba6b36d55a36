// WebSockets are visible to the operator: the status page lists an open one with its phase,
// messages and bytes each way, extensions and queued bytes; the metrics count them open, their
// messages and bytes by direction and how they closed; the access log has the 101 when the
// upgrade is answered and, when the socket ends, a line with its duration, bytes and close code.
// The app is the unmodified Hono app (tests/e2e/apps/hono_ws_app.ts); the client npm's ws.

import assert from "node:assert/strict";
// A test-only dependency, pinned here: rawserve's deno.json maps nothing an app would inherit.
// deno-lint-ignore no-import-prefix
import WsClient from "npm:ws@8.23.1";
import { startServer, stopOk } from "./_server.ts";

const APP = new URL("./apps/hono_ws_app.ts", import.meta.url).pathname;

/** Waits until `check` holds (the log is written in batches), at most 5 s. */
async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Opens a socket to the app and waits for its greeting; bounded by 5 s. */
function open(port: number): Promise<{ client: WsClient; next(): Promise<string> }> {
  return new Promise((resolve, reject) => {
    const client = new WsClient(`ws://127.0.0.1:${port}/ws?name=op`, { perMessageDeflate: true });
    const inbox: string[] = [];
    let waiting: ((m: string) => void) | null = null;
    const timer = setTimeout(() => reject(new Error("no greeting within 5 s")), 5000);
    client.on("message", (data: Buffer) => {
      const text = data.toString();
      if (text.startsWith("hello")) {
        clearTimeout(timer);
        return resolve({
          client,
          next: () => inbox.length ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiting = r),
        });
      }
      if (waiting) {
        const w = waiting;
        waiting = null;
        w(text);
      } else inbox.push(text);
    });
    client.on("error", reject);
  });
}

Deno.test("a WebSocket is on the status page and in the metrics while open, and in the access log at both ends", async () => {
  const log = Deno.makeTempFileSync({ prefix: "rawserve-ws-log-" });
  const lines = () => Deno.readTextFileSync(log).trim().split("\n").filter(Boolean);
  const server = await startServer([
    "--app",
    APP,
    "--status",
    "/status",
    "--metrics",
    "/metrics",
    "--access-log",
    log,
  ]);
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const { client, next } = await open(server.port);
    for (const word of ["one", "two", "three"]) {
      client.send(word);
      assert.equal(await next(), `echo: ${word}`);
    }
    const status = await (await fetch(`${base}/status`, { headers: { accept: "application/json" } })).json();
    const ws = status.webSockets;
    assert.equal(ws.totals.open, 1);
    assert.equal(ws.rows.length, 1);
    const row = ws.rows[0];
    assert.equal(row.phase, "open");
    assert.deepEqual([row.messagesIn, row.messagesOut], [3, 4], "3 echoed and the greeting");
    assert.ok(row.bytesIn > 3 * 6 && row.bytesOut > 0, JSON.stringify(row));
    assert.equal(
      row.extensions,
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    );
    assert.equal(row.queuedBytes, 0);
    assert.match(row.peer, /^127\.0\.0\.1:\d+$/);
    const html = await (await fetch(`${base}/status`)).text();
    assert.match(html, /id="websockets"/);

    // The upgrade's line is written when the 101 is, before the socket ends.
    await until(() => lines().some((l) => / 101 /.test(l)));
    assert.match(
      lines().find((l) => / 101 /.test(l))!,
      /^127\.0\.0\.1 - - \[[^\]]+\] "GET \/ws\?name=op HTTP\/1\.1" 101 - \d+\.\d{3}$/,
    );

    const closed = new Promise<number>((resolve) => client.on("close", (code: number) => resolve(code)));
    client.send("bye");
    assert.equal(await closed, 4000);
    await until(() => lines().some((l) => /ws-close=/.test(l)));
    const end = lines().find((l) => /ws-close=/.test(l))!;
    const m = end.match(/"GET \/ws\?name=op HTTP\/1\.1" 101 (\d+) (\d+\.\d{3}) ws-close=4000 ws-in=(\d+)$/);
    assert.ok(m, end);
    assert.ok(Number(m[1]) > 0 && Number(m[3]) > 0, end);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    const value = (sample: string) => Number(metrics.match(new RegExp(`^${sample} (\\S+)$`, "m"))?.[1]);
    assert.equal(value("rawserve_websockets_open"), 0);
    assert.equal(value("rawserve_websockets_opened_total"), 1);
    assert.equal(value('rawserve_websocket_messages_total\\{direction="received"\\}'), 4);
    assert.equal(value('rawserve_websocket_messages_total\\{direction="sent"\\}'), 4);
    assert.equal(value('rawserve_websocket_bytes_total\\{direction="received"\\}'), Number(m[3]));
    assert.equal(value('rawserve_websocket_bytes_total\\{direction="sent"\\}'), Number(m[1]));
    assert.equal(value('rawserve_websocket_closes_total\\{code="4000"\\}'), 1);
  } finally {
    await stopOk(server);
    Deno.removeSync(log);
  }
});
