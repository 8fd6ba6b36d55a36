// An ordinary Hono application, written as Hono's documentation writes them for Deno: routing
// with parameters, JSON both ways, middleware, CORS, a streaming helper, its own 404 and error
// answers. rawserve runs it unmodified with --app (the default export has fetch()). Hono comes
// from npm by an `npm:` specifier: rawserve's deno.json maps nothing that an app would inherit.

// An app pins its own dependencies; rawserve's deno.json must not map them (issue 23 item 11).
// deno-lint-ignore no-import-prefix
import { Hono } from "npm:hono@4.13.19";
// deno-lint-ignore no-import-prefix
import { cors } from "npm:hono@4.13.19/cors";
// deno-lint-ignore no-import-prefix
import { streamText } from "npm:hono@4.13.19/streaming";

const app = new Hono();

app.use("*", async (c, next) => {
  const started = performance.now();
  await next();
  c.header("X-Response-Time", `${(performance.now() - started).toFixed(1)}ms`);
});
app.use("/api/*", cors({ origin: "https://example.test" }));

app.get("/", (c) => c.text("Hello Hono!"));
app.get("/api/users/:id", (c) => c.json({ id: c.req.param("id"), fields: c.req.query("fields") ?? null }));
app.post("/api/users", async (c) => {
  const user = await c.req.json<{ name: string }>();
  return c.json({ created: user.name }, 201);
});
app.get("/stream", (c) =>
  streamText(c, async (stream) => {
    for (const word of ["one", "two", "three"]) {
      await stream.writeln(word);
      await stream.sleep(20);
    }
  }));
app.get("/boom", () => {
  throw new Error("kaboom");
});
app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));
app.onError((error, c) => c.json({ error: error.message }, 500));

export default app;
