// The app for serve_runtime_io_test.ts, run as a child pinned to one CPU: serve() answering "hi"
// after WORK_US of work, and a Deno TCP echo listener in the same process. It prints serve()'s port, waits for a line on
// stdin (the flood has started), times a round trip to its echo listener every 20 ms for
// SAMPLE_MS, prints `{ trips, served }` as JSON and exits.

import { serve } from "../../../mod.ts";

const SAMPLE_MS = 1500;

/** An app's own work per request (µs), so that a batch takes as long as a real app's might. */
const WORK_US = 20;

let served = 0;
const server = serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
  served++;
  for (const end = performance.now() + WORK_US / 1000; performance.now() < end;);
  return new Response("hi");
});
const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const echoing = (async () => {
  using conn = await listener.accept();
  const buf = new Uint8Array(64);
  for (let n; (n = await conn.read(buf)) !== null;) await conn.write(buf.subarray(0, n));
})();
const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
console.log(server.addr.port);
await Deno.stdin.readable.getReader().read(); // the flood is on
const trips: number[] = [];
const before = served;
const buf = new Uint8Array(8);
for (const end = performance.now() + SAMPLE_MS; performance.now() < end;) {
  const t = performance.now();
  await client.write(new Uint8Array([1]));
  if (await client.read(buf) !== 1) throw new Error("the echo closed");
  trips.push(performance.now() - t);
  await new Promise((resolve) => setTimeout(resolve, 20));
}
console.log(JSON.stringify({ trips, served: served - before }));
client.close();
await echoing;
listener.close();
await server.shutdown();
