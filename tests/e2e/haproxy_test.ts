// rawserve behind HAProxy (Debian's package), which sends PROXY v2 on every connection and
// LOCAL on its health checks: the handler sees the load generator's own address and port, and
// no connection is refused for a missing or malformed header. The configuration is the
// README's "Running in production" one.

import assert from "node:assert/strict";
import { startServer } from "./_server.ts";

const APP = new URL("./apps/client_address.ts", import.meta.url).pathname;

function toolRuns(name: string, args: string[]): boolean {
  try {
    return new Deno.Command(name, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

const HAS_HAPROXY = toolRuns("haproxy", ["-v"]);

/** A free loopback port (bound, read, released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/**
 * HAProxy's configuration: PROXY v2 to each server, health checks of --health that carry a
 * header too (LOCAL), every 200 ms.
 */
export function haproxyConfig(front: string, servers: string[]): string {
  return `global
  maxconn 1000

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch

frontend web
  bind ${front}
  default_backend rawserve

backend rawserve
  option httpchk GET /health
  http-check expect status 200
  default-server send-proxy-v2 check-send-proxy check inter 200ms fall 1 rise 2
${servers.map((address, i) => `  server r${i + 1} ${address}`).join("\n")}
`;
}

/** Starts HAProxy in the foreground with `config`; resolves once `port` accepts. */
export async function startHaproxy(
  config: string,
  port: number,
): Promise<Deno.ChildProcess & AsyncDisposable> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/haproxy.cfg`, config);
  const child = new Deno.Command("haproxy", {
    args: ["-db", "-f", `${dir}/haproxy.cfg`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  for (let i = 0;; i++) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch (e) {
      if (i > 100) {
        child.kill("SIGKILL");
        throw e;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return Object.assign(child, {
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch {
        // gone
      }
      await child.output();
      await Deno.remove(dir, { recursive: true });
    },
  });
}

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
