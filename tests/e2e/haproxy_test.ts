// rawserve behind HAProxy (Debian's package), which sends PROXY v2 on every connection and
// LOCAL on its health checks: the handler sees the load generator's own address and port, and
// no connection is refused for a missing or malformed header. The configuration is the
// README's "Running in production" one.

import assert from "node:assert/strict";
import { startServer } from "./_server.ts";
import { freePort, haproxyConfig, startHaproxy } from "./_haproxy.ts";

const APP = new URL("./apps/client_address.ts", import.meta.url).pathname;

function toolRuns(name: string, args: string[]): boolean {
  try {
    return new Deno.Command(name, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

const HAS_HAPROXY = toolRuns("haproxy", ["-v"]);

Deno.test({
  name: HAS_HAPROXY
    ? "behind HAProxy with send-proxy-v2: the app sees the client's own address and port; health checks (LOCAL) pass"
    : "behind HAProxy (skipped: haproxy is not installed; apt-get install -y haproxy)",
  ignore: !HAS_HAPROXY,
  fn: async () => {
    const server = await startServer([
      "--app",
      APP,
      "--proxy-protocol",
      "--trusted-proxy",
      "127.0.0.1",
      "--health",
      "/health",
    ]);
    let stderr = "";
    try {
      const front = freePort();
      await using _haproxy = await startHaproxy(
        haproxyConfig(`127.0.0.1:${front}`, [`127.0.0.1:${server.port}`]),
        front,
      );
      await new Promise((r) => setTimeout(r, 600)); // a few health checks
      for (let i = 0; i < 3; i++) {
        const out = await new Deno.Command("curl", {
          args: ["-s", "-m", "5", "-w", " %{local_port}", `http://127.0.0.1:${front}/`],
          stdout: "piped",
        }).output();
        const [host, seenPort, curlPort] = new TextDecoder().decode(out.stdout).split(" ");
        assert.equal(host, "127.0.0.1");
        assert.equal(seenPort, curlPort, "the port curl connected from, not HAProxy's");
      }
    } finally {
      stderr = (await server.stop()).stderr;
    }
    assert.doesNotMatch(
      stderr,
      /proxy header|proxy untrusted/,
      "every connection, checks included, had a good header",
    );
    assert.ok(server.stdoutLines.filter((l) => l.includes('"GET / HTTP/1.1" 200')).length === 3);
  },
});
