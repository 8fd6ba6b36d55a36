// `rawserve --app MODULE` end to end: the CLI runs a module's fetch handler, including an
// unmodified Hono application from npm, through the private fast paths and the public API; and
// a module that is not an app, or fails to load, is one line and exit 1.

import assert from "node:assert/strict";
import { exchange, get, runCli, startServer, stopOk } from "./_server.ts";

const APPS = new URL("./apps/", import.meta.url).pathname;
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * Fetches Hono from npm (pinned in deno.lock) before the server starts, so a slow download
 * cannot pass for a server that does not come up.
 */
async function cacheHono(): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["cache", `${APPS}hono_app.ts`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, `npm:hono could not be fetched: ${text(out.stderr)}`);
}

for (const publicApi of [false, true]) {
  const label = publicApi ? "through the public API (RAWSERVE_WEB_PUBLIC=1)" : "through the fast paths";
  const env: Record<string, string> = publicApi ? { RAWSERVE_WEB_PUBLIC: "1" } : {};

  Deno.test(`--app runs a module's default fetch(request, info), ${label}`, async () => {
    const server = await startServer(["--quiet", "--app", `${APPS}hello_app.ts`], env);
    try {
      const { responses } = await exchange(server.port, get("/x?y=1"), { responses: 1 });
      assert.deepEqual(JSON.parse(text(responses[0]!.body)), {
        url: "http://test/x?y=1",
        from: "127.0.0.1",
        isThis: true,
      });
    } finally {
      await stopOk(server);
    }
  });

  Deno.test(`an unmodified Hono app (routing, params, JSON, middleware, CORS, streaming), ${label}`, async () => {
    await cacheHono();
    const server = await startServer(["--quiet", "--app", `${APPS}hono_app.ts`], env);
    const base = `http://127.0.0.1:${server.port}`;
    try {
      const root = await fetch(`${base}/`);
      assert.equal(await root.text(), "Hello Hono!");
      assert.match(root.headers.get("x-response-time") ?? "", /^\d+\.\dms$/);

      const user = await fetch(`${base}/api/users/42?fields=name`, {
        headers: { origin: "https://example.test" },
      });
      assert.deepEqual(await user.json(), { id: "42", fields: "name" });
      assert.equal(user.headers.get("access-control-allow-origin"), "https://example.test");

      const preflight = await fetch(`${base}/api/users`, {
        method: "OPTIONS",
        headers: { origin: "https://example.test", "access-control-request-method": "POST" },
      });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);
      await preflight.body?.cancel();

      const created = await fetch(`${base}/api/users`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: "Ada" }),
      });
      assert.equal(created.status, 201);
      assert.deepEqual(await created.json(), { created: "Ada" });

      // The streaming helper's words arrive as chunks of one chunked response.
      const { responses, raw } = await exchange(server.port, get("/stream"), {
        responses: 1,
        timeoutMs: 5000,
      });
      assert.equal(responses[0]!.headers.get("transfer-encoding"), "chunked");
      assert.equal(text(responses[0]!.body), "one\ntwo\nthree\n");
      assert.ok(text(raw).split("\r\n").filter((l) => /^[0-9a-f]+$/.test(l)).length >= 4, "several chunks");

      const missing = await fetch(`${base}/nowhere`);
      assert.equal(missing.status, 404);
      assert.deepEqual(await missing.json(), { error: "not found", path: "/nowhere" });

      const boom = await fetch(`${base}/boom`);
      assert.equal(boom.status, 500);
      assert.deepEqual(await boom.json(), { error: "kaboom" });
    } finally {
      await stopOk(server);
    }
  });
}

Deno.test("--app with a module that is not an app, or that fails to load, is one line and exit 1", async () => {
  const cases: [string, RegExp][] = [
    [`${APPS}no_fetch_app.ts`, /has no default export with a fetch\(request, info\) method/],
    [`${APPS}broken_app.ts`, /Cannot load --app .*broken_app\.ts: .*DATABASE_URL is not set/],
    [`${APPS}missing_app.ts`, /Cannot load --app .*missing_app\.ts: /],
  ];
  for (const [module, message] of cases) {
    const { code, stdout, stderr } = await runCli(["--app", module]);
    assert.equal(code, 1, stderr);
    assert.equal(stdout, "");
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
    assert.match(stderr, message);
  }
});

Deno.test("--app and a directory together is a usage error", async () => {
  const { code, stderr } = await runCli(["--app", `${APPS}hello_app.ts`, "."]);
  assert.equal(code, 2);
  assert.match(stderr, /--app/);
});
