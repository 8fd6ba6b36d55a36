// The bench's WebSocket server: scripts/apps/ws_echo.ts under rawserve's serve() with its
// upgradeWebSocket(), or under Deno.serve with Deno.upgradeWebSocket(), each with its defaults
// (rawserve negotiates permessage-deflate when offered; Deno.serve does not offer it).
// Prints "listening on http://127.0.0.1:PORT/" once it listens, as scripts/deno_serve_ref.ts does.
// Usage: deno run -A scripts/bench/ws_server.ts --kind rawserve|deno [--port 0]

import { parseArgs } from "node:util";
import { echo } from "../apps/ws_echo.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { kind: { type: "string" }, port: { type: "string", default: "0" } },
});
const onListen = ({ port }: { port: number }) => console.log(`listening on http://127.0.0.1:${port}/`);
const options = { hostname: "127.0.0.1", port: Number(values.port), onListen };
if (values.kind === "rawserve") {
  const { serve, upgradeWebSocket } = await import("../../mod.ts");
  serve(options, echo(upgradeWebSocket));
} else if (values.kind === "deno") {
  Deno.serve(options, echo(Deno.upgradeWebSocket));
} else {
  console.error("Usage: ws_server.ts --kind rawserve|deno [--port 0]");
  Deno.exit(2);
}
