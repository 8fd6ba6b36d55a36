// The README's code is run, not only read: its chat example (serve() with upgradeWebSocket())
// is taken from the README as written, started on an ephemeral port, and talked to by npm's ws.

import assert from "node:assert/strict";
// A real client no one here wrote; pinned here, out of the import map users inherit.
// deno-lint-ignore no-import-prefix
import WsClient from "npm:ws@8.23.1";

const ROOT = new URL("../../", import.meta.url);

/** The first TypeScript block after the README's "Your own code" recipe. */
function chatExample(): string {
  const readme = Deno.readTextFileSync(new URL("README.md", ROOT));
  const from = readme.indexOf("**Your own code**");
  assert.ok(from >= 0, "the README has the recipe");
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(from));
  assert.ok(block, "the recipe has a ts block");
  return block[1]!;
}

Deno.test("the README's chat example broadcasts each message to every client (npm ws)", async () => {
  const code = chatExample()
    .replace('"./mod.ts"', JSON.stringify(new URL("mod.ts", ROOT).href))
    // An ephemeral loopback port instead of 8080, printed for the test.
    .replace(
      "serve({ port: 8080 },",
      'serve({ port: 0, hostname: "127.0.0.1", onListen: (a) => console.log(a.port) },',
    );
  assert.match(code, /onListen/, "the port could be replaced");
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/chat.ts`, code);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-ffi", "--allow-read", "--allow-env", `${dir}/chat.ts`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const clients: WsClient[] = [];
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!/\d+\n/.test(out)) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the example printed its port");
      out += value;
    }
    reader.releaseLock();
    const port = Number(/(\d+)\n/.exec(out)![1]);
    assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "connect a WebSocket to chat\n");
    for (let i = 0; i < 3; i++) {
      const ws = new WsClient(`ws://127.0.0.1:${port}/`);
      clients.push(ws);
      await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
    }
    const heard = clients.map((ws) =>
      new Promise<string>((resolve) => ws.once("message", (d: unknown) => resolve(String(d))))
    );
    clients[1]!.send("hello, room");
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error("no broadcast")), 5000)
    );
    assert.deepEqual(await Promise.race([Promise.all(heard), timeout]), [
      "hello, room",
      "hello, room",
      "hello, room",
    ]);
  } finally {
    for (const ws of clients) ws.terminate();
    child.kill("SIGKILL");
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
