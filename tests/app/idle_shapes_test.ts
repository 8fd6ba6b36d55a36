// Optimized code outlives an idle spell: after every connection has closed, a memory-reducing GC
// (V8's memory reducer runs them once the heap is quiet) leaves the code that reads request heads
// and HTTP/1.1 connections optimized, because their classes' maps are kept (http/shapes.ts and
// the server's last closed session). An object nothing keeps shows the GC does drop maps.

import assert from "node:assert/strict";

Deno.test("code that reads request heads and connections stays optimized through an idle spell's GC", async () => {
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--v8-flags=--allow-natives-syntax,--expose-gc",
      new URL("./_idle_shapes_child.ts", import.meta.url).pathname,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(child.stdout).trim();
  assert.equal(child.code, 0, new TextDecoder().decode(child.stderr));
  const result = JSON.parse(out.split("\n").at(-1)!);
  assert.equal(result.open, 0, "every connection closed before the GC");
  assert.deepEqual(result.before, { head: true, connection: true, unkept: true }, "optimized before the GC");
  assert.equal(
    result.after.unkept,
    false,
    "the GC dropped the map nothing kept, and the code that checked it",
  );
  assert.deepEqual(result.after, { head: true, connection: true, unkept: false });
});
