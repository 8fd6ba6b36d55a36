// `rawserve --app MODULE` end to end: the CLI runs a module's fetch handler, including an
// unmodified Hono application from npm, through the private fast paths and the public API; and
// a module that is not an app, or fails to load, is one line and exit 1 (a syntax error keeps
// Deno's code frame); an app may fetch(), and inherits no import map from rawserve.

import assert from "node:assert/strict";
import { exchange, get, runCli, startServer, stopOk } from "./_server.ts";
import { RUN_PERMISSIONS } from "../../app/cli/supervisor.ts";

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

Deno.test("--app with a syntax error keeps Deno's location and code frame", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "rawserve-app-" });
  try {
    const module = `${dir}/syntax_app.ts`;
    Deno.writeTextFileSync(
      module,
      'export default {\n  fetch(request: Request) {\n    return new Response("x"\n  },\n};\n',
    );
    const { code, stdout, stderr } = await runCli(["--app", module]);
    assert.equal(code, 1, stderr);
    assert.equal(stdout, "");
    assert.match(
      stderr,
      /^rawserve: Cannot load --app .*syntax_app\.ts: SyntaxError: Expected ',', got '}'\n/,
    );
    assert.match(stderr, /^4 \| {3}},$/m, "the code frame");
    assert.match(stderr, new RegExp(`at file://${module}:4:3`), "the location");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("an --app that calls fetch() works with the documented permissions", async () => {
  await using upstream = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("hello from upstream"),
  );
  const server = await startServer(["--quiet", "--app", `${APPS}fetch_app.ts`], {
    UPSTREAM: `http://127.0.0.1:${upstream.addr.port}/`,
  });
  try {
    const { responses } = await exchange(server.port, get("/"), { responses: 1 });
    assert.equal(responses[0]?.status, 200, text(responses[0]?.body ?? new Uint8Array()));
    assert.equal(text(responses[0]!.body), "upstream said: hello from upstream");
  } finally {
    await stopOk(server);
  }
});

Deno.test("deno.json's start, install and compile grant what the tests run with, and map no dependency an app would inherit", () => {
  const config = JSON.parse(Deno.readTextFileSync(new URL("../../deno.json", import.meta.url)));
  for (const task of ["start", "install", "compile"]) {
    const flags = (config.tasks[task] as string).split(" ").filter((f) => f.startsWith("--allow-"));
    assert.deepEqual(flags, RUN_PERMISSIONS, task);
  }
  assert.equal(config.imports, undefined, "an --app resolves its own bare imports, never rawserve's");
});

Deno.test("an app with its own dependencies runs serve() from its own project (the worked example)", async () => {
  // The app's project: its deno.json maps rawserve and the version of Hono it pins; it is run
  // from there with `deno run`, so its import map is the one in force.
  const project = Deno.makeTempDirSync({ prefix: "rawserve-project-" });
  try {
    const mod = new URL("../../mod.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      `${project}/deno.json`,
      JSON.stringify({ imports: { rawserve: mod, hono: "npm:hono@4.13.19" } }, null, 2),
    );
    Deno.writeTextFileSync(
      `${project}/main.ts`,
      [
        'import { serve } from "rawserve";',
        'import { Hono } from "hono";',
        "const app = new Hono();",
        'app.get("/hello/:name", (c) => c.text(`Hello ${c.req.param("name")}`));',
        'serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(`port ${port}`) }, app.fetch);',
        "",
      ].join("\n"),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_PERMISSIONS, "main.ts"],
      cwd: project,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      const deadline = Date.now() + 30_000;
      while (!/port (\d+)\n/.test(out) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      reader.releaseLock();
      const port = Number(/port (\d+)\n/.exec(out)?.[1]);
      assert.ok(port > 0, out);
      const { responses } = await exchange(port, get("/hello/ada"), { responses: 1 });
      assert.equal(text(responses[0]!.body), "Hello ada");
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel();
    }
  } finally {
    Deno.removeSync(project, { recursive: true });
  }
});
