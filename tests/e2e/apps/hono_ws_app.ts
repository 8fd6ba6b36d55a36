// A Hono application with a WebSocket route, written as Hono's documentation writes it for Deno:
// `upgradeWebSocket` from `hono/deno`, which calls Deno.upgradeWebSocket. rawserve runs it
// unmodified, with --app and through serve(): its imports name Deno's API, never rawserve's.
// The route echoes text and binary with a prefix, answers "bye" by closing with 4000, and a
// middleware around every route adds a header after the handler, as apps commonly do.

// An app pins its own dependencies; rawserve's deno.json must not map them.
// deno-lint-ignore no-import-prefix
import { Hono } from "npm:hono@4.13.19";
// deno-lint-ignore no-import-prefix
import { upgradeWebSocket } from "npm:hono@4.13.19/deno";

const app = new Hono();

app.use("*", async (c, next) => {
  await next();
  c.header("X-Served-By", "hono");
});

app.get("/", (c) => c.text("Hello Hono!"));
app.get(
  "/ws",
  upgradeWebSocket((c) => ({
    onOpen(_event, ws) {
      ws.send(`hello ${c.req.query("name") ?? "stranger"}`);
    },
    onMessage(event, ws) {
      if (event.data === "bye") return ws.close(4000, "as asked");
      if (typeof event.data === "string") ws.send(`echo: ${event.data}`);
      else ws.send(event.data as ArrayBuffer); // binary arrives as an ArrayBuffer, as on Deno
    },
  })),
);

export default app;
